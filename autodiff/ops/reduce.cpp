// Reductions: sum (all, or one axis), max over an axis, and the compositions mean, logsumexp and log_softmax.
#include "autodiff/check.hpp"
#include "autodiff/ops.hpp"

#include <cmath>
#include <limits>

namespace autodiff {

namespace {
// Views x as [outer, n, inner] around `axis`.
struct Split {
  std::int64_t outer = 1, n = 1, inner = 1;
};
Split split(const Shape& s, int axis) {
  Split p;
  for (int i = 0; i < axis; ++i) p.outer *= s[i];
  p.n = s[axis];
  for (int i = axis + 1; i < s.rank(); ++i) p.inner *= s[i];
  return p;
}
Shape reduced(const Shape& s, int axis, bool keepdim) {
  std::int64_t d[Shape::max_rank];
  int r = 0;
  for (int i = 0; i < s.rank(); ++i) {
    if (i != axis)
      d[r++] = s[i];
    else if (keepdim)
      d[r++] = 1;
  }
  return Shape(std::span<const std::int64_t>(d, static_cast<std::size_t>(r)));
}
}  // namespace

Tensor sum(const Tensor& x, Site site) {
  const Array& v = x.value();
  Array out(Shape{}, v.dtype());
  dispatch(v.dtype(), [&]<class T>(T) {
    const T* p = v.data<T>();
    double s = 0;  // accumulate in double: float sums over a batch lose digits otherwise
    for (std::int64_t i = 0; i < v.numel(); ++i) s += p[i];
    out.data<T>()[0] = static_cast<T>(s);
  });
  return make_op("sum", std::move(out), {x}, [xs = v.shape()](const Tensor& grad, const Tensor&, BackwardContext& dx) {
    dx[0] += broadcast_to(grad, xs);
  }, site);
}

Tensor sum(const Tensor& x, int axis, bool keepdim, Site site) {
  const Array& v = x.value();
  const int ax = check_axis("sum", axis, v.rank());
  const Split p = split(v.shape(), ax);
  Array out = Array::zeros(reduced(v.shape(), ax, keepdim), v.dtype());
  dispatch(v.dtype(), [&]<class T>(T) {
    const T* pv = v.data<T>();
    T* po = out.data<T>();
    for (std::int64_t o = 0; o < p.outer; ++o)
      for (std::int64_t k = 0; k < p.n; ++k)
        for (std::int64_t i = 0; i < p.inner; ++i) po[o * p.inner + i] += pv[(o * p.n + k) * p.inner + i];
  });
  return make_op("sum", std::move(out), {x},
                 [xs = v.shape(), ks = reduced(v.shape(), ax, true)](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += broadcast_to(reshape(grad, ks), xs);
                 }, site);
}

Tensor mean(const Tensor& x, Site site) {
  check_nonempty("mean", x);
  return mul(sum(x, site), scalar(1.0 / static_cast<double>(x.numel()), x.dtype()), site);
}

Tensor mean(const Tensor& x, int axis, bool keepdim, Site site) {
  const int ax = check_axis("mean", axis, x.rank());
  check_nonempty_axis("mean", x, ax);
  return mul(sum(x, ax, keepdim, site), scalar(1.0 / static_cast<double>(x.shape()[ax]), x.dtype()), site);
}

Tensor max(const Tensor& x, int axis, bool keepdim, Site site) {
  const Array& v = x.value();
  const int ax = check_axis("max", axis, v.rank());
  check_nonempty_axis("max", x, ax);
  const Split p = split(v.shape(), ax);
  Array out(reduced(v.shape(), ax, keepdim), v.dtype());
  Array onehot = Array::zeros(v.shape(), v.dtype());  // 1 at the first arg-max of each slice
  dispatch(v.dtype(), [&]<class T>(T) {
    const T* pv = v.data<T>();
    T* po = out.data<T>();
    T* ph = onehot.data<T>();
    for (std::int64_t o = 0; o < p.outer; ++o)
      for (std::int64_t i = 0; i < p.inner; ++i) {
        std::int64_t best = 0;
        T m = pv[o * p.n * p.inner + i];
        for (std::int64_t k = 1; k < p.n; ++k) {
          const T c = pv[(o * p.n + k) * p.inner + i];
          if (c > m || (std::isnan(c) && !std::isnan(m))) {
            m = c;
            best = k;
          }
        }
        po[o * p.inner + i] = m;
        ph[(o * p.n + best) * p.inner + i] = 1;
      }
  });
  return make_op("max", std::move(out), {x},
                 [xs = v.shape(), ks = reduced(v.shape(), ax, true), mask = Tensor(onehot)](
                     const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += broadcast_to(reshape(grad, ks), xs) * mask;
                 }, site);
}

Tensor logsumexp(const Tensor& x, int axis, bool keepdim, Site site) {
  const int ax = check_axis("logsumexp", axis, x.rank());
  check_nonempty_axis("logsumexp", x, ax);
  // The shift m is a constant: the result does not depend on it, so no gradient flows through it.
  const Tensor m = max(x, ax, true, site).detach();
  Tensor r = add(log(sum(exp(sub(x, m, site), site), ax, true, site), site), m, site);
  if (keepdim) return r;
  return reshape(r, reduced(x.shape(), ax, false), site);
}

Tensor log_softmax(const Tensor& x, int axis, Site site) {
  check_nonempty_axis("log_softmax", x, check_axis("log_softmax", axis, x.rank()));
  return sub(x, logsumexp(x, axis, true, site), site);
}

}  // namespace autodiff
