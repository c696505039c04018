// Wrapper for docs/toolbox.md fragments that need only the library and these names.
#include <autodiff/autodiff.hpp>
#include <autodiff/nn/nn.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <cstdint>
#include <random>

using autodiff::Array;
using autodiff::Dtype;
using autodiff::Shape;
using autodiff::Tensor;

int main() {
  // @doc-block
}
