// Pooling over NCHW planes: max_pool2d (indices kept for its backward), avg_pool2d, adaptive_avg_pool2d, and their
// backward ops, each differentiable again (all are linear in the tensor they move, the indices held constant).
#include "autodiff/check.hpp"
#include "autodiff/ops.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <type_traits>

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

// Whether v replaces best as a window's maximum: the first maximum wins a tie, and a NaN wins over numbers (the
// first NaN stays). Branch-free, as the outcome is a coin flip on real data.
template <class T>
bool takes(T v, T best) {
  return static_cast<bool>(static_cast<int>(!(v <= best)) & static_cast<int>(best == best));
}

// t ? a : b by bit masks: the compiler turns a plain ?: here back into a branch that mispredicts half the time.
template <class T>
T pick(bool t, T a, T b) {
  using U = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  const U m = U(0) - static_cast<U>(t);
  return std::bit_cast<T>(static_cast<U>((std::bit_cast<U>(a) & m) | (std::bit_cast<U>(b) & ~m)));
}

// Output columns whose window lies inside the input's columns: [lo, hi).
Taps inner_columns(const Pool& g) {
  const std::int64_t lo = std::min(g.ow, (g.pw + g.sw - 1) / g.sw);
  const std::int64_t last = g.w - 1 - (g.kw - 1) * g.dw + g.pw;  // largest ox * sw with the window inside
  const std::int64_t hi = last < 0 ? 0 : std::min(g.ow, last / g.sw + 1);
  return {lo, std::max(lo, hi)};
}

MaxPoolResult max_pool_value(const Array& x, const Pool& g) {
  MaxPoolResult r{Array(g.out_shape(), x.dtype()), Array(g.out_shape(), Dtype::i64)};
  dispatch(x.dtype(), [&]<class T>(T) {
    const std::int64_t in = g.h * g.w, out = g.oh * g.ow;
    T* po = r.value.data<T>();
    std::int64_t* pi = r.indices.data<std::int64_t>();
    const T* px = x.data<T>();
    const Taps inner = inner_columns(g);
    // One output, any window: its taps inside the input (the caller guarantees at least one).
    const auto window = [&](const T* plane, std::int64_t oy, std::int64_t ox, T* vo, std::int64_t* io) {
      const std::int64_t y0 = oy * g.sh - g.ph, x0 = ox * g.sw - g.pw;
      const Taps ty = taps(y0, g.dh, g.h, g.kh), tx = taps(x0, g.dw, g.w, g.kw);
      std::int64_t at = (y0 + ty.lo * g.dh) * g.w + x0 + tx.lo * g.dw;
      T best = plane[at];
      for (std::int64_t ki = ty.lo; ki < ty.hi; ++ki)
        for (std::int64_t kj = tx.lo; kj < tx.hi; ++kj) {
          const std::int64_t i = (y0 + ki * g.dh) * g.w + x0 + kj * g.dw;
          const bool t = takes(plane[i], best);
          best = pick(t, plane[i], best);
          at = pick(t, i, at);
        }
      vo[ox] = best;
      io[ox] = at;
    };
    if (g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0) {
      // The common 2x2 pooling: each window's four taps in registers, compared in window order.
      for (std::int64_t p = 0; p < g.planes(); ++p)
        for (std::int64_t oy = 0; oy < g.oh; ++oy) {
          const T* r0 = px + p * in + 2 * oy * g.w;
          const T* r1 = r0 + g.w;
          T* vo = po + p * out + oy * g.ow;
          std::int64_t* io = pi + p * out + oy * g.ow;
          const std::int64_t i0 = 2 * oy * g.w;
          for (std::int64_t ox = 0; ox < g.ow; ++ox) {
            const T a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
            std::int64_t at = 0;
            T best = a;
            bool t = takes(b, best);
            best = pick(t, b, best);
            at = pick<std::int64_t>(t, 1, at);
            t = takes(c, best);
            best = pick(t, c, best);
            at = pick(t, g.w, at);
            t = takes(d, best);
            best = pick(t, d, best);
            at = pick(t, g.w + 1, at);
            vo[ox] = best;
            io[ox] = i0 + 2 * ox + at;
          }
        }
      return;
    }
    for (std::int64_t p = 0; p < g.planes(); ++p) {
      const T* plane = px + p * in;
      for (std::int64_t oy = 0; oy < g.oh; ++oy) {
        T* vo = po + p * out + oy * g.ow;
        std::int64_t* io = pi + p * out + oy * g.ow;
        const std::int64_t y0 = oy * g.sh - g.ph;
        const Taps ty = taps(y0, g.dh, g.h, g.kh);
        if (ty.lo != 0 || ty.hi != g.kh) {
          for (std::int64_t ox = 0; ox < g.ow; ++ox) window(plane, oy, ox, vo, io);
          continue;
        }
        for (std::int64_t ox = 0; ox < inner.lo; ++ox) window(plane, oy, ox, vo, io);
        for (std::int64_t ox = inner.hi; ox < g.ow; ++ox) window(plane, oy, ox, vo, io);
        // Windows inside the input, tap by tap along the output row: no bounds, no branches.
        const std::int64_t x0 = inner.lo * g.sw - g.pw;
        for (std::int64_t ox = inner.lo; ox < inner.hi; ++ox) {
          const std::int64_t i = y0 * g.w + x0 + (ox - inner.lo) * g.sw;
          vo[ox] = plane[i];
          io[ox] = i;
        }
        for (std::int64_t ki = 0; ki < g.kh; ++ki)
          for (std::int64_t kj = 0; kj < g.kw; ++kj) {
            if (ki == 0 && kj == 0) continue;
            const std::int64_t base = (y0 + ki * g.dh) * g.w + x0 + kj * g.dw;
            for (std::int64_t ox = inner.lo; ox < inner.hi; ++ox) {
              const std::int64_t i = base + (ox - inner.lo) * g.sw;
              const T v = plane[i], best = vo[ox];
              const bool t = takes(v, best);
              vo[ox] = pick(t, v, best);
              io[ox] = pick(t, i, io[ox]);
            }
          }
      }
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

namespace {
// max_pool2d_backward and max_pool_double_backward once their arguments are known to be good (their own backward
// closures call these: the indices they hold were checked, or made by max_pool2d).
Tensor scatter_to_planes(const Tensor& grad, const Tensor& indices, const Shape& input_shape, Site site);
Tensor gather_from_planes(const Tensor& x, const Tensor& indices, Site site);

Tensor scatter_to_planes(const Tensor& grad, const Tensor& indices, const Shape& input_shape, Site site) {
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
                   dx[0] += gather_from_planes(grad, indices, Site::current());
                 }, site);
}

Tensor gather_from_planes(const Tensor& x, const Tensor& indices, Site site) {
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
                   dx[0] += scatter_to_planes(grad, indices, xs, Site::current());
                 }, site);
}
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
                       dx[0] += scatter_to_planes(grad, indices, xs, Site::current());
                     }, site);
  return {y, indices};
}

/// Composite: max_pool2d_with_indices(...).first (the node is max_pool2d's own).
Tensor max_pool2d(const Tensor& x, Size2 kernel, std::optional<Size2> stride, Size2 padding, Size2 dilation, Site site) {
  return max_pool2d_with_indices(x, kernel, stride, padding, dilation, site).first;
}

/// Primitive; linear in grad.
/// forward:  dx = zeros(input_shape); dx[n,c].flat[indices[n,c,i,j]] += grad[n,c,i,j]
/// backward: dgrad += max_pool_double_backward(G, indices)   (G: the gradient of the result)
Tensor max_pool2d_backward(const Tensor& grad, const Tensor& indices, const Shape& input_shape, Site site) {
  check_float("max_pool2d_backward", grad);
  check_plane_indices("max_pool2d_backward", indices, input_shape);
  check_grad_shape("max_pool2d_backward", grad, indices.shape());
  return scatter_to_planes(grad, indices, input_shape, site);
}

/// Primitive; linear in x (the adjoint of max_pool2d_backward).
/// forward:  y[n,c,i,j] = x[n,c].flat[indices[n,c,i,j]]
/// backward: dx += max_pool2d_backward(grad, indices, x.shape)
Tensor max_pool_double_backward(const Tensor& x, const Tensor& indices, Site site) {
  check_float("max_pool_double_backward", x);
  check_plane_indices("max_pool_double_backward", indices, x.shape());
  return gather_from_planes(x, indices, site);
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
  if (xs[1] == 0 || xs[2] == 0 || xs[3] == 0)
    throw std::invalid_argument(fmt::format("{}: input must have non-empty channel and spatial dimensions (got {})", op,
                                            x ? describe(*x) : xs.str()));
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
