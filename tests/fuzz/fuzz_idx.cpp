// libFuzzer entry for the idx target: a FuzzFailure becomes abort(), which libFuzzer reports with the input.
#include "tests/fuzz/targets.hpp"

#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    return fuzz::fuzz_idx(data, size);
  } catch (const fuzz::FuzzFailure& e) {
    std::fprintf(stderr, "fuzz idx: FAILURE: %s\n", e.what());
    std::abort();
  }
}
