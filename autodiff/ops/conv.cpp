// Convolution: conv2d on im2col + BLAS GEMM per chunk of samples and group, its input, weight and bias gradients as
// ops of their own (each differentiable again, so second order works), and conv1d through conv2d.
#include "autodiff/check.hpp"
#include "autodiff/ops.hpp"

#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace autodiff {

namespace {

// The sizes of one convolution: x [n,c,h,w], w [o,c/groups,kh,kw], y [n,o,oh,ow].
struct Geom {
  std::int64_t n, c, h, w;
  std::int64_t o, kh, kw;
  std::int64_t sh, sw, ph, pw, dh, dw, groups;
  std::int64_t oh, ow;
  std::int64_t pixels() const { return oh * ow; }  // output positions per sample: columns of the im2col matrix
  std::int64_t rows() const { return c * kh * kw; }  // rows of the im2col matrix
  std::int64_t og() const { return o / groups; }
  std::int64_t kg() const { return c / groups * kh * kw; }  // rows of the im2col matrix per group
  // A 1x1 kernel with stride 1 and no padding reads x as it is: a sample's [c, h*w] is its im2col matrix.
  bool pointwise() const { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
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

// Checks the geometry: ranks, channels, groups, sizes and the bias (the callers check dtypes).
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

// Output rows oy whose input row oy * sh - ph + ki * dh lies in [0, h): [lo, hi).
std::pair<std::int64_t, std::int64_t> rows_inside(const Geom& g, std::int64_t ki) {
  return inside(ki * g.dh - g.ph, g.sh, g.h, g.oh);
}

// With stride 1 and an output as wide as the input (3x3 with padding 1, say), the rows of one im2col row that read
// the input are one contiguous run of the input plane, shifted: col[oy*ow + ox] = plane[(oy - ph + ki*dh) * w + x0 + ox].
// Entries of that run outside [lo, hi) of their row are padding and are set to 0 apart.
bool contiguous_rows(const Geom& g) { return g.sh == 1 && g.sw == 1 && g.ow == g.w; }

// One sample x [c,h,w] -> col [c*kh*kw, oh*ow]: row (ci, ki, kj), column (oy, ox) holds
// x[ci, oy*sh - ph + ki*dh, ox*sw - pw + kj*dw], 0 in the padding. Rows are written in order, so col streams.
// Consecutive rows are `ld` apart (ld >= oh*ow): a chunk of samples side by side is one [c*kh*kw, S*oh*ow] matrix.
template <class T>
void im2col(const T* x, T* col, const Geom& g, std::int64_t ld) {
  const std::int64_t plane_size = g.h * g.w, ow = g.ow;
  const bool contiguous = contiguous_rows(g);
  for (std::int64_t ci = 0; ci < g.c; ++ci) {
    const T* plane = x + ci * plane_size;
    for (std::int64_t ki = 0; ki < g.kh; ++ki) {
      const auto [oy0, oy1] = rows_inside(g, ki);
      for (std::int64_t kj = 0; kj < g.kw; ++kj, col += ld) {
        const std::int64_t x0 = kj * g.dw - g.pw;
        const auto [lo, hi] = inside(x0, g.sw, g.w, ow);
        std::fill(col, col + oy0 * ow, T(0));
        std::fill(col + oy1 * ow, col + g.oh * ow, T(0));
        if (oy1 == oy0) continue;
        if (contiguous) {
          // One copy of the run, clamped to the plane (what falls outside is padding, zeroed below).
          const std::int64_t first = (oy0 - g.ph + ki * g.dh) * g.w + x0, count = (oy1 - oy0) * ow;
          const std::int64_t a = std::max<std::int64_t>(first, 0), b = std::min(first + count, plane_size);
          if (b > a) std::memcpy(col + oy0 * ow + (a - first), plane + a, sizeof(T) * static_cast<std::size_t>(b - a));
          for (std::int64_t oy = oy0; oy < oy1; ++oy) {
            T* row = col + oy * ow;
            std::fill(row, row + lo, T(0));
            std::fill(row + hi, row + ow, T(0));
          }
          continue;
        }
        for (std::int64_t oy = oy0; oy < oy1; ++oy) {
          T* row = col + oy * ow;
          const std::int64_t iy = oy * g.sh - g.ph + ki * g.dh;
          std::fill(row, row + lo, T(0));
          if (hi > lo) {
            const T* src = plane + iy * g.w + x0 + lo * g.sw;
            if (g.sw == 1)
              for (std::int64_t i = 0; i < hi - lo; ++i) row[lo + i] = src[i];
            else
              for (std::int64_t i = 0; i < hi - lo; ++i) row[lo + i] = src[i * g.sw];
          }
          std::fill(row + hi, row + ow, T(0));
        }
      }
    }
  }
}

// The adjoint of im2col for one sample: x [c,h,w] (zeroed here) += each column entry at the position it was read
// from. col is scratch: its padding entries are zeroed on the way. Rows are `ld` apart, as in im2col.
template <class T>
void col2im(T* col, T* x, const Geom& g, std::int64_t ld) {
  const std::int64_t plane_size = g.h * g.w, ow = g.ow;
  const bool contiguous = contiguous_rows(g);
  std::fill(x, x + g.c * plane_size, T(0));
  for (std::int64_t ci = 0; ci < g.c; ++ci) {
    T* plane = x + ci * plane_size;
    for (std::int64_t ki = 0; ki < g.kh; ++ki) {
      const auto [oy0, oy1] = rows_inside(g, ki);
      for (std::int64_t kj = 0; kj < g.kw; ++kj, col += ld) {
        const std::int64_t x0 = kj * g.dw - g.pw;
        const auto [lo, hi] = inside(x0, g.sw, g.w, ow);
        if (oy1 == oy0) continue;
        if (contiguous) {
          for (std::int64_t oy = oy0; oy < oy1; ++oy) {
            T* row = col + oy * ow;
            std::fill(row, row + lo, T(0));
            std::fill(row + hi, row + ow, T(0));
          }
          const std::int64_t first = (oy0 - g.ph + ki * g.dh) * g.w + x0, count = (oy1 - oy0) * ow;
          const std::int64_t a = std::max<std::int64_t>(first, 0), b = std::min(first + count, plane_size);
          const T* src = col + oy0 * ow + (a - first);
          T* dst = plane + a;
          for (std::int64_t i = 0; i < b - a; ++i) dst[i] += src[i];
          continue;
        }
        for (std::int64_t oy = oy0; oy < oy1; ++oy) {
          if (hi == lo) break;
          const std::int64_t iy = oy * g.sh - g.ph + ki * g.dh;
          T* dst = plane + iy * g.w + x0 + lo * g.sw;
          const T* src = col + oy * ow + lo;
          if (g.sw == 1)
            for (std::int64_t i = 0; i < hi - lo; ++i) dst[i] += src[i];
          else
            for (std::int64_t i = 0; i < hi - lo; ++i) dst[i * g.sw] += src[i];
        }
      }
    }
  }
}

// The pipeline works on chunks of samples: their im2col matrices side by side, [c*kh*kw, S*oh*ow], built in one
// scratch buffer, and one GEMM per group over the whole chunk. Per sample, the GEMMs of a small network's layers are
// small (28x28 with 32 channels: n = 784, k = 9), so BLAS spends its time packing and two threads have little to
// share; a chunk makes n S times larger. The gradient [S, o, oh*ow] is laid out as [o, S*oh*ow] to match.

// Samples per chunk: enough for about 2048 GEMM columns, and at most 2^20 elements (4 MB in float32) of im2col
// matrix. Measured on conv_step's layers (2-core EPYC, OpenBLAS Cooperlake): at 2 threads 28x28x32 (784 columns
// a sample) takes 1.4 ms a step at 2048 columns against 3.6 ms at 4096 and more (the chunk leaves the cache), and
// 14x14x64 (196 a sample) 15 ms against 39 ms sample by sample (24 against 25 ms in a busier hour); at 1 thread
// chunks change little.
// A pointwise convolution has no im2col matrix (x is its own), so it goes sample by sample.
std::int64_t chunk_samples(const Geom& g) {
  if (g.pointwise()) return 1;
  const std::int64_t per_sample = std::max<std::int64_t>(1, g.rows() * g.pixels());
  const std::int64_t by_cols = (2048 + g.pixels() - 1) / std::max<std::int64_t>(g.pixels(), 1);
  const std::int64_t by_size = (std::int64_t{1} << 20) / per_sample;
  return std::clamp<std::int64_t>(std::min(by_cols, by_size), 1, std::max<std::int64_t>(g.n, 1));
}

// The im2col matrices of samples s0 .. s0+n-1 of x side by side in col, [c*kh*kw, n*L] (L = oh*ow).
template <class T>
void im2col_chunk(const T* x, T* col, const Geom& g, std::int64_t s0, std::int64_t n) {
  const std::int64_t L = g.pixels(), sample = g.c * g.h * g.w;
  for (std::int64_t s = 0; s < n; ++s) im2col(x + (s0 + s) * sample, col + s * L, g, n * L);
}

// The gradient of samples s0 .. s0+n-1, gy [N, o, L], as [o, n*L]: in place for one sample, else copied into
// `scratch` (at least [o, n*L]; undefined when chunks are of one sample).
template <class T>
const T* grad_rows(const T* gy, Array& scratch, const Geom& g, std::int64_t s0, std::int64_t n) {
  const std::int64_t L = g.pixels();
  const T* first = gy + s0 * g.o * L;
  if (n == 1) return first;
  T* rows = scratch.data<T>();
  for (std::int64_t s = 0; s < n; ++s)
    for (std::int64_t oc = 0; oc < g.o; ++oc)
      std::memcpy(rows + oc * n * L + s * L, first + (s * g.o + oc) * L, sizeof(T) * static_cast<std::size_t>(L));
  return rows;
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

// y_s = b + w col(x_s), per group: w [og, kg] x col [kg, S*L] -> [og, S*L], then back to [S, o, L]. A chunk of one
// sample writes y_s directly: its bias is written first and the GEMM adds to it (beta = 1).
Array forward_value(const Array& x, const Array& w, const Array* b, const Geom& g) {
  Array out(g.out_shape(), x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    const std::int64_t L = g.pixels(), og = g.og(), kg = g.kg(), S = chunk_samples(g), sample = g.c * g.h * g.w;
    T* po = out.data<T>();
    if (out.numel() == 0) return;
    const T* pb = b ? b->data<T>() : nullptr;
    if (kg == 0) {
      for (std::int64_t s = 0; s < g.n; ++s)
        for (std::int64_t oc = 0; oc < g.o; ++oc)
          std::fill(po + (s * g.o + oc) * L, po + (s * g.o + oc + 1) * L, pb ? pb[oc] : T(0));
      return;
    }
    Array col, rows;
    if (!g.pointwise()) col = Array(Shape{g.rows(), S * L}, x.dtype());
    if (S > 1) rows = Array(Shape{g.o, S * L}, x.dtype());
    const T* px = x.data<T>();
    const T* pw = w.data<T>();
    for (std::int64_t s0 = 0; s0 < g.n; s0 += S) {
      const std::int64_t n = std::min(S, g.n - s0), ld = n * L;
      if (!g.pointwise()) im2col_chunk(px, col.data<T>(), g, s0, n);
      const T* pc = g.pointwise() ? px + s0 * sample : col.data<T>();
      T* dst = n == 1 ? po + s0 * g.o * L : rows.data<T>();
      if (n == 1 && pb)
        for (std::int64_t oc = 0; oc < g.o; ++oc) std::fill(dst + oc * L, dst + (oc + 1) * L, pb[oc]);
      const T beta = n == 1 && pb ? T(1) : T(0);
      for (std::int64_t gi = 0; gi < g.groups; ++gi)
        gemm<T>(false, false, og, ld, kg, pw + gi * og * kg, kg, pc + gi * kg * ld, ld, beta, dst + gi * og * ld, ld);
      if (n == 1) continue;
      for (std::int64_t s = 0; s < n; ++s)
        for (std::int64_t oc = 0; oc < g.o; ++oc) {
          const T* src = dst + oc * ld + s * L;
          T* ys = po + ((s0 + s) * g.o + oc) * L;
          const T bias = pb ? pb[oc] : T(0);
          for (std::int64_t l = 0; l < L; ++l) ys[l] = src[l] + bias;
        }
    }
  });
  return out;
}

// dx_s = col2im(w^T gy_s), per group: w [og, kg]^T x gy [og, S*L] -> dcol [kg, S*L].
Array input_grad_value(const Array& gy, const Array& w, const Geom& g) {
  Array dx(Shape{g.n, g.c, g.h, g.w}, gy.dtype());
  dispatch(gy.dtype(), [&]<class T>(T) {
    const std::int64_t L = g.pixels(), og = g.og(), kg = g.kg(), S = chunk_samples(g), sample = g.c * g.h * g.w;
    T* px = dx.data<T>();
    if (dx.numel() == 0) return;
    if (og == 0) {
      std::fill(px, px + dx.numel(), T(0));
      return;
    }
    Array col, rows;
    if (!g.pointwise()) col = Array(Shape{g.rows(), S * L}, gy.dtype());
    if (S > 1) rows = Array(Shape{g.o, S * L}, gy.dtype());
    const T* pg = gy.data<T>();
    const T* pw = w.data<T>();
    for (std::int64_t s0 = 0; s0 < g.n; s0 += S) {
      const std::int64_t n = std::min(S, g.n - s0), ld = n * L;
      const T* gs = grad_rows<T>(pg, rows, g, s0, n);
      T* pc = g.pointwise() ? px + s0 * sample : col.data<T>();
      for (std::int64_t gi = 0; gi < g.groups; ++gi)
        gemm<T>(true, false, kg, ld, og, pw + gi * og * kg, kg, gs + gi * og * ld, ld, T(0), pc + gi * kg * ld, ld);
      for (std::int64_t s = 0; s < n && !g.pointwise(); ++s) col2im(col.data<T>() + s * L, px + (s0 + s) * sample, g, ld);
    }
  });
  return dx;
}

// dw = sum over chunks of gy [og, S*L] x col [kg, S*L]^T, per group, accumulated into dw [og, kg].
Array weight_grad_value(const Array& x, const Array& gy, const Geom& g) {
  Array dw(Shape{g.o, g.c / g.groups, g.kh, g.kw}, x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    const std::int64_t L = g.pixels(), og = g.og(), kg = g.kg(), S = chunk_samples(g), sample = g.c * g.h * g.w;
    T* pw = dw.data<T>();
    if (dw.numel() == 0) return;
    std::fill(pw, pw + dw.numel(), T(0));
    Array col, rows;
    if (!g.pointwise()) col = Array(Shape{g.rows(), S * L}, x.dtype());
    if (S > 1) rows = Array(Shape{g.o, S * L}, x.dtype());
    const T* px = x.data<T>();
    const T* pg = gy.data<T>();
    for (std::int64_t s0 = 0; s0 < g.n; s0 += S) {
      const std::int64_t n = std::min(S, g.n - s0), ld = n * L;
      if (!g.pointwise()) im2col_chunk(px, col.data<T>(), g, s0, n);
      const T* pc = g.pointwise() ? px + s0 * sample : col.data<T>();
      const T* gs = grad_rows<T>(pg, rows, g, s0, n);
      for (std::int64_t gi = 0; gi < g.groups; ++gi)
        gemm<T>(false, true, og, kg, ld, gs + gi * og * ld, ld, pc + gi * kg * ld, ld, T(1), pw + gi * og * kg, kg);
    }
  });
  return dw;
}

// db[o] = sum over samples and positions of gy[s, o, :].
Array bias_grad_value(const Array& gy) {
  const Shape& s = gy.shape();
  Array db(Shape{s[1]}, gy.dtype());
  dispatch(gy.dtype(), [&]<class T>(T) {
    const std::int64_t n = s[0], o = s[1], L = s[2] * s[3];
    const T* pg = gy.data<T>();
    T* pb = db.data<T>();
    for (std::int64_t oc = 0; oc < o; ++oc) {
      double acc = 0;
      for (std::int64_t sm = 0; sm < n; ++sm) {
        const T* row = pg + (sm * o + oc) * L;
        // Eight independent partial sums: the adds vectorise instead of waiting on one long chain.
        T part[8] = {};
        std::int64_t i = 0;
        for (; i + 8 <= L; i += 8)
          for (int k = 0; k < 8; ++k) part[k] += row[i + k];
        for (; i < L; ++i) part[0] += row[i];
        T row_sum = 0;
        for (const T v : part) row_sum += v;
        acc += static_cast<double>(row_sum);
      }
      pb[oc] = static_cast<T>(acc);
    }
  });
  return db;
}

void check_blas_sizes(std::string_view op, const Geom& g) {
  // BLAS takes int sizes; a sample's im2col matrix is [c*kh*kw, oh*ow].
  const std::int64_t limit = std::numeric_limits<int>::max();
  if (g.pixels() > limit || g.rows() > limit || g.o > limit)
    throw std::invalid_argument(fmt::format("{}: the im2col matrix [{}, {}] exceeds the BLAS limit {}", op, g.rows(),
                                            g.pixels(), limit));
}

}  // namespace

/// Primitive (im2col + GEMM, for speed).
/// forward:  y[n,o,i,j] = b[o] + sum_{c in group(o), ki, kj} w[o,c,ki,kj] x[n,c, i*sh - ph + ki*dh, j*sw - pw + kj*dw]
///           (x is 0 outside its borders)
/// backward: dx += conv2d_input_grad(grad, w), dw += conv2d_weight_grad(x, grad), db += conv2d_bias_grad(grad)
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
                   if (bias && dx[2].wanted()) dx[2] += conv2d_bias_grad(grad);
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

/// Primitive (one pass; the general sum over axes {0, 2, 3} walks broadcast indices and is 10x slower here).
/// forward:  db[o] = sum_{n,i,j} grad[n,o,i,j]
/// backward: dgrad += broadcast_to(reshape(G, [1,O,1,1]), grad.shape)   (G: the gradient of the result)
Tensor conv2d_bias_grad(const Tensor& grad, Site site) {
  check_float("conv2d_bias_grad", grad);
  check_rank("conv2d_bias_grad", "gradient", grad, 4);
  return make_op("conv2d_bias_grad", bias_grad_value(grad.value()), {grad},
                 [gs = grad.shape()](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += broadcast_to(reshape(grad, Shape{1, gs[1], 1, 1}), gs);
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
