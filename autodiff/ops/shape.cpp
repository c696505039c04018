// Shape ops: reshape.
#include "autodiff/check.hpp"
#include "autodiff/ops.hpp"

#include <fmt/format.h>

#include <cstring>
#include <stdexcept>

namespace autodiff {

/// forward:  the same elements with another shape (shares storage; a node of its own even when the shape is equal)
/// backward: dx += reshape(grad, x.shape)
Tensor reshape(const Tensor& x, const Shape& shape, Site site) {
  check_reshape("reshape", x, shape);
  return make_op("reshape", x.value().reshaped(shape), {x},
                 [xs = x.shape()](const Tensor& grad, const Tensor&, BackwardContext& dx) { dx[0] += reshape(grad, xs); }, site);
}

Tensor reshape(const Tensor& x, std::initializer_list<std::int64_t> dims, Site site) {
  std::vector<std::int64_t> d(dims);
  int infer = -1;
  std::int64_t known = 1;
  for (std::size_t i = 0; i < d.size(); ++i) {
    if (d[i] == -1 && infer < 0) {
      infer = static_cast<int>(i);
    } else if (d[i] < 0) {
      throw std::invalid_argument(fmt::format("reshape: bad dimension {} at axis {} (only one -1 may be inferred)", d[i], i));
    } else {
      known *= d[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || x.numel() % known != 0)
      throw std::invalid_argument(fmt::format("reshape: cannot infer -1 for {} elements from the other dimensions (product {})",
                                              x.numel(), known));
    d[static_cast<std::size_t>(infer)] = x.numel() / known;
  }
  return reshape(x, Shape(std::span<const std::int64_t>(d)), site);
}

}  // namespace autodiff
