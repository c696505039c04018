// Elementwise kernels over Arrays: map, and broadcasting zip with fast paths for the common layouts.
#pragma once

#include "autodiff/array.hpp"
#include "autodiff/shape.hpp"

#include <string_view>

namespace autodiff::detail {

/// The float-kernel check: "<op>: needs a float tensor (got int64 [3]); ...". @throws std::invalid_argument.
void check_float_array(std::string_view op, const Array& x);

/// out[i] = f(x[i]) in x's dtype, for a float x. @throws std::invalid_argument naming `op` for another dtype.
template <class F>
Array map(std::string_view op, const Array& x, F&& f) {
  check_float_array(op, x);
  Array out(x.shape(), x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    const T* px = x.data<T>();
    T* po = out.data<T>();
    const std::int64_t n = x.numel();
    for (std::int64_t i = 0; i < n; ++i) po[i] = static_cast<T>(f(px[i]));
  });
  return out;
}

/// out = f(a, b) with NumPy broadcasting for float a and b of one dtype (the caller checks they match).
template <class F>
Array zip(std::string_view op, const Array& a, const Array& b, F&& f) {
  check_float_array(op, a);
  const Shape out_shape = broadcast_shapes(a.shape(), b.shape(), op);
  Array out(out_shape, a.dtype());
  dispatch(a.dtype(), [&]<class T>(T) {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* po = out.data<T>();
    const std::int64_t n = out_shape.numel();
    const bool a_full = a.shape() == out_shape, b_full = b.shape() == out_shape;
    if (a_full && b_full) {
      for (std::int64_t i = 0; i < n; ++i) po[i] = static_cast<T>(f(pa[i], pb[i]));
    } else if (a_full && b.numel() == 1) {
      const T s = pb[0];
      for (std::int64_t i = 0; i < n; ++i) po[i] = static_cast<T>(f(pa[i], s));
    } else if (b_full && a.numel() == 1) {
      const T s = pa[0];
      for (std::int64_t i = 0; i < n; ++i) po[i] = static_cast<T>(f(s, pb[i]));
    } else if (a_full && b.rank() == 1 && out_shape.rank() >= 1 && b.numel() == out_shape[-1]) {
      const std::int64_t m = b.numel();  // [.., m] op [m]: a row vector over every row
      for (std::int64_t r = 0; r < n; r += m)
        for (std::int64_t j = 0; j < m; ++j) po[r + j] = static_cast<T>(f(pa[r + j], pb[j]));
    } else {
      for_each_broadcast(out_shape, broadcast_strides(a.shape(), out_shape), broadcast_strides(b.shape(), out_shape),
                         [&](std::int64_t o, std::int64_t ia, std::int64_t ib) { po[o] = static_cast<T>(f(pa[ia], pb[ib])); });
    }
  });
  return out;
}

}  // namespace autodiff::detail
