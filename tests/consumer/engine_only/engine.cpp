// The engine alone (tests/consumer/run.sh configures it as a subproject user would).
#include <autodiff/autodiff.hpp>

#include <fmt/core.h>

int main() {
  autodiff::Var a = -4.0, b = 2.0;
  autodiff::Var g = pow(a * b + b, 2) / 2.0 + relu(b - a);
  autodiff::backward(g);
  fmt::print("{:.4f} {:.4f} {:.4f}\n", g.value(), a.grad(), b.grad());
}
