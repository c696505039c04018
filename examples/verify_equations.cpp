// Verifies the seed's hand-derived delta equations with autodiff::check_formula, then shows how it reports two bugs.
//
// The network is the seed's: 2-3-3-2, sigmoid everywhere, cost c = sum_j (y_j - a^(L)_j)^2, one example, float64.
// The closed form is written with plain loops from the forward values the probe hands back:
//   delta^(L)_j = 2 (a^(L)_j - y_j) sigma'(z^(L)_j)
//   delta^(l)_j = (sum_r delta^(l+1)_r w^(l+1)_jr) sigma'(z^(l)_j)
//   dc/dw^(l)_kj = delta^(l)_j a^(l-1)_k,   dc/db^(l)_j = delta^(l)_j
// Then two deliberately wrong versions: (a) without the factor 2 in delta^(L), (b) with w_rj in place of w_jr.
// Exits 0 only when the correct version passes and both wrong versions are flagged (a with the constant-factor hint).
#include "autodiff/autodiff.hpp"
#include "nn/cost.hpp"
#include "nn/mlp.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace {

using autodiff::Array;
using autodiff::Dtype;
using autodiff::Shape;
using autodiff::Tensor;
using Vec = std::vector<double>;

enum class Bug { none, missing_factor_2, transposed_index };

const std::vector<std::int64_t> n = {2, 3, 3, 2};  // n_0 .. n_L
const std::size_t L = n.size() - 1;
const Vec x_value = {0.35, 0.9}, y_value = {0.5, 0.8};

double sigma(double z) { return 1.0 / (1.0 + std::exp(-z)); }
double sigma_prime(double z) { return sigma(z) * (1.0 - sigma(z)); }

std::size_t size(std::size_t l) { return static_cast<std::size_t>(n[l]); }

Vec to_vec(const Array& a) {
  Vec v(static_cast<std::size_t>(a.numel()));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = a.at(static_cast<std::int64_t>(i));
  return v;
}

Array to_array(const Vec& v, const Shape& shape) {
  Array a(shape, Dtype::f64);
  for (std::size_t i = 0; i < v.size(); ++i) a.set(static_cast<std::int64_t>(i), v[i]);
  return a;
}

/// The engine's side: the network's forward pass, naming what the formula claims gradients of.
Tensor network_cost(autodiff::Probe& probe, const nn::MLP& mlp) {
  Tensor a = autodiff::tensor(x_value, Shape{1, n[0]}, Dtype::f64);
  for (std::size_t l = 1; l <= L; ++l) {
    const Tensor W = probe.input(fmt::format("W{}", l), mlp.layer(l).weight());
    const Tensor b = probe.input(fmt::format("b{}", l), mlp.layer(l).bias());
    // [1,n_(l-1)] x [n_(l-1),n_l] + [n_l] -> [1,n_l]; the probe makes d c / d z^(l) (= delta^(l)) checkable.
    const Tensor z = probe.at(fmt::format("delta{}", l), autodiff::matmul(a, W) + b);
    a = autodiff::sigmoid(z);
    probe.keep(fmt::format("a{}", l), a);
  }
  return nn::squared_error(a, autodiff::tensor(y_value, Shape{1, n[L]}, Dtype::f64));
}

/// The user's side: the seed's equations with plain loops, from the forward values only.
autodiff::Claims seed_equations(const autodiff::Probe& probe, Bug bug) {
  std::vector<Vec> w(L + 1), z(L + 1), a(L + 1), delta(L + 1);
  a[0] = x_value;
  for (std::size_t l = 1; l <= L; ++l) {
    w[l] = to_vec(probe.value(fmt::format("W{}", l)));      // [n_(l-1), n_l] row-major: w_kj = w[l][k * n_l + j]
    z[l] = to_vec(probe.value(fmt::format("delta{}", l)));  // the value at a probe is z^(l) itself
    a[l] = to_vec(probe.value(fmt::format("a{}", l)));
  }
  const double factor = bug == Bug::missing_factor_2 ? 1.0 : 2.0;
  delta[L].assign(size(L), 0.0);
  for (std::size_t j = 0; j < size(L); ++j) delta[L][j] = factor * (a[L][j] - y_value[j]) * sigma_prime(z[L][j]);
  for (std::size_t l = L - 1; l >= 1; --l) {
    const std::size_t nj = size(l), nr = size(l + 1);
    delta[l].assign(nj, 0.0);
    for (std::size_t j = 0; j < nj; ++j) {
      double s = 0.0;
      for (std::size_t r = 0; r < nr; ++r) {
        // w^(l+1)_jr is w[l+1][j * nr + r]; the bug reads w_rj, as if the matrix were stored [n_(l+1), n_l].
        const double w_jr = bug == Bug::transposed_index ? w[l + 1][r * nj + j] : w[l + 1][j * nr + r];
        s += delta[l + 1][r] * w_jr;
      }
      delta[l][j] = s * sigma_prime(z[l][j]);
    }
  }
  autodiff::Claims claims;
  for (std::size_t l = L; l >= 1; --l) {
    const std::size_t nk = size(l - 1), nj = size(l);
    Vec dW(nk * nj);
    for (std::size_t k = 0; k < nk; ++k)
      for (std::size_t j = 0; j < nj; ++j) dW[k * nj + j] = delta[l][j] * a[l - 1][k];
    claims.emplace_back(fmt::format("delta{}", l), to_array(delta[l], Shape{1, n[l]}));
    claims.emplace_back(fmt::format("W{}", l), to_array(dW, Shape{n[l - 1], n[l]}));
    claims.emplace_back(fmt::format("b{}", l), to_array(delta[l], Shape{n[l]}));
  }
  return claims;
}

const autodiff::ClaimReport* claim(const autodiff::FormulaReport& r, const std::string& name) {
  for (const auto& c : r.claims)
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace

int main() {
  std::mt19937_64 gen(2024);
  const nn::MLP mlp(n, gen, nn::Activation::sigmoid, nn::Activation::sigmoid, nn::Init::normal, Dtype::f64);
  const auto cost = [&](autodiff::Probe& p) { return network_cost(p, mlp); };
  const auto check = [&](Bug bug) {
    return autodiff::check_formula(cost, [bug](const autodiff::Probe& p) { return seed_equations(p, bug); });
  };

  fmt::print("== the seed's equations, as derived ==\n");
  const autodiff::FormulaReport correct = check(Bug::none);
  fmt::print("{}\n\n", correct);

  fmt::print("== bug (a): delta^(L) without the factor 2 ==\n");
  const autodiff::FormulaReport no_factor = check(Bug::missing_factor_2);
  fmt::print("{}\n\n", no_factor);

  fmt::print("== bug (b): w_rj in place of w_jr in the delta recursion ==\n");
  const autodiff::FormulaReport transposed = check(Bug::transposed_index);
  fmt::print("{}\n\n", transposed);

  // (a) scales every claimed gradient by 1/2, so every claim must carry the constant-factor hint.
  bool factor_hinted = !no_factor.ok && !no_factor.claims.empty();
  for (const auto& c : no_factor.claims)
    factor_hinted = factor_hinted && !c.ok && c.hint.find("off by a constant factor 0.500") != std::string::npos;
  // (b) leaves the output layer right and breaks the recursion: the report localises the bug.
  const auto* d3 = claim(transposed, "delta3");
  const auto* d2 = claim(transposed, "delta2");
  const bool localised = !transposed.ok && d3 && d3->ok && d2 && !d2->ok;

  fmt::print("{:<58}{}\n", "correct version passes:", correct.ok ? "yes" : "NO");
  fmt::print("{:<58}{}\n", "missing factor 2 flagged, with the constant-factor hint:", factor_hinted ? "yes" : "NO");
  fmt::print("{:<58}{}\n", "transposed index flagged (delta3 ok, delta2 wrong):", localised ? "yes" : "NO");
  const bool pass = correct.ok && factor_hinted && localised;
  fmt::print("{}\n", pass ? "verify_equations: PASS" : "verify_equations: FAIL");
  return pass ? 0 : 1;
}
