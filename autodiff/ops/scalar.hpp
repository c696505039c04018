// Scalar Var ops, inline: each records its value and its partial derivatives (a Jacobian tape, as Adept and XAD).
#pragma once

#include "autodiff/tape.hpp"

#include <cmath>
#include <initializer_list>
#include <span>

namespace autodiff {

namespace detail {
// f returns the value and writes d(value)/dx.
template <class F>
Var unary(const Var& x, ScalarOp op, const Site& site, F f) {
  if (grad_disabled) [[unlikely]] {  // NoGrad: a constant, nothing recorded
    double d;
    return Var(f(x.value(), d));
  }
  detail::TapeStore& t = detail::recording();
  const std::uint32_t i = t.slot(x, op);
  double d;
  const double v = f(t.scalar_value(i), d);
  return t.push(v, op, site, i, d);
}

/// forward: a + b.  backward: da += grad, db += grad
inline Var add(const Var& a, const Var& b, const Site& site) {
  if (grad_disabled) [[unlikely]]
    return Var(a.value() + b.value());
  detail::TapeStore& t = detail::recording();
  const std::uint32_t i = t.slot(a, ScalarOp::add), j = t.slot(b, ScalarOp::add);
  return t.push(t.scalar_value(i) + t.scalar_value(j), ScalarOp::add, site, i, 1.0, j, 1.0);
}
/// forward: a - b.  backward: da += grad, db -= grad
inline Var sub(const Var& a, const Var& b, const Site& site) {
  if (grad_disabled) [[unlikely]]
    return Var(a.value() - b.value());
  detail::TapeStore& t = detail::recording();
  const std::uint32_t i = t.slot(a, ScalarOp::sub), j = t.slot(b, ScalarOp::sub);
  return t.push(t.scalar_value(i) - t.scalar_value(j), ScalarOp::sub, site, i, 1.0, j, -1.0);
}
/// forward: a * b.  backward: da += grad * b, db += grad * a
inline Var mul(const Var& a, const Var& b, const Site& site) {
  if (grad_disabled) [[unlikely]]
    return Var(a.value() * b.value());
  detail::TapeStore& t = detail::recording();
  const std::uint32_t i = t.slot(a, ScalarOp::mul), j = t.slot(b, ScalarOp::mul);
  const double va = t.scalar_value(i), vb = t.scalar_value(j);
  return t.push(va * vb, ScalarOp::mul, site, i, vb, j, va);
}
/// forward: a / b.  backward: da += grad / b, db -= grad * a / b^2
inline Var div(const Var& a, const Var& b, const Site& site) {
  if (grad_disabled) [[unlikely]]
    return Var(a.value() / b.value());
  detail::TapeStore& t = detail::recording();
  const std::uint32_t i = t.slot(a, ScalarOp::div), j = t.slot(b, ScalarOp::div);
  const double va = t.scalar_value(i), vb = t.scalar_value(j), r = va / vb;
  return t.push(r, ScalarOp::div, site, i, 1.0 / vb, j, -r / vb);
}
/// forward: a + c.  backward: da += grad
inline Var add(const Var& a, double c, const Site& site) {
  if (grad_disabled) [[unlikely]]
    return Var(a.value() + c);
  detail::TapeStore& t = detail::recording();
  const std::uint32_t i = t.slot(a, ScalarOp::add);
  return t.push(t.scalar_value(i) + c, ScalarOp::add, site, i, 1.0);
}
/// forward: a - c.  backward: da += grad
inline Var sub(const Var& a, double c, const Site& site) {
  if (grad_disabled) [[unlikely]]
    return Var(a.value() - c);
  detail::TapeStore& t = detail::recording();
  const std::uint32_t i = t.slot(a, ScalarOp::sub);
  return t.push(t.scalar_value(i) - c, ScalarOp::sub, site, i, 1.0);
}
/// forward: a / c.  backward: da += grad / c
inline Var div(const Var& a, double c, const Site& site) {
  if (grad_disabled) [[unlikely]]
    return Var(a.value() / c);
  detail::TapeStore& t = detail::recording();
  const std::uint32_t i = t.slot(a, ScalarOp::div);
  return t.push(t.scalar_value(i) / c, ScalarOp::div, site, i, 1.0 / c);
}
/// forward: c - b.  backward: db -= grad
inline Var rsub(double c, const Var& b, const Site& site) {
  if (grad_disabled) [[unlikely]]
    return Var(c - b.value());
  detail::TapeStore& t = detail::recording();
  const std::uint32_t i = t.slot(b, ScalarOp::sub);
  return t.push(c - t.scalar_value(i), ScalarOp::sub, site, i, -1.0);
}
/// forward: a * c.  backward: da += grad * c
inline Var mul(const Var& a, double c, const Site& site) {
  if (grad_disabled) [[unlikely]]
    return Var(a.value() * c);
  detail::TapeStore& t = detail::recording();
  const std::uint32_t i = t.slot(a, ScalarOp::mul);
  return t.push(t.scalar_value(i) * c, ScalarOp::mul, site, i, c);
}
/// forward: c / b.  backward: db -= grad * c / b^2
inline Var rdiv(double c, const Var& b, const Site& site) {
  if (grad_disabled) [[unlikely]]
    return Var(c / b.value());
  detail::TapeStore& t = detail::recording();
  const std::uint32_t i = t.slot(b, ScalarOp::div);
  const double vb = t.scalar_value(i), r = c / vb;
  return t.push(r, ScalarOp::div, site, i, -r / vb);
}
}  // namespace detail

inline Var operator+(Here<Var> a, const Var& b) { return detail::add(a.value, b, a.site); }
inline Var operator-(Here<Var> a, const Var& b) { return detail::sub(a.value, b, a.site); }
inline Var operator*(Here<Var> a, const Var& b) { return detail::mul(a.value, b, a.site); }
inline Var operator/(Here<Var> a, const Var& b) { return detail::div(a.value, b, a.site); }
inline Var operator+(Here<Var> a, double b) { return detail::add(a.value, b, a.site); }
inline Var operator-(Here<Var> a, double b) { return detail::sub(a.value, b, a.site); }
inline Var operator*(Here<Var> a, double b) { return detail::mul(a.value, b, a.site); }
inline Var operator/(Here<Var> a, double b) { return detail::div(a.value, b, a.site); }
inline Var operator+(double a, Here<Var> b) { return detail::add(b.value, a, b.site); }
inline Var operator-(double a, Here<Var> b) { return detail::rsub(a, b.value, b.site); }
inline Var operator*(double a, Here<Var> b) { return detail::mul(b.value, a, b.site); }
inline Var operator/(double a, Here<Var> b) { return detail::rdiv(a, b.value, b.site); }
/// forward: -x.  backward: dx -= grad
inline Var operator-(Here<Var> x) {
  return detail::unary(x.value, ScalarOp::neg, x.site, [](double v, double& d) {
    d = -1.0;
    return -v;
  });
}

inline Var& operator+=(Var& a, Here<Var> b) { return a = detail::add(a, b.value, b.site); }
inline Var& operator-=(Var& a, Here<Var> b) { return a = detail::sub(a, b.value, b.site); }
inline Var& operator*=(Var& a, Here<Var> b) { return a = detail::mul(a, b.value, b.site); }
inline Var& operator/=(Var& a, Here<Var> b) { return a = detail::div(a, b.value, b.site); }
inline Var& operator+=(Var& a, double b) { return a = detail::add(a, b, Site::current()); }
inline Var& operator-=(Var& a, double b) { return a = detail::sub(a, b, Site::current()); }
inline Var& operator*=(Var& a, double b) { return a = detail::mul(a, b, Site::current()); }
inline Var& operator/=(Var& a, double b) { return a = detail::div(a, b, Site::current()); }

/// forward: exp(x).  backward: dx += grad * result
inline Var exp(const Var& x, Site site = Site::current()) {
  return detail::unary(x, ScalarOp::exp, site, [](double v, double& d) { return d = std::exp(v); });
}
/// forward: log(x) (NaN for x < 0, as <cmath>).  backward: dx += grad / x
inline Var log(const Var& x, Site site = Site::current()) {
  return detail::unary(x, ScalarOp::log, site, [](double v, double& d) {
    d = 1.0 / v;
    return std::log(v);
  });
}
/// forward: sqrt(x).  backward: dx += grad * 0.5 / result
inline Var sqrt(const Var& x, Site site = Site::current()) {
  return detail::unary(x, ScalarOp::sqrt, site, [](double v, double& d) {
    const double r = std::sqrt(v);
    d = 0.5 / r;
    return r;
  });
}
/// forward: sin(x).  backward: dx += grad * cos(x)
inline Var sin(const Var& x, Site site = Site::current()) {
  return detail::unary(x, ScalarOp::sin, site, [](double v, double& d) {
    d = std::cos(v);
    return std::sin(v);
  });
}
/// forward: cos(x).  backward: dx -= grad * sin(x)
inline Var cos(const Var& x, Site site = Site::current()) {
  return detail::unary(x, ScalarOp::cos, site, [](double v, double& d) {
    d = -std::sin(v);
    return std::cos(v);
  });
}
/// forward: tanh(x).  backward: dx += grad * (1 - result^2)
inline Var tanh(const Var& x, Site site = Site::current()) {
  return detail::unary(x, ScalarOp::tanh, site, [](double v, double& d) {
    const double r = std::tanh(v);
    d = 1.0 - r * r;
    return r;
  });
}
/// forward: 1 / (1 + exp(-x)), split by sign so exp never overflows.  backward: dx += grad * result * (1 - result)
inline Var sigmoid(const Var& x, Site site = Site::current()) {
  return detail::unary(x, ScalarOp::sigmoid, site, [](double v, double& d) {
    const double r = v >= 0 ? 1.0 / (1.0 + std::exp(-v)) : std::exp(v) / (1.0 + std::exp(v));
    d = r * (1.0 - r);
    return r;
  });
}
/// forward: max(x, 0).  backward: dx += grad * (x > 0)
inline Var relu(const Var& x, Site site = Site::current()) {
  return detail::unary(x, ScalarOp::relu, site, [](double v, double& d) {
    d = v > 0 ? 1.0 : 0.0;
    return v > 0 ? v : 0.0;
  });
}
/// forward: |x|.  backward: dx += grad * sign(x)
inline Var abs(const Var& x, Site site = Site::current()) {
  return detail::unary(x, ScalarOp::abs, site, [](double v, double& d) {
    d = v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0);
    return std::fabs(v);
  });
}
/// forward: x^p.  backward: dx += grad * p * x^(p-1)
inline Var pow(const Var& x, double p, Site site = Site::current()) {
  return detail::unary(x, ScalarOp::pow, site, [p](double v, double& d) {
    d = p == 0.0 ? 0.0 : p * std::pow(v, p - 1.0);
    return std::pow(v, p);
  });
}
/// forward: x^y.  backward: dx += grad * y * x^(y-1), dy += grad * result * log(x)
inline Var pow(const Var& x, const Var& y, Site site = Site::current()) {
  if (detail::grad_disabled) [[unlikely]]
    return Var(std::pow(x.value(), y.value()));
  detail::TapeStore& t = detail::recording();
  const std::uint32_t i = t.slot(x, ScalarOp::pow), j = t.slot(y, ScalarOp::pow);
  const double vx = t.scalar_value(i), vy = t.scalar_value(j), r = std::pow(vx, vy);
  return t.push(r, ScalarOp::pow, site, i, vy == 0.0 ? 0.0 : vy * std::pow(vx, vy - 1.0), j, r == 0.0 ? 0.0 : r * std::log(vx));
}
/// forward: a^y.  backward: dy += grad * result * log(a)
inline Var pow(double a, const Var& y, Site site = Site::current()) {
  return detail::unary(y, ScalarOp::pow, site, [a](double v, double& d) {
    const double r = std::pow(a, v);
    d = r == 0.0 ? 0.0 : r * std::log(a);
    return r;
  });
}
/// forward: min(a, b) (ties pick a).  backward: the chosen input gets grad
inline Var min(const Var& a, const Var& b, Site site = Site::current()) {
  if (detail::grad_disabled) [[unlikely]]
    return Var(a.value() <= b.value() ? a.value() : b.value());
  detail::TapeStore& t = detail::recording();
  const std::uint32_t i = t.slot(a, ScalarOp::min), j = t.slot(b, ScalarOp::min);
  const std::uint32_t k = t.scalar_value(i) <= t.scalar_value(j) ? i : j;
  return t.push(t.scalar_value(k), ScalarOp::min, site, k, 1.0);
}
/// forward: max(a, b) (ties pick a).  backward: the chosen input gets grad
inline Var max(const Var& a, const Var& b, Site site = Site::current()) {
  if (detail::grad_disabled) [[unlikely]]
    return Var(a.value() >= b.value() ? a.value() : b.value());
  detail::TapeStore& t = detail::recording();
  const std::uint32_t i = t.slot(a, ScalarOp::max), j = t.slot(b, ScalarOp::max);
  const std::uint32_t k = t.scalar_value(i) >= t.scalar_value(j) ? i : j;
  return t.push(t.scalar_value(k), ScalarOp::max, site, k, 1.0);
}

/// Defines a scalar op from its value and its partial derivatives d(value)/d(inputs[i]), recorded as one node (a
/// Jacobian tape entry, as Adept and XAD do). The partials are numbers, so such an op has no second derivatives.
/// @throws std::invalid_argument naming the op when inputs and partials differ in count.
Var make_scalar_op(OpName op, double value, std::span<const Var> inputs, std::span<const double> partials,
                   Site site = Site::current());
inline Var make_scalar_op(OpName op, double value, std::initializer_list<Var> inputs, std::initializer_list<double> partials,
                          Site site = Site::current()) {
  return make_scalar_op(op, value, std::span<const Var>(inputs.begin(), inputs.size()),
                        std::span<const double>(partials.begin(), partials.size()), site);
}

}  // namespace autodiff
