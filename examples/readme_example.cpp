// The README's first example, kept runnable: it exits non-zero if the printed values drift from the README.
#include <autodiff/autodiff.hpp>
#include <fmt/core.h>

#include <cmath>

using namespace autodiff;

int main() {
  Var a = -4.0, b = 2.0;                          // scalar leaves, micrograd style
  Var g = pow(a * b + b, 2) / 2.0 + relu(b - a);  // recorded on this thread's tape
  backward(g);
  fmt::print("{:.4f} {:.4f} {:.4f}\n", g.value(), a.grad(), b.grad());

  Tensor W = tensor({0.5, -1, 2, 0.25}, Shape{2, 2}, Dtype::f64, true);
  Tensor x = tensor({1, 2}, Shape{1, 2}, Dtype::f64);
  Tensor z = matmul(x, W);                        // [1,2] x [2,2] -> [1,2]
  Tensor c = sum(pow(sigmoid(z) - 1.0, 2.0));
  backward(c);
  fmt::print("{}\n{}\n", z.grad(), W.grad());     // dc/dz (the seed's delta) and dc/dW

  // By hand: g = (ab + b)^2 / 2 + relu(b - a) = 18 + 6; dg/da = (ab + b) b - 1; dg/db = (ab + b)(a + 1) + 1.
  const bool ok = std::fabs(g.value() - 24.0) < 1e-12 && std::fabs(a.grad() + 13.0) < 1e-12 &&
                  std::fabs(b.grad() - 19.0) < 1e-12 && std::fabs(z.grad().at(1) + 0.292561) < 1e-6 &&
                  std::fabs(W.grad().at(3) - 2 * z.grad().at(1)) < 1e-15;
  return ok ? 0 : 1;
}
