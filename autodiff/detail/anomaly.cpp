// AnomalyMode's reports: the first non-finite value or gradient, named by op, label, shapes and source line.
#include "autodiff/detail/anomaly.hpp"

#include "autodiff/check.hpp"
#include "autodiff/tape.hpp"

#include <fmt/format.h>

#include <cmath>

namespace autodiff::detail {

constinit thread_local AUTODIFF_TLS const TapeStore* in_backward = nullptr;

namespace {
std::string quoted(const std::string& label) { return label.empty() ? std::string() : fmt::format(" '{}'", label); }

std::string impl_label(const TensorImpl* p) { return p && p->extras ? p->extras->label : std::string(); }
}  // namespace

std::string describe_record(const TapeStore& s, std::size_t k) {
  const Record& r = s.record(k);
  if (r.is_leaf) return fmt::format("leaf{} {}", quoted(impl_label(r.out.get())), r.out->value.shape().str());
  std::string shapes;
  for (const Input& in : s.inputs_of(k)) {
    if (!shapes.empty()) shapes += ", ";
    shapes += in.tensor ? in.tensor->value.shape().str() : fmt::format("Var #{}", in.pos);
  }
  const std::string result = r.out ? r.out->value.shape().str() : fmt::format("{} Var{}", r.count, r.count == 1 ? "" : "s");
  return fmt::format("{}{} #{} -> {} (inputs {}) created at {}:{}", r.name.view(), quoted(impl_label(r.out.get())), k, result,
                     shapes, r.site.file_name(), r.site.line());
}

void scalar_anomaly(ScalarOp op, double value, std::uint32_t pos, const Site& site) {
  throw AnomalyError(fmt::format("anomaly: {} produced {} in forward (scalar node #{}) at {}:{}", op_name(op), value, pos,
                                 site.file_name(), site.line()));
}

void grad_anomaly(const TapeStore& s, std::size_t target, const Array& before, const Array& added) {
  std::string cause;
  if (before.defined() && all_finite(before) && all_finite(added))
    cause = "created when gradients were summed (both addends finite)";
  else if (!all_finite(added))
    cause = "in the gradient flowing in";
  else
    cause = "already in the accumulated gradient";
  const std::string from =
      s.running == no_record ? std::string("the seed") : fmt::format("the backward of {}", describe_record(s, s.running));
  throw AnomalyError(fmt::format("anomaly: non-finite gradient of {} ({}), from {}", describe_record(s, target), cause, from));
}

void scalar_grad_anomaly(const TapeStore& s, std::uint32_t from, std::uint32_t target, double before, double grad,
                         double partial) {
  const Site site = s.scalar_site(from);
  const double now = before + grad * partial;
  throw AnomalyError(fmt::format(
      "anomaly: non-finite gradient {} of scalar node #{}{} ({}), from the backward of {} #{} (grad {}, partial {}) "
      "created at {}:{}",
      now, target, quoted(s.scalar_label(target)),
      std::isfinite(before) && std::isfinite(grad * partial) ? "created when gradients were summed" : "in the gradient flowing in",
      s.scalar_op_name(from), from, grad, partial, site.file_name(), site.line()));
}

void check_forward(OpName op, const Array& value, std::span<const Tensor> inputs, const Site& site) {
  if (all_finite(value)) return;
  std::string shapes, state = "finite";
  for (const Tensor& t : inputs) {
    if (!shapes.empty()) shapes += ", ";
    shapes += describe(t);
    if (!all_finite(t.value())) state = "already non-finite";
  }
  std::string during;
  if (in_backward && in_backward->running != no_record)
    during = fmt::format(", while computing gradients in the backward of {}", describe_record(*in_backward, in_backward->running));
  throw AnomalyError(fmt::format("anomaly: {} produced a non-finite value (inputs {}, {}) at {}:{}{}", op.view(), shapes, state,
                                 site.file_name(), site.line(), during));
}

}  // namespace autodiff::detail
