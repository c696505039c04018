// Tensor creation: from values, constant fills, and seeded uniform and normal fills that do not depend on the standard library.
#include "autodiff/tensor.hpp"

#include <fmt/format.h>

#include <algorithm>
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

Tensor rand(const Shape& shape, std::mt19937_64& gen, Dtype dtype, bool requires_grad) {
  return uniform(shape, 0.0, 1.0, gen, dtype, requires_grad);
}

Tensor randn(const Shape& shape, std::mt19937_64& gen, Dtype dtype, bool requires_grad) {
  return normal(shape, 0.0, 1.0, gen, dtype, requires_grad);
}

Tensor tensor_i64(std::vector<std::int64_t> values, const Shape& shape) {
  if (static_cast<std::int64_t>(values.size()) != shape.numel())
    throw std::invalid_argument(
        fmt::format("tensor_i64: {} values for shape {} ({} elements)", values.size(), shape.str(), shape.numel()));
  Array a(shape, Dtype::i64);
  std::copy(values.begin(), values.end(), a.data<std::int64_t>());
  return Tensor(std::move(a));
}

Tensor tensor_i64(std::initializer_list<std::int64_t> values) {
  return tensor_i64(std::vector<std::int64_t>(values), Shape{static_cast<std::int64_t>(values.size())});
}

Tensor arange(double start, double end, double step, Dtype dtype) {
  if (step == 0.0 || !std::isfinite(step) || !std::isfinite(start) || !std::isfinite(end))
    throw std::invalid_argument(fmt::format("arange: start {}, end {} and step {} must be finite, step non-zero", start, end, step));
  const double count = std::ceil((end - start) / step);
  if (count > 2147483647.0)
    throw std::invalid_argument(fmt::format("arange: {} elements from {} to {} by {} is too many", count, start, end, step));
  const auto n = static_cast<std::int64_t>(std::max(count, 0.0));
  Array a(Shape{n}, dtype);
  for (std::int64_t i = 0; i < n; ++i) a.set(i, start + static_cast<double>(i) * step);
  return Tensor(std::move(a));
}

Tensor linspace(double start, double end, std::int64_t steps, Dtype dtype) {
  if (steps < 0) throw std::invalid_argument(fmt::format("linspace: steps must be >= 0 (got {})", steps));
  Array a(Shape{steps}, dtype);
  for (std::int64_t i = 0; i < steps; ++i)
    a.set(i, steps == 1 ? start : start + (end - start) * static_cast<double>(i) / static_cast<double>(steps - 1));
  return Tensor(std::move(a));
}

Tensor eye(std::int64_t n, std::int64_t m, Dtype dtype) {
  if (m < 0) m = n;
  if (n < 0) throw std::invalid_argument(fmt::format("eye: n must be >= 0 (got {})", n));
  Array a = Array::zeros(Shape{n, m}, dtype);
  for (std::int64_t i = 0; i < std::min(n, m); ++i) a.set(i * m + i, 1.0);
  return Tensor(std::move(a));
}

Tensor zeros_like(const Tensor& x) { return Tensor(Array::zeros(x.shape(), x.dtype())); }
Tensor ones_like(const Tensor& x) { return Tensor(Array::full(x.shape(), 1.0, x.dtype())); }
Tensor full_like(const Tensor& x, double value) { return Tensor(Array::full(x.shape(), value, x.dtype())); }

}  // namespace autodiff
