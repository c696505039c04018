// MLP: a stack of Linear layers with activations, a^(l) = s(z^(l)), z^(l) = a^(l-1) W^(l) + b^(l).
#pragma once

#include "autodiff/ops.hpp"

#include "autodiff/tensor.hpp"
#include "enum_table.hpp"
#include "linear.hpp"
#include "module.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <string_view>
#include <vector>

namespace nn {

enum class Activation { sigmoid, relu, tanh, identity };
/// Names and stored codes of Activation (codes are those of checkpoint format 1 and never change).
inline constexpr EnumTable activations{"activation", std::array<EnumEntry<Activation>, 4>{{
    {Activation::sigmoid, "sigmoid", 0}, {Activation::relu, "relu", 1}, {Activation::tanh, "tanh", 2},
    {Activation::identity, "identity", 3}}}};
static_assert(activations.valid());

/// "sigmoid", "relu", "tanh" or "identity". @throws std::invalid_argument naming the unknown value.
Activation parse_activation(std::string_view s);
std::string_view name(Activation act);
/// s(z) with the engine's op for `act` (identity returns z itself), for a Tensor or a scalar Var alike.
template <class T>
T activate(const T& z, Activation act) {
  switch (act) {
    case Activation::sigmoid: return autodiff::sigmoid(z);
    case Activation::relu: return autodiff::relu(z);
    case Activation::tanh: return autodiff::tanh(z);
    case Activation::identity: return z;
  }
  return z;
}

/// Intermediate values of one forward pass: a[0] is the input; z[l] and a[l] for l = 1..L (z[0] is undefined).
/// After backward, z[l].grad() is the seed's delta^(l) (rows of a batch are examples).
struct Trace {
  std::vector<autodiff::Tensor> z;
  std::vector<autodiff::Tensor> a;
};

/// Multilayer perceptron with sizes n_0, n_1, ..., n_L. Hidden layers use `hidden`, layer L uses `output`.
/// Parameter names "layers.0.weight", "layers.0.bias", ... (0-based, as PyTorch); layer(1) is W^(1) (1-based).
class MLP : public Module {
 public:
  /// @throws std::invalid_argument when fewer than two sizes are given or a size is not positive.
  MLP(std::vector<std::int64_t> sizes, std::mt19937_64& gen, Activation hidden = Activation::sigmoid,
      Activation output = Activation::sigmoid, Init init = Init::uniform, autodiff::Dtype dtype = autodiff::Dtype::f32);

  /// Children "layers.0", "layers.1", ...
  void list(ModuleVisitor& v) override;
  /// a^(L) for a batch x [B, n_0] (or one example [n_0]).
  autodiff::Tensor forward(const autodiff::Tensor& x) const override;
  /// The same, recording every z^(l) and a^(l) in `trace`.
  autodiff::Tensor forward(const autodiff::Tensor& x, Trace& trace) const;

  /// L, the number of weight layers.
  std::size_t depth() const { return layers_.size(); }
  /// Layer l = 1..L (1-based as the seed). @throws std::out_of_range otherwise.
  Linear& layer(std::size_t l);
  const Linear& layer(std::size_t l) const;
  const std::vector<std::int64_t>& sizes() const { return sizes_; }
  Activation hidden_activation() const { return hidden_; }
  Activation output_activation() const { return output_; }
  autodiff::Dtype dtype() const { return dtype_; }

 private:
  std::vector<std::int64_t> sizes_;
  Activation hidden_, output_;
  autodiff::Dtype dtype_;
  std::vector<Linear> layers_;
};

}  // namespace nn
