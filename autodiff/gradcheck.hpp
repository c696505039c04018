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
  std::int64_t worst_index = -1;
  double analytic = 0.0;  ///< at worst_index
  double numeric = 0.0;   ///< at worst_index
  bool ok = true;
};

struct GradcheckReport {
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

/// Checks second derivatives: gradcheck of v . grad f(x) (a Hessian-vector product built with create_graph).
GradcheckReport gradgradcheck(const TensorFunction& f, const std::vector<Tensor>& inputs, const GradcheckOptions& opt = {});

}  // namespace autodiff

template <>
struct fmt::formatter<autodiff::GradcheckReport> : fmt::formatter<std::string> {
  auto format(const autodiff::GradcheckReport& r, format_context& ctx) const {
    std::string s = fmt::format("gradcheck: {} (max abs error {:.3g}, max rel error {:.3g})", r.ok ? "PASS" : "FAIL",
                                r.max_abs_error, r.max_rel_error);
    for (std::size_t i = 0; i < r.inputs.size(); ++i) {
      const auto& c = r.inputs[i];
      s += fmt::format("\n  input {} {}: {}  abs {:.3g}  rel {:.3g}  worst [{}] analytic {:.10g} numeric {:.10g}", i,
                       c.shape.str(), c.ok ? "ok  " : "FAIL", c.max_abs_error, c.max_rel_error, c.worst_index, c.analytic,
                       c.numeric);
    }
    return fmt::formatter<std::string>::format(s, ctx);
  }
};
