// Scalar Var ops, inline: each records its value and its partial derivatives (a Jacobian tape, as Adept and XAD).
#pragma once

#include "autodiff/tape.hpp"

#include <cmath>

namespace autodiff {

namespace detail {
inline Var unary(const Var& x, const char* op, double (*f)(double, double&)) {
  Tape& t = Tape::current();
  const std::uint32_t i = t.slot(x, op);
  double d;
  const double v = f(t.scalar_value(i), d);
  return t.push(v, i, d);
}
}  // namespace detail

/// forward: a + b.  backward: da += grad, db += grad
inline Var operator+(const Var& a, const Var& b) {
  Tape& t = Tape::current();
  const std::uint32_t i = t.slot(a, "add"), j = t.slot(b, "add");
  return t.push(t.scalar_value(i) + t.scalar_value(j), i, 1.0, j, 1.0);
}
/// forward: a - b.  backward: da += grad, db -= grad
inline Var operator-(const Var& a, const Var& b) {
  Tape& t = Tape::current();
  const std::uint32_t i = t.slot(a, "sub"), j = t.slot(b, "sub");
  return t.push(t.scalar_value(i) - t.scalar_value(j), i, 1.0, j, -1.0);
}
/// forward: a * b.  backward: da += grad * b, db += grad * a
inline Var operator*(const Var& a, const Var& b) {
  Tape& t = Tape::current();
  const std::uint32_t i = t.slot(a, "mul"), j = t.slot(b, "mul");
  const double va = t.scalar_value(i), vb = t.scalar_value(j);
  return t.push(va * vb, i, vb, j, va);
}
/// forward: a / b.  backward: da += grad / b, db -= grad * a / b^2
inline Var operator/(const Var& a, const Var& b) {
  Tape& t = Tape::current();
  const std::uint32_t i = t.slot(a, "div"), j = t.slot(b, "div");
  const double va = t.scalar_value(i), vb = t.scalar_value(j), r = va / vb;
  return t.push(r, i, 1.0 / vb, j, -r / vb);
}
/// forward: -x.  backward: dx -= grad
inline Var operator-(const Var& x) {
  Tape& t = Tape::current();
  const std::uint32_t i = t.slot(x, "neg");
  return t.push(-t.scalar_value(i), i, -1.0);
}

inline Var operator+(const Var& a, double b) {
  Tape& t = Tape::current();
  const std::uint32_t i = t.slot(a, "add");
  return t.push(t.scalar_value(i) + b, i, 1.0);
}
inline Var operator+(double a, const Var& b) { return b + a; }
inline Var operator-(const Var& a, double b) { return a + (-b); }
inline Var operator-(double a, const Var& b) {
  Tape& t = Tape::current();
  const std::uint32_t i = t.slot(b, "sub");
  return t.push(a - t.scalar_value(i), i, -1.0);
}
inline Var operator*(const Var& a, double b) {
  Tape& t = Tape::current();
  const std::uint32_t i = t.slot(a, "mul");
  return t.push(t.scalar_value(i) * b, i, b);
}
inline Var operator*(double a, const Var& b) { return b * a; }
inline Var operator/(const Var& a, double b) { return a * (1.0 / b); }
/// forward: a / b.  backward: db -= grad * a / b^2
inline Var operator/(double a, const Var& b) {
  Tape& t = Tape::current();
  const std::uint32_t i = t.slot(b, "div");
  const double vb = t.scalar_value(i), r = a / vb;
  return t.push(r, i, -r / vb);
}

inline Var& operator+=(Var& a, const Var& b) { return a = a + b; }
inline Var& operator-=(Var& a, const Var& b) { return a = a - b; }
inline Var& operator*=(Var& a, const Var& b) { return a = a * b; }
inline Var& operator/=(Var& a, const Var& b) { return a = a / b; }
inline Var& operator+=(Var& a, double b) { return a = a + b; }
inline Var& operator-=(Var& a, double b) { return a = a - b; }
inline Var& operator*=(Var& a, double b) { return a = a * b; }
inline Var& operator/=(Var& a, double b) { return a = a / b; }

/// forward: exp(x).  backward: dx += grad * result
inline Var exp(const Var& x) {
  return detail::unary(x, "exp", [](double v, double& d) { return d = std::exp(v); });
}
/// forward: log(x) (NaN for x < 0).  backward: dx += grad / x
inline Var log(const Var& x) {
  return detail::unary(x, "log", [](double v, double& d) { d = 1.0 / v; return std::log(v); });
}
/// forward: sqrt(x).  backward: dx += grad * 0.5 / result
inline Var sqrt(const Var& x) {
  return detail::unary(x, "sqrt", [](double v, double& d) { const double r = std::sqrt(v); d = 0.5 / r; return r; });
}
/// forward: sin(x).  backward: dx += grad * cos(x)
inline Var sin(const Var& x) {
  return detail::unary(x, "sin", [](double v, double& d) { d = std::cos(v); return std::sin(v); });
}
/// forward: cos(x).  backward: dx -= grad * sin(x)
inline Var cos(const Var& x) {
  return detail::unary(x, "cos", [](double v, double& d) { d = -std::sin(v); return std::cos(v); });
}
/// forward: tanh(x).  backward: dx += grad * (1 - result^2)
inline Var tanh(const Var& x) {
  return detail::unary(x, "tanh", [](double v, double& d) { const double r = std::tanh(v); d = 1.0 - r * r; return r; });
}
/// forward: 1 / (1 + exp(-x)) without overflow.  backward: dx += grad * result * (1 - result)
inline Var sigmoid(const Var& x) {
  return detail::unary(x, "sigmoid", [](double v, double& d) {
    const double r = v >= 0 ? 1.0 / (1.0 + std::exp(-v)) : std::exp(v) / (1.0 + std::exp(v));
    d = r * (1.0 - r);
    return r;
  });
}
/// forward: max(x, 0).  backward: dx += grad * (x > 0)
inline Var relu(const Var& x) {
  return detail::unary(x, "relu", [](double v, double& d) { d = v > 0 ? 1.0 : 0.0; return v > 0 ? v : 0.0; });
}
/// forward: |x|.  backward: dx += grad * sign(x)
inline Var abs(const Var& x) {
  return detail::unary(x, "abs", [](double v, double& d) { d = v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0); return std::fabs(v); });
}
/// forward: x^p.  backward: dx += grad * p * x^(p-1)
inline Var pow(const Var& x, double p) {
  Tape& t = Tape::current();
  const std::uint32_t i = t.slot(x, "pow");
  const double v = t.scalar_value(i);
  return t.push(std::pow(v, p), i, p == 0.0 ? 0.0 : p * std::pow(v, p - 1.0));
}
/// forward: x^y.  backward: dx += grad * y * x^(y-1), dy += grad * result * log(x)
inline Var pow(const Var& x, const Var& y) {
  Tape& t = Tape::current();
  const std::uint32_t i = t.slot(x, "pow"), j = t.slot(y, "pow");
  const double vx = t.scalar_value(i), vy = t.scalar_value(j), r = std::pow(vx, vy);
  return t.push(r, i, vy == 0.0 ? 0.0 : vy * std::pow(vx, vy - 1.0), j, r == 0.0 ? 0.0 : r * std::log(vx));
}
/// forward: a^y.  backward: dy += grad * result * log(a)
inline Var pow(double a, const Var& y) {
  Tape& t = Tape::current();
  const std::uint32_t j = t.slot(y, "pow");
  const double r = std::pow(a, t.scalar_value(j));
  return t.push(r, j, r == 0.0 ? 0.0 : r * std::log(a));
}
/// forward: min(a, b) (ties pick a).  backward: the chosen input gets grad
inline Var min(const Var& a, const Var& b) {
  Tape& t = Tape::current();
  const std::uint32_t i = t.slot(a, "min"), j = t.slot(b, "min");
  const bool first = t.scalar_value(i) <= t.scalar_value(j);
  return first ? t.push(t.scalar_value(i), i, 1.0) : t.push(t.scalar_value(j), j, 1.0);
}
/// forward: max(a, b) (ties pick a).  backward: the chosen input gets grad
inline Var max(const Var& a, const Var& b) {
  Tape& t = Tape::current();
  const std::uint32_t i = t.slot(a, "max"), j = t.slot(b, "max");
  const bool first = t.scalar_value(i) >= t.scalar_value(j);
  return first ? t.push(t.scalar_value(i), i, 1.0) : t.push(t.scalar_value(j), j, 1.0);
}

}  // namespace autodiff
