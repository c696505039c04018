// A program that uses an installed (or subproject) autodiff: tests/consumer/run.sh builds it three ways (Meson
// subproject, pkg-config, CMake), as the README's "Using it from your project" shows, and compares its output.
#include <autodiff/autodiff.hpp>
#include <autodiff/nn/nn.hpp>

#include <fmt/core.h>

#include <iostream>
#include <random>

int main() {
  std::mt19937_64 gen(0);
  nn::MLP mlp({2, 3, 1}, gen, nn::Activation::sigmoid, nn::Activation::sigmoid, nn::Init::uniform, autodiff::Dtype::f64);
  nn::SGD opt(mlp.parameters(), {.lr = 1.0});
  const autodiff::Tensor x = autodiff::tensor({0.5, -1.0}, autodiff::Shape{1, 2}, autodiff::Dtype::f64);
  const autodiff::Tensor y = autodiff::tensor({1.0}, autodiff::Shape{1, 1}, autodiff::Dtype::f64);

  double first = 0, last = 0;
  for (int step = 0; step < 20; ++step) {
    autodiff::Tensor cost = nn::squared_error(mlp.forward(x), y);
    opt.zero_grad();
    autodiff::backward(cost);
    opt.step();
    (step == 0 ? first : last) = cost.at(0);
  }
  fmt::print("cost {:.3f} -> {:.3f} after 20 SGD steps\n", first, last);
  std::cout << mlp.forward(x).detach() << "\n";
  return last < first ? 0 : 1;
}
