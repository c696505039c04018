// Convolution: conv2d on im2col + one BLAS GEMM per group over the whole batch, its input and weight gradients as
// ops of their own (each differentiable again, so second order works), and conv1d through conv2d.
#include "autodiff/check.hpp"
#include "autodiff/ops.hpp"

#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace autodiff {

namespace {

// The sizes of one convolution: x [n,c,h,w], w [o,c/groups,kh,kw], y [n,o,oh,ow].
struct Geom {
  std::int64_t n, c, h, w;
  std::int64_t o, kh, kw;
  std::int64_t sh, sw, ph, pw, dh, dw, groups;
  std::int64_t oh, ow;
  std::int64_t pixels() const { return oh * ow; }        // output positions per sample
  std::int64_t columns() const { return n * oh * ow; }   // columns of the im2col matrix (the whole batch)
  std::int64_t og() const { return o / groups; }
  std::int64_t kg() const { return c / groups * kh * kw; }  // rows of the im2col matrix per group
  Shape out_shape() const { return Shape{n, o, oh, ow}; }
};

std::int64_t out_size(std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t p, std::int64_t d) {
  return (in + 2 * p - d * (k - 1) - 1) / s + 1;
}

Geom geom_of(const Shape& x, const Shape& w, Size2 stride, Size2 padding, Size2 dilation, std::int64_t groups) {
  Geom g{x[0], x[1], x[2], x[3], w[0], w[2], w[3], stride.h, stride.w, padding.h, padding.w, dilation.h, dilation.w,
         groups, 0, 0};
  g.oh = out_size(g.h, g.kh, g.sh, g.ph, g.dh);
  g.ow = out_size(g.w, g.kw, g.sw, g.pw, g.dw);
  return g;
}

// Checks the geometry (ranks, channels, groups, sizes, bias) and the dtypes of the tensors given.
void check_conv2d(std::string_view op, const Shape& xs, const Tensor* x, const Shape& ws, const Tensor* w,
                  const Tensor& b, Size2 stride, Size2 padding, Size2 dilation, std::int64_t groups) {
  const std::array<std::int64_t, 2> st{stride.h, stride.w}, pd{padding.h, padding.w}, dl{dilation.h, dilation.w};
  check_conv(op, xs, x, ws, w, b, st, pd, dl, groups);
}

// Output columns ox of a row whose input column x0 + ox * s lies in [0, w): [lo, hi).
std::pair<std::int64_t, std::int64_t> inside(std::int64_t x0, std::int64_t s, std::int64_t w, std::int64_t n) {
  const std::int64_t lo = x0 >= 0 ? 0 : std::min(n, (-x0 + s - 1) / s);
  const std::int64_t hi = x0 > w - 1 ? 0 : std::min(n, (w - 1 - x0) / s + 1);
  return {lo, std::max(lo, hi)};
}

// x [n,c,h,w] -> col [c*kh*kw, n*oh*ow]: row (ci, ki, kj), column (sample, oy, ox) holds
// x[sample, ci, oy*sh - ph + ki*dh, ox*sw - pw + kj*dw], 0 in the padding.
template <class T>
void im2col(const T* x, T* col, const Geom& g) {
  const std::int64_t ld = g.columns(), L = g.pixels();
  for (std::int64_t ci = 0; ci < g.c; ++ci)
    for (std::int64_t s = 0; s < g.n; ++s) {
      const T* plane = x + (s * g.c + ci) * g.h * g.w;
      for (std::int64_t ki = 0; ki < g.kh; ++ki)
        for (std::int64_t kj = 0; kj < g.kw; ++kj) {
          T* dst = col + ((ci * g.kh + ki) * g.kw + kj) * ld + s * L;
          const std::int64_t x0 = kj * g.dw - g.pw;
          const auto [lo, hi] = inside(x0, g.sw, g.w, g.ow);
          for (std::int64_t oy = 0; oy < g.oh; ++oy, dst += g.ow) {
            const std::int64_t iy = oy * g.sh - g.ph + ki * g.dh;
            if (iy < 0 || iy >= g.h) {
              std::fill(dst, dst + g.ow, T(0));
              continue;
            }
            std::fill(dst, dst + lo, T(0));
            if (hi > lo) {
              const T* src = plane + iy * g.w + x0 + lo * g.sw;
              T* d = dst + lo;
              if (g.sw == 1)
                for (std::int64_t i = 0; i < hi - lo; ++i) d[i] = src[i];
              else
                for (std::int64_t i = 0; i < hi - lo; ++i) d[i] = src[i * g.sw];
            }
            std::fill(dst + hi, dst + g.ow, T(0));
          }
        }
    }
}

// The adjoint of im2col: x (zeroed here) [n,c,h,w] += each column entry at the input position it was read from.
template <class T>
void col2im(const T* col, T* x, const Geom& g) {
  const std::int64_t ld = g.columns(), L = g.pixels();
  std::fill(x, x + g.n * g.c * g.h * g.w, T(0));
  for (std::int64_t ci = 0; ci < g.c; ++ci)
    for (std::int64_t s = 0; s < g.n; ++s) {
      T* plane = x + (s * g.c + ci) * g.h * g.w;
      for (std::int64_t ki = 0; ki < g.kh; ++ki)
        for (std::int64_t kj = 0; kj < g.kw; ++kj) {
          const T* src = col + ((ci * g.kh + ki) * g.kw + kj) * ld + s * L;
          const std::int64_t x0 = kj * g.dw - g.pw;
          const auto [lo, hi] = inside(x0, g.sw, g.w, g.ow);
          for (std::int64_t oy = 0; oy < g.oh; ++oy, src += g.ow) {
            const std::int64_t iy = oy * g.sh - g.ph + ki * g.dh;
            if (iy < 0 || iy >= g.h || hi == lo) continue;
            T* dst = plane + iy * g.w + x0 + lo * g.sw;
            const T* s0 = src + lo;
            if (g.sw == 1)
              for (std::int64_t i = 0; i < hi - lo; ++i) dst[i] += s0[i];
            else
              for (std::int64_t i = 0; i < hi - lo; ++i) dst[i * g.sw] += s0[i];
          }
        }
    }
}

// C = op(A) op(B) + beta C, row-major, on BLAS.
template <class T>
void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const T* a, std::int64_t lda, const T* b,
          std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  const auto i = [](std::int64_t v) { return static_cast<int>(v); };
  const CBLAS_TRANSPOSE tra = ta ? CblasTrans : CblasNoTrans, trb = tb ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, tra, trb, i(m), i(n), i(k), 1.0f, a, i(lda), b, i(ldb), beta, c, i(ldc));
  else
    cblas_dgemm(CblasRowMajor, tra, trb, i(m), i(n), i(k), 1.0, a, i(lda), b, i(ldb), beta, c, i(ldc));
}

// [n, o, L] -> [o, n*L]: the gradient laid out as the im2col matrix's columns.
template <class T>
void to_channel_major(const T* y, T* t, const Geom& g) {
  const std::int64_t L = g.pixels(), ld = g.columns();
  for (std::int64_t s = 0; s < g.n; ++s)
    for (std::int64_t oc = 0; oc < g.o; ++oc) std::memcpy(t + oc * ld + s * L, y + (s * g.o + oc) * L, sizeof(T) * L);
}

Array forward_value(const Array& x, const Array& w, const Array* b, const Geom& g) {
  Array out(g.out_shape(), x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    T* po = out.data<T>();
    const std::int64_t L = g.pixels(), NL = g.columns(), og = g.og(), kg = g.kg();
    if (out.numel() == 0) return;
    if (kg == 0) {
      std::fill(po, po + out.numel(), T(0));
    } else {
      // One GEMM per group over the whole batch: w [og, kg] x col [kg, n*L] -> t [og, n*L], then t -> [n, o, L].
      Array col(Shape{g.c * g.kh * g.kw, NL}, x.dtype());
      Array t(Shape{g.o, NL}, x.dtype());
      T* pc = col.data<T>();
      T* pt = t.data<T>();
      im2col(x.data<T>(), pc, g);
      const T* pw = w.data<T>();
      for (std::int64_t gi = 0; gi < g.groups; ++gi)
        gemm<T>(false, false, og, NL, kg, pw + gi * og * kg, kg, pc + gi * kg * NL, NL, T(0), pt + gi * og * NL, NL);
      for (std::int64_t s = 0; s < g.n; ++s)
        for (std::int64_t oc = 0; oc < g.o; ++oc) std::memcpy(po + (s * g.o + oc) * L, pt + oc * NL + s * L, sizeof(T) * L);
    }
    if (b) {
      const T* pb = b->data<T>();
      for (std::int64_t s = 0; s < g.n; ++s)
        for (std::int64_t oc = 0; oc < g.o; ++oc) {
          T* row = po + (s * g.o + oc) * L;
          const T v = pb[oc];
          for (std::int64_t i = 0; i < L; ++i) row[i] += v;
        }
    }
  });
  return out;
}

// dx = col2im(w^T gy), per group: w [og, kg]^T x gy [og, n*L] -> dcol [kg, n*L].
Array input_grad_value(const Array& gy, const Array& w, const Geom& g) {
  Array dx(Shape{g.n, g.c, g.h, g.w}, gy.dtype());
  dispatch(gy.dtype(), [&]<class T>(T) {
    T* px = dx.data<T>();
    const std::int64_t NL = g.columns(), og = g.og(), kg = g.kg();
    if (dx.numel() == 0) return;
    if (og == 0 || NL == 0) {
      std::fill(px, px + dx.numel(), T(0));
      return;
    }
    Array t(Shape{g.o, NL}, gy.dtype());
    Array dcol(Shape{g.c * g.kh * g.kw, NL}, gy.dtype());
    T* pt = t.data<T>();
    T* pc = dcol.data<T>();
    to_channel_major(gy.data<T>(), pt, g);
    const T* pw = w.data<T>();
    for (std::int64_t gi = 0; gi < g.groups; ++gi)
      gemm<T>(true, false, kg, NL, og, pw + gi * og * kg, kg, pt + gi * og * NL, NL, T(0), pc + gi * kg * NL, NL);
    col2im(pc, px, g);
  });
  return dx;
}

// dw = gy col(x)^T, per group: gy [og, n*L] x col [kg, n*L]^T -> dw [og, kg].
Array weight_grad_value(const Array& x, const Array& gy, const Geom& g) {
  Array dw(Shape{g.o, g.c / g.groups, g.kh, g.kw}, x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    T* pw = dw.data<T>();
    const std::int64_t NL = g.columns(), og = g.og(), kg = g.kg();
    if (dw.numel() == 0) return;
    if (NL == 0) {
      std::fill(pw, pw + dw.numel(), T(0));
      return;
    }
    Array col(Shape{g.c * g.kh * g.kw, NL}, x.dtype());
    Array t(Shape{g.o, NL}, x.dtype());
    T* pc = col.data<T>();
    T* pt = t.data<T>();
    im2col(x.data<T>(), pc, g);
    to_channel_major(gy.data<T>(), pt, g);
    for (std::int64_t gi = 0; gi < g.groups; ++gi)
      gemm<T>(false, true, og, kg, NL, pt + gi * og * NL, NL, pc + gi * kg * NL, NL, T(0), pw + gi * og * kg, kg);
  });
  return dw;
}

void check_blas_sizes(std::string_view op, const Geom& g) {
  // BLAS takes int sizes; the im2col matrix is [c*kh*kw, n*oh*ow].
  const std::int64_t limit = std::numeric_limits<int>::max();
  if (g.columns() > limit || g.c * g.kh * g.kw > limit || g.o > limit)
    throw std::invalid_argument(fmt::format("{}: the im2col matrix [{}, {}] exceeds the BLAS limit {}", op,
                                            g.c * g.kh * g.kw, g.columns(), limit));
}

}  // namespace

/// Primitive (im2col + GEMM, for speed).
/// forward:  y[n,o,i,j] = b[o] + sum_{c in group(o), ki, kj} w[o,c,ki,kj] x[n,c, i*sh - ph + ki*dh, j*sw - pw + kj*dw]
///           (x is 0 outside its borders)
/// backward: dx += conv2d_input_grad(grad, w), dw += conv2d_weight_grad(x, grad), db += sum(grad, {0, 2, 3})
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, Size2 stride, Size2 padding, Size2 dilation,
              std::int64_t groups, Site site) {
  check_float("conv2d", x);
  check_same_dtype("conv2d", x, w);
  if (b.defined()) check_same_dtype("conv2d", x, b);
  check_conv2d("conv2d", x.shape(), &x, w.shape(), &w, b, stride, padding, dilation, groups);
  const Geom g = geom_of(x.shape(), w.shape(), stride, padding, dilation, groups);
  check_blas_sizes("conv2d", g);
  Array out = forward_value(x.value(), w.value(), b.defined() ? &b.value() : nullptr, g);
  const std::array<Tensor, 3> in{x, w, b};
  return make_op("conv2d", std::move(out), std::span<const Tensor>(in.data(), b.defined() ? 3 : 2),
                 [x, w, bias = b.defined(), stride, padding, dilation, groups](const Tensor& grad, const Tensor&,
                                                                              BackwardContext& dx) {
                   if (dx[0].wanted()) dx[0] += conv2d_input_grad(grad, w, x.shape(), stride, padding, dilation, groups);
                   if (dx[1].wanted()) dx[1] += conv2d_weight_grad(x, grad, w.shape(), stride, padding, dilation, groups);
                   if (bias && dx[2].wanted()) dx[2] += sum(grad, {0, 2, 3});
                 }, site);
}

/// Primitive (w^T grad on BLAS, then col2im); bilinear in grad and w.
/// forward:  dx = J^T grad, J the Jacobian of conv2d(x, w) in x: col2im(w^T im2col-layout(grad))
/// backward: dgrad += conv2d(G, w), dw += conv2d_weight_grad(G, grad)   (G: the gradient of the result)
Tensor conv2d_input_grad(const Tensor& grad, const Tensor& w, const Shape& input_shape, Size2 stride, Size2 padding,
                         Size2 dilation, std::int64_t groups, Site site) {
  check_float("conv2d_input_grad", grad);
  check_same_dtype("conv2d_input_grad", grad, w);
  check_conv2d("conv2d_input_grad", input_shape, nullptr, w.shape(), &w, Tensor(), stride, padding, dilation, groups);
  const Geom g = geom_of(input_shape, w.shape(), stride, padding, dilation, groups);
  check_grad_shape("conv2d_input_grad", grad, g.out_shape());
  check_blas_sizes("conv2d_input_grad", g);
  return make_op("conv2d_input_grad", input_grad_value(grad.value(), w.value(), g), {grad, w},
                 [gy = grad, w, stride, padding, dilation, groups](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   if (dx[0].wanted()) dx[0] += conv2d(grad, w, Tensor(), stride, padding, dilation, groups);
                   if (dx[1].wanted())
                     dx[1] += conv2d_weight_grad(grad, gy, w.shape(), stride, padding, dilation, groups);
                 }, site);
}

/// Primitive (grad im2col(x)^T on BLAS); bilinear in x and grad.
/// forward:  dw[o,c,ki,kj] = sum_{n,i,j} grad[n,o,i,j] x[n,c, i*sh - ph + ki*dh, j*sw - pw + kj*dw]
/// backward: dx += conv2d_input_grad(grad, G), dgrad += conv2d(x, G)   (G: the gradient of the result)
Tensor conv2d_weight_grad(const Tensor& x, const Tensor& grad, const Shape& weight_shape, Size2 stride, Size2 padding,
                          Size2 dilation, std::int64_t groups, Site site) {
  check_float("conv2d_weight_grad", x);
  check_same_dtype("conv2d_weight_grad", x, grad);
  check_conv2d("conv2d_weight_grad", x.shape(), &x, weight_shape, nullptr, Tensor(), stride, padding, dilation, groups);
  const Geom g = geom_of(x.shape(), weight_shape, stride, padding, dilation, groups);
  check_grad_shape("conv2d_weight_grad", grad, g.out_shape());
  check_blas_sizes("conv2d_weight_grad", g);
  return make_op("conv2d_weight_grad", weight_grad_value(x.value(), grad.value(), g), {x, grad},
                 [x, gy = grad, stride, padding, dilation, groups](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   if (dx[0].wanted())
                     dx[0] += conv2d_input_grad(gy, grad, x.shape(), stride, padding, dilation, groups);
                   if (dx[1].wanted()) dx[1] += conv2d(x, grad, Tensor(), stride, padding, dilation, groups);
                 }, site);
}

/// Composite: reshape x to [N,C,1,L] and w to [O,C/groups,1,k], conv2d with stride {1, stride} (and likewise
/// padding and dilation), reshape back to [N,O,Lo].
Tensor conv1d(const Tensor& x, const Tensor& w, const Tensor& b, std::int64_t stride, std::int64_t padding,
              std::int64_t dilation, std::int64_t groups, Site site) {
  check_float("conv1d", x);
  check_same_dtype("conv1d", x, w);
  if (b.defined()) check_same_dtype("conv1d", x, b);
  const std::array<std::int64_t, 1> st{stride}, pd{padding}, dl{dilation};
  check_conv("conv1d", x.shape(), &x, w.shape(), &w, b, st, pd, dl, groups);
  const Shape& xs = x.shape();
  const Shape& ws = w.shape();
  const Tensor y = conv2d(reshape(x, Shape{xs[0], xs[1], 1, xs[2]}, site), reshape(w, Shape{ws[0], ws[1], 1, ws[2]}, site),
                          b, Size2{1, stride}, Size2{0, padding}, Size2{1, dilation}, groups, site);
  return reshape(y, Shape{y.shape()[0], y.shape()[1], y.shape()[3]}, site);
}

}  // namespace autodiff
