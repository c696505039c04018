// Shape of an n-D array, NumPy broadcasting, and the strided index walk that broadcasting and reduce-to-shape share.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

namespace autodiff {

/// Dimensions of a row-major n-D array. Rank 0 is a scalar with one element.
class Shape {
 public:
  static constexpr int max_rank = 8;

  Shape() = default;
  Shape(std::initializer_list<std::int64_t> dims);
  explicit Shape(std::span<const std::int64_t> dims);

  int rank() const { return rank_; }
  std::int64_t operator[](int axis) const { return dims_[static_cast<std::size_t>(axis)]; }
  /// Sets one dimension. @throws std::invalid_argument when negative.
  void set(int axis, std::int64_t d);
  std::int64_t numel() const { return numel_; }
  const std::int64_t* begin() const { return dims_.data(); }
  const std::int64_t* end() const { return dims_.data() + rank_; }
  /// Row-major strides in elements.
  std::array<std::int64_t, max_rank> strides() const;
  std::string str() const;  ///< "[32,100]"

  friend bool operator==(const Shape& a, const Shape& b);

 private:
  void recount();
  std::array<std::int64_t, max_rank> dims_{};
  int rank_ = 0;
  std::int64_t numel_ = 1;
};

/// NumPy broadcast of two shapes.
/// @throws std::invalid_argument naming `op` and both shapes when they do not broadcast.
Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op);

/// True when `from` broadcasts to exactly `to`.
bool broadcasts_to(const Shape& from, const Shape& to);

namespace detail {

/// Strides of `in` laid over `out` with 0 on broadcast axes (in must broadcast to out).
std::array<std::int64_t, Shape::max_rank> broadcast_strides(const Shape& in, const Shape& out);

/// Calls fn(out_offset, a_offset, b_offset) for every element of `out`, in row-major order, where a and b
/// are laid over out with the given strides. The one place broadcast index arithmetic lives.
template <class Fn>
void for_each_broadcast(const Shape& out, const std::array<std::int64_t, Shape::max_rank>& sa,
                        const std::array<std::int64_t, Shape::max_rank>& sb, Fn&& fn) {
  const int r = out.rank();
  const std::int64_t n = out.numel();
  if (n == 0) return;
  if (r == 0) {
    fn(std::int64_t{0}, std::int64_t{0}, std::int64_t{0});
    return;
  }
  std::array<std::int64_t, Shape::max_rank> idx{};
  std::int64_t oa = 0, ob = 0;
  const std::int64_t inner = out[r - 1];
  const std::int64_t ia = sa[static_cast<std::size_t>(r - 1)], ib = sb[static_cast<std::size_t>(r - 1)];
  for (std::int64_t o = 0; o < n; o += inner) {
    for (std::int64_t k = 0; k < inner; ++k) fn(o + k, oa + k * ia, ob + k * ib);
    for (int ax = r - 2; ax >= 0; --ax) {
      const auto u = static_cast<std::size_t>(ax);
      oa += sa[u];
      ob += sb[u];
      if (++idx[u] < out[ax]) break;
      oa -= sa[u] * out[ax];
      ob -= sb[u] * out[ax];
      idx[u] = 0;
    }
  }
}

}  // namespace detail
}  // namespace autodiff
