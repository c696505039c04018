// Wrapper for a custom op in docs/toolbox.md: the op's definition at namespace scope, then the code that checks it.
#include <autodiff/autodiff.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

using autodiff::Dtype;
using autodiff::Shape;
using autodiff::Tensor;

// @doc-block

int main() {
  // @doc-block
}
