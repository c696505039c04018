// Elementwise ops: exp, log, sqrt, sin, cos, tanh, sigmoid (and its fused backward), relu, abs, pow, minimum, maximum.
#include "autodiff/check.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/kernels.hpp"

#include <cmath>

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
  return make_op("sigmoid", detail::map("sigmoid", x.value(), [](auto v) {
                   using T = decltype(v);
                   // Split by sign so exp never overflows: sigmoid(-40) is 4.2e-18, not 0/0.
                   if (v >= 0) return T(1) / (T(1) + std::exp(-v));
                   const T e = std::exp(v);
                   return e / (T(1) + e);
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
/// backward: dx += grad * (x > 0)
Tensor relu(const Tensor& x, Site site) {
  return make_op("relu", detail::map("relu", x.value(), [](auto v) { return v > 0 ? v : decltype(v)(0); }), {x},
                 [x](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += grad * mask(x, [](auto v) { return v > 0 ? 1.0 : 0.0; });
                 }, site);
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
