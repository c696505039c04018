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
    throw std::invalid_argument(fmt::format("{}: dtypes differ (lhs {} {}, rhs {} {}); convert one with x.to(Dtype::{})", op,
                                            describe(a), dtype_name(a.dtype()), describe(b), dtype_name(b.dtype()),
                                            a.dtype() == Dtype::f64 || b.dtype() == Dtype::f64 ? "f64" : "f32"));
}

void check_float(std::string_view op, const Tensor& t) {
  if (!is_float(t.dtype()))
    throw std::invalid_argument(fmt::format("{}: needs a float tensor (got {} {}); convert with x.to(Dtype::f32) or "
                                            "x.to(Dtype::f64)",
                                            op, dtype_name(t.dtype()), describe(t)));
}

void check_int(std::string_view op, std::string_view what, const Tensor& t) {
  if (t.dtype() != Dtype::i64)
    throw std::invalid_argument(fmt::format("{}: {} must be int64 (got {} {}); convert with x.to(Dtype::i64)", op, what,
                                            dtype_name(t.dtype()), describe(t)));
}

namespace detail {
void check_float_array(std::string_view op, const Array& x) {
  if (!is_float(x.dtype()))
    throw std::invalid_argument(fmt::format("{}: needs a float tensor (got {} {}); convert with x.to(Dtype::f32) or "
                                            "x.to(Dtype::f64)",
                                            op, dtype_name(x.dtype()), x.shape().str()));
}
}  // namespace detail

void check_broadcast(std::string_view op, const Tensor& a, const Tensor& b) {
  int axis = 0;
  if (!try_broadcast(a.shape(), b.shape(), &axis)) detail::throw_broadcast(op, describe(a), describe(b), a.shape(), b.shape(), axis);
}

void check_binary(std::string_view op, const Tensor& a, const Tensor& b) {
  check_float(op, a);
  check_same_dtype(op, a, b);
  int axis = 0;
  if (!try_broadcast(a.shape(), b.shape(), &axis)) detail::throw_broadcast(op, describe(a), describe(b), a.shape(), b.shape(), axis);
}

void check_same_shape(std::string_view op, std::string_view what, const Shape& got, const Shape& want) {
  if (!(got == want))
    throw std::invalid_argument(fmt::format("{}: {} shape differs (got {}, expected {})", op, what, got.str(), want.str()));
}

void check_rank(std::string_view op, std::string_view what, const Tensor& t, int rank) {
  if (t.rank() != rank)
    throw std::invalid_argument(fmt::format("{}: {} must have rank {} (got {})", op, what, rank, describe(t)));
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
  check_float(op, a);
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

namespace autodiff {

void check_mask(std::string_view op, std::string_view what, const Tensor& t) {
  if (t.dtype() != Dtype::b8)
    throw std::invalid_argument(fmt::format("{}: {} must be a bool mask (got {} {}); make one with a comparison such as "
                                            "gt(x, 0.0), or convert with x.to(Dtype::b8)",
                                            op, what, dtype_name(t.dtype()), describe(t)));
}

void check_index_values(std::string_view op, const Tensor& idx, int dim, std::int64_t size, std::string_view x_name,
                        const Tensor& x) {
  const std::int64_t* p = idx.value().data<std::int64_t>();
  const std::int64_t n = idx.numel();
  for (std::int64_t f = 0; f < n; ++f) {
    // One unsigned compare covers both ends: a negative index wraps to a huge value.
    if (static_cast<std::uint64_t>(p[f]) < static_cast<std::uint64_t>(size)) [[likely]]
      continue;
    // idx's multi-index of element f, "1,2".
    std::array<std::int64_t, Shape::max_rank> coords{};
    const auto dims = idx.shape().dims();
    std::int64_t rest = f;
    for (std::size_t d = dims.size(); d-- > 0;) {
      coords[d] = rest % dims[d];  // dims[d] > 0: idx has an element f
      rest /= dims[d];
    }
    std::string at;
    for (std::size_t d = 0; d < dims.size(); ++d) at += fmt::format("{}{}", d ? "," : "", coords[d]);
    throw std::invalid_argument(fmt::format("{}: index {} at idx[{}] out of range for dim {} of size {} ({} {}, idx {})", op,
                                            p[f], at, dim, size, x_name, describe(x), describe(idx)));
  }
}

Shape check_where(std::string_view op, const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_mask(op, "cond", cond);
  if (a.dtype() != b.dtype())
    throw std::invalid_argument(fmt::format("{}: a and b differ in dtype (a {} {}, b {} {}); convert one with x.to(...)", op,
                                            dtype_name(a.dtype()), describe(a), dtype_name(b.dtype()), describe(b)));
  std::optional<Shape> ab = try_broadcast(a.shape(), b.shape());
  std::optional<Shape> all = ab ? try_broadcast(cond.shape(), *ab) : std::nullopt;
  if (!all)
    throw std::invalid_argument(fmt::format("{}: shapes do not broadcast (cond {}, a {}, b {})", op, describe(cond),
                                            describe(a), describe(b)));
  return *all;
}

}  // namespace autodiff
