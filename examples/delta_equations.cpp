// The seed's backpropagation equations side by side with the engine's gradients, on a 2-3-3-2 sigmoid network.
//
// The closed form below uses plain doubles and loops only:
//   delta^(L)_j = 2 (a^(L)_j - y_j) sigma'(z^(L)_j)
//   delta^(l)_j = (sum_r delta^(l+1)_r w^(l+1)_jr) sigma'(z^(l)_j)
//   dc/dw^(l)_kj = delta^(l)_j a^(l-1)_k,   dc/db^(l)_j = delta^(l)_j
// The engine's values are the grads of the Trace's z^(l) and of the layers' W and b after one backward pass.
// Exits with status 1 when they differ by more than 1e-12.
#include "autodiff/autodiff.hpp"
#include "nn/cost.hpp"
#include "nn/mlp.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace {

using Vec = std::vector<double>;

double sigma(double z) { return 1.0 / (1.0 + std::exp(-z)); }
double sigma_prime(double z) { return sigma(z) * (1.0 - sigma(z)); }

double max_diff = 0.0;

void row(const std::string& label, double engine, double closed) {
  const double d = std::fabs(engine - closed);
  max_diff = std::max(max_diff, d);
  fmt::print("  {:<10} {:>+22.15e} {:>+22.15e} {:>10.2e}\n", label, engine, closed, d);
}

}  // namespace

int main() {
  const std::vector<std::int64_t> n = {2, 3, 3, 2};
  const std::size_t L = n.size() - 1;
  std::mt19937_64 gen(2024);
  nn::MLP mlp(n, gen, nn::Activation::sigmoid, nn::Activation::sigmoid, nn::Init::normal, autodiff::Dtype::f64);
  const Vec x = {0.35, 0.9}, y = {0.5, 0.8};

  // Engine: forward with a Trace, cost c = sum_j (y_j - a_j)^2, one backward pass.
  autodiff::TapeScope scope;
  nn::Trace trace;
  const autodiff::Tensor a_out = mlp.forward(autodiff::tensor(x, autodiff::Shape{1, 2}, autodiff::Dtype::f64), trace);
  const autodiff::Tensor cost = nn::squared_error(a_out, autodiff::tensor(y, autodiff::Shape{1, 2}, autodiff::Dtype::f64));
  autodiff::backward(cost);

  // Closed form, from the weight values alone.
  std::vector<Vec> w(L + 1), b(L + 1), z(L + 1), a(L + 1), delta(L + 1);
  for (std::size_t l = 1; l <= L; ++l) {
    w[l] = mlp.layer(l).weight().to_vector();  // [n_(l-1), n_l] row-major: w_kj = w[l][k * n_l + j]
    b[l] = mlp.layer(l).bias().to_vector();
  }
  a[0] = x;
  for (std::size_t l = 1; l <= L; ++l) {
    const auto nk = static_cast<std::size_t>(n[l - 1]), nj = static_cast<std::size_t>(n[l]);
    z[l].assign(nj, 0.0);
    a[l].assign(nj, 0.0);
    for (std::size_t j = 0; j < nj; ++j) {
      z[l][j] = b[l][j];
      for (std::size_t k = 0; k < nk; ++k) z[l][j] += w[l][k * nj + j] * a[l - 1][k];
      a[l][j] = sigma(z[l][j]);
    }
  }
  double c = 0.0;
  for (std::size_t j = 0; j < y.size(); ++j) c += (y[j] - a[L][j]) * (y[j] - a[L][j]);
  delta[L].assign(a[L].size(), 0.0);
  for (std::size_t j = 0; j < a[L].size(); ++j) delta[L][j] = 2.0 * (a[L][j] - y[j]) * sigma_prime(z[L][j]);
  for (std::size_t l = L - 1; l >= 1; --l) {
    const auto nj = static_cast<std::size_t>(n[l]), nr = static_cast<std::size_t>(n[l + 1]);
    delta[l].assign(nj, 0.0);
    for (std::size_t j = 0; j < nj; ++j) {
      double s = 0.0;
      for (std::size_t r = 0; r < nr; ++r) s += delta[l + 1][r] * w[l + 1][j * nr + r];
      delta[l][j] = s * sigma_prime(z[l][j]);
    }
  }

  fmt::print("network {}-{}-{}-{}, sigmoid, N(0,1) init (seed 2024), x = ({}, {}), y = ({}, {})\n", n[0], n[1], n[2], n[3],
             x[0], x[1], y[0], y[1]);
  fmt::print("cost c = sum_j (y_j - a_j)^2:  engine {:.15e}  closed form {:.15e}\n", cost.at(0), c);
  max_diff = std::max(max_diff, std::fabs(cost.at(0) - c));
  const auto header = [](const char* what) {
    fmt::print("  {:<10} {:>22} {:>22} {:>10}\n", what, "engine", "closed form", "|diff|");
  };
  for (std::size_t l = L; l >= 1; --l) {
    const auto nk = static_cast<std::size_t>(n[l - 1]), nj = static_cast<std::size_t>(n[l]);
    fmt::print("\nlayer {} ({} -> {}){}\n", l, nk, nj, l == L ? ", the output layer" : "");
    const autodiff::Tensor dz = trace.z[l].grad(), dw = mlp.layer(l).weight().grad(), db = mlp.layer(l).bias().grad();
    header("delta_j");
    for (std::size_t j = 0; j < nj; ++j) row(fmt::format("j={}", j), dz.at(static_cast<std::int64_t>(j)), delta[l][j]);
    header("dW_kj");
    for (std::size_t k = 0; k < nk; ++k)
      for (std::size_t j = 0; j < nj; ++j)
        row(fmt::format("k={} j={}", k, j), dw.at(static_cast<std::int64_t>(k * nj + j)), delta[l][j] * a[l - 1][k]);
    header("db_j");
    for (std::size_t j = 0; j < nj; ++j) row(fmt::format("j={}", j), db.at(static_cast<std::int64_t>(j)), delta[l][j]);
  }
  fmt::print("\n");
  std::printf("max |engine - closed form| = %.3g\n", max_diff);
  return max_diff <= 1e-12 ? 0 : 1;
}
