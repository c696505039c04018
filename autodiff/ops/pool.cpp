// Pooling over NCHW planes: max_pool2d (indices kept for its backward), avg_pool2d, adaptive_avg_pool2d, and their
// backward ops, each differentiable again (all are linear in the tensor they move, the indices held constant).
#include "autodiff/check.hpp"
#include "autodiff/ops.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>

namespace autodiff {

namespace {

// The sizes of one pooling: x [n,c,h,w] -> y [n,c,oh,ow] with windows kh x kw.
struct Pool {
  std::int64_t n, c, h, w;
  std::int64_t kh, kw, sh, sw, ph, pw, dh, dw;
  std::int64_t oh, ow;
  std::int64_t planes() const { return n * c; }
  Shape out_shape() const { return Shape{n, c, oh, ow}; }
};

Pool pool_of(const Shape& x, Size2 kernel, Size2 stride, Size2 padding, Size2 dilation) {
  Pool p{x[0], x[1], x[2], x[3], kernel.h, kernel.w, stride.h, stride.w, padding.h, padding.w, dilation.h, dilation.w,
         0, 0};
  p.oh = (p.h + 2 * p.ph - p.dh * (p.kh - 1) - 1) / p.sh + 1;
  p.ow = (p.w + 2 * p.pw - p.dw * (p.kw - 1) - 1) / p.sw + 1;
  return p;
}

// Checks the geometry and returns it: x of rank 4, positive kernel, stride and dilation, padding in [0, kernel / 2].
Pool checked_pool(std::string_view op, const Shape& xs, const Tensor* x, Size2 kernel, Size2 stride, Size2 padding,
                  Size2 dilation) {
  const std::array<std::int64_t, 2> k{kernel.h, kernel.w}, s{stride.h, stride.w}, p{padding.h, padding.w},
      d{dilation.h, dilation.w};
  check_pool(op, xs, x, k, s, p, d);
  return pool_of(xs, kernel, stride, padding, dilation);
}

// Window taps k in [0, n) whose position x0 + k * d lies in [0, size): [lo, hi).
struct Taps {
  std::int64_t lo, hi;
};
Taps taps(std::int64_t x0, std::int64_t d, std::int64_t size, std::int64_t n) {
  if (x0 >= 0 && x0 + (n - 1) * d < size) return {0, n};  // the common case: the window is inside
  const std::int64_t lo = x0 >= 0 ? 0 : std::min(n, (-x0 + d - 1) / d);
  const std::int64_t hi = x0 > size - 1 ? 0 : std::min(n, (size - 1 - x0) / d + 1);
  return {lo, std::max(lo, hi)};
}

// Calls fn(out_index, iy, [kjlo, kjhi), x0) for every row of every window that lies in the input: the one loop nest
// every pooling kernel shares. For a plane p, out_index counts output positions.
template <class Fn>
void for_each_window_row(const Pool& g, Fn&& fn) {
  for (std::int64_t oy = 0; oy < g.oh; ++oy) {
    const std::int64_t y0 = oy * g.sh - g.ph;
    const Taps ty = taps(y0, g.dh, g.h, g.kh);
    for (std::int64_t ox = 0; ox < g.ow; ++ox) {
      const std::int64_t x0 = ox * g.sw - g.pw;
      const Taps tx = taps(x0, g.dw, g.w, g.kw);
      for (std::int64_t ki = ty.lo; ki < ty.hi; ++ki) fn(oy * g.ow + ox, y0 + ki * g.dh, tx, x0);
    }
  }
}

// With a dilation, a window can miss the input entirely (it then has no maximum): refused when the op is built.
void check_windows_nonempty(std::string_view op, const Tensor& x, const Pool& g) {
  for (std::int64_t oy = 0; oy < g.oh; ++oy) {
    const Taps t = taps(oy * g.sh - g.ph, g.dh, g.h, g.kh);
    if (t.lo == t.hi)
      throw std::invalid_argument(fmt::format("{}: the window of output row {} holds only padding (x {}, kernel {}x{}, "
                                              "padding {}x{}, dilation {}x{})",
                                              op, oy, describe(x), g.kh, g.kw, g.ph, g.pw, g.dh, g.dw));
  }
  for (std::int64_t ox = 0; ox < g.ow; ++ox) {
    const Taps t = taps(ox * g.sw - g.pw, g.dw, g.w, g.kw);
    if (t.lo == t.hi)
      throw std::invalid_argument(fmt::format("{}: the window of output column {} holds only padding (x {}, kernel "
                                              "{}x{}, padding {}x{}, dilation {}x{})",
                                              op, ox, describe(x), g.kh, g.kw, g.ph, g.pw, g.dh, g.dw));
  }
}

// Indices against the planes they index: same [N,C] as the plane tensor, each in [0, h*w).
void check_plane_indices(std::string_view op, const Tensor& indices, const Shape& planes) {
  check_int(op, "indices", indices);
  if (indices.rank() != 4 || planes.rank() != 4 || indices.shape()[0] != planes[0] || indices.shape()[1] != planes[1])
    throw std::invalid_argument(fmt::format("{}: indices {} and input {} must both be [N,C,...] with the same N and C",
                                            op, describe(indices), planes.str()));
  const std::int64_t size = planes[2] * planes[3];
  const std::int64_t* pi = indices.value().data<std::int64_t>();
  for (std::int64_t i = 0; i < indices.numel(); ++i)
    if (pi[i] < 0 || pi[i] >= size) check_index(op, pi[i], size);
}

struct MaxPoolResult {
  Array value, indices;
};

MaxPoolResult max_pool_value(const Array& x, const Pool& g) {
  MaxPoolResult r{Array(g.out_shape(), x.dtype()), Array(g.out_shape(), Dtype::i64)};
  dispatch(x.dtype(), [&]<class T>(T) {
    const std::int64_t in = g.h * g.w, out = g.oh * g.ow;
    T* po = r.value.data<T>();
    std::int64_t* pi = r.indices.data<std::int64_t>();
    for (std::int64_t p = 0; p < g.planes(); ++p) {
      const T* plane = x.data<T>() + p * in;
      T* vo = po + p * out;
      std::int64_t* io = pi + p * out;
      std::fill(io, io + out, std::int64_t{-1});
      for_each_window_row(g, [&](std::int64_t o, std::int64_t iy, Taps tx, std::int64_t x0) {
        const T* row = plane + iy * g.w;
        T best = io[o] < 0 ? T(0) : vo[o];
        std::int64_t at = io[o];
        for (std::int64_t kj = tx.lo; kj < tx.hi; ++kj) {
          const std::int64_t ix = x0 + kj * g.dw;
          const T v = row[ix];
          // The first maximum wins a tie; a NaN wins over numbers (as PyTorch).
          if (at < 0 || v > best || (std::isnan(v) && !std::isnan(best))) {
            best = v;
            at = iy * g.w + ix;
          }
        }
        vo[o] = best;
        io[o] = at;
      });
    }
  });
  return r;
}

// Adaptive windows: output i covers input [floor(i * in / out), ceil((i + 1) * in / out)).
std::int64_t adaptive_start(std::int64_t i, std::int64_t in, std::int64_t out) { return i * in / out; }
std::int64_t adaptive_end(std::int64_t i, std::int64_t in, std::int64_t out) { return ((i + 1) * in + out - 1) / out; }

// y = each window's sum divided by kh*kw (avg_pool2d, count_include_pad), or by its own size (adaptive).
Array pool_sum_value(const Array& x, const Pool& g, bool adaptive) {
  Array y(g.out_shape(), x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    const std::int64_t in = g.h * g.w, out = g.oh * g.ow;
    T* py = y.data<T>();
    for (std::int64_t p = 0; p < g.planes(); ++p) {
      const T* plane = x.data<T>() + p * in;
      T* yo = py + p * out;
      if (adaptive) {
        for (std::int64_t oy = 0; oy < g.oh; ++oy) {
          const std::int64_t y0 = adaptive_start(oy, g.h, g.oh), y1 = adaptive_end(oy, g.h, g.oh);
          for (std::int64_t ox = 0; ox < g.ow; ++ox) {
            const std::int64_t x0 = adaptive_start(ox, g.w, g.ow), x1 = adaptive_end(ox, g.w, g.ow);
            T s = 0;
            for (std::int64_t iy = y0; iy < y1; ++iy)
              for (std::int64_t ix = x0; ix < x1; ++ix) s += plane[iy * g.w + ix];
            yo[oy * g.ow + ox] = s / static_cast<T>((y1 - y0) * (x1 - x0));
          }
        }
        continue;
      }
      std::fill(yo, yo + out, T(0));
      for_each_window_row(g, [&](std::int64_t o, std::int64_t iy, Taps tx, std::int64_t x0) {
        const T* row = plane + iy * g.w + x0;
        T s = 0;
        for (std::int64_t kj = tx.lo; kj < tx.hi; ++kj) s += row[kj];
        yo[o] += s;
      });
      const T scale = T(1) / static_cast<T>(g.kh * g.kw);
      for (std::int64_t o = 0; o < out; ++o) yo[o] *= scale;
    }
  });
  return y;
}

// The adjoint of pool_sum_value: each gy element divided by its divisor, added over its window into zeros of xs.
Array pool_spread_value(const Array& gy, const Shape& xs, const Pool& g, bool adaptive) {
  Array dx = Array::zeros(xs, gy.dtype());
  dispatch(gy.dtype(), [&]<class T>(T) {
    const std::int64_t in = g.h * g.w, out = g.oh * g.ow;
    T* px = dx.data<T>();
    for (std::int64_t p = 0; p < g.planes(); ++p) {
      T* plane = px + p * in;
      const T* go = gy.data<T>() + p * out;
      if (adaptive) {
        for (std::int64_t oy = 0; oy < g.oh; ++oy) {
          const std::int64_t y0 = adaptive_start(oy, g.h, g.oh), y1 = adaptive_end(oy, g.h, g.oh);
          for (std::int64_t ox = 0; ox < g.ow; ++ox) {
            const std::int64_t x0 = adaptive_start(ox, g.w, g.ow), x1 = adaptive_end(ox, g.w, g.ow);
            const T v = go[oy * g.ow + ox] / static_cast<T>((y1 - y0) * (x1 - x0));
            for (std::int64_t iy = y0; iy < y1; ++iy)
              for (std::int64_t ix = x0; ix < x1; ++ix) plane[iy * g.w + ix] += v;
          }
        }
        continue;
      }
      const T scale = T(1) / static_cast<T>(g.kh * g.kw);
      for_each_window_row(g, [&](std::int64_t o, std::int64_t iy, Taps tx, std::int64_t x0) {
        T* row = plane + iy * g.w + x0;
        const T v = go[o] * scale;
        for (std::int64_t kj = tx.lo; kj < tx.hi; ++kj) row[kj] += v;
      });
    }
  });
  return dx;
}

Size2 stride_or_kernel(std::optional<Size2> stride, Size2 kernel) { return stride ? *stride : kernel; }

}  // namespace

/// Primitive (indices kept from the forward).
/// forward:  y[n,c,i,j] = max of x[n,c] over window (i, j), padding -inf; indices = its flat position in the plane
/// backward: dx += max_pool2d_backward(grad, indices, x.shape)   (the first maximum of a tie takes the gradient)
std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, Size2 kernel, std::optional<Size2> stride,
                                                  Size2 padding, Size2 dilation, Site site) {
  check_float("max_pool2d", x);
  const Pool g = checked_pool("max_pool2d", x.shape(), &x, kernel, stride_or_kernel(stride, kernel), padding, dilation);
  if (dilation.h > 1 || dilation.w > 1) check_windows_nonempty("max_pool2d", x, g);
  MaxPoolResult r = max_pool_value(x.value(), g);
  Tensor indices(std::move(r.indices));
  Tensor y = make_op("max_pool2d", std::move(r.value), {x},
                     [indices, xs = x.shape()](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                       dx[0] += max_pool2d_backward(grad, indices, xs);
                     }, site);
  return {y, indices};
}

/// Composite: max_pool2d_with_indices(...).first (the node is max_pool2d's own).
Tensor max_pool2d(const Tensor& x, Size2 kernel, std::optional<Size2> stride, Size2 padding, Size2 dilation, Site site) {
  return max_pool2d_with_indices(x, kernel, stride, padding, dilation, site).first;
}

/// Primitive; linear in grad.
/// forward:  dx = zeros(input_shape); dx[n,c].flat[indices[n,c,i,j]] += grad[n,c,i,j]
/// backward: dgrad += max_pool_double_backward(G, indices)
Tensor max_pool2d_backward(const Tensor& grad, const Tensor& indices, const Shape& input_shape, Site site) {
  check_float("max_pool2d_backward", grad);
  check_plane_indices("max_pool2d_backward", indices, input_shape);
  check_grad_shape("max_pool2d_backward", grad, indices.shape());
  Array dx = Array::zeros(input_shape, grad.dtype());
  dispatch(grad.dtype(), [&]<class T>(T) {
    const std::int64_t in = input_shape[2] * input_shape[3], out = indices.shape()[2] * indices.shape()[3];
    const T* pg = grad.value().data<T>();
    const std::int64_t* pi = indices.value().data<std::int64_t>();
    T* px = dx.data<T>();
    for (std::int64_t p = 0; p < input_shape[0] * input_shape[1]; ++p)
      for (std::int64_t o = 0; o < out; ++o) px[p * in + pi[p * out + o]] += pg[p * out + o];
  });
  return make_op("max_pool2d_backward", std::move(dx), {grad},
                 [indices](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += max_pool_double_backward(grad, indices);
                 }, site);
}

/// Primitive; linear in x (the adjoint of max_pool2d_backward).
/// forward:  y[n,c,i,j] = x[n,c].flat[indices[n,c,i,j]]
/// backward: dx += max_pool2d_backward(grad, indices, x.shape)
Tensor max_pool_double_backward(const Tensor& x, const Tensor& indices, Site site) {
  check_float("max_pool_double_backward", x);
  check_plane_indices("max_pool_double_backward", indices, x.shape());
  Array y(indices.shape(), x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    const std::int64_t in = x.shape()[2] * x.shape()[3], out = indices.shape()[2] * indices.shape()[3];
    const T* px = x.value().data<T>();
    const std::int64_t* pi = indices.value().data<std::int64_t>();
    T* py = y.data<T>();
    for (std::int64_t p = 0; p < indices.shape()[0] * indices.shape()[1]; ++p)
      for (std::int64_t o = 0; o < out; ++o) py[p * out + o] = px[p * in + pi[p * out + o]];
  });
  return make_op("max_pool_double_backward", std::move(y), {x},
                 [indices, xs = x.shape()](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += max_pool2d_backward(grad, indices, xs);
                 }, site);
}

/// Primitive; linear in x.
/// forward:  y[n,c,i,j] = sum of x[n,c] over window (i, j), padding 0, / (kernel.h * kernel.w)
/// backward: dx += avg_pool2d_backward(grad, x.shape, kernel, stride, padding)
Tensor avg_pool2d(const Tensor& x, Size2 kernel, std::optional<Size2> stride, Size2 padding, Site site) {
  check_float("avg_pool2d", x);
  const Size2 s = stride_or_kernel(stride, kernel);
  const Pool g = checked_pool("avg_pool2d", x.shape(), &x, kernel, s, padding, 1);
  return make_op("avg_pool2d", pool_sum_value(x.value(), g, false), {x},
                 [xs = x.shape(), kernel, s, padding](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += avg_pool2d_backward(grad, xs, kernel, s, padding);
                 }, site);
}

/// Primitive; linear in grad (the adjoint of avg_pool2d).
/// forward:  dx = zeros(input_shape); dx[n,c] over window (i, j) += grad[n,c,i,j] / (kernel.h * kernel.w)
/// backward: dgrad += avg_pool2d(G, kernel, stride, padding)
Tensor avg_pool2d_backward(const Tensor& grad, const Shape& input_shape, Size2 kernel, std::optional<Size2> stride,
                           Size2 padding, Site site) {
  check_float("avg_pool2d_backward", grad);
  const Size2 s = stride_or_kernel(stride, kernel);
  const Pool g = checked_pool("avg_pool2d_backward", input_shape, nullptr, kernel, s, padding, 1);
  check_grad_shape("avg_pool2d_backward", grad, g.out_shape());
  return make_op("avg_pool2d_backward", pool_spread_value(grad.value(), input_shape, g, false), {grad},
                 [kernel, s, padding](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += avg_pool2d(grad, kernel, s, padding);
                 }, site);
}

namespace {
Pool adaptive_pool(std::string_view op, const Shape& xs, const Tensor* x, Size2 out) {
  if (xs.rank() != 4)
    throw std::invalid_argument(fmt::format("{}: input must have rank 4 (got {})", op, x ? describe(*x) : xs.str()));
  if (out.h <= 0 || out.w <= 0)
    throw std::invalid_argument(fmt::format("{}: output size must be positive (got {}x{})", op, out.h, out.w));
  if (xs[2] == 0 || xs[3] == 0)
    throw std::invalid_argument(
        fmt::format("{}: input height and width must be non-empty (got {})", op, x ? describe(*x) : xs.str()));
  return Pool{xs[0], xs[1], xs[2], xs[3], 0, 0, 0, 0, 0, 0, 1, 1, out.h, out.w};
}
}  // namespace

/// Primitive; linear in x.
/// forward:  y[n,c,i,j] = mean of x[n,c, floor(i H / Ho) .. ceil((i + 1) H / Ho) - 1, likewise for j and W]
/// backward: dx += adaptive_avg_pool2d_backward(grad, x.shape)
Tensor adaptive_avg_pool2d(const Tensor& x, Size2 output_size, Site site) {
  check_float("adaptive_avg_pool2d", x);
  const Pool g = adaptive_pool("adaptive_avg_pool2d", x.shape(), &x, output_size);
  return make_op("adaptive_avg_pool2d", pool_sum_value(x.value(), g, true), {x},
                 [xs = x.shape()](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += adaptive_avg_pool2d_backward(grad, xs);
                 }, site);
}

/// Primitive; linear in grad (the adjoint of adaptive_avg_pool2d).
/// forward:  dx = zeros(input_shape); dx[n,c] over window (i, j) += grad[n,c,i,j] / (its window's size)
/// backward: dgrad += adaptive_avg_pool2d(G, grad's [Ho, Wo])
Tensor adaptive_avg_pool2d_backward(const Tensor& grad, const Shape& input_shape, Site site) {
  check_float("adaptive_avg_pool2d_backward", grad);
  check_rank("adaptive_avg_pool2d_backward", "gradient", grad, 4);
  const Size2 out{grad.shape()[2], grad.shape()[3]};
  const Pool g = adaptive_pool("adaptive_avg_pool2d_backward", input_shape, nullptr, out);
  check_grad_shape("adaptive_avg_pool2d_backward", grad, g.out_shape());
  return make_op("adaptive_avg_pool2d_backward", pool_spread_value(grad.value(), input_shape, g, true), {grad},
                 [out](const Tensor& grad, const Tensor&, BackwardContext& dx) { dx[0] += adaptive_avg_pool2d(grad, out); },
                 site);
}

}  // namespace autodiff
