// Wrapper for README.md's training step: a batch x [32,784] and one-hot targets y [32,10], as the text describes.
#include <autodiff/autodiff.hpp>
#include <autodiff/nn/nn.hpp>

#include <cstdint>
#include <random>

int main() {
  std::mt19937_64 data_gen(1);
  const autodiff::Tensor x = autodiff::uniform(autodiff::Shape{32, 784}, 0.0, 1.0, data_gen);
  autodiff::Array targets = autodiff::Array::zeros(autodiff::Shape{32, 10}, autodiff::Dtype::f32);
  for (std::int64_t i = 0; i < 32; ++i) targets.set(i * 10 + i % 10, 1.0);
  const autodiff::Tensor y(targets);

  // @doc-block
}
