// Arithmetic ops: add, sub, mul, div, neg and their operators; broadcast_to and sum_to.
#include "autodiff/check.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/kernels.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace autodiff {

Tensor scalar(double v, Dtype dtype) { return Tensor(Array::full(Shape{}, v, dtype)); }

/// forward:  a + b
/// backward: da += grad, db += grad (each summed to its input's shape by the engine)
Tensor add(const Tensor& a, const Tensor& b, Site site) {
  check_binary("add", a, b);
  return make_op("add", detail::zip("add", a.value(), b.value(), [](auto x, auto y) { return x + y; }), {a, b},
                 [](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += grad;
                   dx[1] += grad;
                 }, site);
}

/// forward:  a - b
/// backward: da += grad, db += -grad
Tensor sub(const Tensor& a, const Tensor& b, Site site) {
  check_binary("sub", a, b);
  return make_op("sub", detail::zip("sub", a.value(), b.value(), [](auto x, auto y) { return x - y; }), {a, b},
                 [](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += grad;
                   if (dx[1].wanted()) dx[1] += neg(grad);
                 }, site);
}

/// forward:  a * b
/// backward: da += grad * b, db += grad * a
Tensor mul(const Tensor& a, const Tensor& b, Site site) {
  check_binary("mul", a, b);
  return make_op("mul", detail::zip("mul", a.value(), b.value(), [](auto x, auto y) { return x * y; }), {a, b},
                 [a, b](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   if (dx[0].wanted()) dx[0] += grad * b;
                   if (dx[1].wanted()) dx[1] += grad * a;
                 }, site);
}

/// forward:  y = a / b
/// backward: da += grad / b, db += -grad * y / b
Tensor div(const Tensor& a, const Tensor& b, Site site) {
  check_binary("div", a, b);
  return make_op("div", detail::zip("div", a.value(), b.value(), [](auto x, auto y) { return x / y; }), {a, b},
                 [b](const Tensor& grad, const Tensor& result, BackwardContext& dx) {
                   if (dx[0].wanted()) dx[0] += grad / b;
                   if (dx[1].wanted()) dx[1] += neg(grad * result / b);
                 }, site);
}

/// forward:  -x
/// backward: dx += -grad
Tensor neg(const Tensor& x, Site site) {
  return make_op("neg", detail::map("neg", x.value(), [](auto v) { return -v; }), {x},
                 [](const Tensor& grad, const Tensor&, BackwardContext& dx) { dx[0] += neg(grad); }, site);
}

Tensor operator+(Here<Tensor> a, const Tensor& b) { return add(a.value, b, a.site); }
Tensor operator-(Here<Tensor> a, const Tensor& b) { return sub(a.value, b, a.site); }
Tensor operator*(Here<Tensor> a, const Tensor& b) { return mul(a.value, b, a.site); }
Tensor operator/(Here<Tensor> a, const Tensor& b) { return div(a.value, b, a.site); }
Tensor operator-(Here<Tensor> x) { return neg(x.value, x.site); }
Tensor operator+(Here<Tensor> a, double b) { return add(a.value, scalar(b, a.value.dtype()), a.site); }
Tensor operator+(double a, Here<Tensor> b) { return add(scalar(a, b.value.dtype()), b.value, b.site); }
Tensor operator-(Here<Tensor> a, double b) { return sub(a.value, scalar(b, a.value.dtype()), a.site); }
Tensor operator-(double a, Here<Tensor> b) { return sub(scalar(a, b.value.dtype()), b.value, b.site); }
Tensor operator*(Here<Tensor> a, double b) { return mul(a.value, scalar(b, a.value.dtype()), a.site); }
Tensor operator*(double a, Here<Tensor> b) { return mul(scalar(a, b.value.dtype()), b.value, b.site); }
Tensor operator/(Here<Tensor> a, double b) { return div(a.value, scalar(b, a.value.dtype()), a.site); }
Tensor operator/(double a, Here<Tensor> b) { return div(scalar(a, b.value.dtype()), b.value, b.site); }

/// forward:  x converted to `dtype`
/// backward: dx += grad.to(x.dtype)
Tensor Tensor::to(Dtype dtype, Site site) const {
  const Dtype from = this->dtype();
  return make_op("to", value().to(dtype), {*this},
                 [from](const Tensor& grad, const Tensor&, BackwardContext& dx) { dx[0] += grad.to(from); }, site);
}

/// forward:  a copy of x in new storage
/// backward: dx += grad
Tensor clone(const Tensor& x, Site site) {
  return make_op("clone", x.value().clone(), {x},
                 [](const Tensor& grad, const Tensor&, BackwardContext& dx) { dx[0] += grad; }, site);
}

/// forward:  x repeated along its broadcast axes up to `shape`
/// backward: dx += grad (the engine sums it back to x's shape)
Tensor broadcast_to(const Tensor& x, const Shape& shape, Site site) {
  if (!broadcasts_to(x.shape(), shape))
    throw std::invalid_argument(fmt::format("broadcast_to: {} does not broadcast to {}", describe(x), shape.str()));
  return make_op("broadcast_to", broadcast_array(x.value(), shape), {x},
                 [](const Tensor& grad, const Tensor&, BackwardContext& dx) { dx[0] += grad; }, site);
}

/// forward:  x summed over the axes where `shape` broadcasts to it
/// backward: dx += broadcast_to(grad, x.shape)
Tensor sum_to(const Tensor& x, const Shape& shape, Site site) {
  if (!broadcasts_to(shape, x.shape()))
    throw std::invalid_argument(fmt::format("sum_to: {} does not reduce to {}", describe(x), shape.str()));
  return make_op("sum_to", reduce_to(x.value(), shape, "sum_to"), {x},
                 [xs = x.shape()](const Tensor& grad, const Tensor&, BackwardContext& dx) { dx[0] += broadcast_to(grad, xs); },
                 site);
}

}  // namespace autodiff
