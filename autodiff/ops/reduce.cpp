// Reductions: sum and mean (all elements or a list of axes), max over an axis, and the compositions logsumexp and
// log_softmax.
#include "autodiff/check.hpp"
#include "autodiff/ops.hpp"

#include <fmt/format.h>

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
std::array<bool, Shape::max_rank> one_axis(int axis) {
  std::array<bool, Shape::max_rank> m{};
  m[static_cast<std::size_t>(axis)] = true;
  return m;
}
// Elements reduced by a mask.
std::int64_t reduced_count(const Shape& s, const std::array<bool, Shape::max_rank>& mask) {
  std::int64_t n = 1;
  for (int i = 0; i < s.rank(); ++i)
    if (mask[static_cast<std::size_t>(i)]) n *= s[i];
  return n;
}
}  // namespace

/// forward:  sum of all elements (0-d), accumulated in double (int64 and bool count into an int64 constant)
/// backward: dx += broadcast_to(grad, x.shape)
Tensor sum(const Tensor& x, Site site) {
  return make_op("sum", reduce_to(x.value(), Shape{}, "sum"), {x},
                 [xs = x.shape()](const Tensor& grad, const Tensor&, BackwardContext& dx) { dx[0] += broadcast_to(grad, xs); },
                 site);
}

/// forward:  sum over the axes in dims (kept as size 1 with keepdim)
/// backward: dx += broadcast_to(reshape(grad, shape with the axes kept), x.shape)
Tensor sum(const Tensor& x, const Dims& dims, bool keepdim, Site site) {
  const auto mask = dims.mask("sum", x.rank());
  const Shape kept = reduced_shape(x.shape(), mask, true);
  return make_op("sum", reduce_to(x.value(), kept, "sum").reshaped(reduced_shape(x.shape(), mask, keepdim)), {x},
                 [xs = x.shape(), kept](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += broadcast_to(reshape(grad, kept), xs);
                 }, site);
}

/// forward:  sum(x) / n with n = numel
/// backward: dx += broadcast_to(grad / n, x.shape)
Tensor mean(const Tensor& x, Site site) {
  check_float("mean", x);
  check_nonempty("mean", x);
  const double n = static_cast<double>(x.numel());
  Array out = reduce_to(x.value(), Shape{}, "mean");
  out.set(0, out.at(0) / n);
  return make_op("mean", std::move(out), {x},
                 [xs = x.shape(), n](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += broadcast_to(grad / n, xs);
                 }, site);
}

/// forward:  sum over the axes in dims / n, n = the number of elements reduced
/// backward: dx += broadcast_to(reshape(grad, shape with the axes kept) / n, x.shape)
Tensor mean(const Tensor& x, const Dims& dims, bool keepdim, Site site) {
  check_float("mean", x);
  const auto mask = dims.mask("mean", x.rank());
  for (int i = 0; i < x.rank(); ++i)
    if (mask[static_cast<std::size_t>(i)]) check_nonempty_axis("mean", x, i);
  const Shape kept = reduced_shape(x.shape(), mask, true);
  const double n = static_cast<double>(reduced_count(x.shape(), mask));
  Array out = reduce_to(x.value(), kept, "mean").reshaped(reduced_shape(x.shape(), mask, keepdim));
  dispatch(out.dtype(), [&]<class T>(T) {
    T* p = out.data<T>();
    for (std::int64_t i = 0; i < out.numel(); ++i) p[i] = static_cast<T>(p[i] / n);
  });
  return make_op("mean", std::move(out), {x},
                 [xs = x.shape(), kept, n](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += broadcast_to(reshape(grad, kept) / n, xs);
                 }, site);
}

/// forward:  max over `axis` (NaN wins, as in PyTorch)
/// backward: dx += grad at the first arg-max of each slice, 0 elsewhere
Tensor max(const Tensor& x, int axis, bool keepdim, Site site) {
  check_float("max", x);
  const Array& v = x.value();
  const int ax = normalize_axis("max", axis, v.rank());
  check_nonempty_axis("max", x, ax);
  const Split p = split(v.shape(), ax);
  Array out(reduced_shape(v.shape(), one_axis(ax), keepdim), v.dtype());
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
                 [xs = v.shape(), ks = reduced_shape(v.shape(), one_axis(ax), true), mask = Tensor(onehot)](
                     const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += broadcast_to(reshape(grad, ks), xs) * mask;
                 }, site);
}

/// Composite, stable: m + log(sum(exp(x - m), axis)) with m = max(x, axis) held constant (the result does not
/// depend on it, so no gradient flows through it).
Tensor logsumexp(const Tensor& x, int axis, bool keepdim, Site site) {
  check_float("logsumexp", x);
  const int ax = normalize_axis("logsumexp", axis, x.rank());
  check_nonempty_axis("logsumexp", x, ax);
  const Tensor m = max(x, ax, true, site).detach();
  Tensor r = add(log(sum(exp(sub(x, m, site), site), ax, true, site), site), m, site);
  if (keepdim) return r;
  return reshape(r, reduced_shape(x.shape(), one_axis(ax), false), site);
}

/// Composite: x - logsumexp(x, axis, keepdim = true).
Tensor log_softmax(const Tensor& x, int axis, Site site) {
  check_float("log_softmax", x);
  check_nonempty_axis("log_softmax", x, normalize_axis("log_softmax", axis, x.rank()));
  return sub(x, logsumexp(x, axis, true, site), site);
}

}  // namespace autodiff
