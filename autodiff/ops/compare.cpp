// Masks: comparisons that make bool tensors (Dtype::b8), logical_not/and/or on them, and where and masked_fill that
// use them. Declared in ops/index.hpp.
#include "autodiff/check.hpp"
#include "autodiff/ops.hpp"

#include <fmt/format.h>

#include <stdexcept>
#include <string_view>
#include <type_traits>

namespace autodiff {

namespace {

// Calls fn(o, ia, ib) for every element o of `out`, where a and b broadcast to it: straight loops when both have its
// shape or one holds a single element, the engine's broadcast walk otherwise.
template <class Fn>
void for_each_pair(const Shape& out, const Shape& a, const Shape& b, Fn&& fn) {
  const std::int64_t n = out.numel();
  if (n == 0) return;
  const bool a_full = a == out, b_full = b == out;
  if (a_full && b_full) {
    for (std::int64_t i = 0; i < n; ++i) fn(i, i, i);
  } else if (a_full && b.numel() == 1) {
    for (std::int64_t i = 0; i < n; ++i) fn(i, i, std::int64_t{0});
  } else if (b_full && a.numel() == 1) {
    for (std::int64_t i = 0; i < n; ++i) fn(i, std::int64_t{0}, i);
  } else {
    detail::for_each_broadcast(out, detail::broadcast_strides(a, out), detail::broadcast_strides(b, out), fn);
  }
}

// pred(a, b) elementwise with broadcasting, for a and b of one dtype: a bool constant.
template <class P>
Tensor compare(std::string_view op, const Tensor& a, const Tensor& b, P pred) {
  check_same_dtype(op, a, b);
  check_broadcast(op, a, b);
  Array out(broadcast_shapes(a.shape(), b.shape(), op), Dtype::b8);
  dispatch_all(a.dtype(), [&]<class T>(T) {
    const T* pa = a.value().data<T>();
    const T* pb = b.value().data<T>();
    bool* po = out.data<bool>();
    for_each_pair(out.shape(), a.shape(), b.shape(),
                  [&](std::int64_t o, std::int64_t ia, std::int64_t ib) { po[o] = pred(pa[ia], pb[ib]); });
  });
  return Tensor(std::move(out));
}

// pred(a, b) elementwise for a scalar b: converted to a's dtype for a float a (as PyTorch), compared as doubles for
// int64 and bool (so 2 < 2.5 holds).
template <class P>
Tensor compare(const Tensor& a, double b, P pred) {
  Array out(a.shape(), Dtype::b8);
  dispatch_all(a.dtype(), [&]<class T>(T) {
    const T* pa = a.value().data<T>();
    bool* po = out.data<bool>();
    const std::int64_t n = a.numel();
    if constexpr (std::is_floating_point_v<T>) {
      const T s = static_cast<T>(b);
      for (std::int64_t i = 0; i < n; ++i) po[i] = pred(pa[i], s);
    } else {
      for (std::int64_t i = 0; i < n; ++i) po[i] = pred(static_cast<double>(pa[i]), b);
    }
  });
  return Tensor(std::move(out));
}

// A fill value as an element of type T; int64 needs a finite value in range (a NaN cast to an integer is undefined).
template <class T>
T fill_value(std::string_view op, double v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v != 0.0;
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    if (!(v >= -0x1p63 && v < 0x1p63))
      throw std::invalid_argument(fmt::format("{}: value {} does not fit an int64 tensor", op, v));
    return static_cast<std::int64_t>(v);
  } else {
    return static_cast<T>(v);
  }
}

// A 0-d constant holding v in the given dtype, checked under the op's name.
Tensor constant(std::string_view op, double v, Dtype dtype) {
  Array a(Shape{}, dtype);
  dispatch_all(dtype, [&]<class T>(T) { a.data<T>()[0] = fill_value<T>(op, v); });
  return Tensor(std::move(a));
}

}  // namespace

/// Constants (bool masks, no backward): a == b, a != b, a < b, a <= b, a > b, a >= b with broadcasting.
Tensor eq(const Tensor& a, const Tensor& b, Site) { return compare("eq", a, b, [](auto x, auto y) { return x == y; }); }
Tensor ne(const Tensor& a, const Tensor& b, Site) { return compare("ne", a, b, [](auto x, auto y) { return x != y; }); }
Tensor lt(const Tensor& a, const Tensor& b, Site) { return compare("lt", a, b, [](auto x, auto y) { return x < y; }); }
Tensor le(const Tensor& a, const Tensor& b, Site) { return compare("le", a, b, [](auto x, auto y) { return x <= y; }); }
Tensor gt(const Tensor& a, const Tensor& b, Site) { return compare("gt", a, b, [](auto x, auto y) { return x > y; }); }
Tensor ge(const Tensor& a, const Tensor& b, Site) { return compare("ge", a, b, [](auto x, auto y) { return x >= y; }); }

/// Constants (bool masks, no backward): the comparisons with a scalar.
Tensor eq(const Tensor& a, double b, Site) { return compare(a, b, [](auto x, auto y) { return x == y; }); }
Tensor ne(const Tensor& a, double b, Site) { return compare(a, b, [](auto x, auto y) { return x != y; }); }
Tensor lt(const Tensor& a, double b, Site) { return compare(a, b, [](auto x, auto y) { return x < y; }); }
Tensor le(const Tensor& a, double b, Site) { return compare(a, b, [](auto x, auto y) { return x <= y; }); }
Tensor gt(const Tensor& a, double b, Site) { return compare(a, b, [](auto x, auto y) { return x > y; }); }
Tensor ge(const Tensor& a, double b, Site) { return compare(a, b, [](auto x, auto y) { return x >= y; }); }

/// Constant: !x for a bool mask.
Tensor logical_not(const Tensor& x, Site) {
  check_mask("logical_not", "x", x);
  Array out(x.shape(), Dtype::b8);
  const bool* px = x.value().data<bool>();
  bool* po = out.data<bool>();
  for (std::int64_t i = 0; i < x.numel(); ++i) po[i] = !px[i];
  return Tensor(std::move(out));
}

/// Constant: a && b for bool masks, broadcasting.
Tensor logical_and(const Tensor& a, const Tensor& b, Site) {
  check_mask("logical_and", "a", a);
  check_mask("logical_and", "b", b);
  return compare("logical_and", a, b, [](bool x, bool y) { return x && y; });
}

/// Constant: a || b for bool masks, broadcasting.
Tensor logical_or(const Tensor& a, const Tensor& b, Site) {
  check_mask("logical_or", "a", a);
  check_mask("logical_or", "b", b);
  return compare("logical_or", a, b, [](bool x, bool y) { return x || y; });
}

/// forward:  out = cond ? a : b, broadcasting cond, a and b
/// backward: da += where(cond, grad, 0), db += where(cond, 0, grad) (each summed to its input's shape by the engine)
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b, Site site) {
  const Shape shape = check_where("where", cond, a, b);
  Array out(shape, a.dtype());
  // A broadcast cond is laid out in the result's shape (one byte per element); a and b are read in place.
  const Array c = cond.shape() == shape ? cond.value() : broadcast_array(cond.value(), shape, "where");
  dispatch_all(a.dtype(), [&]<class T>(T) {
    const bool* pc = c.data<bool>();
    const T* pa = a.value().data<T>();
    const T* pb = b.value().data<T>();
    T* po = out.data<T>();
    for_each_pair(shape, a.shape(), b.shape(),
                  [&](std::int64_t o, std::int64_t ia, std::int64_t ib) { po[o] = pc[o] ? pa[ia] : pb[ib]; });
  });
  return make_op("where", std::move(out), {a, b}, [cond](const Tensor& grad, const Tensor&, BackwardContext& dx) {
    const Tensor zero = scalar(0.0, grad.dtype());
    if (dx[0].wanted()) dx[0] += where(cond, grad, zero);
    if (dx[1].wanted()) dx[1] += where(cond, zero, grad);
  }, site);
}

/// Composite: where(cond, a, constant b of a's dtype).
Tensor where(const Tensor& cond, const Tensor& a, double b, Site site) {
  return where(cond, a, constant("where", b, a.dtype()), site);
}

/// Composite: where(cond, constant a of b's dtype, b).
Tensor where(const Tensor& cond, double a, const Tensor& b, Site site) {
  return where(cond, constant("where", a, b.dtype()), b, site);
}

/// forward:  out = mask ? value : x, broadcasting x and mask
/// backward: dx += masked_fill(grad, mask, 0) (summed to x's shape by the engine)
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value, Site site) {
  check_mask("masked_fill", "mask", mask);
  check_broadcast("masked_fill", x, mask);
  const Shape shape = broadcast_shapes(x.shape(), mask.shape(), "masked_fill");
  Array out(shape, x.dtype());
  dispatch_all(x.dtype(), [&]<class T>(T) {
    const T v = fill_value<T>("masked_fill", value);
    const T* px = x.value().data<T>();
    const bool* pm = mask.value().data<bool>();
    T* po = out.data<T>();
    for_each_pair(shape, x.shape(), mask.shape(),
                  [&](std::int64_t o, std::int64_t ix, std::int64_t im) { po[o] = pm[im] ? v : px[ix]; });
  });
  return make_op("masked_fill", std::move(out), {x}, [mask](const Tensor& grad, const Tensor&, BackwardContext& dx) {
    dx[0] += masked_fill(grad, mask, 0.0);
  }, site);
}

}  // namespace autodiff
