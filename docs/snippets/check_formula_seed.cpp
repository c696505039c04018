// Wrapper for README.md's check_formula fragment: the seed's last layer, a2 [1,3] -> z3 = a2 W3 + b3 [1,2], target y.
// Exits 1 unless the fragment's closed form matches the engine.
#include <autodiff/autodiff.hpp>

#include <fmt/core.h>

int main() {
  using autodiff::Dtype, autodiff::Shape;
  const autodiff::Tensor a2 = autodiff::tensor({0.6, 0.3, 0.8}, Shape{1, 3}, Dtype::f64);
  const autodiff::Tensor W3_value = autodiff::tensor({0.1, -0.4, 0.7, 0.2, -0.5, 0.3}, Shape{3, 2}, Dtype::f64);
  const autodiff::Tensor b3 = autodiff::tensor({0.05, -0.1}, Shape{2}, Dtype::f64);
  const autodiff::Tensor y = autodiff::tensor({0.5, 0.8}, Shape{1, 2}, Dtype::f64);

  // @doc-block

  return report.ok ? 0 : 1;
}
