// The slices a reduction reads: an [outer, n, inner] view around one axis, and a walk that pairs every element with
// the output element it reduces into, for any set of axes. For the reduction ops (reduce.cpp, softmax.cpp).
#pragma once

#include "autodiff/shape.hpp"

#include <array>
#include <cstdint>

namespace autodiff::detail {

using AxisMask = std::array<bool, Shape::max_rank>;

/// x viewed as [outer, n, inner] around one axis: element (o, k, i) sits at (o * n + k) * inner + i.
struct Split {
  std::int64_t outer = 1, n = 1, inner = 1;
};

inline Split split(const Shape& s, int axis) {
  Split p;
  for (int i = 0; i < axis; ++i) p.outer *= s[i];
  p.n = s[axis];
  for (int i = axis + 1; i < s.rank(); ++i) p.inner *= s[i];
  return p;
}

inline AxisMask one_axis(int axis) {
  AxisMask m{};
  m[static_cast<std::size_t>(axis)] = true;
  return m;
}

inline AxisMask all_axes(int rank) {
  AxisMask m{};
  for (int i = 0; i < rank; ++i) m[static_cast<std::size_t>(i)] = true;
  return m;
}

/// Elements reduced into each output element.
inline std::int64_t reduced_count(const Shape& s, const AxisMask& mask) {
  std::int64_t n = 1;
  for (int i = 0; i < s.rank(); ++i)
    if (mask[static_cast<std::size_t>(i)]) n *= s[i];
  return n;
}

/// Calls fn(i, o) for every element i of an array of shape s (row-major order), where o is the flat index in the
/// kept shape (reduced axes as 1) of the output element it reduces into. Masked axes that form one run take a plain
/// triple loop; others the broadcast walk.
template <class Fn>
void for_each_reduced(const Shape& s, const AxisMask& mask, Fn&& fn) {
  int lo = s.rank(), hi = -1;
  for (int i = 0; i < s.rank(); ++i)
    if (mask[static_cast<std::size_t>(i)]) {
      lo = std::min(lo, i);
      hi = i;
    }
  bool run = true;
  for (int i = lo; i <= hi; ++i) run = run && mask[static_cast<std::size_t>(i)];
  if (run) {
    std::int64_t outer = 1, n = 1, inner = 1;
    for (int i = 0; i < s.rank(); ++i) (i < lo ? outer : i > hi ? inner : n) *= s[i];
    std::int64_t e = 0;
    for (std::int64_t o = 0; o < outer; ++o)
      for (std::int64_t k = 0; k < n; ++k)
        for (std::int64_t j = 0; j < inner; ++j) fn(e++, o * inner + j);
    return;
  }
  const Shape kept = reduced_shape(s, mask, true);
  for_each_broadcast(s, broadcast_strides(s, s), broadcast_strides(kept, s),
                     [&](std::int64_t i, std::int64_t, std::int64_t o) { fn(i, o); });
}

}  // namespace autodiff::detail
