// Ops between the scalar and tensor worlds, as ordinary records: elements read out as Vars, and Vars stacked into a
// tensor.
#include "autodiff/check.hpp"
#include "autodiff/ops.hpp"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

namespace autodiff {

namespace {
/// forward:  elements x[flat], ..., x[flat + n - 1] as scalar nodes (one record, n positions)
/// backward: dx[flat + j] += grad of Var j
std::vector<Var> read_vars(const Tensor& x, std::int64_t flat, std::int64_t n, OpName op, Site site) {
  const Array& v = x.value();
  std::vector<double> values(static_cast<std::size_t>(n));
  for (std::int64_t j = 0; j < n; ++j) values[static_cast<std::size_t>(j)] = v.at(flat + j);
  std::vector<Var> out;
  out.reserve(values.size());
  if (!grad_enabled() || !x.requires_grad()) {
    for (double d : values) out.emplace_back(d);
    return out;
  }
  detail::TapeStore& s = detail::recording();
  auto backward = [flat, n](BackwardContext& ctx) {
    const double* g = ctx.store().grads() + ctx.store().record(ctx.record()).pos;
    ctx.add_elements(0, flat, std::span<const double>(g, static_cast<std::size_t>(n)));
  };
  void* mem = s.arena_alloc(sizeof(backward), alignof(decltype(backward)));
  const std::uint32_t k = s.push_scalar_record(op, x, flat, values, site);
  detail::set_closure(s, k, mem, std::move(backward));
  const std::uint32_t pos = s.record(k).pos;
  for (std::int64_t j = 0; j < n; ++j) out.push_back(s.var_at(pos + static_cast<std::uint32_t>(j)));
  return out;
}
}  // namespace

Var Tensor::var(std::int64_t flat) const {
  const std::int64_t n = numel();
  if (flat < 0 || flat >= n)
    throw std::out_of_range(fmt::format("Tensor::var: index {} out of range for {} elements (shape {})", flat, n, shape().str()));
  return read_vars(*this, flat, 1, "var", Site::current())[0];
}

std::vector<Var> Tensor::vars() const { return read_vars(*this, 0, numel(), "vars", Site::current()); }

/// forward:  a tensor of `shape` whose element i is vars[i]
/// backward: dvars[i] += grad[i]
Tensor stack(const std::vector<Var>& vars, const Shape& shape, Dtype dtype, Site site) {
  if (static_cast<std::int64_t>(vars.size()) != shape.numel())
    throw std::invalid_argument(fmt::format("stack: {} values for shape {} ({} elements)", vars.size(), shape.str(), shape.numel()));
  Array out(shape, dtype);
  for (std::size_t i = 0; i < vars.size(); ++i) out.set(static_cast<std::int64_t>(i), vars[i].value());
  return make_op("stack", std::move(out), std::span<const Tensor>(), std::span<const Var>(vars),
                 [n = vars.size()](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   const Array& g = grad.value();
                   for (std::size_t i = 0; i < n; ++i) dx.var(i) += g.at(static_cast<std::int64_t>(i));
                 }, site);
}

Var make_scalar_op(OpName op, double value, std::span<const Var> inputs, std::span<const double> partials, Site site) {
  if (inputs.size() != partials.size())
    throw std::invalid_argument(fmt::format("make_scalar_op: op '{}' has {} inputs but {} partials", op.view(), inputs.size(),
                                            partials.size()));
  if (!grad_enabled()) return Var(value);
  detail::TapeStore& s = detail::recording();
  std::vector<std::uint32_t> slots(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) slots[i] = s.slot(inputs[i], op.view());
  if (detail::anomaly_on && !std::isfinite(value)) [[unlikely]]
    throw AnomalyError(fmt::format("anomaly: {} produced {} in forward at {}:{}", op.view(), value, site.file_name(), site.line()));
  return s.push_custom(op, value, slots, partials, site);
}

Tensor stack(const std::vector<Var>& vars, Dtype dtype, Site site) {
  return stack(vars, Shape{static_cast<std::int64_t>(vars.size())}, dtype, site);
}

}  // namespace autodiff
