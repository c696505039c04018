// libFuzzer entry for the training program's flags and checkpoint meaning: a FuzzFailure becomes abort().
#include "tests/fuzz/targets.hpp"

#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    return fuzz::fuzz_train(data, size);
  } catch (const fuzz::FuzzFailure& e) {
    std::fprintf(stderr, "fuzz train: FAILURE: %s\n", e.what());
    std::abort();
  }
}
