// Scalar Var ops, inline. An expression of Vars (a * b + sin(c)) is a small value object that holds its operands'
// values and tape positions; it is recorded when it becomes a Var, as one node with one partial per distinct operand
// (statement-level recording on a Jacobian tape, as Adept and XAD do). Under AnomalyMode and OpByOp every op is its
// own node, with its own source line.
#pragma once

#include "autodiff/tape.hpp"

#include <cmath>
#include <initializer_list>
#include <span>
#include <type_traits>
#include <utility>

// Expression building and recording are forced inline: a statement's nodes must dissolve into registers, or each
// operator copies the tree built so far (GCC otherwise keeps `a * b` as a call that returns a 72-byte object).
#define AUTODIFF_EXPR_INLINE [[gnu::always_inline]] inline

namespace autodiff {

/// The base of every expression of Vars not yet recorded (`a * b + sin(c)`): what it offers before it becomes a Var.
/// It lives in namespace autodiff so that argument-dependent lookup finds the operators and functions.
template <class Self>
struct VarExpr {
  using scalar_expression = void;
  /// The value, computed when the expression was built.
  double value() const { return static_cast<const Self&>(*this).v; }
  template <class T = void>
  double grad() const {
    static_assert(!std::is_void_v<T> && false,
                  "a Var expression has no grad: store it in a Var first (Var y = a * b; not auto y = a * b;)");
    return 0;
  }
};

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
// ---- Op definitions: value and derivative, shared by the expression nodes and the one-node-per-op recorders ----

// Unary ops: operator()(x, d) returns the value and writes d(value)/dx.
struct NegF {
  static constexpr ScalarOp code = ScalarOp::neg;
  double operator()(double v, double& d) const { return d = -1.0, -v; }
};
struct ExpF {
  static constexpr ScalarOp code = ScalarOp::exp;
  double operator()(double v, double& d) const { return d = std::exp(v); }
};
struct LogF {
  static constexpr ScalarOp code = ScalarOp::log;
  double operator()(double v, double& d) const { return d = 1.0 / v, std::log(v); }
};
struct SqrtF {
  static constexpr ScalarOp code = ScalarOp::sqrt;
  double operator()(double v, double& d) const {
    const double r = std::sqrt(v);
    d = 0.5 / r;
    return r;
  }
};
struct SinF {
  static constexpr ScalarOp code = ScalarOp::sin;
  double operator()(double v, double& d) const { return d = std::cos(v), std::sin(v); }
};
struct CosF {
  static constexpr ScalarOp code = ScalarOp::cos;
  double operator()(double v, double& d) const { return d = -std::sin(v), std::cos(v); }
};
struct TanhF {
  static constexpr ScalarOp code = ScalarOp::tanh;
  double operator()(double v, double& d) const {
    const double r = std::tanh(v);
    d = 1.0 - r * r;
    return r;
  }
};
struct SigmoidF {  // split by sign so exp never overflows
  static constexpr ScalarOp code = ScalarOp::sigmoid;
  double operator()(double v, double& d) const {
    const double r = v >= 0 ? 1.0 / (1.0 + std::exp(-v)) : std::exp(v) / (1.0 + std::exp(v));
    d = r * (1.0 - r);
    return r;
  }
};
struct ReluF {  // a NaN stays NaN, as the tensor relu
  static constexpr ScalarOp code = ScalarOp::relu;
  double operator()(double v, double& d) const { return d = v > 0 ? 1.0 : 0.0, !(v <= 0) ? v : 0.0; }
};
struct AbsF {
  static constexpr ScalarOp code = ScalarOp::abs;
  double operator()(double v, double& d) const { return d = v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0), std::fabs(v); }
};
struct PowF {  // x^p
  static constexpr ScalarOp code = ScalarOp::pow;
  double p;
  double operator()(double v, double& d) const { return d = p == 0.0 ? 0.0 : p * std::pow(v, p - 1.0), std::pow(v, p); }
};
struct RPowF {  // a^y
  static constexpr ScalarOp code = ScalarOp::pow;
  double a;
  double operator()(double v, double& d) const {
    const double r = std::pow(a, v);
    d = r == 0.0 ? 0.0 : r * std::log(a);
    return r;
  }
};

// Binary ops: value(a, b, da, db) returns the value and writes its partials; record(...) records one node.
struct AddOp {
  static constexpr ScalarOp code = ScalarOp::add;
  static double value(double a, double b, double& da, double& db) { return da = 1.0, db = 1.0, a + b; }
  static Var record(const Var& a, const Var& b, const Site& s) { return add(a, b, s); }
  static Var record(const Var& a, double b, const Site& s) { return add(a, b, s); }
  static Var record(double a, const Var& b, const Site& s) { return add(b, a, s); }
};
struct SubOp {
  static constexpr ScalarOp code = ScalarOp::sub;
  static double value(double a, double b, double& da, double& db) { return da = 1.0, db = -1.0, a - b; }
  static Var record(const Var& a, const Var& b, const Site& s) { return sub(a, b, s); }
  static Var record(const Var& a, double b, const Site& s) { return sub(a, b, s); }
  static Var record(double a, const Var& b, const Site& s) { return rsub(a, b, s); }
};
struct MulOp {
  static constexpr ScalarOp code = ScalarOp::mul;
  static double value(double a, double b, double& da, double& db) { return da = b, db = a, a * b; }
  static Var record(const Var& a, const Var& b, const Site& s) { return mul(a, b, s); }
  static Var record(const Var& a, double b, const Site& s) { return mul(a, b, s); }
  static Var record(double a, const Var& b, const Site& s) { return mul(b, a, s); }
};
struct DivOp {
  static constexpr ScalarOp code = ScalarOp::div;
  static double value(double a, double b, double& da, double& db) {
    const double r = a / b;
    da = 1.0 / b;
    db = -r / b;
    return r;
  }
  static Var record(const Var& a, const Var& b, const Site& s) { return div(a, b, s); }
  static Var record(const Var& a, double b, const Site& s) { return div(a, b, s); }
  static Var record(double a, const Var& b, const Site& s) { return rdiv(a, b, s); }
};

// ---- Expression nodes ----
// Every node has: `v`, its value; `operands` (Vars it reads, repeats counted) and `ops` (elementary ops it does);
// on(epoch) (every operand was resolved on that tape epoch); partials<K>(in, d, m) (writes the positions of its
// operands and m * d(v)/d(operand), from slot K on); flat(tape) (records it one node per op, as the op-by-op mode).

/// A Var read by an expression: resolved onto the recording tape when the expression is built, so the expression
/// keeps numbers (value, position, epoch), never a reference that could dangle.
struct Operand {
  static constexpr int operands = 1, ops = 0;
  double v;
  std::uint32_t pos;
  std::uint64_t epoch;  // 0: read under NoGrad, recorded nowhere
  bool on(std::uint64_t e) const { return epoch == e; }
  template <int K>
  AUTODIFF_EXPR_INLINE void partials(std::uint32_t* in, double* d, double m) const {
    in[K] = pos;
    d[K] = m;
  }
  Var flat(TapeStore& t) const { return t.var_at(pos); }
};
AUTODIFF_EXPR_INLINE Operand operand(const Var& x, ScalarOp op) {
  if (grad_disabled) [[unlikely]]
    return {x.value(), 0, 0};
  TapeStore& t = recording();
  const std::uint32_t i = t.slot(x, op);
  x.share();
  return {t.scalar_value(i), i, t.epoch()};
}

/// A plain number in an expression.
struct Constant {
  static constexpr int operands = 0, ops = 0;
  double v;
  bool on(std::uint64_t) const { return true; }
  template <int K>
  AUTODIFF_EXPR_INLINE void partials(std::uint32_t*, double*, double) const {}
};

template <class F, class A>
struct Unary : VarExpr<Unary<F, A>> {
  static constexpr int operands = A::operands, ops = A::ops + 1;
  static constexpr ScalarOp code = ops == 1 ? F::code : ScalarOp::expr;
  A a;
  F f;
  Site site;
  double v, d;
  AUTODIFF_EXPR_INLINE Unary(const A& a_, F f_, const Site& s) : a(a_), f(f_), site(s) { v = f(a.v, d); }
  bool on(std::uint64_t e) const { return a.on(e); }
  template <int K>
  AUTODIFF_EXPR_INLINE void partials(std::uint32_t* in, double* dd, double m) const {
    a.template partials<K>(in, dd, m * d);
  }
  Var flat(TapeStore& t) const { return unary(a.flat(t), F::code, site, f); }
};

template <class Op, class A, class B>
struct Binary : VarExpr<Binary<Op, A, B>> {
  static constexpr int operands = A::operands + B::operands, ops = A::ops + B::ops + 1;
  static constexpr ScalarOp code = ops == 1 ? Op::code : ScalarOp::expr;
  A a;
  B b;
  Site site;
  double v, da, db;
  AUTODIFF_EXPR_INLINE Binary(const A& a_, const B& b_, const Site& s) : a(a_), b(b_), site(s) { v = Op::value(a.v, b.v, da, db); }
  bool on(std::uint64_t e) const { return a.on(e) && b.on(e); }
  template <int K>
  AUTODIFF_EXPR_INLINE void partials(std::uint32_t* in, double* d, double m) const {
    a.template partials<K>(in, d, m * da);
    b.template partials<K + A::operands>(in, d, m * db);
  }
  Var flat(TapeStore& t) const {
    if constexpr (std::is_same_v<A, Constant>)
      return Op::record(a.v, b.flat(t), site);
    else if constexpr (std::is_same_v<B, Constant>)
      return Op::record(a.flat(t), b.v, site);
    else
      return Op::record(a.flat(t), b.flat(t), site);
  }
};

[[noreturn]] void throw_stale_expression(const TapeStore& t);

/// Records an expression as one node with a partial per distinct operand (statement-level recording), or one node per
/// op under AnomalyMode and OpByOp; under NoGrad it is a constant.
template <class E>
AUTODIFF_EXPR_INLINE Var record(const E& e) {
  if (grad_disabled) [[unlikely]]
    return Var(e.v);
  TapeStore& t = recording();
  if (!e.on(t.epoch())) [[unlikely]]
    throw_stale_expression(t);
  if (t.op_by_op()) [[unlikely]]
    return e.flat(t);
  std::uint32_t in[E::operands];
  double d[E::operands];
  e.template partials<0>(in, d, 1.0);
  return t.push_statement<E::operands>(e.v, E::code, E::ops, in, d);
}

/// `z += e` (sign 1) or `z -= e` (sign -1) in place: appends e's partials to z's node when z is the only handle to
/// the tape's open node (see TapeStore::open_node), so a sum of many terms is one node. False when it cannot.
template <class E>
AUTODIFF_EXPR_INLINE bool extend(Var& z, const E& e, double sign) {
  if (!z.node_.sole.load(std::memory_order_relaxed) || grad_disabled || TapeStore::op_by_op()) return false;
  TapeStore& t = recording();
  if (z.node_.epoch != t.epoch() || z.node_.index != t.open_node() || !e.on(t.epoch())) return false;
  constexpr int n = E::operands;
  std::uint32_t in[n > 0 ? n : 1];
  double d[n > 0 ? n : 1];
  e.template partials<0>(in, d, 1.0);
  z.value_ += sign * e.v;
  t.extend_open<n>(z.value_, E::ops + 1, in, d, sign);
  return true;
}

// The node for an operand of an operator or function: a Var is resolved, a number is a constant, an expression is
// itself.
AUTODIFF_EXPR_INLINE Operand node(const Var& x, ScalarOp op) { return operand(x, op); }
template <ScalarExpression E>
const E& node(const E& e, ScalarOp) {
  return e;
}
template <class T>
  requires std::is_arithmetic_v<T>
Constant node(T c, ScalarOp) {
  return {static_cast<double>(c)};
}
template <class T>
using node_t = std::remove_cvref_t<decltype(node(std::declval<const T&>(), ScalarOp::leaf))>;

/// What a scalar operator accepts: a Var, an expression of Vars or a number.
template <class T>
concept ScalarArg = std::is_same_v<std::remove_cvref_t<T>, Var> || ScalarExpression<T> || std::is_arithmetic_v<std::remove_cvref_t<T>>;

template <class Op, class A, class B>
AUTODIFF_EXPR_INLINE Binary<Op, node_t<A>, node_t<B>> binary(const A& a, const B& b, const Site& site) {
  return {node(a, Op::code), node(b, Op::code), site};
}
template <class F, class A>
AUTODIFF_EXPR_INLINE Unary<F, node_t<A>> unary_expr(const A& a, F f, const Site& site) {
  return {node(a, F::code), f, site};
}
}  // namespace detail

template <detail::ScalarExpression E>
AUTODIFF_EXPR_INLINE Var::Var(const E& e) : Var(detail::record(e)) {}

// Operators: the left operand carries the caller's line when it is a Var (Here), else the expression does.
#define AUTODIFF_SCALAR_OPERATOR(sym, Op)                                                                       \
  template <detail::ScalarArg B>                                                                                \
  AUTODIFF_EXPR_INLINE auto operator sym(Here<Var> a, const B& b) {                                                                  \
    return detail::binary<detail::Op>(a.value, b, a.site);                                                      \
  }                                                                                                             \
  template <detail::ScalarExpression A, detail::ScalarArg B>                                                    \
  AUTODIFF_EXPR_INLINE auto operator sym(const A& a, const B& b) {                                                                   \
    return detail::binary<detail::Op>(a, b, a.site);                                                            \
  }                                                                                                             \
  template <class C>                                                                                            \
    requires std::is_arithmetic_v<C>                                                                            \
  auto operator sym(C a, Here<Var> b) {                                                                         \
    return detail::binary<detail::Op>(a, b.value, b.site);                                                      \
  }                                                                                                             \
  template <class C, detail::ScalarExpression B>                                                                \
    requires std::is_arithmetic_v<C>                                                                            \
  auto operator sym(C a, const B& b) {                                                                          \
    return detail::binary<detail::Op>(a, b, b.site);                                                            \
  }
AUTODIFF_SCALAR_OPERATOR(+, AddOp)
AUTODIFF_SCALAR_OPERATOR(-, SubOp)
AUTODIFF_SCALAR_OPERATOR(*, MulOp)
AUTODIFF_SCALAR_OPERATOR(/, DivOp)
#undef AUTODIFF_SCALAR_OPERATOR

/// forward: -x.  backward: dx -= grad
inline auto operator-(Here<Var> x) { return detail::unary_expr(x.value, detail::NegF{}, x.site); }
template <detail::ScalarExpression E>
auto operator-(const E& x) {
  return detail::unary_expr(x, detail::NegF{}, x.site);
}

namespace detail {
template <class Op, class N>
AUTODIFF_EXPR_INLINE Var& compound(Var& a, const N& b, const Site& site) {
  if constexpr (std::is_same_v<Op, AddOp> || std::is_same_v<Op, SubOp>)
    if (extend(a, b, std::is_same_v<Op, AddOp> ? 1.0 : -1.0)) return a;
  return a = record(Binary<Op, Operand, N>(operand(a, Op::code), b, site));
}
}  // namespace detail

// Compound assignment records `a = a op b` as one statement; `a += b` and `a -= b` append to a's node instead when a
// is the newest op node and no other handle names it, so a running sum (z += w[k] * x[k]) is one node. The line is
// the caller's for a Var operand, the expression's otherwise.
#define AUTODIFF_SCALAR_ASSIGN(sym, Op)                                                              \
  inline Var& operator sym##=(Var& a, Here<Var> b) {                                                 \
    return detail::compound<detail::Op>(a, detail::operand(b.value, detail::Op::code), b.site);    \
  }                                                                                                  \
  template <detail::ScalarExpression E>                                                              \
  Var& operator sym##=(Var& a, const E& b) {                                                         \
    return detail::compound<detail::Op>(a, b, b.site);                                             \
  }                                                                                                  \
  template <class C>                                                                                 \
    requires std::is_arithmetic_v<C>                                                                 \
  Var& operator sym##=(Var& a, C b) {                                                                \
    return detail::compound<detail::Op>(a, detail::Constant{static_cast<double>(b)}, Site::current()); \
  }
AUTODIFF_SCALAR_ASSIGN(+, AddOp)
AUTODIFF_SCALAR_ASSIGN(-, SubOp)
AUTODIFF_SCALAR_ASSIGN(*, MulOp)
AUTODIFF_SCALAR_ASSIGN(/, DivOp)
#undef AUTODIFF_SCALAR_ASSIGN

// Functions of one Var or expression: each returns an expression (stored as a Var, it is recorded).
#define AUTODIFF_SCALAR_FUNCTION(name, F)                                                       \
  AUTODIFF_EXPR_INLINE auto name(const Var& x, Site site = Site::current()) {                                 \
    return detail::unary_expr(x, detail::F{}, site);                                            \
  }                                                                                             \
  template <detail::ScalarExpression E>                                                         \
  AUTODIFF_EXPR_INLINE auto name(const E& x, Site site = Site::current()) {                                          \
    return detail::unary_expr(x, detail::F{}, site);                                            \
  }
/// forward: exp(x).  backward: dx += grad * result
AUTODIFF_SCALAR_FUNCTION(exp, ExpF)
/// forward: log(x) (NaN for x < 0, as <cmath>).  backward: dx += grad / x
AUTODIFF_SCALAR_FUNCTION(log, LogF)
/// forward: sqrt(x).  backward: dx += grad * 0.5 / result
AUTODIFF_SCALAR_FUNCTION(sqrt, SqrtF)
/// forward: sin(x).  backward: dx += grad * cos(x)
AUTODIFF_SCALAR_FUNCTION(sin, SinF)
/// forward: cos(x).  backward: dx -= grad * sin(x)
AUTODIFF_SCALAR_FUNCTION(cos, CosF)
/// forward: tanh(x).  backward: dx += grad * (1 - result^2)
AUTODIFF_SCALAR_FUNCTION(tanh, TanhF)
/// forward: 1 / (1 + exp(-x)), split by sign so exp never overflows.  backward: dx += grad * result * (1 - result)
AUTODIFF_SCALAR_FUNCTION(sigmoid, SigmoidF)
/// forward: max(x, 0) (NaN stays NaN).  backward: dx += grad * (x > 0)
AUTODIFF_SCALAR_FUNCTION(relu, ReluF)
/// forward: |x|.  backward: dx += grad * sign(x)
AUTODIFF_SCALAR_FUNCTION(abs, AbsF)
#undef AUTODIFF_SCALAR_FUNCTION

/// forward: x^p.  backward: dx += grad * p * x^(p-1)
inline auto pow(const Var& x, double p, Site site = Site::current()) { return detail::unary_expr(x, detail::PowF{p}, site); }
template <detail::ScalarExpression E>
auto pow(const E& x, double p, Site site = Site::current()) {
  return detail::unary_expr(x, detail::PowF{p}, site);
}
/// forward: a^y.  backward: dy += grad * result * log(a)
inline auto pow(double a, const Var& y, Site site = Site::current()) { return detail::unary_expr(y, detail::RPowF{a}, site); }
template <detail::ScalarExpression E>
auto pow(double a, const E& y, Site site = Site::current()) {
  return detail::unary_expr(y, detail::RPowF{a}, site);
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
