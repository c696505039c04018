// ScalarMLP: a micrograd-style model of per-neuron scalar Vars, z_j = sum_k w_kj a_k + b_j, the seed written out.
#pragma once

#include "autodiff/var.hpp"
#include "linear.hpp"
#include "mlp.hpp"

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace nn {

/// s(z) on a scalar Var with the engine's scalar op for `act`.

/// Per-neuron model. Weights w[l][k][j] (layer l = 1..L, k in layer l-1, j in layer l) and biases b[l][j] are Var
/// leaves. Drawn from `gen` in the same order and with the same law as MLP, so the same seed gives the same values
/// as an MLP of dtype f64. Copies share the parameter leaves (Var handles), as copies of a Var do.
class ScalarMLP {
 public:
  /// `act` is used on every layer. @throws std::invalid_argument on fewer than two sizes or a size <= 0.
  ScalarMLP(std::vector<std::int64_t> sizes, std::mt19937_64& gen, Activation act = Activation::sigmoid,
            Init init = Init::uniform);

  /// a^(L) for one example x [n_0]. With z_out, (*z_out)[l][j] = z^(l)_j for l = 1..L ((*z_out)[0] is empty),
  /// whose grad() after backward is the seed's delta^(l)_j.
  /// @throws std::invalid_argument when x has the wrong size.
  std::vector<autodiff::Var> forward(const std::vector<autodiff::Var>& x,
                                     std::vector<std::vector<autodiff::Var>>* z_out = nullptr) const;
  /// Every leaf: layer by layer, weights row-major (k, then j) and then biases, as MLP's parameters flattened.
  std::vector<autodiff::Var> parameters() const;
  void zero_grad();

  /// w^(l)_kj and b^(l)_j, 1-based l, 0-based k and j. @throws std::out_of_range.
  autodiff::Var& weight(std::size_t l, std::size_t k, std::size_t j);
  autodiff::Var& bias(std::size_t l, std::size_t j);
  const std::vector<std::int64_t>& sizes() const { return sizes_; }
  std::size_t depth() const { return sizes_.size() - 1; }
  Activation hidden_activation() const { return hidden_; }
  Activation output_activation() const { return output_; }

  /// A scalar model with m's sizes, activations and parameter values (copied; the two do not share storage).
  static ScalarMLP from(const MLP& m);

 private:
  ScalarMLP() = default;
  void check_index(std::size_t l, std::size_t k, std::size_t j, bool is_bias) const;

  std::vector<std::int64_t> sizes_;
  Activation hidden_ = Activation::sigmoid, output_ = Activation::sigmoid;
  std::vector<std::vector<std::vector<autodiff::Var>>> w_;  // w_[l][k][j], w_[0] empty
  std::vector<std::vector<autodiff::Var>> b_;               // b_[l][j], b_[0] empty
};

/// Per-example cost c = sum_j (y_j - a_j)^2 (no 1/2, as the seed). @throws std::invalid_argument when sizes differ.
autodiff::Var squared_error(const std::vector<autodiff::Var>& a, const std::vector<double>& y);

}  // namespace nn
