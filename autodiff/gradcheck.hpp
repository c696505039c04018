// gradcheck: central finite differences in double against the tape's gradients, for any function of tensors or Vars.
#pragma once

#include "autodiff/tape.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace autodiff {

struct GradcheckOptions {
  double eps = 1e-6;   ///< central-difference step
  double atol = 1e-6;  ///< pass when |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 1e-5;
  std::uint64_t seed = 0;  ///< seeds the random projection of a non-scalar output
};

/// Per-input result: the worst element and its errors.
struct InputCheck {
  Shape shape;
  double max_abs_error = 0.0;
  double max_rel_error = 0.0;
  std::int64_t worst_index = -1;  ///< flat row-major index; the report prints it as [r,c]
  /// At worst_index: the tape's gradient and the central difference of the checked scalar (of s = sum(f(x) * r)
  /// when f has more than one output element, so not one output's gradient; see GradcheckReport::projected).
  double analytic = 0.0;
  double numeric = 0.0;
  bool ok = true;
};

struct GradcheckReport {
  int order = 1;  ///< 1 from gradcheck, 2 from gradgradcheck (the report's title)
  Shape output;   ///< f's output shape
  bool projected = false;  ///< f's output has more than one element and was reduced to sum(f(x) * r), r fixed random
  std::vector<InputCheck> inputs;
  bool ok = true;
  double max_abs_error = 0.0;
  double max_rel_error = 0.0;
  explicit operator bool() const { return ok; }
};

using TensorFunction = std::function<Tensor(const std::vector<Tensor>&)>;
using ScalarFunction = std::function<Var(const std::vector<Var>&)>;

/// Checks f's gradient at `inputs` (converted to float64 leaves). A non-scalar output is reduced to a scalar with a
/// fixed random projection, sum(f(x) * r), so every output element takes part.
GradcheckReport gradcheck(const TensorFunction& f, const std::vector<Tensor>& inputs, const GradcheckOptions& opt = {});
/// The same for a function of scalar Vars.
GradcheckReport gradcheck(const ScalarFunction& f, const std::vector<double>& inputs, const GradcheckOptions& opt = {});

/// Checks second derivatives: gradcheck of g(x) = sum_i v_i . df/dx_i for fixed random v_i, whose gradient is a
/// Hessian-vector product built with create_graph. The report's title is "gradgradcheck".
GradcheckReport gradgradcheck(const TensorFunction& f, const std::vector<Tensor>& inputs, const GradcheckOptions& opt = {});

}  // namespace autodiff

namespace autodiff::detail {
/// A flat row-major index as a multi-index, "[1,2]" ("[]" for a scalar).
std::string index_string(std::int64_t flat, const Shape& shape);
}  // namespace autodiff::detail

/// "gradcheck: PASS (...)" or "gradgradcheck: ...", then one line per input with its worst element.
template <>
struct fmt::formatter<autodiff::GradcheckReport> : fmt::formatter<std::string> {
  auto format(const autodiff::GradcheckReport& r, format_context& ctx) const -> decltype(ctx.out());
};
