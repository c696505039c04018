// Parameter-free modules: the activation functions ReLU, GELU, Sigmoid and Tanh, and Flatten, for Sequential stacks.
#pragma once

#include "autodiff/ops/elementwise.hpp"
#include "autodiff/tensor.hpp"
#include "module.hpp"

namespace nn {

/// max(x, 0) elementwise (autodiff::relu). No parameters.
class ReLU : public Module {
 public:
  void list(ModuleVisitor& v) override;
  autodiff::Tensor forward(const autodiff::Tensor& x) const override;
};

/// x * Phi(x), exact (with erf) or its tanh approximation, as PyTorch's nn.GELU(approximate=...). No parameters.
class GELU : public Module {
 public:
  explicit GELU(autodiff::GeluApproximate approximate = autodiff::GeluApproximate::none) : approximate_(approximate) {}
  void list(ModuleVisitor& v) override;
  autodiff::Tensor forward(const autodiff::Tensor& x) const override;
  autodiff::GeluApproximate approximate() const { return approximate_; }

 private:
  autodiff::GeluApproximate approximate_;
};

/// 1 / (1 + exp(-x)) elementwise (autodiff::sigmoid). No parameters.
class Sigmoid : public Module {
 public:
  void list(ModuleVisitor& v) override;
  autodiff::Tensor forward(const autodiff::Tensor& x) const override;
};

/// tanh(x) elementwise (autodiff::tanh). No parameters.
class Tanh : public Module {
 public:
  void list(ModuleVisitor& v) override;
  autodiff::Tensor forward(const autodiff::Tensor& x) const override;
};

/// Axes start_dim..end_dim (inclusive, negative from the end) merged into one, as PyTorch's nn.Flatten: the default
/// keeps the batch axis, [B,C,H,W] -> [B,C*H*W]. No parameters.
class Flatten : public Module {
 public:
  explicit Flatten(int start_dim = 1, int end_dim = -1) : start_(start_dim), end_(end_dim) {}
  void list(ModuleVisitor& v) override;
  /// @throws std::invalid_argument when an axis is out of range for x or start_dim comes after end_dim.
  autodiff::Tensor forward(const autodiff::Tensor& x) const override;
  int start_dim() const { return start_; }
  int end_dim() const { return end_; }

 private:
  int start_, end_;
};

}  // namespace nn
