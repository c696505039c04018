// Argument checks shared by all ops, so every message has the same form.
#include "autodiff/check.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
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

namespace {
// "3x2" for a 2-D size, "3" for a 1-D one.
std::string sizes_str(std::span<const std::int64_t> v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += fmt::format("{}{}", i ? "x" : "", v[i]);
  return s;
}
std::string name_of(const Shape& s, const Tensor* t) { return t ? describe(*t) : s.str(); }
// Every dimension after the batch must hold something (as PyTorch): windows over an empty plane would read nothing.
void check_nonempty_planes(std::string_view op, const Shape& x_shape, const Tensor* x) {
  for (int i = 1; i < x_shape.rank(); ++i)
    if (x_shape[i] == 0)
      throw std::invalid_argument(fmt::format("{}: input must have non-empty channel and spatial dimensions (got {})", op,
                                              name_of(x_shape, x)));
}
void check_positive(std::string_view op, std::string_view what, std::span<const std::int64_t> v) {
  for (const std::int64_t d : v)
    if (d <= 0) throw std::invalid_argument(fmt::format("{}: {} must be positive (got {})", op, what, sizes_str(v)));
}
void check_padding(std::string_view op, std::span<const std::int64_t> padding) {
  for (const std::int64_t p : padding)
    if (p < 0) throw std::invalid_argument(fmt::format("{}: padding must be non-negative (got {})", op, sizes_str(padding)));
}
// The dilated kernel must fit the padded input on every spatial axis (the last kernel.size() axes of x).
// No heap allocation unless it throws: conv2d runs this at every step.
void check_window(std::string_view op, const Shape& x, const Tensor* xt, std::span<const std::int64_t> kernel,
                  std::span<const std::int64_t> padding, std::span<const std::int64_t> dilation) {
  const std::size_t n = kernel.size();
  std::array<std::int64_t, Shape::max_rank> span{}, padded{};
  bool fits = true;
  for (std::size_t i = 0; i < n; ++i) {
    // Sizes near 2^63 must not wrap: the kernels index with these sums.
    const bool wraps = __builtin_mul_overflow(dilation[i], kernel[i] - 1, &span[i]) ||
                       __builtin_add_overflow(span[i], 1, &span[i]) ||
                       __builtin_mul_overflow(padding[i], 2, &padded[i]) ||
                       __builtin_add_overflow(padded[i], x[x.rank() - static_cast<int>(n) + static_cast<int>(i)], &padded[i]);
    if (wraps)
      throw std::invalid_argument(fmt::format("{}: kernel, padding and dilation sizes overflow (kernel {}, padding {}, "
                                              "dilation {})",
                                              op, sizes_str(kernel), sizes_str(padding), sizes_str(dilation)));
    fits = fits && span[i] <= padded[i];
  }
  if (!fits) {
    const bool dilated = std::any_of(dilation.begin(), dilation.end(), [](std::int64_t d) { return d > 1; });
    throw std::invalid_argument(fmt::format("{}: kernel {}{} is larger than the padded input {} (x {}, padding {}{})", op,
                                            sizes_str(kernel),
                                            dilated ? fmt::format(" (dilated {})", sizes_str({span.data(), n})) : "",
                                            sizes_str({padded.data(), n}), name_of(x, xt), sizes_str(padding),
                                            dilated ? fmt::format(", dilation {}", sizes_str(dilation)) : ""));
  }
}
}  // namespace

void check_conv(std::string_view op, const Shape& x_shape, const Tensor* x, const Shape& w_shape, const Tensor* w,
                const Tensor& b, std::span<const std::int64_t> stride, std::span<const std::int64_t> padding,
                std::span<const std::int64_t> dilation, std::int64_t groups) {
  const int rank = 2 + static_cast<int>(stride.size());
  if (x_shape.rank() != rank)
    throw std::invalid_argument(fmt::format("{}: input must have rank {} (got {})", op, rank, name_of(x_shape, x)));
  if (w_shape.rank() != rank)
    throw std::invalid_argument(fmt::format("{}: weight must have rank {} (got {})", op, rank, name_of(w_shape, w)));
  check_nonempty_planes(op, x_shape, x);
  check_positive(op, "stride", stride);
  check_positive(op, "dilation", dilation);
  check_padding(op, padding);
  if (groups <= 0) throw std::invalid_argument(fmt::format("{}: groups must be positive (got {})", op, groups));
  const std::int64_t c = x_shape[1], o = w_shape[0];
  if (c % groups != 0)
    throw std::invalid_argument(fmt::format("{}: input channels C = {} are not divisible by groups {} (x {})", op, c,
                                            groups, name_of(x_shape, x)));
  if (o % groups != 0)
    throw std::invalid_argument(fmt::format("{}: output channels O = {} are not divisible by groups {} (w {})", op, o,
                                            groups, name_of(w_shape, w)));
  if (w_shape[1] * groups != c)
    throw std::invalid_argument(fmt::format("{}: channels differ (x {} has C = {}; w {} with groups {} expects C = {})",
                                            op, name_of(x_shape, x), c, name_of(w_shape, w), groups, w_shape[1] * groups));
  const std::span<const std::int64_t> kernel = w_shape.dims().subspan(2);
  check_positive(op, "kernel size", kernel);
  check_window(op, x_shape, x, kernel, padding, dilation);
  if (b.defined() && !(b.rank() == 1 && b.shape()[0] == o))
    throw std::invalid_argument(fmt::format("{}: bias must have shape [{}] for O = {} output channels (got {})", op, o,
                                            o, describe(b)));
}

void check_pool(std::string_view op, const Shape& x_shape, const Tensor* x, std::span<const std::int64_t> kernel,
                std::span<const std::int64_t> stride, std::span<const std::int64_t> padding,
                std::span<const std::int64_t> dilation) {
  const int rank = 2 + static_cast<int>(kernel.size());
  if (x_shape.rank() != rank)
    throw std::invalid_argument(fmt::format("{}: input must have rank {} (got {})", op, rank, name_of(x_shape, x)));
  check_nonempty_planes(op, x_shape, x);
  check_positive(op, "kernel size", kernel);
  check_positive(op, "stride", stride);
  check_positive(op, "dilation", dilation);
  check_padding(op, padding);
  for (std::size_t i = 0; i < kernel.size(); ++i)
    if (2 * padding[i] > kernel[i])
      throw std::invalid_argument(fmt::format("{}: padding must be at most half the kernel size (padding {}, kernel {})",
                                              op, sizes_str(padding), sizes_str(kernel)));
  check_window(op, x_shape, x, kernel, padding, dilation);
}

void check_grad_shape(std::string_view op, const Tensor& grad, const Shape& want) {
  if (!(grad.shape() == want))
    throw std::invalid_argument(fmt::format("{}: gradient must have the forward output's shape {} (got {})", op,
                                            want.str(), describe(grad)));
}

}  // namespace autodiff
