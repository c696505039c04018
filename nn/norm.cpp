// LayerNorm as a composition: mean, centred squares, rsqrt, scale and shift (no backward code).
#include "nn/norm.hpp"

#include "autodiff/check.hpp"
#include "autodiff/ops.hpp"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>
#include <vector>

namespace nn {

using autodiff::Tensor;

LayerNorm::LayerNorm(const autodiff::Shape& normalized_shape, double eps, autodiff::Dtype dtype) : eps_(eps) {
  bool ok = normalized_shape.rank() > 0;
  for (std::int64_t d : normalized_shape) ok = ok && d > 0;
  if (!ok)
    throw std::invalid_argument(fmt::format("LayerNorm: normalized_shape must be non-empty with positive sizes (got {})",
                                            normalized_shape.str()));
  if (!(eps >= 0.0)) throw std::invalid_argument(fmt::format("LayerNorm: eps must be >= 0 (got {})", eps));
  weight_ = autodiff::ones(normalized_shape, dtype, true);
  bias_ = autodiff::zeros(normalized_shape, dtype, true);
}

void LayerNorm::list(ModuleVisitor& v) {
  v.parameter("weight", weight_);
  v.parameter("bias", bias_);
}

Tensor LayerNorm::forward(const Tensor& x) const {
  const autodiff::Shape& ns = weight_.shape();
  const int k = ns.rank(), r = x.rank();
  bool fits = r >= k;
  for (int i = 0; fits && i < k; ++i) fits = x.shape()[r - k + i] == ns[i];
  if (!fits)
    throw std::invalid_argument(fmt::format("LayerNorm: input's trailing sizes must be the normalized shape (input {}, "
                                            "normalized_shape {})",
                                            autodiff::describe(x), ns.str()));
  if (x.dtype() != weight_.dtype())
    throw std::invalid_argument(fmt::format("LayerNorm: input dtype {} differs from the layer's {} (input {})",
                                            autodiff::dtype_name(x.dtype()), autodiff::dtype_name(weight_.dtype()),
                                            autodiff::describe(x)));
  std::vector<int> axes;
  for (int i = r - k; i < r; ++i) axes.push_back(i);
  // [..., n1..nk] -> mean and var [..., 1..1], broadcast back over the normalized axes.
  const Tensor centred = x - autodiff::mean(x, axes, true);
  const Tensor var = autodiff::mean(autodiff::square(centred), axes, true);
  return centred * autodiff::rsqrt(var + eps_) * weight_ + bias_;
}

}  // namespace nn
