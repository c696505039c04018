// Elementwise ops: exp, log, sqrt, sin, cos, tanh, log1p, expm1, erf, square, rsqrt, sign, abs, pow, minimum, maximum,
// and the activations sigmoid, relu, leaky_relu, elu, softplus, silu, gelu with their fused gradients.
#include "autodiff/check.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/kernels.hpp"
#include "autodiff/ops/vec.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <optional>
#include <type_traits>

namespace autodiff {

namespace {
// A constant mask tensor: 1 where pred(a, b) holds, else 0 (broadcast shape).
template <class P>
Tensor mask(const Tensor& a, const Tensor& b, P pred) {
  return Tensor(detail::zip("mask", a.value(), b.value(), [&](auto x, auto y) { return pred(x, y) ? 1.0 : 0.0; }));
}
template <class P>
Tensor mask(const Tensor& x, P pred) {
  return Tensor(detail::map("mask", x.value(), [&](auto v) { return pred(v); }));
}

// c ? a : b without a branch. GCC turns a plain ?: whose arms hold arithmetic into control flow (it may not compute a
// floating-point product the source did not ask for, which could trap), and that stops vectorisation and
// mispredicts on random signs. A bitwise blend computes both and keeps the loop straight.
template <class T>
T blend(bool c, T a, T b) {
  using U = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  const U m = U(0) - U(c);
  return std::bit_cast<T>(static_cast<U>((std::bit_cast<U>(a) & m) | (std::bit_cast<U>(b) & ~m)));
}

// sigmoid(a) and 1 - sigmoid(a) = sigmoid(-a) from one exp(-|a|), each with full relative precision in both tails.
template <class T>
struct SigmoidPair {
  T s, one_minus_s;
};
template <class T>
SigmoidPair<T> sigmoid_pair(T a) {
  const T e = std::exp(-std::abs(a));
  const T d = T(1) / (T(1) + e);
  const T ed = e * d;
  return {blend(a >= 0, d, ed), blend(a >= 0, ed, d)};
}

// GELU's constants in T: 1/sqrt(2), 1/sqrt(2 pi), 2 sqrt(2/pi) and the cubic coefficient of the tanh form.
template <class T>
struct Gelu {
  static constexpr T inv_sqrt2 = std::numbers::sqrt2_v<T> / 2;
  static constexpr T inv_sqrt_2pi = std::numbers::inv_sqrtpi_v<T> * inv_sqrt2;
  static constexpr T two_k = 2 * std::numbers::sqrt2_v<T> * std::numbers::inv_sqrtpi_v<T>;
  static constexpr T c = T(0.044715);
};

// ---- float32 fast paths on 16-lane vectors (exp in registers instead of one libm call per element) -------------

namespace vec = detail::vec;
using vec::v16f;

AUTODIFF_VECTOR_CLONES void sigmoid_f32(const float* x, float* y, std::int64_t n) {
  vec::apply(x, y, n, [](v16f& v) __attribute__((always_inline)) { vec::vsigmoid(v); });
}

AUTODIFF_VECTOR_CLONES void gelu_tanh_f32(const float* x, float* y, std::int64_t n) {
  using G = Gelu<float>;
  vec::apply(x, y, n, [](v16f& v) __attribute__((always_inline)) {
    v16f s = G::two_k * (v + G::c * v * v * v);
    vec::vsigmoid(s);
    v = v * s;
  });
}

AUTODIFF_VECTOR_CLONES void gelu_tanh_backward_f32(const float* g, const float* x, float* out, std::int64_t n) {
  using G = Gelu<float>;
  vec::apply2(g, x, out, n, [](v16f& o, const v16f& gv, const v16f& xv) __attribute__((always_inline)) {
    const v16f xx = xv * xv;
    v16f s = G::two_k * (xv + G::c * xx * xv);
    vec::vsigmoid(s);
    o = gv * (s + xv * s * (1.0f - s) * G::two_k * (1.0f + 3.0f * G::c * xx));
  });
}

/// A float32 array through one of the kernels above, or nothing (std::nullopt) for float64.
template <class K>
std::optional<Array> f32_map(std::string_view op, const Array& x, K kernel) {
  detail::check_float_array(op, x);
  if (x.dtype() != Dtype::f32) return std::nullopt;
  Array out(x.shape(), Dtype::f32);
  kernel(x.data<float>(), out.data<float>(), x.numel());
  return out;
}

// g * (x > 0 ? 1 : slope): the fused gradient of relu (slope 0) and leaky_relu, one pass with no mask tensor.
Tensor slope_backward(OpName name, const Tensor& g, const Tensor& x, double slope, Site site) {
  check_binary(name.view(), g, x);
  return make_op(name, detail::zip(name.view(), g.value(), x.value(), [slope](auto gv, auto xv) {
                   using T = decltype(gv);
                   return gv * blend(xv > 0, T(1), static_cast<T>(slope));
                 }),
                 {g, x}, [name, x, slope](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   // Linear in g; piecewise constant in x, so x gets nothing (zero, as PyTorch).
                   if (dx[0].wanted()) dx[0] += slope_backward(name, grad, x, slope, Site::current());
                 }, site);
}
}  // namespace

/// forward:  exp(x)
/// backward: dx += grad * y
Tensor exp(const Tensor& x, Site site) {
  return make_op("exp", detail::map("exp", x.value(), [](auto v) { return std::exp(v); }), {x},
                 [](const Tensor& grad, const Tensor& result, BackwardContext& dx) { dx[0] += grad * result; }, site);
}

/// forward:  log(x)
/// backward: dx += grad / x
Tensor log(const Tensor& x, Site site) {
  return make_op("log", detail::map("log", x.value(), [](auto v) { return std::log(v); }), {x},
                 [x](const Tensor& grad, const Tensor&, BackwardContext& dx) { dx[0] += grad / x; }, site);
}

/// forward:  y = sqrt(x)
/// backward: dx += grad * 0.5 / y
Tensor sqrt(const Tensor& x, Site site) {
  return make_op("sqrt", detail::map("sqrt", x.value(), [](auto v) { return std::sqrt(v); }), {x},
                 [](const Tensor& grad, const Tensor& result, BackwardContext& dx) { dx[0] += grad * 0.5 / result; }, site);
}

/// forward:  sin(x)
/// backward: dx += grad * cos(x)
Tensor sin(const Tensor& x, Site site) {
  return make_op("sin", detail::map("sin", x.value(), [](auto v) { return std::sin(v); }), {x},
                 [x](const Tensor& grad, const Tensor&, BackwardContext& dx) { dx[0] += grad * cos(x); }, site);
}

/// forward:  cos(x)
/// backward: dx += -grad * sin(x)
Tensor cos(const Tensor& x, Site site) {
  return make_op("cos", detail::map("cos", x.value(), [](auto v) { return std::cos(v); }), {x},
                 [x](const Tensor& grad, const Tensor&, BackwardContext& dx) { dx[0] += -(grad * sin(x)); }, site);
}

/// forward:  y = tanh(x)
/// backward: dx += grad * (1 - y^2)
Tensor tanh(const Tensor& x, Site site) {
  return make_op("tanh", detail::map("tanh", x.value(), [](auto v) { return std::tanh(v); }), {x},
                 [](const Tensor& grad, const Tensor& result, BackwardContext& dx) {
                   dx[0] += grad * (1.0 - result * result);
                 }, site);
}

/// forward:  y = 1 / (1 + exp(-x)), split by sign so exp never overflows
/// backward: dx += sigmoid_backward(grad, y) = grad * y * (1 - y)
Tensor sigmoid(const Tensor& x, Site site) {
  std::optional<Array> f32 = f32_map("sigmoid", x.value(), sigmoid_f32);
  return make_op("sigmoid", f32 ? std::move(*f32) : detail::map("sigmoid", x.value(), [](auto v) {
                   using T = decltype(v);
                   // Split by sign so exp never overflows: sigmoid(-40) is 4.2e-18, not 0/0: 1 / (1 + exp(-x)) for
                   // x >= 0, exp(x) / (1 + exp(x)) below. The numerator is blended, not branched on (random signs
                   // mispredict). float32 takes the same formula on 16-lane vectors (sigmoid_f32).
                   const T e = std::exp(-std::abs(v));
                   return blend(v >= 0, T(1), e) / (T(1) + e);
                 }),
                 {x}, [](const Tensor& grad, const Tensor& result, BackwardContext& dx) { dx[0] += sigmoid_backward(grad, result); }, site);
}

/// forward:  g * y * (1 - y)
/// backward: dg += grad * y * (1 - y), dy += grad * g * (1 - 2y)
Tensor sigmoid_backward(const Tensor& g, const Tensor& y, Site site) {
  check_binary("sigmoid_backward", g, y);
  return make_op("sigmoid_backward",
                 detail::zip("sigmoid_backward", g.value(), y.value(), [](auto gv, auto yv) { return gv * yv * (1 - yv); }),
                 {g, y}, [g, y](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   if (dx[0].wanted()) dx[0] += grad * y * (1.0 - y);
                   if (dx[1].wanted()) dx[1] += grad * g * (1.0 - 2.0 * y);
                 }, site);
}

/// forward:  max(x, 0)
/// backward: dx += relu_backward(grad, x) = grad * (x > 0), fused in one pass
Tensor relu(const Tensor& x, Site site) {
  // !(v <= 0): a NaN passes through, as in PyTorch (v > 0 ? v : 0 turned a NaN into 0 and hid it from anomaly mode).
  return make_op("relu", detail::map("relu", x.value(), [](auto v) { return !(v <= 0) ? v : decltype(v)(0); }), {x},
                 [x](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += slope_backward("relu_backward", grad, x, 0.0, Site::current());
                 }, site);
}

/// forward:  x > 0 ? x : negative_slope * x
/// backward: dx += leaky_relu_backward(grad, x, negative_slope) = grad * (x > 0 ? 1 : negative_slope)
Tensor leaky_relu(const Tensor& x, double negative_slope, Site site) {
  check_float("leaky_relu", x);
  return make_op("leaky_relu", detail::map("leaky_relu", x.value(), [negative_slope](auto v) {
                   using T = decltype(v);
                   return v * blend(v > 0, T(1), static_cast<T>(negative_slope));
                 }),
                 {x}, [x, negative_slope](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += leaky_relu_backward(grad, x, negative_slope);
                 }, site);
}

/// forward:  g * (x > 0 ? 1 : negative_slope)
/// backward: dg += leaky_relu_backward(grad, x, negative_slope), dx += 0 (piecewise constant in x)
Tensor leaky_relu_backward(const Tensor& g, const Tensor& x, double negative_slope, Site site) {
  return slope_backward("leaky_relu_backward", g, x, negative_slope, site);
}

/// forward:  x > 0 ? x : alpha * expm1(x)
/// backward: dx += elu_backward(grad, x, alpha) = grad * (x > 0 ? 1 : alpha * exp(x))
Tensor elu(const Tensor& x, double alpha, Site site) {
  check_float("elu", x);
  return make_op("elu", detail::map("elu", x.value(), [alpha](auto v) {
                   using T = decltype(v);
                   return blend(v > 0, v, static_cast<T>(alpha) * std::expm1(std::min(v, T(0))));
                 }),
                 {x}, [x, alpha](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += elu_backward(grad, x, alpha);
                 }, site);
}

/// forward:  g * (x > 0 ? 1 : alpha * exp(x))
/// backward: dg += elu_backward(grad, x, alpha), dx += grad * g * (x > 0 ? 0 : alpha * exp(x))
///           = elu_backward(grad * g, x, alpha) * (x <= 0)
Tensor elu_backward(const Tensor& g, const Tensor& x, double alpha, Site site) {
  check_binary("elu_backward", g, x);
  return make_op("elu_backward", detail::zip("elu_backward", g.value(), x.value(), [alpha](auto gv, auto xv) {
                   using T = decltype(gv);
                   return gv * blend(xv > 0, T(1), static_cast<T>(alpha) * std::exp(std::min(xv, T(0))));
                 }),
                 {g, x}, [g, x, alpha](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   if (dx[0].wanted()) dx[0] += elu_backward(grad, x, alpha);
                   if (dx[1].wanted()) dx[1] += elu_backward(grad * g, x, alpha) * mask(x, [](auto v) { return v > 0 ? 0.0 : 1.0; });
                 }, site);
}

/// forward:  beta * x > threshold ? x : log(1 + exp(beta * x)) / beta, the latter computed as
///           (max(beta x, 0) + log1p(exp(-|beta x|))) / beta so exp never overflows (primitive for stability)
/// backward: dx += softplus_backward(grad, x, beta, threshold) = grad * (beta x > threshold ? 1 : sigmoid(beta x))
Tensor softplus(const Tensor& x, double beta, double threshold, Site site) {
  check_float("softplus", x);
  return make_op("softplus", detail::map("softplus", x.value(), [beta, threshold](auto v) {
                   using T = decltype(v);
                   const T bx = static_cast<T>(beta) * v;
                   if (bx > static_cast<T>(threshold)) return v;
                   return (std::max(bx, T(0)) + std::log1p(std::exp(-std::abs(bx)))) / static_cast<T>(beta);
                 }),
                 {x}, [x, beta, threshold](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += softplus_backward(grad, x, beta, threshold);
                 }, site);
}

/// forward:  g * (beta x > threshold ? 1 : sigmoid(beta x))
/// backward: dg += softplus_backward(grad, x, beta, threshold),
///           dx += grad * g * beta * s * (1 - s) * (beta x <= threshold), s = sigmoid(beta x)
Tensor softplus_backward(const Tensor& g, const Tensor& x, double beta, double threshold, Site site) {
  check_binary("softplus_backward", g, x);
  return make_op("softplus_backward", detail::zip("softplus_backward", g.value(), x.value(), [beta, threshold](auto gv, auto xv) {
                   using T = decltype(gv);
                   const T bx = static_cast<T>(beta) * xv;
                   return gv * blend(bx > static_cast<T>(threshold), T(1), sigmoid_pair(bx).s);
                 }),
                 {g, x}, [g, x, beta, threshold](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   if (dx[0].wanted()) dx[0] += softplus_backward(grad, x, beta, threshold);
                   if (dx[1].wanted()) {
                     const Tensor below = mask(x, [beta, threshold](auto v) {
                       using T = decltype(v);
                       return static_cast<T>(beta) * v > static_cast<T>(threshold) ? 0.0 : beta;
                     });
                     dx[1] += sigmoid_backward(grad * g, sigmoid(x * beta)) * below;
                   }
                 }, site);
}

/// forward:  x * sigmoid(x)
/// backward: dx += silu_backward(grad, x) = grad * s * (1 + x * (1 - s)), s = sigmoid(x)
Tensor silu(const Tensor& x, Site site) {
  check_float("silu", x);
  return make_op("silu", detail::map("silu", x.value(), [](auto v) { return v * sigmoid_pair(v).s; }), {x},
                 [x](const Tensor& grad, const Tensor&, BackwardContext& dx) { dx[0] += silu_backward(grad, x); }, site);
}

/// forward:  g * s * (1 + x * (1 - s)), s = sigmoid(x)
/// backward: dg += silu_backward(grad, x), dx += grad * g * s * (1 - s) * (2 + x * (1 - 2s))
Tensor silu_backward(const Tensor& g, const Tensor& x, Site site) {
  check_binary("silu_backward", g, x);
  return make_op("silu_backward", detail::zip("silu_backward", g.value(), x.value(), [](auto gv, auto xv) {
                   using T = decltype(gv);
                   const auto [s, one_minus_s] = sigmoid_pair(xv);
                   return gv * s * (T(1) + xv * one_minus_s);
                 }),
                 {g, x}, [g, x](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   if (dx[0].wanted()) dx[0] += silu_backward(grad, x);
                   if (dx[1].wanted()) {
                     const Tensor s = sigmoid(x);
                     dx[1] += sigmoid_backward(grad * g, s) * (2.0 + x * (1.0 - 2.0 * s));
                   }
                 }, site);
}

/// forward:  none: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), computed as 0.5 x erfc(-x / sqrt 2), exact in the tail
///           tanh: 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), computed as x * sigmoid(2u)
/// backward: dx += gelu_backward(grad, x, approximate) = grad * gelu'(x)
Tensor gelu(const Tensor& x, GeluApproximate approximate, Site site) {
  check_float("gelu", x);
  std::optional<Array> f32;
  if (approximate == GeluApproximate::tanh) f32 = f32_map("gelu", x.value(), gelu_tanh_f32);
  Array value = f32                                         ? std::move(*f32)
                : approximate == GeluApproximate::tanh ? detail::map("gelu", x.value(), [](auto v) {
                        using G = Gelu<decltype(v)>;
                        return v * sigmoid_pair(G::two_k * (v + G::c * v * v * v)).s;
                      })
                    : detail::map("gelu", x.value(), [](auto v) {
                        using T = decltype(v);
                        return T(0.5) * v * std::erfc(-v * Gelu<T>::inv_sqrt2);
                      });
  return make_op("gelu", std::move(value), {x},
                 [x, approximate](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += gelu_backward(grad, x, approximate);
                 }, site);
}

/// forward:  none: g * (Phi(x) + x * phi(x)), phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
///           tanh: g * (s + x * s * (1 - s) * a'), s = sigmoid(a), a = 2u, a' = 2 sqrt(2/pi) (1 + 3 * 0.044715 x^2)
/// backward: dg += gelu_backward(grad, x, approximate), dx += grad * g * gelu''(x) with
///           none: gelu'' = phi(x) * (2 - x^2)
///           tanh: gelu'' = s * (1 - s) * (2a' + x * (1 - 2s) * a'^2 + x * a''), x * a'' = 6 * 0.044715 * 2 sqrt(2/pi) x^2
Tensor gelu_backward(const Tensor& g, const Tensor& x, GeluApproximate approximate, Site site) {
  check_binary("gelu_backward", g, x);
  std::optional<Array> f32;
  if (approximate == GeluApproximate::tanh && g.dtype() == Dtype::f32 && g.shape() == x.shape()) {
    f32.emplace(x.shape(), Dtype::f32);
    gelu_tanh_backward_f32(g.value().data<float>(), x.value().data<float>(), f32->data<float>(), x.numel());
  }
  Array value = f32                                         ? std::move(*f32)
                : approximate == GeluApproximate::tanh ? detail::zip("gelu_backward", g.value(), x.value(), [](auto gv, auto xv) {
                        using T = decltype(gv);
                        using G = Gelu<T>;
                        const T xx = xv * xv;
                        const auto [s, one_minus_s] = sigmoid_pair(G::two_k * (xv + G::c * xx * xv));
                        return gv * (s + xv * s * one_minus_s * G::two_k * (T(1) + T(3) * G::c * xx));
                      })
                    : detail::zip("gelu_backward", g.value(), x.value(), [](auto gv, auto xv) {
                        using T = decltype(gv);
                        using G = Gelu<T>;
                        const T cdf = T(0.5) * std::erfc(-xv * G::inv_sqrt2);
                        return gv * (cdf + xv * G::inv_sqrt_2pi * std::exp(T(-0.5) * xv * xv));
                      });
  return make_op("gelu_backward", std::move(value), {g, x},
                 [g, x, approximate](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   if (dx[0].wanted()) dx[0] += gelu_backward(grad, x, approximate);
                   if (!dx[1].wanted()) return;
                   using G = Gelu<double>;
                   const Tensor xx = square(x);
                   if (approximate == GeluApproximate::none) {
                     dx[1] += grad * g * (exp(xx * -0.5) * (2.0 - xx) * G::inv_sqrt_2pi);
                     return;
                   }
                   const Tensor a1 = (xx * (3.0 * G::c) + 1.0) * G::two_k;
                   const Tensor s = sigmoid((x + x * xx * G::c) * G::two_k);
                   dx[1] += sigmoid_backward(grad * g, s) *
                            (a1 * 2.0 + x * (1.0 - 2.0 * s) * square(a1) + xx * (6.0 * G::c * G::two_k));
                 }, site);
}

/// forward:  log(1 + x), with std::log1p: full precision near 0
/// backward: dx += grad / (1 + x)
Tensor log1p(const Tensor& x, Site site) {
  check_float("log1p", x);
  return make_op("log1p", detail::map("log1p", x.value(), [](auto v) { return std::log1p(v); }), {x},
                 [x](const Tensor& grad, const Tensor&, BackwardContext& dx) { dx[0] += grad / (x + 1.0); }, site);
}

/// forward:  y = exp(x) - 1, with std::expm1: full precision near 0
/// backward: dx += grad * (y + 1)
Tensor expm1(const Tensor& x, Site site) {
  check_float("expm1", x);
  return make_op("expm1", detail::map("expm1", x.value(), [](auto v) { return std::expm1(v); }), {x},
                 [](const Tensor& grad, const Tensor& result, BackwardContext& dx) { dx[0] += grad * (result + 1.0); },
                 site);
}

/// forward:  erf(x)
/// backward: dx += grad * 2 / sqrt(pi) * exp(-x^2)
Tensor erf(const Tensor& x, Site site) {
  check_float("erf", x);
  return make_op("erf", detail::map("erf", x.value(), [](auto v) { return std::erf(v); }), {x},
                 [x](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += grad * (exp(-square(x)) * (2.0 * std::numbers::inv_sqrtpi));
                 }, site);
}

/// forward:  x * x (primitive, so graphs and errors say square, not pow or mul)
/// backward: dx += grad * 2x
Tensor square(const Tensor& x, Site site) {
  check_float("square", x);
  return make_op("square", detail::map("square", x.value(), [](auto v) { return v * v; }), {x},
                 [x](const Tensor& grad, const Tensor&, BackwardContext& dx) { dx[0] += grad * (x * 2.0); }, site);
}

/// forward:  y = 1 / sqrt(x)
/// backward: dx += -0.5 * grad * y / x (= -0.5 grad x^(-3/2); grad * y / x overflows later than y^3 for small x)
Tensor rsqrt(const Tensor& x, Site site) {
  check_float("rsqrt", x);
  return make_op("rsqrt", detail::map("rsqrt", x.value(), [](auto v) { return decltype(v)(1) / std::sqrt(v); }), {x},
                 [x](const Tensor& grad, const Tensor& result, BackwardContext& dx) {
                   dx[0] += grad * result / x * -0.5;
                 }, site);
}

/// forward:  1 for x > 0, -1 for x < 0, 0 for +-0, NaN for NaN (NumPy's rule; PyTorch gives 0 for NaN)
/// backward: dx += 0 (zeros, as PyTorch: the derivative is 0 wherever it exists)
Tensor sign(const Tensor& x, Site site) {
  check_float("sign", x);
  return make_op("sign", detail::map("sign", x.value(), [](auto v) {
                   using T = decltype(v);
                   return v > 0 ? T(1) : v < 0 ? T(-1) : v == v ? T(0) : v;  // v == v is false for NaN only
                 }),
                 {x}, [](const Tensor& grad, const Tensor&, BackwardContext& dx) { dx[0] += zeros_like(grad); }, site);
}

/// forward:  |x|
/// backward: dx += grad * sign(x)
Tensor abs(const Tensor& x, Site site) {
  return make_op("abs", detail::map("abs", x.value(), [](auto v) { return std::abs(v); }), {x},
                 [x](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += grad * mask(x, [](auto v) { return v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0); });
                 }, site);
}

/// forward:  x^p (exact fast paths for p = 2, 1, -1, 3, 0.5)
/// backward: dx += grad * p * x^(p-1)
Tensor pow(const Tensor& x, double p, Site site) {
  // Integer and half powers get exact fast paths: pow(y - a, 2) is the seed's cost.
  check_float("pow", x);
  Array value = p == 2.0    ? detail::map("pow", x.value(), [](auto v) { return v * v; })
                : p == 1.0  ? x.value().clone()
                : p == -1.0 ? detail::map("pow", x.value(), [](auto v) { return decltype(v)(1) / v; })
                : p == 3.0  ? detail::map("pow", x.value(), [](auto v) { return v * v * v; })
                : p == 0.5  ? detail::map("pow", x.value(), [](auto v) { return std::sqrt(v); })
                            : detail::map("pow", x.value(), [p](auto v) { return std::pow(v, static_cast<decltype(v)>(p)); });
  return make_op("pow", std::move(value), {x},
                 [x, p](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   if (p == 0.0) return;
                   if (p == 1.0) {
                     dx[0] += grad;
                     return;
                   }
                   dx[0] += grad * (p * pow(x, p - 1.0));
                 }, site);
}

/// forward:  y = x^e (e the exponent tensor)
/// backward: dx += grad * e * x^(e-1), de += grad * y * log(x) (log(1) where x = 0, so 0^e gives 0, not NaN)
Tensor pow(const Tensor& x, const Tensor& y, Site site) {
  check_binary("pow", x, y);
  return make_op("pow", detail::zip("pow", x.value(), y.value(), [](auto a, auto b) { return std::pow(a, b); }), {x, y},
                 [x, y](const Tensor& grad, const Tensor& result, BackwardContext& dx) {
                   if (dx[0].wanted()) dx[0] += grad * y * pow(x, y - 1.0);
                   // log(0) = -inf would give 0 * -inf = NaN where the result is 0; use log(1) = 0 there instead.
                   if (dx[1].wanted()) dx[1] += grad * result * log(x + mask(x, [](auto v) { return v == 0 ? 1.0 : 0.0; }));
                 }, site);
}

/// forward:  min(a, b), ties pick a
/// backward: da += grad * (a <= b), db += grad * (a > b)
Tensor minimum(const Tensor& a, const Tensor& b, Site site) {
  check_binary("minimum", a, b);
  return make_op("minimum", detail::zip("minimum", a.value(), b.value(), [](auto x, auto y) { return x <= y ? x : y; }),
                 {a, b}, [a, b](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   if (dx[0].wanted()) dx[0] += grad * mask(a, b, [](auto x, auto y) { return x <= y; });
                   if (dx[1].wanted()) dx[1] += grad * mask(a, b, [](auto x, auto y) { return x > y; });
                 }, site);
}

/// forward:  max(a, b), ties pick a
/// backward: da += grad * (a >= b), db += grad * (a < b)
Tensor maximum(const Tensor& a, const Tensor& b, Site site) {
  check_binary("maximum", a, b);
  return make_op("maximum", detail::zip("maximum", a.value(), b.value(), [](auto x, auto y) { return x >= y ? x : y; }),
                 {a, b}, [a, b](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   if (dx[0].wanted()) dx[0] += grad * mask(a, b, [](auto x, auto y) { return x >= y; });
                   if (dx[1].wanted()) dx[1] += grad * mask(a, b, [](auto x, auto y) { return x < y; });
                 }, site);
}

}  // namespace autodiff
