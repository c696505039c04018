// Dropout: random zeroing of activations while training, the identity in eval mode.
#pragma once

#include "autodiff/tensor.hpp"
#include "module.hpp"

#include <random>

namespace nn {

/// PyTorch's nn.Dropout: in training mode (Module::training(), the default) each element is zeroed with probability p
/// and the others are scaled by 1 / (1 - p); after eval() it returns its input's values. No parameters.
///
/// The mask is drawn from the generator given to the constructor, which the layer holds by pointer: forward() is
/// const, yet each training-mode call advances that generator (one word per element, none in eval mode or for p = 0
/// or 1). The generator must outlive the layer. Sharing one generator between layers makes their masks depend on
/// call order, as with PyTorch's global generator; give each layer its own for masks that do not.
class Dropout : public Module {
 public:
  /// @throws std::invalid_argument when p is outside [0, 1] or NaN.
  Dropout(double p, std::mt19937_64& gen);

  void list(ModuleVisitor& v) override;
  /// x with dropout applied in training mode (autodiff::dropout); an identity node in eval mode.
  /// @throws std::invalid_argument when x is not a float tensor.
  autodiff::Tensor forward(const autodiff::Tensor& x) const override;

  double p() const { return p_; }

 private:
  double p_;
  std::mt19937_64* gen_;
};

}  // namespace nn
