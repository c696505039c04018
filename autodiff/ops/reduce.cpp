// Reductions: sum, mean, amax, amin, prod, var, std, norm over all elements or a list of axes; max, min, argmax,
// argmin over one axis; cumsum; clamp.
#include "autodiff/check.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/kernels.hpp"
#include "autodiff/ops/slices.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <optional>
#include <span>
#include <type_traits>
#include <stdexcept>
#include <vector>

namespace autodiff {

using detail::AxisMask;

namespace {

/// The mask's axes as a Dims (for the engine ops of a backward rule).
Dims dims_of(const AxisMask& mask, int rank) {
  std::array<int, Shape::max_rank> axes{};
  std::size_t n = 0;
  for (int i = 0; i < rank; ++i)
    if (mask[static_cast<std::size_t>(i)]) axes[n++] = i;
  return Dims(std::span<const int>(axes.data(), n));
}

/// mean(x) over the masked axes, kept as size 1 (x itself when nothing is reduced, as for a 0-d x).
Tensor mean_kept(const Tensor& x, const AxisMask& mask) {
  if (detail::reduced_count(x.shape(), mask) == 1 && reduced_shape(x.shape(), mask, true) == x.shape()) return x;
  return mean(x, dims_of(mask, x.rank()), true);
}

/// A constant: 1 where v == 0, else 0 (added to a denominator that may be 0 where its numerator is 0 too).
Tensor zero_mask(const Tensor& v) {
  return Tensor(detail::map("mask", v.value(), [](auto e) { return e == 0 ? 1.0 : 0.0; }));
}

/// A constant: sign(x), 0 at 0.
Tensor sign_of(const Tensor& x) {
  return Tensor(detail::map("sign", x.value(), [](auto e) { return e > 0 ? 1.0 : e < 0 ? -1.0 : 0.0; }));
}

/// Per-element weights of an extreme-value reduction (amax, amin, max(x), inf-norm): 1/count at the elements equal to
/// their slice's result r (of `key(x)`), 0 elsewhere, so ties share the gradient evenly. Where r is NaN the NaN
/// elements share it. `sign` multiplies in sign(x) (the inf-norm).
template <class Key>
Array tie_weights(const Array& x, const Array& r, const AxisMask& mask, Key key, bool sign) {
  Array w(x.shape(), x.dtype());
  Array counts = Array::zeros(r.shape(), Dtype::i64);
  std::int64_t* count = counts.data<std::int64_t>();
  dispatch(x.dtype(), [&]<class T>(T) {
    const T* px = x.data<T>();
    const T* pr = r.data<T>();
    T* pw = w.data<T>();
    const auto hit = [&](std::int64_t i, std::int64_t o) {
      const T v = key(px[i]);
      return v == pr[o] || (std::isnan(v) && std::isnan(pr[o]));
    };
    detail::for_each_reduced(x.shape(), mask, [&](std::int64_t i, std::int64_t o) {
      if (hit(i, o)) ++count[o];
    });
    detail::for_each_reduced(x.shape(), mask, [&](std::int64_t i, std::int64_t o) {
      const T s = sign ? (px[i] > 0 ? T(1) : px[i] < 0 ? T(-1) : T(0)) : T(1);
      pw[i] = hit(i, o) ? s / static_cast<T>(count[o]) : T(0);
    });
  });
  return w;
}

/// The largest (is_max) or smallest key(x) of each slice into an array of the kept shape; NaN wins (as PyTorch).
template <class Key>
Array extreme_values(const Array& x, const AxisMask& mask, bool is_max, Key key) {
  Array out(reduced_shape(x.shape(), mask, true), x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    const T* px = x.data<T>();
    T* po = out.data<T>();
    const T start = is_max ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
    for (std::int64_t o = 0; o < out.numel(); ++o) po[o] = start;
    detail::for_each_reduced(x.shape(), mask, [&](std::int64_t i, std::int64_t o) {
      const T v = key(px[i]);
      if ((is_max ? v > po[o] : v < po[o]) || std::isnan(v)) po[o] = v;
    });
  });
  return out;
}

constexpr auto identity = [](auto v) { return v; };

/// amax, amin and max(x), min(x) of all elements.
Tensor extreme(OpName name, const Tensor& x, const AxisMask& mask, bool keepdim, bool is_max, Site site) {
  check_float(name.view(), x);
  check_nonempty_axes(name.view(), x, mask);
  if (x.rank() == 0) check_nonempty(name.view(), x);
  const Shape kept = reduced_shape(x.shape(), mask, true);
  Array out = extreme_values(x.value(), mask, is_max, identity).reshaped(reduced_shape(x.shape(), mask, keepdim));
  return make_op(name, std::move(out), {x},
                 [x, kept, mask](const Tensor& grad, const Tensor& result, BackwardContext& dx) {
                   dx[0] += reshape(grad, kept) * Tensor(tie_weights(x.value(), result.value(), mask, identity, false));
                 }, site);
}

/// max or min over one axis: the values (recorded) and the int64 indices of the first extreme element (NaN wins).
ValuesIndices extreme_along(OpName name, const Tensor& x, int dim, bool keepdim, bool is_max, bool want_values,
                            Site site) {
  const int ax = normalize_axis(name.view(), dim, x.rank());
  check_nonempty_axis(name.view(), x, ax);
  const Array& v = x.value();
  const detail::Split p = detail::split(v.shape(), ax);
  const Shape out_shape = reduced_shape(v.shape(), detail::one_axis(ax), keepdim);
  Array values = want_values ? Array(out_shape, v.dtype()) : Array();
  Array indices(out_shape, Dtype::i64);
  const auto run = [&]<class T>(T) {
    const T* pv = v.data<T>();
    T* po = want_values ? values.data<T>() : nullptr;
    std::int64_t* pi = indices.data<std::int64_t>();
    for (std::int64_t o = 0; o < p.outer; ++o)
      for (std::int64_t i = 0; i < p.inner; ++i) {
        const T* s = pv + o * p.n * p.inner + i;
        std::int64_t best = 0;
        T m = s[0];
        for (std::int64_t k = 1; k < p.n; ++k) {
          const T c = s[k * p.inner];
          if constexpr (std::is_floating_point_v<T>)
            if (std::isnan(m)) break;  // the first NaN wins
          bool better = is_max ? c > m : c < m;
          if constexpr (std::is_floating_point_v<T>) better = better || std::isnan(c);
          if (better) {
            m = c;
            best = k;
          }
        }
        if (po) po[o * p.inner + i] = m;
        pi[o * p.inner + i] = best;
      }
  };
  if (v.dtype() == Dtype::i64)
    run(std::int64_t{});
  else
    dispatch(v.dtype(), run);
  if (!want_values) return {Tensor(), Tensor(std::move(indices))};
  const Shape kept = reduced_shape(v.shape(), detail::one_axis(ax), true);
  Tensor idx(indices);
  Tensor vals = make_op(name, std::move(values), {x},
                        [xs = v.shape(), kept, p, indices](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                          // The gradient goes to the chosen element of each slice (torch.max(x, dim) does the same).
                          Array onehot = Array::zeros(xs, grad.dtype());
                          dispatch(grad.dtype(), [&]<class T>(T) {
                            T* ph = onehot.data<T>();
                            const std::int64_t* pi = indices.data<std::int64_t>();
                            for (std::int64_t o = 0; o < p.outer; ++o)
                              for (std::int64_t i = 0; i < p.inner; ++i)
                                ph[(o * p.n + pi[o * p.inner + i]) * p.inner + i] = 1;
                          });
                          dx[0] += reshape(grad, kept) * Tensor(std::move(onehot));
                        }, site);
  return {std::move(vals), std::move(idx)};
}

void check_arg_dtype(std::string_view op, const Tensor& x) {
  if (x.dtype() != Dtype::i64) check_float(op, x);
}

/// Product of the other elements of each slice, exactly also where the slice holds zeros (no division by 0):
/// the gradient of prod. Its backward is a kernel too (exact second order of prod at zeros); recorded under
/// create_graph, that kernel's own result is a constant, so third order through zeros is not supported.
Tensor prod_others(const Tensor& x, const AxisMask& mask);

/// Per slice of x: the count of zeros, the product of the nonzero elements and the first two zeros' positions.
struct ZeroStats {
  Array zeros_a, first_a, second_a, prod_a;
  std::int64_t *zeros, *first, *second;
  double* nonzero_prod;
  explicit ZeroStats(std::int64_t n)
      : zeros_a(Array::zeros(Shape{n}, Dtype::i64)), first_a(Array::full(Shape{n}, -1, Dtype::i64)),
        second_a(Array::full(Shape{n}, -1, Dtype::i64)), prod_a(Array::full(Shape{n}, 1.0, Dtype::f64)),
        zeros(zeros_a.data<std::int64_t>()), first(first_a.data<std::int64_t>()), second(second_a.data<std::int64_t>()),
        nonzero_prod(prod_a.data<double>()) {}
};

template <class T>
ZeroStats zero_stats(const T* px, const Shape& s, const AxisMask& mask, std::int64_t outputs) {
  ZeroStats z(outputs);
  detail::for_each_reduced(s, mask, [&](std::int64_t i, std::int64_t u) {
    if (px[i] == 0) {
      if (z.zeros[u] == 0) z.first[u] = i;
      if (z.zeros[u] == 1) z.second[u] = i;
      ++z.zeros[u];
    } else {
      z.nonzero_prod[u] *= px[i];
    }
  });
  return z;
}

/// dx_j = sum_{i != j} u_i prod_{k not in {i, j}} x_k per slice: the vector-Jacobian product of prod_others.
Array prod_others_vjp(const Array& u, const Array& x, const AxisMask& mask) {
  Array out(x.shape(), x.dtype());
  const std::int64_t outputs = reduced_shape(x.shape(), mask, true).numel();
  dispatch(x.dtype(), [&]<class T>(T) {
    const T* px = x.data<T>();
    const T* pu = u.data<T>();
    T* po = out.data<T>();
    const ZeroStats z = zero_stats(px, x.shape(), mask, outputs);
    Array sums = Array::zeros(Shape{outputs}, Dtype::f64);  // sum of u_i / x_i over the nonzero x_i
    double* s = sums.data<double>();
    detail::for_each_reduced(x.shape(), mask, [&](std::int64_t i, std::int64_t o) {
      if (px[i] != 0) s[o] += static_cast<double>(pu[i]) / px[i];
    });
    detail::for_each_reduced(x.shape(), mask, [&](std::int64_t i, std::int64_t k) {
      const double p = z.nonzero_prod[k];
      double r = 0.0;
      if (z.zeros[k] == 0) {
        r = p / px[i] * (s[k] - pu[i] / static_cast<double>(px[i]));
      } else if (z.zeros[k] == 1) {
        r = i == z.first[k] ? p * s[k] : pu[z.first[k]] * p / px[i];
      } else if (z.zeros[k] == 2) {
        r = i == z.first[k] ? pu[z.second[k]] * p : i == z.second[k] ? pu[z.first[k]] * p : 0.0;
      }
      po[i] = static_cast<T>(r);
    });
  });
  return out;
}

Tensor prod_others(const Tensor& x, const AxisMask& mask) {
  Array out(x.shape(), x.dtype());
  const std::int64_t outputs = reduced_shape(x.shape(), mask, true).numel();
  dispatch(x.dtype(), [&]<class T>(T) {
    const T* px = x.value().data<T>();
    T* po = out.data<T>();
    const ZeroStats z = zero_stats(px, x.shape(), mask, outputs);
    detail::for_each_reduced(x.shape(), mask, [&](std::int64_t i, std::int64_t k) {
      const double p = z.nonzero_prod[k];
      po[i] = static_cast<T>(z.zeros[k] == 0 ? p / px[i] : z.zeros[k] == 1 && i == z.first[k] ? p : 0.0);
    });
  });
  return make_op("prod_others", std::move(out), {x}, [x, mask](const Tensor& grad, const Tensor&, BackwardContext& dx) {
    dx[0] += Tensor(prod_others_vjp(grad.value(), x.value(), mask));
  });
}

bool has_zero(const Array& x) {
  return dispatch(x.dtype(), [&]<class T>(T) {
    const T* p = x.data<T>();
    for (std::int64_t i = 0; i < x.numel(); ++i)
      if (p[i] == 0) return true;
    return false;
  });
}

Tensor prod_impl(const Tensor& x, const AxisMask& mask, bool keepdim, Site site) {
  check_float("prod", x);
  const Shape kept = reduced_shape(x.shape(), mask, true);
  Array out = Array::full(kept, 1.0, x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    const T* px = x.value().data<T>();
    T* po = out.data<T>();
    detail::for_each_reduced(x.shape(), mask, [&](std::int64_t i, std::int64_t o) { po[o] *= px[i]; });
  });
  return make_op("prod", out.reshaped(reduced_shape(x.shape(), mask, keepdim)), {x},
                 [x, kept, mask](const Tensor& grad, const Tensor& result, BackwardContext& dx) {
                   if (!has_zero(x.value()))
                     dx[0] += reshape(grad * result, kept) / x;
                   else
                     dx[0] += reshape(grad, kept) * prod_others(x, mask);
                 }, site);
}

/// var (take_sqrt false) or std over the masked axes.
Tensor spread(OpName name, const Tensor& x, const AxisMask& mask, bool keepdim, double correction, bool take_sqrt,
              Site site) {
  check_float(name.view(), x);
  const std::int64_t count = detail::reduced_count(x.shape(), mask);
  check_nonempty_axes(name.view(), x, mask);
  check_correction(name.view(), x, count, correction);
  const Shape kept = reduced_shape(x.shape(), mask, true);
  const double dof = static_cast<double>(count) - correction;
  Array out(kept, x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    const T* px = x.value().data<T>();
    T* po = out.data<T>();
    // Two passes in double: the mean, then the squared deviations from it (no cancellation of sum x^2 - n mean^2).
    Array mu_a = Array::zeros(kept, Dtype::f64), ss_a = Array::zeros(kept, Dtype::f64);
    double* mu = mu_a.data<double>();
    double* ss = ss_a.data<double>();
    detail::for_each_reduced(x.shape(), mask, [&](std::int64_t i, std::int64_t o) { mu[o] += px[i]; });
    for (std::int64_t o = 0; o < out.numel(); ++o) mu[o] /= static_cast<double>(count);
    detail::for_each_reduced(x.shape(), mask, [&](std::int64_t i, std::int64_t o) {
      const double d = px[i] - mu[o];
      ss[o] += d * d;
    });
    for (std::int64_t o = 0; o < out.numel(); ++o) po[o] = static_cast<T>(take_sqrt ? std::sqrt(ss[o] / dof) : ss[o] / dof);
  });
  return make_op(name, out.reshaped(reduced_shape(x.shape(), mask, keepdim)), {x},
                 [x, kept, mask, dof, take_sqrt](const Tensor& grad, const Tensor& result, BackwardContext& dx) {
                   const Tensor centred = x - mean_kept(x, mask);
                   if (!take_sqrt)
                     dx[0] += centred * reshape(grad * (2.0 / dof), kept);
                   else  // d std = d var / (2 std); 0 where std = 0 (there every deviation is 0 too)
                     dx[0] += centred * reshape(grad / ((result + zero_mask(result)) * dof), kept);
                 }, site);
}

bool supported_p(double p) { return p == std::numeric_limits<double>::infinity() || (std::isfinite(p) && p >= 1.0); }

Tensor norm_impl(const Tensor& x, double p, const AxisMask& mask, bool keepdim, Site site) {
  check_float("norm", x);
  if (!supported_p(p))
    throw std::invalid_argument(fmt::format("norm: unsupported p (got {}); use p >= 1 or inf ({})", p, describe(x)));
  const bool inf = std::isinf(p);
  if (inf) {
    check_nonempty_axes("norm", x, mask);
    if (x.rank() == 0) check_nonempty("norm", x);
  }
  const Shape kept = reduced_shape(x.shape(), mask, true);
  constexpr auto magnitude = [](auto v) { return std::abs(v); };
  Array out = inf ? extreme_values(x.value(), mask, true, magnitude) : Array::zeros(kept, x.dtype());
  if (!inf) {
    dispatch(x.dtype(), [&]<class T>(T) {
      const T* px = x.value().data<T>();
      T* po = out.data<T>();
      Array acc_a = Array::zeros(kept, Dtype::f64);
      double* acc = acc_a.data<double>();
      detail::for_each_reduced(x.shape(), mask, [&](std::int64_t i, std::int64_t o) {
        const double a = std::abs(static_cast<double>(px[i]));
        acc[o] += p == 1.0 ? a : p == 2.0 ? a * a : std::pow(a, p);
      });
      for (std::int64_t o = 0; o < out.numel(); ++o)
        po[o] = static_cast<T>(p == 1.0 ? acc[o] : p == 2.0 ? std::sqrt(acc[o]) : std::pow(acc[o], 1.0 / p));
    });
  }
  return make_op("norm", out.reshaped(reduced_shape(x.shape(), mask, keepdim)), {x},
                 [x, p, kept, mask](const Tensor& grad, const Tensor& result, BackwardContext& dx) {
                   if (p == 1.0) {
                     dx[0] += reshape(grad, kept) * sign_of(x);
                   } else if (p == 2.0) {
                     // x / ||x||, taken as 0 where ||x|| = 0 (x is 0 there, and the denominator becomes 1).
                     dx[0] += x * reshape(grad / (result + zero_mask(result)), kept);
                   } else if (std::isinf(p)) {
                     constexpr auto magnitude = [](auto v) { return std::abs(v); };
                     dx[0] += reshape(grad, kept) * Tensor(tie_weights(x.value(), result.value(), mask, magnitude, true));
                   } else {
                     // sign(x) |x|^(p-1) / ||x||^(p-1), 0 where ||x|| = 0.
                     const Tensor safe = result + zero_mask(result);
                     dx[0] += sign_of(x) * pow(abs(x), p - 1.0) * reshape(grad / pow(safe, p - 1.0), kept);
                   }
                 }, site);
}

/// Prefix sums along one axis, or suffix sums (reverse): cumsum and the adjoint its backward needs.
Array running_sum(const Array& x, int ax, bool reverse) {
  const detail::Split p = detail::split(x.shape(), ax);
  Array out(x.shape(), x.dtype());
  const auto run = [&]<class T>(T) {
    const T* px = x.data<T>();
    T* po = out.data<T>();
    for (std::int64_t o = 0; o < p.outer; ++o) {
      const std::int64_t base = o * p.n * p.inner;
      for (std::int64_t i = 0; i < p.inner; ++i) {
        T acc = 0;
        for (std::int64_t t = 0; t < p.n; ++t) {
          const std::int64_t k = reverse ? p.n - 1 - t : t;
          acc += px[base + k * p.inner + i];
          po[base + k * p.inner + i] = acc;
        }
      }
    }
  };
  if (x.dtype() == Dtype::i64)
    run(std::int64_t{});
  else
    dispatch(x.dtype(), run);
  return out;
}

Tensor cumsum_impl(OpName name, const Tensor& x, int ax, bool reverse, Site site) {
  return make_op(name, running_sum(x.value(), ax, reverse), {x},
                 [ax, reverse](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += cumsum_impl(reverse ? OpName("cumsum") : OpName("reverse_cumsum"), grad, ax, !reverse,
                                        Site::current());
                 }, site);
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
  check_nonempty_axes("mean", x, mask);
  const Shape kept = reduced_shape(x.shape(), mask, true);
  const double n = static_cast<double>(detail::reduced_count(x.shape(), mask));
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

/// forward:  the largest element over the axes in dims (NaN wins)
/// backward: dx += reshape(grad, kept) * w, w = 1/count at the elements equal to their slice's maximum, else 0
///           (ties share the gradient evenly, as torch.amax)
Tensor amax(const Tensor& x, const Dims& dims, bool keepdim, Site site) {
  return extreme("amax", x, dims.mask("amax", x.rank()), keepdim, true, site);
}
Tensor amax(const Tensor& x, Site site) { return extreme("amax", x, detail::all_axes(x.rank()), false, true, site); }

/// forward:  the smallest element over the axes in dims (NaN wins)
/// backward: as amax, with the minimum's ties
Tensor amin(const Tensor& x, const Dims& dims, bool keepdim, Site site) {
  return extreme("amin", x, dims.mask("amin", x.rank()), keepdim, false, site);
}
Tensor amin(const Tensor& x, Site site) { return extreme("amin", x, detail::all_axes(x.rank()), false, false, site); }

/// forward:  the largest of all elements (0-d), as amax(x)
/// backward: as amax (ties share the gradient evenly, as torch.max(x))
Tensor max(const Tensor& x, Site site) { return extreme("max", x, detail::all_axes(x.rank()), false, true, site); }
/// forward:  the smallest of all elements (0-d), as amin(x)
/// backward: as amin
Tensor min(const Tensor& x, Site site) { return extreme("min", x, detail::all_axes(x.rank()), false, false, site); }

/// forward:  values = the largest element along dim, indices = where the first of them is (NaN wins)
/// backward: dx += grad at indices, 0 elsewhere
ValuesIndices max(const Tensor& x, int dim, bool keepdim, Site site) {
  check_float("max", x);
  return extreme_along("max", x, dim, keepdim, true, true, site);
}

/// forward:  values = the smallest element along dim, indices = where the first of them is (NaN wins)
/// backward: dx += grad at indices, 0 elsewhere
ValuesIndices min(const Tensor& x, int dim, bool keepdim, Site site) {
  check_float("min", x);
  return extreme_along("min", x, dim, keepdim, false, true, site);
}

/// The int64 index of the first largest element along dim (an integer constant: no gradient).
Tensor argmax(const Tensor& x, int dim, bool keepdim, Site site) {
  check_arg_dtype("argmax", x);
  return extreme_along("argmax", x, dim, keepdim, true, false, site).indices;
}
Tensor argmax(const Tensor& x, Site site) {
  check_arg_dtype("argmax", x);
  check_nonempty("argmax", x);
  return extreme_along("argmax", reshape(x.detach(), Shape{x.numel()}), 0, false, true, false, site).indices;
}

/// The int64 index of the first smallest element along dim (an integer constant: no gradient).
Tensor argmin(const Tensor& x, int dim, bool keepdim, Site site) {
  check_arg_dtype("argmin", x);
  return extreme_along("argmin", x, dim, keepdim, false, false, site).indices;
}
Tensor argmin(const Tensor& x, Site site) {
  check_arg_dtype("argmin", x);
  check_nonempty("argmin", x);
  return extreme_along("argmin", reshape(x.detach(), Shape{x.numel()}), 0, false, false, false, site).indices;
}

/// forward:  y = product over the axes in dims (1 for an empty slice)
/// backward: dx += reshape(grad * y, kept) / x when x holds no zero; otherwise dx += reshape(grad, kept) *
///           prod_others(x), the product of the other elements of each slice (no division, exact at zeros)
Tensor prod(const Tensor& x, const Dims& dims, bool keepdim, Site site) {
  return prod_impl(x, dims.mask("prod", x.rank()), keepdim, site);
}
Tensor prod(const Tensor& x, Site site) { return prod_impl(x, detail::all_axes(x.rank()), false, site); }

/// forward:  y = sum((x - mean)^2) / (n - correction) over the axes in dims, two passes in double
/// backward: dx += (x - mean(x, dims, keepdim)) * reshape(grad * 2 / (n - correction), kept)
Tensor var(const Tensor& x, const Dims& dims, bool keepdim, double correction, Site site) {
  return spread("var", x, dims.mask("var", x.rank()), keepdim, correction, false, site);
}
Tensor var(const Tensor& x, Site site) { return spread("var", x, detail::all_axes(x.rank()), false, 1.0, false, site); }

/// forward:  y = sqrt(var(x, dims, keepdim, correction))
/// backward: dx += (x - mean(x, dims, keepdim)) * reshape(grad / (y * (n - correction)), kept), 0 where y = 0
Tensor std(const Tensor& x, const Dims& dims, bool keepdim, double correction, Site site) {
  return spread("std", x, dims.mask("std", x.rank()), keepdim, correction, true, site);
}
Tensor std(const Tensor& x, Site site) { return spread("std", x, detail::all_axes(x.rank()), false, 1.0, true, site); }

/// forward:  y = (sum |x|^p)^(1/p) over the axes in dims (p = 1, 2 and other p >= 1), or max |x| (p = inf)
/// backward: p = 2: dx += x * reshape(grad / y, kept), 0 where y = 0 (not NaN); p = 1: dx += grad * sign(x);
///           p = inf: dx += grad * sign(x) / count at the elements with |x| = y (ties share);
///           other p: dx += sign(x) |x|^(p-1) * reshape(grad / y^(p-1), kept), 0 where y = 0
Tensor norm(const Tensor& x, double p, const Dims& dims, bool keepdim, Site site) {
  return norm_impl(x, p, dims.mask("norm", x.rank()), keepdim, site);
}
Tensor norm(const Tensor& x, double p, Site site) { return norm_impl(x, p, detail::all_axes(x.rank()), false, site); }

/// forward:  y_i = sum_{k <= i} x_k along dim (float or int64; bool counts as int64)
/// backward: dx_k += sum_{i >= k} grad_i, a reverse cumsum (whose own backward is cumsum)
Tensor cumsum(const Tensor& x, int dim, Site site) {
  const int ax = normalize_axis("cumsum", dim, x.rank());
  if (x.dtype() == Dtype::b8) return cumsum(x.to(Dtype::i64), ax, site);
  return cumsum_impl("cumsum", x, ax, false, site);
}

/// forward:  min(max(x, lo), hi), either bound optional (lo > hi gives hi everywhere, as PyTorch); NaN stays NaN
/// backward: dx += grad * (lo <= x <= hi): the gradient passes at the bounds themselves, as in PyTorch
Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi, Site site) {
  check_float("clamp", x);
  if (!lo && !hi) throw std::invalid_argument(fmt::format("clamp: give at least one of min and max ({})", describe(x)));
  const double l = lo.value_or(-std::numeric_limits<double>::infinity());
  const double h = hi.value_or(std::numeric_limits<double>::infinity());
  Array out = detail::map("clamp", x.value(), [l, h](auto v) {
    using T = decltype(v);
    return v < static_cast<T>(l) ? static_cast<T>(std::min(l, h)) : v > static_cast<T>(h) ? static_cast<T>(h) : v;
  });
  return make_op("clamp", std::move(out), {x}, [x, l, h](const Tensor& grad, const Tensor&, BackwardContext& dx) {
    dx[0] += grad * Tensor(detail::map("clamp", x.value(), [l, h](auto v) {
      using T = decltype(v);
      return v >= static_cast<T>(l) && v <= static_cast<T>(h) ? 1.0 : 0.0;
    }));
  }, site);
}
Tensor clamp_min(const Tensor& x, double lo, Site site) { return clamp(x, lo, std::nullopt, site); }
Tensor clamp_max(const Tensor& x, double hi, Site site) { return clamp(x, std::nullopt, hi, site); }

}  // namespace autodiff
