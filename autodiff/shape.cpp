// Shape, axis lists, NumPy broadcasting rules and broadcast strides.
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

void Shape::throw_axis(int axis) const {
  throw std::out_of_range(fmt::format("Shape: axis {} out of range for rank {} ({})", axis, rank_, str()));
}

void Shape::set(int axis, std::int64_t d) {
  const int a = axis < 0 ? axis + rank_ : axis;
  if (a < 0 || a >= rank_) throw_axis(axis);
  if (d < 0) throw std::invalid_argument(fmt::format("Shape: negative dimension {}", d));
  dims_[static_cast<std::size_t>(a)] = d;
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

bool operator==(const Shape& a, const Shape& b) { return a.rank_ == b.rank_ && std::equal(a.begin(), a.end(), b.begin()); }

Dims::Dims(std::initializer_list<int> axes) : Dims(std::span<const int>(axes.begin(), axes.size())) {}

Dims::Dims(std::span<const int> axes) {
  if (axes.size() > axes_.size()) {
    n_ = -1;
    return;
  }
  std::copy(axes.begin(), axes.end(), axes_.begin());
  n_ = static_cast<int>(axes.size());
}

void Dims::check_count(std::string_view op) const {
  if (n_ < 0) throw std::invalid_argument(fmt::format("{}: more than {} axes given", op, Shape::max_rank));
}

std::array<bool, Shape::max_rank> Dims::mask(std::string_view op, int rank) const {
  check_count(op);
  if (n_ == 0) throw std::invalid_argument(fmt::format("{}: empty list of axes", op));
  std::array<bool, Shape::max_rank> m{};
  for (int a : axes()) {
    const int n = normalize_axis(op, a, rank);
    if (m[static_cast<std::size_t>(n)])
      throw std::invalid_argument(fmt::format("{}: axis {} repeated (axes {})", op, n, fmt::join(axes(), ",")));
    m[static_cast<std::size_t>(n)] = true;
  }
  return m;
}

int normalize_axis(std::string_view op, int axis, int rank) {
  const int a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw std::invalid_argument(fmt::format("{}: axis {} out of range for rank {}", op, axis, rank));
  return a;
}

std::optional<Shape> try_broadcast(const Shape& a, const Shape& b, int* bad_axis) {
  if (a == b) return a;
  const int r = std::max(a.rank(), b.rank());
  std::array<std::int64_t, Shape::max_rank> d{};
  const auto da = a.dims(), db = b.dims();
  for (int i = 0; i < r; ++i) {
    const int ia = a.rank() - r + i, ib = b.rank() - r + i;
    const std::int64_t x = ia >= 0 ? da[static_cast<std::size_t>(ia)] : 1, y = ib >= 0 ? db[static_cast<std::size_t>(ib)] : 1;
    if (x != y && x != 1 && y != 1) {
      if (bad_axis) *bad_axis = i;
      return std::nullopt;
    }
    d[static_cast<std::size_t>(i)] = x == 1 ? y : x;
  }
  return Shape(std::span<const std::int64_t>(d.data(), static_cast<std::size_t>(r)));
}

Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op) {
  int axis = 0;
  if (auto s = try_broadcast(a, b, &axis)) return *s;
  detail::throw_broadcast(op, a.str(), b.str(), a, b, axis);
}

bool broadcasts_to(const Shape& from, const Shape& to) {
  auto s = try_broadcast(from, to);
  return s && *s == to;
}

Shape reduced_shape(const Shape& s, const std::array<bool, Shape::max_rank>& mask, bool keepdim) {
  std::array<std::int64_t, Shape::max_rank> d{};
  std::size_t r = 0;
  const auto dims = s.dims();
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (!mask[i])
      d[r++] = dims[i];
    else if (keepdim)
      d[r++] = 1;
  }
  return Shape(std::span<const std::int64_t>(d.data(), r));
}

namespace detail {

void throw_broadcast(std::string_view op, std::string_view lhs, std::string_view rhs, const Shape& a, const Shape& b,
                     int axis) {
  const int r = std::max(a.rank(), b.rank());
  const int ia = a.rank() - r + axis, ib = b.rank() - r + axis;
  throw std::invalid_argument(fmt::format("{}: shapes do not broadcast (lhs {}, rhs {}; axis {} is {} vs {})", op, lhs, rhs,
                                          axis, ia >= 0 ? a[ia] : 1, ib >= 0 ? b[ib] : 1));
}

Strides broadcast_strides(const Shape& in, const Shape& out) {
  Strides s{};
  const auto own = in.strides();
  const auto d = in.dims();
  const int off = out.rank() - in.rank();
  for (std::size_t i = 0; i < d.size(); ++i) s[i + static_cast<std::size_t>(off)] = d[i] == 1 ? 0 : own[i];
  return s;
}

}  // namespace detail
}  // namespace autodiff
