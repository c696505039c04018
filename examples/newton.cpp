// Newton's method on the Rosenbrock function with the engine's gradient and Hessian; also a Hessian-vector product.
//
//   f(x, y) = (1 - x)^2 + 100 (y - x^2)^2,  minimum f(1, 1) = 0,  start (-1.2, 1)
//   Newton step: solve H(p) d = -grad f(p), then p += d.
// Exits 1 when it does not reach (1, 1) within 1e-8, or when hvp disagrees with hessian * v.
#include "autodiff/autodiff.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

namespace {

using autodiff::Dtype;
using autodiff::Shape;
using autodiff::Tensor;
using Vec = std::vector<double>;

/// Built from tensor ops only, so its backward can be differentiated again (create_graph).
Tensor rosenbrock(const Tensor& p) {
  const Tensor x = autodiff::rows(p, {0}), y = autodiff::rows(p, {1});
  return autodiff::sum(autodiff::pow(1.0 - x, 2.0) + 100.0 * autodiff::pow(y - x * x, 2.0));
}

Tensor point(const Vec& p, bool requires_grad = false) {
  return autodiff::tensor(p, Shape{static_cast<std::int64_t>(p.size())}, Dtype::f64, requires_grad);
}

/// Solves A d = b by Gaussian elimination with partial pivoting (A is n x n, row-major).
Vec solve(Vec A, Vec b) {
  const std::size_t n = b.size();
  for (std::size_t c = 0; c < n; ++c) {
    std::size_t piv = c;
    for (std::size_t r = c + 1; r < n; ++r)
      if (std::fabs(A[r * n + c]) > std::fabs(A[piv * n + c])) piv = r;
    for (std::size_t k = 0; k < n; ++k) std::swap(A[c * n + k], A[piv * n + k]);
    std::swap(b[c], b[piv]);
    for (std::size_t r = c + 1; r < n; ++r) {
      const double m = A[r * n + c] / A[c * n + c];
      for (std::size_t k = c; k < n; ++k) A[r * n + k] -= m * A[c * n + k];
      b[r] -= m * b[c];
    }
  }
  Vec d(n);
  for (std::size_t r = n; r-- > 0;) {
    double s = b[r];
    for (std::size_t k = r + 1; k < n; ++k) s -= A[r * n + k] * d[k];
    d[r] = s / A[r * n + r];
  }
  return d;
}

double norm(const Vec& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

}  // namespace

int main() {
  Vec p = {-1.2, 1.0};
  fmt::print("Newton's method on Rosenbrock from ({}, {})\n", p[0], p[1]);
  fmt::print("{:>4} {:>20} {:>20} {:>12} {:>12}\n", "iter", "x", "y", "f", "|grad|");
  bool converged = false;
  for (int iter = 0; iter <= 50; ++iter) {
    Vec g;
    double f = 0;
    {
      autodiff::TapeScope scope;
      const Tensor x = point(p, true);
      const Tensor fx = rosenbrock(x);
      f = fx.at(0);
      g = autodiff::gradient(fx, {x})[0].to_vector();
    }
    fmt::print("{:>4} {:>20.15f} {:>20.15f} {:>12.4e} {:>12.4e}\n", iter, p[0], p[1], f, norm(g));
    if (norm(g) < 1e-12) {
      converged = true;
      break;
    }
    const Vec H = autodiff::hessian(rosenbrock, point(p)).to_vector();  // [2,2] row-major
    Vec minus_g = g;
    for (double& v : minus_g) v = -v;
    const Vec d = solve(H, minus_g);
    for (std::size_t i = 0; i < p.size(); ++i) p[i] += d[i];
  }
  const double err = std::max(std::fabs(p[0] - 1.0), std::fabs(p[1] - 1.0));
  fmt::print("minimum at ({:.12f}, {:.12f}), distance to (1, 1): {:.2e}\n\n", p[0], p[1], err);

  // A Hessian-vector product costs one extra backward pass and never forms H: compare it with the full Hessian.
  const Vec at = {0.5, -0.3}, v = {1.0, 2.0};
  const autodiff::TensorFunction f = [](const std::vector<Tensor>& in) { return rosenbrock(in[0]); };
  const Vec Hv = autodiff::hvp(f, {point(at)}, {point(v)})[0].to_vector();
  const Vec H = autodiff::hessian(rosenbrock, point(at)).to_vector();
  const Vec Hv_full = {H[0] * v[0] + H[1] * v[1], H[2] * v[0] + H[3] * v[1]};
  fmt::print("at ({}, {}): H = [[{}, {}], [{}, {}]]\n", at[0], at[1], H[0], H[1], H[2], H[3]);
  fmt::print("hvp(f, x, v = ({}, {})) = ({:.10g}, {:.10g});  hessian * v = ({:.10g}, {:.10g})\n", v[0], v[1], Hv[0], Hv[1],
             Hv_full[0], Hv_full[1]);
  const bool hvp_ok = std::fabs(Hv[0] - Hv_full[0]) < 1e-9 && std::fabs(Hv[1] - Hv_full[1]) < 1e-9;
  // Closed form for comparison: H = [[2 - 400 (y - 3 x^2), -400 x], [-400 x, 200]].
  const bool h_ok = std::fabs(H[0] - (2 - 400 * (at[1] - 3 * at[0] * at[0]))) < 1e-9 && std::fabs(H[1] + 400 * at[0]) < 1e-9 &&
                    std::fabs(H[2] + 400 * at[0]) < 1e-9 && std::fabs(H[3] - 200) < 1e-9;

  const auto gg = autodiff::gradgradcheck(f, {point(at)});
  fmt::print("gradgradcheck of rosenbrock at ({}, {}):\n{}\n\n", at[0], at[1], gg);

  const bool pass = converged && err < 1e-8 && hvp_ok && h_ok && gg.ok;
  fmt::print("{}\n", pass ? "newton: PASS (converged to (1, 1); hvp = hessian * v; hessian = closed form)" : "newton: FAIL");
  return pass ? 0 : 1;
}
