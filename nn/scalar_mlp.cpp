// ScalarMLP: per-neuron forward pass on scalar Vars (no backward code), and its construction from an MLP.
#include "nn/scalar_mlp.hpp"

#include "autodiff/ops.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <stdexcept>

namespace nn {

using autodiff::Var;


namespace {
void check_sizes(const std::vector<std::int64_t>& sizes) {
  if (sizes.size() < 2)
    throw std::invalid_argument(fmt::format("ScalarMLP: need at least two sizes (input and output), got {}", sizes.size()));
  for (std::size_t i = 0; i < sizes.size(); ++i)
    if (sizes[i] <= 0)
      throw std::invalid_argument(fmt::format("ScalarMLP: size {} is {} (sizes {})", i, sizes[i], fmt::join(sizes, "-")));
}
}  // namespace

ScalarMLP::ScalarMLP(std::vector<std::int64_t> sizes, std::mt19937_64& gen, Activation act, Init init)
    : sizes_(std::move(sizes)), hidden_(act), output_(act) {
  check_sizes(sizes_);
  w_.resize(sizes_.size());
  b_.resize(sizes_.size());
  for (std::size_t l = 1; l < sizes_.size(); ++l) {
    // A Linear layer draws W then b from gen exactly as MLP does; its values become the Var leaves.
    const Linear lin(sizes_[l - 1], sizes_[l], gen, init, autodiff::Dtype::f64);
    const auto n_in = static_cast<std::size_t>(sizes_[l - 1]), n_out = static_cast<std::size_t>(sizes_[l]);
    w_[l].assign(n_in, {});
    for (std::size_t k = 0; k < n_in; ++k)
      for (std::size_t j = 0; j < n_out; ++j) w_[l][k].emplace_back(lin.weight().at(static_cast<std::int64_t>(k * n_out + j)));
    for (std::size_t j = 0; j < n_out; ++j) b_[l].emplace_back(lin.bias().at(static_cast<std::int64_t>(j)));
  }
}

ScalarMLP ScalarMLP::from(const MLP& m) {
  ScalarMLP s;
  s.sizes_ = m.sizes();
  s.hidden_ = m.hidden_activation();
  s.output_ = m.output_activation();
  s.w_.resize(s.sizes_.size());
  s.b_.resize(s.sizes_.size());
  for (std::size_t l = 1; l < s.sizes_.size(); ++l) {
    const Linear& lin = m.layer(l);
    const auto n_in = static_cast<std::size_t>(s.sizes_[l - 1]), n_out = static_cast<std::size_t>(s.sizes_[l]);
    const autodiff::Array& w = lin.weight().value();
    const autodiff::Array& b = lin.bias().value();
    s.w_[l].assign(n_in, {});
    for (std::size_t k = 0; k < n_in; ++k)
      for (std::size_t j = 0; j < n_out; ++j) s.w_[l][k].emplace_back(w.at(static_cast<std::int64_t>(k * n_out + j)));
    for (std::size_t j = 0; j < n_out; ++j) s.b_[l].emplace_back(b.at(static_cast<std::int64_t>(j)));
  }
  return s;
}

std::vector<Var> ScalarMLP::forward(const std::vector<Var>& x, std::vector<std::vector<Var>>* z_out) const {
  if (x.size() != static_cast<std::size_t>(sizes_[0]))
    throw std::invalid_argument(fmt::format("ScalarMLP: input has {} values, the model expects {}", x.size(), sizes_[0]));
  if (z_out) z_out->assign(sizes_.size(), {});
  std::vector<Var> a = x;
  for (std::size_t l = 1; l < sizes_.size(); ++l) {
    const Activation act = l + 1 == sizes_.size() ? output_ : hidden_;
    std::vector<Var> next;
    next.reserve(b_[l].size());
    for (std::size_t j = 0; j < b_[l].size(); ++j) {
      // z_j = sum_k w_kj a_k + b_j
      Var z = b_[l][j] + w_[l][0][j] * a[0];
      for (std::size_t k = 1; k < a.size(); ++k) z = z + w_[l][k][j] * a[k];
      if (z_out) (*z_out)[l].push_back(z);
      next.push_back(activate(z, act));
    }
    a = std::move(next);
  }
  return a;
}

std::vector<Var> ScalarMLP::parameters() const {
  std::vector<Var> out;
  for (std::size_t l = 1; l < sizes_.size(); ++l) {
    for (const auto& row : w_[l]) out.insert(out.end(), row.begin(), row.end());
    out.insert(out.end(), b_[l].begin(), b_[l].end());
  }
  return out;
}

void ScalarMLP::zero_grad() {
  for (std::size_t l = 1; l < sizes_.size(); ++l) {
    for (auto& row : w_[l])
      for (Var& v : row) v.zero_grad();
    for (Var& v : b_[l]) v.zero_grad();
  }
}

void ScalarMLP::check_index(std::size_t l, std::size_t k, std::size_t j, bool is_bias) const {
  const bool ok = l >= 1 && l < sizes_.size() && j < static_cast<std::size_t>(sizes_[l]) &&
                  (is_bias || k < static_cast<std::size_t>(sizes_[l - 1]));
  if (!ok) {
    if (is_bias)
      throw std::out_of_range(fmt::format("ScalarMLP::bias: ({}, {}) out of range (sizes {})", l, j, fmt::join(sizes_, "-")));
    throw std::out_of_range(
        fmt::format("ScalarMLP::weight: ({}, {}, {}) out of range (sizes {})", l, k, j, fmt::join(sizes_, "-")));
  }
}

Var& ScalarMLP::weight(std::size_t l, std::size_t k, std::size_t j) {
  check_index(l, k, j, false);
  return w_[l][k][j];
}

Var& ScalarMLP::bias(std::size_t l, std::size_t j) {
  check_index(l, 0, j, true);
  return b_[l][j];
}

Var squared_error(const std::vector<Var>& a, const std::vector<double>& y) {
  if (a.empty()) throw std::invalid_argument("squared_error: empty output (a 0 values)");
  if (a.size() != y.size())
    throw std::invalid_argument(fmt::format("squared_error: sizes differ (a {}, y {})", a.size(), y.size()));
  Var d = y[0] - a[0];
  Var c = d * d;
  for (std::size_t j = 1; j < a.size(); ++j) {
    d = y[j] - a[j];
    c = c + d * d;
  }
  return c;
}

}  // namespace nn
