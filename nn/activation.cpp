// Parameter-free modules (activations and Flatten): each forward is one engine op.
#include "nn/activation.hpp"

#include "autodiff/check.hpp"
#include "autodiff/ops/shape.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace nn {

using autodiff::Tensor;

void ReLU::list(ModuleVisitor&) {}
Tensor ReLU::forward(const Tensor& x) const { return autodiff::relu(x); }

void GELU::list(ModuleVisitor&) {}
Tensor GELU::forward(const Tensor& x) const { return autodiff::gelu(x, approximate_); }

void Sigmoid::list(ModuleVisitor&) {}
Tensor Sigmoid::forward(const Tensor& x) const { return autodiff::sigmoid(x); }

void Tanh::list(ModuleVisitor&) {}
Tensor Tanh::forward(const Tensor& x) const { return autodiff::tanh(x); }

void Flatten::list(ModuleVisitor&) {}

Tensor Flatten::forward(const Tensor& x) const {
  // Checked here so the message names the layer and its settings, not the op inside it.
  const int r = x.rank() == 0 ? 1 : x.rank();
  const int a = start_ < 0 ? start_ + r : start_, b = end_ < 0 ? end_ + r : end_;
  if (a < 0 || a >= r || b < 0 || b >= r)
    throw std::invalid_argument(fmt::format("Flatten: axis out of range for the input (start_dim {}, end_dim {}, input {})",
                                            start_, end_, autodiff::describe(x)));
  if (a > b)
    throw std::invalid_argument(fmt::format("Flatten: start_dim comes after end_dim (start_dim {}, end_dim {}, input {})",
                                            start_, end_, autodiff::describe(x)));
  return autodiff::flatten(x, start_, end_);
}

}  // namespace nn
