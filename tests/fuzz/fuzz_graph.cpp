// libFuzzer entry for the graph target: a FuzzFailure becomes abort(), which libFuzzer reports with the input.
#include "tests/fuzz/targets.hpp"

#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    return fuzz::fuzz_graph(data, size);
  } catch (const fuzz::FuzzFailure& e) {
    std::fprintf(stderr, "fuzz graph: FAILURE: %s\n", e.what());
    std::abort();
  }
}
