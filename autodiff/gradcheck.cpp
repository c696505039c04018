// Finite-difference gradient checking (first and second order), public API.
#include "autodiff/gradcheck.hpp"

#include "autodiff/ops.hpp"

#include <fmt/ranges.h>

#include <cmath>
#include <random>
#include <stdexcept>

namespace autodiff {

namespace {

void compare(InputCheck& c, std::int64_t i, double analytic, double numeric, const GradcheckOptions& opt) {
  const double err = std::fabs(analytic - numeric);
  const double rel = err / std::max(std::fabs(numeric), 1e-12);
  const bool bad = !(err <= opt.atol + opt.rtol * std::fabs(numeric));  // NaN fails too
  const bool worse = c.worst_index < 0 || (!std::isnan(c.max_abs_error) && !(err <= c.max_abs_error));
  if (worse) {
    c.max_abs_error = err;
    c.worst_index = i;
    c.analytic = analytic;
    c.numeric = numeric;
  }
  if (!(rel <= c.max_rel_error)) c.max_rel_error = rel;
  if (bad) c.ok = false;
}

void finish(GradcheckReport& r) {
  for (const auto& c : r.inputs) {
    r.ok = r.ok && c.ok;
    if (!(c.max_abs_error <= r.max_abs_error)) r.max_abs_error = c.max_abs_error;
    if (!(c.max_rel_error <= r.max_rel_error)) r.max_rel_error = c.max_rel_error;
  }
}

// L(x) = sum(f(x) * r) for a fixed random r (or f(x) itself when it has one element).
struct Projected {
  const TensorFunction& f;
  Tensor r;
  Tensor operator()(const std::vector<Tensor>& x) {
    Tensor y = f(x);
    if (y.dtype() != Dtype::f64) throw std::invalid_argument("gradcheck: the function must return float64 for float64 inputs");
    // sum, not reshape: a recorded node even when f returns one of its inputs (backward refuses a leaf root).
    if (y.numel() == 1) return sum(y);
    return sum(y * r);
  }
};

Tensor projection(const Shape& s, std::uint64_t seed) {
  std::mt19937_64 gen(seed + 0x9e3779b97f4a7c15ULL);
  return uniform(s, -1.0, 1.0, gen, Dtype::f64);
}

std::vector<Tensor> as_leaves(const std::vector<Tensor>& inputs) {
  std::vector<Tensor> x;
  for (const Tensor& t : inputs) x.push_back(Tensor::parameter(t.value().to(Dtype::f64).clone()));
  return x;
}

double eval(Projected& L, const std::vector<Tensor>& x) {
  NoGrad off;
  return L(x).value().at(0);
}

GradcheckReport check(Projected& L, std::vector<Tensor>& x, const GradcheckOptions& opt) {
  GradcheckReport report;
  {
    TapeScope scope;
    Tensor out = L(x);
    if (out.requires_grad()) backward(out);
  }
  for (Tensor& xi : x) {
    InputCheck c;
    c.shape = xi.shape();
    // No gradient reached xi: its analytic gradient is zero.
    const Array analytic = xi.has_grad() ? xi.grad().value() : Array::zeros(xi.shape(), Dtype::f64);
    Array& v = xi.leaf_value();
    for (std::int64_t i = 0; i < v.numel(); ++i) {
      const double orig = v.at(i);
      v.set(i, orig + opt.eps);
      const double fp = eval(L, x);
      v.set(i, orig - opt.eps);
      const double fm = eval(L, x);
      v.set(i, orig);
      compare(c, i, analytic.at(i), (fp - fm) / (2.0 * opt.eps), opt);
    }
    report.inputs.push_back(c);
  }
  finish(report);
  return report;
}

}  // namespace

GradcheckReport gradcheck(const TensorFunction& f, const std::vector<Tensor>& inputs, const GradcheckOptions& opt) {
  std::vector<Tensor> x = as_leaves(inputs);
  Tensor y;
  {
    NoGrad off;
    y = f(x);
  }
  Projected L{f, projection(y.shape(), opt.seed)};
  GradcheckReport report = check(L, x, opt);
  report.output = y.shape();
  report.projected = y.numel() != 1;
  return report;
}

GradcheckReport gradcheck(const ScalarFunction& f, const std::vector<double>& inputs, const GradcheckOptions& opt) {
  std::vector<Var> x(inputs.begin(), inputs.end());
  GradcheckReport report;
  InputCheck c;
  c.shape = Shape{static_cast<std::int64_t>(inputs.size())};
  std::vector<double> analytic(inputs.size());
  {
    TapeScope scope;
    Var out = f(x);
    if (out.is_leaf()) out = out + 0.0;  // f returned an input or a constant: backward needs a recorded root
    backward(out);
    for (std::size_t i = 0; i < x.size(); ++i) analytic[i] = x[i].grad();
  }
  auto eval_at = [&](std::size_t i, double v) {
    TapeScope scope;
    std::vector<Var> y(inputs.begin(), inputs.end());
    y[i] = Var(v);
    return f(y).value();
  };
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const double fp = eval_at(i, inputs[i] + opt.eps), fm = eval_at(i, inputs[i] - opt.eps);
    compare(c, static_cast<std::int64_t>(i), analytic[i], (fp - fm) / (2.0 * opt.eps), opt);
  }
  report.inputs.push_back(c);
  finish(report);
  return report;
}

GradcheckReport gradgradcheck(const TensorFunction& f, const std::vector<Tensor>& inputs, const GradcheckOptions& opt) {
  // g(x) = sum_i v_i . df/dx_i (x), with fixed random v_i; its gradient is the Hessian-vector product.
  std::vector<Tensor> vs;
  for (std::size_t i = 0; i < inputs.size(); ++i) vs.push_back(projection(inputs[i].shape(), opt.seed + 1 + i));
  TensorFunction g = [&f, &vs, seed = opt.seed](const std::vector<Tensor>& x) {
    Tensor y = f(x);
    if (y.numel() != 1) y = sum(y * projection(y.shape(), seed));
    if (!grad_enabled()) {
      // Finite-difference evaluation: the first derivative itself is needed, so record on a scratch tape.
      TapeScope scratch;
      struct Enable {
        bool prev = detail::grad_disabled;
        Enable() { detail::grad_disabled = false; }
        ~Enable() { detail::grad_disabled = prev; }
      } on;
      std::vector<Tensor> xs;
      for (const Tensor& t : x) xs.push_back(Tensor::parameter(t.value()));
      Tensor yy = f(xs);
      if (yy.numel() != 1) yy = sum(yy * projection(yy.shape(), seed));
      std::vector<Tensor> gs = gradient(sum(yy), xs);
      double acc = 0.0;
      for (std::size_t i = 0; i < gs.size(); ++i) acc += sum(gs[i] * vs[i]).value().at(0);
      return scalar(acc, Dtype::f64);
    }
    std::vector<Tensor> gs = gradient(sum(y), x, {.create_graph = true});
    Tensor acc = sum(gs[0] * vs[0]);
    for (std::size_t i = 1; i < gs.size(); ++i) acc = acc + sum(gs[i] * vs[i]);
    return acc;
  };
  Shape output;
  {
    NoGrad off;
    output = f(as_leaves(inputs)).shape();
  }
  GradcheckReport report = gradcheck(g, inputs, opt);
  report.order = 2;
  report.output = output;
  report.projected = output.numel() != 1;
  return report;
}

namespace detail {

std::string index_string(std::int64_t flat, const Shape& shape) {
  std::vector<std::int64_t> idx(static_cast<std::size_t>(shape.rank()));
  for (int i = shape.rank() - 1; i >= 0; --i) {
    if (shape[i] == 0) break;
    idx[static_cast<std::size_t>(i)] = flat % shape[i];
    flat /= shape[i];
  }
  return fmt::format("[{}]", fmt::join(idx, ","));
}

}  // namespace detail

}  // namespace autodiff

auto fmt::formatter<autodiff::GradcheckReport>::format(const autodiff::GradcheckReport& r, format_context& ctx) const
    -> decltype(ctx.out()) {
  std::string s = fmt::format("{}: {} (max abs error {:.3g}, max rel error {:.3g})", r.order == 2 ? "gradgradcheck" : "gradcheck",
                              r.ok ? "PASS" : "FAIL", r.max_abs_error, r.max_rel_error);
  // Say what the two columns are: a gradient of a random projection is not any one output's gradient.
  const std::string projection =
      fmt::format("f's output {} is checked through s = sum(f(x) * r), r fixed random", r.output.str());
  if (r.order == 2) {
    s += fmt::format("\n  second derivatives through g = sum_i v_i . d{}/dx_i, v_i fixed random: columns are dg/dx",
                     r.projected ? "s" : "f");
    if (r.projected) s += "\n  " + projection;
  } else if (r.projected) {
    s += "\n  " + projection + ": columns are ds/dx, not one output's gradient";
  }
  for (std::size_t i = 0; i < r.inputs.size(); ++i) {
    const auto& c = r.inputs[i];
    s += fmt::format("\n  input {} {}: {}  abs {:.3g}  rel {:.3g}  worst {}  backward {:.10g}  finite diff {:.10g}", i,
                     c.shape.str(), c.ok ? "ok  " : "FAIL", c.max_abs_error, c.max_rel_error,
                     c.worst_index < 0 ? std::string("-") : autodiff::detail::index_string(c.worst_index, c.shape), c.analytic,
                     c.numeric);
  }
  return fmt::formatter<std::string>::format(s, ctx);
}
