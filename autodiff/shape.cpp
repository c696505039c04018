// Shape, NumPy broadcasting rules and broadcast strides.
#include "autodiff/shape.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace autodiff {

Shape::Shape(std::initializer_list<std::int64_t> dims) : Shape(std::span<const std::int64_t>(dims.begin(), dims.size())) {}

Shape::Shape(std::span<const std::int64_t> dims) {
  if (dims.size() > static_cast<std::size_t>(max_rank))
    throw std::invalid_argument(fmt::format("Shape: rank {} exceeds the maximum {}", dims.size(), max_rank));
  for (std::int64_t d : dims)
    if (d < 0) throw std::invalid_argument(fmt::format("Shape: negative dimension {}", d));
  std::copy(dims.begin(), dims.end(), dims_.begin());
  rank_ = static_cast<int>(dims.size());
  recount();
}

void Shape::set(int axis, std::int64_t d) {
  if (d < 0) throw std::invalid_argument(fmt::format("Shape: negative dimension {}", d));
  dims_[static_cast<std::size_t>(axis)] = d;
  recount();
}

void Shape::recount() {
  numel_ = 1;
  for (int i = 0; i < rank_; ++i)
    if (__builtin_mul_overflow(numel_, dims_[static_cast<std::size_t>(i)], &numel_))
      throw std::invalid_argument(fmt::format("Shape: element count overflows ({})", str()));
}

std::array<std::int64_t, Shape::max_rank> Shape::strides() const {
  std::array<std::int64_t, max_rank> s{};
  std::int64_t acc = 1;
  for (int i = rank_ - 1; i >= 0; --i) {
    s[static_cast<std::size_t>(i)] = acc;
    acc *= dims_[static_cast<std::size_t>(i)];
  }
  return s;
}

std::string Shape::str() const {
  std::string s = "[";
  for (int i = 0; i < rank_; ++i) {
    if (i) s += ',';
    s += std::to_string(dims_[static_cast<std::size_t>(i)]);
  }
  return s + "]";
}

bool operator==(const Shape& a, const Shape& b) {
  return a.rank_ == b.rank_ && std::equal(a.begin(), a.end(), b.begin());
}

Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op) {
  if (a == b) return a;
  const int r = std::max(a.rank(), b.rank());
  std::array<std::int64_t, Shape::max_rank> d{};
  for (int i = 0; i < r; ++i) {
    const int ia = a.rank() - r + i, ib = b.rank() - r + i;
    const std::int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da != db && da != 1 && db != 1)
      throw std::invalid_argument(fmt::format("{}: shapes do not broadcast (lhs {}, rhs {}; axis {} is {} vs {})", op,
                                              a.str(), b.str(), i, da, db));
    d[static_cast<std::size_t>(i)] = da == 1 ? db : da;
  }
  return Shape(std::span<const std::int64_t>(d.data(), static_cast<std::size_t>(r)));
}

bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.rank() > to.rank()) return false;
  for (int i = 0; i < from.rank(); ++i) {
    const std::int64_t f = from[i], t = to[to.rank() - from.rank() + i];
    if (f != t && f != 1) return false;
  }
  return true;
}

namespace detail {

std::array<std::int64_t, Shape::max_rank> broadcast_strides(const Shape& in, const Shape& out) {
  std::array<std::int64_t, Shape::max_rank> s{};
  const auto own = in.strides();
  const int off = out.rank() - in.rank();
  for (int i = 0; i < in.rank(); ++i)
    s[static_cast<std::size_t>(i + off)] = in[i] == 1 ? 0 : own[static_cast<std::size_t>(i)];
  return s;
}

}  // namespace detail
}  // namespace autodiff
