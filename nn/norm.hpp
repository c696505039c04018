// LayerNorm: normalisation over the trailing axes of each example, with a learned elementwise scale and shift.
#pragma once

#include "autodiff/shape.hpp"
#include "autodiff/tensor.hpp"
#include "module.hpp"

#include <cstdint>

namespace nn {

/// PyTorch's nn.LayerNorm with elementwise_affine: over the last k axes, whose sizes are normalized_shape,
///   y = (x - mean) / sqrt(var + eps) * weight + bias,   var the biased variance (mean of squared deviations).
/// Parameters "weight" (ones) and "bias" (zeros), both of shape normalized_shape. A composition of engine ops.
class LayerNorm : public Module {
 public:
  /// @throws std::invalid_argument when normalized_shape is empty or has a size below 1, or eps is negative or NaN.
  explicit LayerNorm(const autodiff::Shape& normalized_shape, double eps = 1e-5, autodiff::Dtype dtype = autodiff::Dtype::f32);
  /// Over the last axis of size `dim`.
  explicit LayerNorm(std::int64_t dim, double eps = 1e-5, autodiff::Dtype dtype = autodiff::Dtype::f32)
      : LayerNorm(autodiff::Shape{dim}, eps, dtype) {}

  void list(ModuleVisitor& v) override;
  /// The same shape as x. @throws std::invalid_argument when x's trailing sizes are not normalized_shape or its dtype
  /// differs from the layer's.
  autodiff::Tensor forward(const autodiff::Tensor& x) const override;

  autodiff::Tensor& weight() { return weight_; }
  autodiff::Tensor& bias() { return bias_; }
  const autodiff::Tensor& weight() const { return weight_; }
  const autodiff::Tensor& bias() const { return bias_; }
  const autodiff::Shape& normalized_shape() const { return weight_.shape(); }
  double eps() const { return eps_; }

 private:
  double eps_;
  autodiff::Tensor weight_, bias_;
};

}  // namespace nn
