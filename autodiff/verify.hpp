// check_formula: compare a hand-derived gradient (of inputs or of any intermediate, such as a delta) with the
// engine's gradient and with finite differences, and explain the mismatch.
#pragma once

#include "autodiff/tape.hpp"

#include <fmt/format.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace autodiff {

/// Handed to the user's cost function: names the tensors whose gradients a formula claims.
class Probe {
 public:
  /// A named input, as a float64 leaf. Claim "name" to check d cost / d input.
  Tensor input(const std::string& name, const Tensor& value);
  /// A named intermediate z: returns z + p for a zero leaf p, so d cost / d p = d cost / d z (for example a delta).
  Tensor at(const std::string& name, const Tensor& z);
  /// Keeps a forward value for the formula without checking its gradient (for example an activation).
  void keep(const std::string& name, const Tensor& t);
  /// Forward value of a named input, intermediate or kept tensor (from the first, unperturbed evaluation).
  /// @throws std::invalid_argument for an unknown name.
  const Array& value(const std::string& name) const;

 private:
  friend struct FormulaChecker;
  struct Target {
    Tensor leaf;  // the input itself, or the zero leaf p added to an intermediate
    Array value;  // forward value (input or z)
  };
  bool replay_ = false;
  std::map<std::string, Target> targets_;
  std::map<std::string, Array> kept_;
  std::vector<std::string> order_;
};

/// A claimed gradient: name (an input or a Probe::at name) and its value in the target's shape.
using Claims = std::vector<std::pair<std::string, Array>>;

struct Mismatch {
  std::vector<std::int64_t> index;
  double theirs = 0, engine = 0, numeric = 0, rel_error = 0;
};

struct ClaimReport {
  std::string name;
  Shape shape;                  ///< the gradient's shape (the target's)
  Shape claimed;                ///< the claim's shape
  bool shape_ok = true;         ///< claimed == shape; when false nothing else is compared and ok is false
  bool ok = true;               ///< theirs matches the engine
  bool engine_matches_fd = true;  ///< the engine matches finite differences
  double max_rel_error = 0;
  std::int64_t mismatched = 0;  ///< elements that differ
  std::vector<Mismatch> worst;  ///< largest relative errors first
  std::string hint;             ///< a recognised pattern, such as a constant factor
};

struct FormulaReport {
  std::vector<ClaimReport> claims;
  /// Every claim matches the engine and the engine matches finite differences. False when the formula returned no
  /// claims: nothing was checked, and a check that checks nothing must not pass.
  bool ok = true;
  explicit operator bool() const { return ok; }
};

struct FormulaOptions {
  double rtol = 1e-7;  ///< theirs vs engine: |theirs - engine| <= atol + rtol * |engine|
  double atol = 1e-10;
  double eps = 1e-6;   ///< finite-difference step
  double fd_tol = 1e-5;  ///< engine vs finite differences (relative, with the same atol scaled by 1e3)
  int max_rows = 5;    ///< rows in each mismatch table
};

/// Evaluates cost(probe) in float64, runs backward, calls formula(probe) for the claimed gradients, and compares
/// each element with the engine's gradient and with central finite differences. A claim whose shape differs from
/// the target's is reported as such (with a hint when it is the transpose); an empty claim list is not ok.
FormulaReport check_formula(const std::function<Tensor(Probe&)>& cost, const std::function<Claims(const Probe&)>& formula,
                            const FormulaOptions& opt = {});

}  // namespace autodiff

template <>
struct fmt::formatter<autodiff::FormulaReport> : fmt::formatter<std::string> {
  auto format(const autodiff::FormulaReport& r, format_context& ctx) const -> decltype(ctx.out());
};
