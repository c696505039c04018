// The softmax family: softmax and log_softmax (primitives with fused backward ops that are themselves
// differentiable) and logsumexp, all stable through the max shift. Float rows run on 16-lane vector kernels
// (compiled for AVX-512, AVX2 and the baseline, picked at load time).
#include "autodiff/check.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/slices.hpp"
#include "autodiff/ops/vec.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <limits>


namespace autodiff {

namespace {

// ---- float rows on 16-lane vectors (autodiff/ops/vec.hpp) ----------------------------------------------

using detail::vec::v16f;
using detail::vec::lanes;
using detail::vec::load;
using detail::vec::store;
using detail::vec::load_part;
using detail::vec::store_part;
using detail::vec::lane_sum;
using detail::vec::vexp;

AUTODIFF_VECTOR_CLONES float row_max(const float* x, std::int64_t n) {
  std::int64_t i = 0;
  float m = -std::numeric_limits<float>::infinity();
  if (n >= lanes) {
    v16f mv, v;
    load(mv, x);
    for (i = lanes; i + lanes <= n; i += lanes) {
      load(v, x + i);
      mv = v > mv ? v : mv;
    }
    for (int j = 0; j < lanes; ++j) m = mv[j] > m ? mv[j] : m;
  }
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

/// y = exp(x - shift); returns the sum of y.
AUTODIFF_VECTOR_CLONES float exp_sum(const float* x, float shift, float* y, std::int64_t n) {
  v16f acc{}, e;
  std::int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    load(e, x + i);
    e -= shift;
    vexp(e);
    store(y + i, e);
    acc += e;
  }
  if (i < n) {
    load_part(e, x + i, n - i);
    e -= shift;
    vexp(e);
    store_part(y + i, e, n - i);
    for (std::int64_t j = 0; j < n - i; ++j) acc[j] += e[j];
  }
  return lane_sum(acc);
}

AUTODIFF_VECTOR_CLONES void exp_inplace(float* y, std::int64_t n) {
  detail::vec::apply(y, y, n, [](v16f& v) __attribute__((always_inline)) { vexp(v); });
}

AUTODIFF_VECTOR_CLONES void scale(float* y, float c, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] *= c;
}

/// y = (x - a) - b
AUTODIFF_VECTOR_CLONES void shift2(const float* x, float a, float b, float* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = (x[i] - a) - b;
}

AUTODIFF_VECTOR_CLONES float dot_of(const float* a, const float* b, std::int64_t n) {
  v16f acc{}, u, v;
  std::int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    load(u, a + i);
    load(v, b + i);
    acc += u * v;
  }
  float s = lane_sum(acc);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

AUTODIFF_VECTOR_CLONES float sum_of(const float* a, std::int64_t n) {
  v16f acc{}, u;
  std::int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    load(u, a + i);
    acc += u;
  }
  float s = lane_sum(acc);
  for (; i < n; ++i) s += a[i];
  return s;
}

/// out = y * (g - s)
AUTODIFF_VECTOR_CLONES void softmax_grad(const float* g, const float* y, float s, float* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = y[i] * (g[i] - s);
}

/// out = g - exp(y) * s
AUTODIFF_VECTOR_CLONES void log_softmax_grad(const float* g, const float* y, float s, float* out, std::int64_t n) {
  v16f e, u;
  std::int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    load(e, y + i);
    vexp(e);
    load(u, g + i);
    store(out + i, u - e * s);
  }
  if (i < n) {
    load_part(e, y + i, n - i);
    vexp(e);
    load_part(u, g + i, n - i);
    store_part(out + i, u - e * s, n - i);
  }
}

// ---- the same in double, on std::exp --------------------------------------------------------------------------

double row_max(const double* x, std::int64_t n) {
  double m = -std::numeric_limits<double>::infinity();
  for (std::int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}
double exp_sum(const double* x, double shift, double* y, std::int64_t n) {
  double s = 0;
  for (std::int64_t i = 0; i < n; ++i) s += (y[i] = std::exp(x[i] - shift));
  return s;
}
void exp_inplace(double* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = std::exp(y[i]);
}
void scale(double* y, double c, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] *= c;
}
void shift2(const double* x, double a, double b, double* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = (x[i] - a) - b;
}
double dot_of(const double* a, const double* b, std::int64_t n) {
  double s = 0;
  for (std::int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}
double sum_of(const double* a, std::int64_t n) {
  double s = 0;
  for (std::int64_t i = 0; i < n; ++i) s += a[i];
  return s;
}
void softmax_grad(const double* g, const double* y, double s, double* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = y[i] * (g[i] - s);
}
void log_softmax_grad(const double* g, const double* y, double s, double* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = g[i] - std::exp(y[i]) * s;
}

// ---- slices ----------------------------------------------------------------------------------------------------

/// softmax (log false) or log_softmax of every slice of x along the split axis. A slice is a contiguous row when
/// inner = 1; otherwise [n, inner] blocks are processed with per-column max and sum (tmp holds 2 * inner values).
template <class T>
void softmax_slices(const T* x, T* y, const detail::Split& p, bool log, T* tmp) {
  const std::int64_t n = p.n, inner = p.inner, block = n * inner;
  for (std::int64_t o = 0; o < p.outer; ++o) {
    const T* xs = x + o * block;
    T* ys = y + o * block;
    if (inner == 1) {
      const T m = row_max(xs, n);
      const T s = exp_sum(xs, m, ys, n);
      if (log)
        shift2(xs, m, std::log(s), ys, n);
      else
        scale(ys, T(1) / s, n);
      continue;
    }
    T* m = tmp;
    T* s = tmp + inner;
    for (std::int64_t i = 0; i < inner; ++i) m[i] = -std::numeric_limits<T>::infinity();
    for (std::int64_t k = 0; k < n; ++k)
      for (std::int64_t i = 0; i < inner; ++i) m[i] = xs[k * inner + i] > m[i] ? xs[k * inner + i] : m[i];
    for (std::int64_t k = 0; k < n; ++k)
      for (std::int64_t i = 0; i < inner; ++i) ys[k * inner + i] = xs[k * inner + i] - m[i];
    exp_inplace(ys, block);
    for (std::int64_t i = 0; i < inner; ++i) s[i] = 0;
    for (std::int64_t k = 0; k < n; ++k)
      for (std::int64_t i = 0; i < inner; ++i) s[i] += ys[k * inner + i];
    if (log) {
      for (std::int64_t i = 0; i < inner; ++i) s[i] = std::log(s[i]);
      for (std::int64_t k = 0; k < n; ++k)
        for (std::int64_t i = 0; i < inner; ++i) ys[k * inner + i] = (xs[k * inner + i] - m[i]) - s[i];
    } else {
      for (std::int64_t i = 0; i < inner; ++i) s[i] = T(1) / s[i];
      for (std::int64_t k = 0; k < n; ++k)
        for (std::int64_t i = 0; i < inner; ++i) ys[k * inner + i] *= s[i];
    }
  }
}

/// softmax_backward (log false: y (g - sum(g y))) or log_softmax_backward (g - exp(y) sum(g)) of every slice.
template <class T>
void softmax_backward_slices(const T* g, const T* y, T* out, const detail::Split& p, bool log, T* tmp) {
  const std::int64_t n = p.n, inner = p.inner, block = n * inner;
  for (std::int64_t o = 0; o < p.outer; ++o) {
    const T* gs = g + o * block;
    const T* ys = y + o * block;
    T* os = out + o * block;
    if (inner == 1) {
      if (log)
        log_softmax_grad(gs, ys, sum_of(gs, n), os, n);
      else
        softmax_grad(gs, ys, dot_of(gs, ys, n), os, n);
      continue;
    }
    T* s = tmp;
    for (std::int64_t i = 0; i < inner; ++i) s[i] = 0;
    for (std::int64_t k = 0; k < n; ++k)
      for (std::int64_t i = 0; i < inner; ++i) s[i] += log ? gs[k * inner + i] : gs[k * inner + i] * ys[k * inner + i];
    if (log) {
      std::memcpy(os, ys, static_cast<std::size_t>(block) * sizeof(T));
      exp_inplace(os, block);
      for (std::int64_t k = 0; k < n; ++k)
        for (std::int64_t i = 0; i < inner; ++i) os[k * inner + i] = gs[k * inner + i] - os[k * inner + i] * s[i];
    } else {
      for (std::int64_t k = 0; k < n; ++k)
        for (std::int64_t i = 0; i < inner; ++i) os[k * inner + i] = ys[k * inner + i] * (gs[k * inner + i] - s[i]);
    }
  }
}

/// Scratch for the column layout (inner > 1): 2 * inner values from the pool, none for rows.
Array scratch(const detail::Split& p, Dtype dtype) { return Array(Shape{p.inner > 1 ? 2 * p.inner : 0}, dtype); }

Tensor softmax_op(OpName name, const Tensor& x, int dim, bool log, Site site) {
  check_float(name.view(), x);
  const int ax = normalize_axis(name.view(), dim, x.rank());
  check_nonempty_axis(name.view(), x, ax);
  const detail::Split p = detail::split(x.shape(), ax);
  Array out(x.shape(), x.dtype());
  Array tmp = scratch(p, x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) { softmax_slices(x.value().data<T>(), out.data<T>(), p, log, tmp.data<T>()); });
  if (log)
    return make_op(name, std::move(out), {x}, [ax](const Tensor& grad, const Tensor& result, BackwardContext& dx) {
      dx[0] += log_softmax_backward(grad, result, ax);
    }, site);
  return make_op(name, std::move(out), {x}, [ax](const Tensor& grad, const Tensor& result, BackwardContext& dx) {
    dx[0] += softmax_backward(grad, result, ax);
  }, site);
}

Array backward_value(std::string_view name, const Tensor& g, const Tensor& y, int ax, bool log) {
  check_float(name, g);
  check_same_dtype(name, g, y);
  check_same_shape(name, "y", y.shape(), g.shape());
  const detail::Split p = detail::split(g.shape(), ax);
  Array out(g.shape(), g.dtype());
  Array tmp = scratch(p, g.dtype());
  dispatch(g.dtype(), [&]<class T>(T) {
    softmax_backward_slices(g.value().data<T>(), y.value().data<T>(), out.data<T>(), p, log, tmp.data<T>());
  });
  return out;
}

}  // namespace

/// forward:  y = exp(x - m) / sum(exp(x - m)) along dim, m = the slice's max (the shift changes nothing but overflow)
/// backward: dx += softmax_backward(grad, y, dim) = y * (grad - sum(grad * y, dim))
Tensor softmax(const Tensor& x, int dim, Site site) { return softmax_op("softmax", x, dim, false, site); }

/// forward:  y = (x - m) - log(sum(exp(x - m))) along dim, m = the slice's max
/// backward: dx += log_softmax_backward(grad, y, dim) = grad - exp(y) * sum(grad, dim)
Tensor log_softmax(const Tensor& x, int dim, Site site) { return softmax_op("log_softmax", x, dim, true, site); }

/// forward:  h = y * (g - s), s = sum(g * y, dim) (fused, for speed)
/// backward: dg += softmax_backward(grad, y, dim) (the map is symmetric in g),
///           dy += grad * (g - s) - g * sum(grad * y, dim)
Tensor softmax_backward(const Tensor& g, const Tensor& y, int dim, Site site) {
  const int ax = normalize_axis("softmax_backward", dim, g.rank());
  return make_op("softmax_backward", backward_value("softmax_backward", g, y, ax, false), {g, y},
                 [g, y, ax](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   if (dx[0].wanted()) dx[0] += softmax_backward(grad, y, ax);
                   if (dx[1].wanted()) dx[1] += grad * (g - sum(g * y, ax, true)) - g * sum(grad * y, ax, true);
                 }, site);
}

/// forward:  h = g - exp(y) * sum(g, dim) (fused, for speed)
/// backward: dg += grad - sum(grad * exp(y), dim), dy += -grad * exp(y) * sum(g, dim)
Tensor log_softmax_backward(const Tensor& g, const Tensor& y, int dim, Site site) {
  const int ax = normalize_axis("log_softmax_backward", dim, g.rank());
  return make_op("log_softmax_backward", backward_value("log_softmax_backward", g, y, ax, true), {g, y},
                 [g, y, ax](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   if (dx[0].wanted()) dx[0] += grad - sum(grad * exp(y), ax, true);
                   if (dx[1].wanted()) dx[1] += -(grad * exp(y) * sum(g, ax, true));
                 }, site);
}

/// forward:  r = m + log(sum(exp(x - m))) over the axes in dims, m = the slice's max (0 when it is infinite, so a
///           slice of -inf gives -inf and one holding +inf gives +inf)
/// backward: dx += reshape(grad, kept) * exp(x - reshape(r, kept)), the softmax over the axes
Tensor logsumexp(const Tensor& x, const Dims& dims, bool keepdim, Site site) {
  check_float("logsumexp", x);
  const auto mask = dims.mask("logsumexp", x.rank());
  check_nonempty_axes("logsumexp", x, mask);
  const Shape kept = reduced_shape(x.shape(), mask, true);
  Array out(kept, x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    const T* px = x.value().data<T>();
    T* po = out.data<T>();
    const std::int64_t outputs = out.numel();
    T* m = po;  // the shifts, then the results
    Array sums = Array::zeros(kept, Dtype::f64);
    double* s = sums.data<double>();
    for (std::int64_t o = 0; o < outputs; ++o) m[o] = -std::numeric_limits<T>::infinity();
    detail::for_each_reduced(x.shape(), mask, [&](std::int64_t i, std::int64_t o) { m[o] = px[i] > m[o] ? px[i] : m[o]; });
    for (std::int64_t o = 0; o < outputs; ++o) m[o] = std::isfinite(m[o]) ? m[o] : T(0);
    detail::for_each_reduced(x.shape(), mask, [&](std::int64_t i, std::int64_t o) {
      s[o] += std::exp(static_cast<double>(px[i] - m[o]));
    });
    for (std::int64_t o = 0; o < outputs; ++o) po[o] = static_cast<T>(std::log(s[o]) + m[o]);
  });
  return make_op("logsumexp", out.reshaped(reduced_shape(x.shape(), mask, keepdim)), {x},
                 [x, kept](const Tensor& grad, const Tensor& result, BackwardContext& dx) {
                   dx[0] += reshape(grad, kept) * exp(x - reshape(result, kept));
                 }, site);
}

}  // namespace autodiff
