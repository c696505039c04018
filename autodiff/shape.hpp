// Shape of an n-D array, axis lists (Dims), NumPy broadcasting, and the strided index walk that broadcasting and
// reduce-to-shape share. The one place broadcasting rules live.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace autodiff {

/// Dimensions of a row-major n-D array. Rank 0 is a scalar with one element.
class Shape {
 public:
  static constexpr int max_rank = 8;

  Shape() = default;
  /// @throws std::invalid_argument for a negative dimension, a rank above max_rank or an element count that overflows.
  Shape(std::initializer_list<std::int64_t> dims);
  explicit Shape(std::span<const std::int64_t> dims);

  int rank() const { return rank_; }
  /// Size of one axis; a negative axis counts from the end. @throws std::out_of_range naming the axis and the rank.
  std::int64_t operator[](int axis) const {
    const int a = axis < 0 ? axis + rank_ : axis;
    if (a < 0 || a >= rank_) [[unlikely]]
      throw_axis(axis);
    return dims_[static_cast<std::size_t>(a)];
  }
  /// Sets one dimension. @throws std::out_of_range for a bad axis, std::invalid_argument when negative.
  void set(int axis, std::int64_t d);
  std::int64_t numel() const { return numel_; }
  std::span<const std::int64_t> dims() const { return {dims_.data(), static_cast<std::size_t>(rank_)}; }
  const std::int64_t* begin() const { return dims_.data(); }
  const std::int64_t* end() const { return dims_.data() + rank_; }
  /// Row-major strides in elements.
  std::array<std::int64_t, max_rank> strides() const;
  std::string str() const;  ///< "[32,100]"

  friend bool operator==(const Shape& a, const Shape& b);

 private:
  [[noreturn]] void throw_axis(int axis) const;
  void recount();
  std::array<std::int64_t, max_rank> dims_{};
  int rank_ = 0;
  std::int64_t numel_ = 1;
};

/// Axes for reductions and similar ops: `sum(x, 1)`, `sum(x, {0, 2})`. Negative axes count from the end.
class Dims {
 public:
  Dims(int axis) : n_(1) { axes_[0] = axis; }  // NOLINT: implicit, so an int reads as one axis
  Dims(std::initializer_list<int> axes);
  explicit Dims(std::span<const int> axes);
  Dims(const std::vector<int>& axes) : Dims(std::span<const int>(axes)) {}  // NOLINT
  std::span<const int> axes() const { return {axes_.data(), static_cast<std::size_t>(n_ < 0 ? 0 : n_)}; }
  /// More axes were given than a shape can have (axes() is then empty).
  bool too_many() const { return n_ < 0; }
  /// @throws std::invalid_argument naming `op` when too_many().
  void check_count(std::string_view op) const;
  /// The axes as a mask over `rank` dimensions.
  /// @throws std::invalid_argument naming `op` for an empty list, an axis out of range, a repeated axis or too many axes.
  std::array<bool, Shape::max_rank> mask(std::string_view op, int rank) const;

 private:
  std::array<int, Shape::max_rank> axes_{};
  int n_ = 0;  // -1: more axes than a shape can have
};

/// Normalises a possibly negative axis. @throws std::invalid_argument naming `op` when out of range.
int normalize_axis(std::string_view op, int axis, int rank);

/// NumPy broadcast of two shapes, or nothing when they do not broadcast (then *bad_axis is the first offending
/// axis of the broadcast result, counted from the left of the longer shape).
std::optional<Shape> try_broadcast(const Shape& a, const Shape& b, int* bad_axis = nullptr);
/// NumPy broadcast of two shapes.
/// @throws std::invalid_argument naming `op` and both shapes when they do not broadcast.
Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op);
/// True when `from` broadcasts to exactly `to`.
bool broadcasts_to(const Shape& from, const Shape& to);
/// Shape with the masked axes removed, or kept as 1 with keepdim.
Shape reduced_shape(const Shape& s, const std::array<bool, Shape::max_rank>& mask, bool keepdim);

namespace detail {

/// The broadcasting error, built in one place: "<op>: shapes do not broadcast (lhs <a>, rhs <b>; axis i is x vs y)".
[[noreturn]] void throw_broadcast(std::string_view op, std::string_view lhs, std::string_view rhs, const Shape& a,
                                  const Shape& b, int axis);

using Strides = std::array<std::int64_t, Shape::max_rank>;

/// Strides of `in` laid over `out` with 0 on broadcast axes (in must broadcast to out).
Strides broadcast_strides(const Shape& in, const Shape& out);

/// Calls fn(out_offset, a_offset, b_offset) for every element of `out`, in row-major order, where a and b
/// are laid over out with the given strides. The one place broadcast index arithmetic lives.
template <class Fn>
void for_each_broadcast(const Shape& out, const Strides& sa, const Strides& sb, Fn&& fn) {
  const int r = out.rank();
  const std::int64_t n = out.numel();
  if (n == 0) return;
  if (r == 0) {
    fn(std::int64_t{0}, std::int64_t{0}, std::int64_t{0});
    return;
  }
  const auto d = out.dims();
  Strides idx{};
  std::int64_t oa = 0, ob = 0;
  const std::int64_t inner = d[static_cast<std::size_t>(r - 1)];
  const std::int64_t ia = sa[static_cast<std::size_t>(r - 1)], ib = sb[static_cast<std::size_t>(r - 1)];
  for (std::int64_t o = 0; o < n; o += inner) {
    for (std::int64_t k = 0; k < inner; ++k) fn(o + k, oa + k * ia, ob + k * ib);
    for (int ax = r - 2; ax >= 0; --ax) {
      const auto u = static_cast<std::size_t>(ax);
      oa += sa[u];
      ob += sb[u];
      if (++idx[u] < d[u]) break;
      oa -= sa[u] * d[u];
      ob -= sb[u] * d[u];
      idx[u] = 0;
    }
  }
}

}  // namespace detail
}  // namespace autodiff
