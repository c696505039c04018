// Tensor creation: from values, constant fills, and seeded uniform and normal fills that do not depend on the standard library.
#include "autodiff/tensor.hpp"

#include <fmt/format.h>

#include <cmath>
#include <numbers>
#include <stdexcept>

namespace autodiff {

double uniform01(std::mt19937_64& gen) { return static_cast<double>(gen() >> 11) * 0x1.0p-53; }

Tensor tensor(std::vector<double> values, const Shape& shape, Dtype dtype, bool requires_grad) {
  if (static_cast<std::int64_t>(values.size()) != shape.numel())
    throw std::invalid_argument(
        fmt::format("tensor: {} values for shape {} ({} elements)", values.size(), shape.str(), shape.numel()));
  Array a(shape, dtype);
  for (std::size_t i = 0; i < values.size(); ++i) a.set(static_cast<std::int64_t>(i), values[i]);
  return Tensor(std::move(a), requires_grad);
}

Tensor tensor(std::initializer_list<double> values, Dtype dtype, bool requires_grad) {
  return tensor(std::vector<double>(values), Shape{static_cast<std::int64_t>(values.size())}, dtype, requires_grad);
}

Tensor zeros(const Shape& shape, Dtype dtype, bool requires_grad) { return Tensor(Array::zeros(shape, dtype), requires_grad); }
Tensor ones(const Shape& shape, Dtype dtype, bool requires_grad) { return full(shape, 1.0, dtype, requires_grad); }
Tensor full(const Shape& shape, double value, Dtype dtype, bool requires_grad) {
  return Tensor(Array::full(shape, value, dtype), requires_grad);
}

Tensor uniform(const Shape& shape, double lo, double hi, std::mt19937_64& gen, Dtype dtype, bool requires_grad) {
  Array a(shape, dtype);
  for (std::int64_t i = 0; i < a.numel(); ++i) a.set(i, lo + (hi - lo) * uniform01(gen));
  return Tensor(std::move(a), requires_grad);
}

Tensor normal(const Shape& shape, double mean, double stddev, std::mt19937_64& gen, Dtype dtype, bool requires_grad) {
  Array a(shape, dtype);
  for (std::int64_t i = 0; i < a.numel(); i += 2) {
    const double u1 = 1.0 - uniform01(gen), u2 = uniform01(gen);  // u1 in (0,1]: log is finite
    const double r = std::sqrt(-2.0 * std::log(u1)), th = 2.0 * std::numbers::pi * u2;
    a.set(i, mean + stddev * r * std::cos(th));
    if (i + 1 < a.numel()) a.set(i + 1, mean + stddev * r * std::sin(th));
  }
  return Tensor(std::move(a), requires_grad);
}

}  // namespace autodiff
