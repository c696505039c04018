// Linear: the affine layer Z = A W + b of the seed's notation (W is [n_(l-1), n_l], one bias per neuron).
#pragma once

#include "autodiff/tensor.hpp"
#include "enum_table.hpp"
#include "module.hpp"

#include <cstdint>
#include <random>
#include <string_view>

namespace nn {

/// Initialisation of weights and biases.
/// uniform: U(-1/sqrt(fan_in), +1/sqrt(fan_in)), as PyTorch's nn.Linear (the default).
/// normal:  N(0, 1), the textbook initialisation of the seed.
enum class Init { uniform, normal };
/// Names and stored codes of Init (codes are those of checkpoint format 1 and never change).
inline constexpr EnumTable inits{"init", std::array<EnumEntry<Init>, 2>{{{Init::uniform, "uniform", 0}, {Init::normal, "normal", 1}}}};
static_assert(inits.valid());

/// "uniform" or "normal". @throws std::invalid_argument naming the unknown value.
Init parse_init(std::string_view s);
std::string_view name(Init init);

/// Affine layer. weight is W [in, out], where w_kj joins neuron k of the previous layer to neuron j of this one;
/// bias is b [out]. Parameter names: "weight", "bias".
class Linear : public Module {
 public:
  /// Draws W then b from `gen` (its 64-bit words, so identical on every standard library).
  /// @throws std::invalid_argument when in or out is not positive.
  Linear(std::int64_t in, std::int64_t out, std::mt19937_64& gen, Init init = Init::uniform,
         autodiff::Dtype dtype = autodiff::Dtype::f32);

  void list(ModuleVisitor& v) override;
  /// z = a W + b: [B,in] x [in,out] + [out] -> [B,out]. A 1-D input [in] is one example and gives [out].
  /// @throws std::invalid_argument when a's last dimension differs from in_features() or its dtype differs.
  autodiff::Tensor forward(const autodiff::Tensor& a) const override;

  autodiff::Tensor& weight() { return weight_; }
  autodiff::Tensor& bias() { return bias_; }
  const autodiff::Tensor& weight() const { return weight_; }
  const autodiff::Tensor& bias() const { return bias_; }
  std::int64_t in_features() const { return in_; }
  std::int64_t out_features() const { return out_; }
  autodiff::Dtype dtype() const { return weight_.dtype(); }

 private:
  std::int64_t in_, out_;
  autodiff::Tensor weight_, bias_;
};

}  // namespace nn
