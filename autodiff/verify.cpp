// check_formula: the engine's gradient as the reference for a user's closed form, with finite differences as a referee.
#include "autodiff/verify.hpp"

#include "autodiff/check.hpp"
#include "autodiff/ops.hpp"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace autodiff {

Tensor Probe::input(const std::string& name, const Tensor& value) {
  if (replay_) return targets_.at(name).leaf;
  if (targets_.count(name)) throw std::invalid_argument(fmt::format("check_formula: name '{}' used twice", name));
  Tensor leaf = Tensor::parameter(value.value().to(Dtype::f64).clone());
  leaf.label(name);
  targets_[name] = Target{leaf, leaf.value()};
  order_.push_back(name);
  return leaf;
}

Tensor Probe::at(const std::string& name, const Tensor& z) {
  if (replay_) return z + targets_.at(name).leaf;
  if (targets_.count(name)) throw std::invalid_argument(fmt::format("check_formula: name '{}' used twice", name));
  Tensor p = Tensor::parameter(Array::zeros(z.shape(), z.dtype()));
  targets_[name] = Target{p, z.value().clone()};
  order_.push_back(name);
  Tensor out = z + p;
  out.label(name);
  return out;
}

void Probe::keep(const std::string& name, const Tensor& t) {
  if (!replay_) kept_[name] = t.value().clone();
}

const Array& Probe::value(const std::string& name) const {
  if (auto it = targets_.find(name); it != targets_.end()) return it->second.value;
  if (auto it = kept_.find(name); it != kept_.end()) return it->second;
  throw std::invalid_argument(fmt::format("check_formula: no input, probe or kept value named '{}'", name));
}

namespace {

std::vector<std::int64_t> unravel(std::int64_t flat, const Shape& s) {
  std::vector<std::int64_t> idx(static_cast<std::size_t>(s.rank()));
  for (int i = s.rank() - 1; i >= 0; --i) {
    idx[static_cast<std::size_t>(i)] = flat % s[i];
    flat /= s[i];
  }
  return idx;
}

bool close(double a, double b, double atol, double rtol) { return std::fabs(a - b) <= atol + rtol * std::fabs(b); }

std::string find_hint(const Array& theirs, const Array& engine, const Shape& shape) {
  // A constant ratio is the classic missing (or extra) factor.
  double ratio = 0;
  bool constant = true, any = false;
  for (std::int64_t i = 0; i < engine.numel() && constant; ++i) {
    const double e = engine.at(i), t = theirs.at(i);
    if (std::fabs(e) < 1e-300) {
      constant = std::fabs(t) < 1e-300;
      continue;
    }
    const double r = t / e;
    if (!any) {
      ratio = r;
      any = true;
    } else {
      constant = close(r, ratio, 0.0, 1e-6);
    }
  }
  if (any && constant) {
    if (close(ratio, -1.0, 0.0, 1e-9)) return "sign flipped everywhere (off by a factor -1)";
    return fmt::format("off by a constant factor {:.3f} everywhere (yours / engine)", ratio);
  }
  if (shape.rank() == 2 && shape[0] == shape[1]) {
    const std::int64_t n = shape[0];
    bool transposed = true;
    for (std::int64_t i = 0; i < n && transposed; ++i)
      for (std::int64_t j = 0; j < n && transposed; ++j)
        transposed = close(theirs.at(i * n + j), engine.at(j * n + i), 1e-12, 1e-7);
    if (transposed) return "equals the engine's transpose: check the index order (w_jr vs w_rj)";
  }
  return "";
}

// A claim in the wrong shape: is it the transpose of the gradient, and does it match once transposed?
std::string shape_hint(const Array& theirs, const Array& engine, const FormulaOptions& opt) {
  const Shape& t = theirs.shape();
  const Shape& e = engine.shape();
  if (t.rank() != 2 || e.rank() != 2 || t[0] != e[1] || t[1] != e[0]) {
    if (t.numel() == e.numel()) return fmt::format("same element count: reshape yours to {} if the order is right", e.str());
    return "";
  }
  const std::int64_t rows = e[0], cols = e[1];
  std::int64_t differ = 0;
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j)
      if (!close(theirs.at(j * rows + i), engine.at(i * cols + j), opt.atol, opt.rtol)) ++differ;
  if (differ == 0)
    return fmt::format("yours is the transpose of {}, and transposed it matches the engine: return it transposed", e.str());
  return fmt::format("yours is the transpose of {}; transposed, {} of {} elements still differ", e.str(), differ, e.numel());
}

}  // namespace

struct FormulaChecker {
  static FormulaReport run(const std::function<Tensor(Probe&)>& cost, const std::function<Claims(const Probe&)>& formula,
                           const FormulaOptions& opt) {
    Probe probe;
    {
      TapeScope scope;
      Tensor c = cost(probe);
      if (c.numel() != 1)
        throw std::invalid_argument(fmt::format("check_formula: cost must have one element (got {})", c.shape().str()));
      if (c.dtype() != Dtype::f64)
        throw std::invalid_argument("check_formula: cost must be float64 (build it from probe.input(...) tensors)");
      backward(c);
    }
    probe.replay_ = true;
    auto evaluate = [&] {
      TapeScope scope;
      NoGrad off;
      return cost(probe).value().at(0);
    };
    FormulaReport report;
    const Claims claims = formula(probe);
    report.ok = !claims.empty();
    for (auto& [name, theirs] : claims) {
      auto it = probe.targets_.find(name);
      if (it == probe.targets_.end())
        throw std::invalid_argument(fmt::format("check_formula: claim '{}' names no probe.input or probe.at", name));
      Tensor& leaf = it->second.leaf;
      ClaimReport cr;
      cr.name = name;
      cr.shape = leaf.shape();
      const Array engine = leaf.has_grad() ? leaf.grad().value() : Array::zeros(leaf.shape(), leaf.dtype());
      cr.claimed = theirs.shape();
      if (!(theirs.shape() == cr.shape)) {
        cr.ok = false;
        cr.shape_ok = false;
        cr.hint = shape_hint(theirs, engine, opt);
        report.claims.push_back(cr);
        report.ok = false;
        continue;
      }
      Array& v = leaf.leaf_value();
      std::vector<Mismatch> rows;
      for (std::int64_t i = 0; i < v.numel(); ++i) {
        const double orig = v.at(i);
        v.set(i, orig + opt.eps);
        const double fp = evaluate();
        v.set(i, orig - opt.eps);
        const double fm = evaluate();
        v.set(i, orig);
        const double numeric = (fp - fm) / (2 * opt.eps), e = engine.at(i), t = theirs.at(i);
        if (!close(e, numeric, opt.atol * 1e3, opt.fd_tol)) cr.engine_matches_fd = false;
        const double rel = std::fabs(t - e) / std::max(std::fabs(e), 1e-300);
        if (!close(t, e, opt.atol, opt.rtol)) {
          ++cr.mismatched;
          cr.ok = false;
        }
        if (!(rel <= cr.max_rel_error)) cr.max_rel_error = rel;
        rows.push_back({unravel(i, cr.shape), t, e, numeric, rel});
      }
      std::stable_sort(rows.begin(), rows.end(), [](const Mismatch& a, const Mismatch& b) { return a.rel_error > b.rel_error; });
      rows.resize(std::min<std::size_t>(rows.size(), static_cast<std::size_t>(opt.max_rows)));
      cr.worst = std::move(rows);
      if (!cr.ok) cr.hint = find_hint(theirs, engine, cr.shape);
      report.ok = report.ok && cr.ok && cr.engine_matches_fd;
      report.claims.push_back(std::move(cr));
    }
    return report;
  }
};

FormulaReport check_formula(const std::function<Tensor(Probe&)>& cost, const std::function<Claims(const Probe&)>& formula,
                            const FormulaOptions& opt) {
  return FormulaChecker::run(cost, formula, opt);
}

}  // namespace autodiff

auto fmt::formatter<autodiff::FormulaReport>::format(const autodiff::FormulaReport& r, format_context& ctx) const
    -> decltype(ctx.out()) {
  std::string s;
  for (const auto& c : r.claims) {
    if (!c.shape_ok) {
      s += fmt::format("FAIL {}: WRONG SHAPE: your claim is {}, the gradient is {} (no element compared)\n", c.name,
                       c.claimed.str(), c.shape.str());
      if (!c.hint.empty()) s += fmt::format("      hint: {}\n", c.hint);
      continue;
    }
    const char* verdict = c.ok ? "matches the engine" : "DOES NOT match the engine";
    s += fmt::format("{} {}: {} ({} of {} elements differ, max rel error {:.3g}){}\n", c.ok ? "ok  " : "FAIL", c.name, verdict,
                     c.mismatched, c.shape.numel(), c.max_rel_error,
                     c.engine_matches_fd ? "" : "; engine and finite differences disagree (non-smooth point?)");
    if (!c.hint.empty()) s += fmt::format("      hint: {}\n", c.hint);
    if (!c.ok && !c.worst.empty()) {
      s += fmt::format("      {:<10} {:>14} {:>14} {:>14} {:>10}\n", "index", "yours", "engine", "finite diff", "rel err");
      for (const auto& m : c.worst)
        s += fmt::format("      {:<10} {:>14.6g} {:>14.6g} {:>14.6g} {:>10.2g}\n", fmt::format("[{}]", fmt::join(m.index, ",")),
                         m.theirs, m.engine, m.numeric, m.rel_error);
    }
  }
  if (r.claims.empty())
    s += "verdict: NOTHING CHECKED: the formula returned no claims";
  else
    s += r.ok ? fmt::format("verdict: all claimed gradients match ({} claim{})", r.claims.size(), r.claims.size() == 1 ? "" : "s") : "verdict: MISMATCH";
  return fmt::formatter<std::string>::format(s, ctx);
}
