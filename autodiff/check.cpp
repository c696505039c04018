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
  if (a.rank() < 1 || b.rank() < 1)
    throw std::invalid_argument(fmt::format("{}: operands must have rank >= 1 (lhs {}, rhs {})", op, describe(a), describe(b)));
  if ((ta && a.rank() < 2) || (tb && b.rank() < 2))
    throw std::invalid_argument(fmt::format("{}: a transpose flag needs an operand of rank >= 2 (lhs {}{}, rhs {}{})", op,
                                            describe(a), ta ? "^T" : "", describe(b), tb ? "^T" : ""));
  check_float(op, a);
  // A 1-D lhs is a row vector [1,k], a 1-D rhs a column vector [k,1].
  const std::int64_t ka = a.rank() == 1 ? a.shape()[0] : ta ? a.shape()[-2] : a.shape()[-1];
  const std::int64_t kb = b.rank() == 1 ? b.shape()[0] : tb ? b.shape()[-1] : b.shape()[-2];
  if (ka != kb)
    throw std::invalid_argument(fmt::format("{}: inner dimensions differ (lhs {}{}, rhs {}{})", op, describe(a),
                                            ta ? "^T" : "", describe(b), tb ? "^T" : ""));
  check_same_dtype(op, a, b);
  if (a.rank() > 2 || b.rank() > 2) {
    const auto batch = [](const Shape& s) { return s.rank() > 2 ? Shape(s.dims().first(static_cast<std::size_t>(s.rank() - 2))) : Shape{}; };
    const Shape ba = batch(a.shape()), bb = batch(b.shape());
    if (!try_broadcast(ba, bb))
      throw std::invalid_argument(fmt::format("{}: batch dimensions do not broadcast (lhs {}, rhs {}; batch {} vs {})", op,
                                              describe(a), describe(b), ba.str(), bb.str()));
  }
  // BLAS takes int sizes.
  for (const Tensor* t : {&a, &b})
    for (int i = std::max(0, t->rank() - 2); i < t->rank(); ++i)
      if (t->shape()[i] > std::numeric_limits<int>::max())
        throw std::invalid_argument(fmt::format("{}: dimension {} exceeds the BLAS limit {} (lhs {}, rhs {})", op,
                                                t->shape()[i], std::numeric_limits<int>::max(), describe(a), describe(b)));
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

void check_bmm(const Tensor& a, const Tensor& b) {
  if (a.rank() != 3 || b.rank() != 3)
    throw std::invalid_argument(fmt::format("bmm: operands must be 3-D (lhs {}, rhs {})", describe(a), describe(b)));
  check_float("bmm", a);
  check_same_dtype("bmm", a, b);
  if (a.shape()[0] != b.shape()[0])
    throw std::invalid_argument(fmt::format("bmm: batch sizes differ (lhs {}, rhs {}); matmul broadcasts batches",
                                            describe(a), describe(b)));
  if (a.shape()[2] != b.shape()[1])
    throw std::invalid_argument(fmt::format("bmm: inner dimensions differ (lhs {}, rhs {})", describe(a), describe(b)));
}

void check_vectors(std::string_view op, const Tensor& a, const Tensor& b) {
  if (a.rank() != 1 || b.rank() != 1)
    throw std::invalid_argument(fmt::format("{}: operands must be 1-D (lhs {}, rhs {})", op, describe(a), describe(b)));
  check_float(op, a);
  check_same_dtype(op, a, b);
}

void check_nonempty_axes(std::string_view op, const Tensor& x, const std::array<bool, Shape::max_rank>& mask) {
  for (int i = 0; i < x.rank(); ++i)
    if (mask[static_cast<std::size_t>(i)]) check_nonempty_axis(op, x, i);
}

void check_correction(std::string_view op, const Tensor& x, std::int64_t count, double correction) {
  if (!(static_cast<double>(count) - correction > 0.0))
    throw std::invalid_argument(fmt::format("{}: correction {} leaves no degrees of freedom ({} elements reduced of {}; "
                                            "PyTorch would return inf or NaN)",
                                            op, correction, count, describe(x)));
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
