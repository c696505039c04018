// Wrapper for docs/toolbox.md's anomaly-mode fragments: prints the AnomalyError the fragment throws.
#include <autodiff/autodiff.hpp>

#include <fmt/core.h>

using autodiff::Dtype;
using autodiff::Tensor;

int main() {
  try {
    // @doc-block
  } catch (const autodiff::AnomalyError& e) {
    fmt::print("{}\n", e.what());
    return 0;
  }
  fmt::print("no anomaly\n");
  return 1;
}
