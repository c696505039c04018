// Argument checks shared by all ops, so every message has the same form.
#include "autodiff/check.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace autodiff {

std::string describe(const Tensor& t) {
  const std::string label = t.label();
  if (label.empty()) return t.shape().str();
  return fmt::format("'{}' {}", label, t.shape().str());
}

void check_same_dtype(std::string_view op, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    throw std::invalid_argument(fmt::format("{}: dtypes differ (lhs {} {}, rhs {} {})", op, describe(a),
                                            dtype_name(a.dtype()), describe(b), dtype_name(b.dtype())));
}

void check_binary(std::string_view op, const Tensor& a, const Tensor& b) {
  check_same_dtype(op, a, b);
  const Shape &sa = a.shape(), &sb = b.shape();
  const int r = std::max(sa.rank(), sb.rank());
  for (int i = 0; i < r; ++i) {
    const int ia = sa.rank() - r + i, ib = sb.rank() - r + i;
    const std::int64_t da = ia >= 0 ? sa[ia] : 1, db = ib >= 0 ? sb[ib] : 1;
    if (da != db && da != 1 && db != 1)
      throw std::invalid_argument(fmt::format("{}: shapes do not broadcast (lhs {}, rhs {}; axis {} is {} vs {})", op,
                                              describe(a), describe(b), i, da, db));
  }
}

void check_same_shape(std::string_view op, std::string_view what, const Shape& got, const Shape& want) {
  if (!(got == want))
    throw std::invalid_argument(fmt::format("{}: {} shape differs (got {}, expected {})", op, what, got.str(), want.str()));
}

void check_rank(std::string_view op, std::string_view what, const Tensor& t, int rank) {
  if (t.rank() != rank)
    throw std::invalid_argument(fmt::format("{}: {} must have rank {} (got {})", op, what, rank, describe(t)));
}

int check_axis(std::string_view op, int axis, int rank) {
  const int a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw std::invalid_argument(fmt::format("{}: axis {} out of range for rank {}", op, axis, rank));
  return a;
}

void check_nonempty_axis(std::string_view op, const Tensor& x, int axis) {
  if (x.shape()[axis] == 0)
    throw std::invalid_argument(fmt::format("{}: cannot reduce an empty axis (axis {} of {})", op, axis, describe(x)));
}

void check_nonempty(std::string_view op, const Tensor& x) {
  if (x.numel() == 0) throw std::invalid_argument(fmt::format("{}: cannot reduce an empty tensor ({})", op, describe(x)));
}

void check_matmul(std::string_view op, const Tensor& a, const Tensor& b, bool ta, bool tb) {
  if (a.rank() != 2 || b.rank() != 2)
    throw std::invalid_argument(fmt::format("{}: operands must be 2-D (lhs {}, rhs {})", op, describe(a), describe(b)));
  const std::int64_t ka = ta ? a.shape()[0] : a.shape()[1];
  const std::int64_t kb = tb ? b.shape()[1] : b.shape()[0];
  if (ka != kb)
    throw std::invalid_argument(fmt::format("{}: inner dimensions differ (lhs {}{}, rhs {}{})", op, describe(a),
                                            ta ? "^T" : "", describe(b), tb ? "^T" : ""));
  check_same_dtype(op, a, b);
  // BLAS takes int sizes.
  for (const Tensor* t : {&a, &b})
    for (const std::int64_t d : t->shape())
      if (d > std::numeric_limits<int>::max())
        throw std::invalid_argument(fmt::format("{}: dimension {} exceeds the BLAS limit {} (lhs {}, rhs {})", op, d,
                                                std::numeric_limits<int>::max(), describe(a), describe(b)));
}

void check_index(std::string_view op, std::int64_t index, std::int64_t size) {
  if (index < 0 || index >= size)
    throw std::invalid_argument(fmt::format("{}: index {} out of range [0, {})", op, index, size));
}

void check_reshape(std::string_view op, const Tensor& from, const Shape& to) {
  if (from.numel() != to.numel())
    throw std::invalid_argument(fmt::format("{}: element counts differ (from {} with {}, to {} with {})", op, describe(from),
                                            from.numel(), to.str(), to.numel()));
}

}  // namespace autodiff
