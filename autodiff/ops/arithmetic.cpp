// Arithmetic ops: add, mul, neg as primitives; sub and div as compositions; broadcast_to and sum_to.
#include "autodiff/check.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/kernels.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace autodiff {

Tensor scalar(double v, Dtype dtype) { return Tensor(Array::full(Shape{}, v, dtype)); }

Tensor add(const Tensor& a, const Tensor& b, Site site) {
  check_binary("add", a, b);
  return make_op("add", detail::zip("add", a.value(), b.value(), [](auto x, auto y) { return x + y; }), {a, b},
                 [](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += grad;
                   dx[1] += grad;
                 }, site);
}

Tensor mul(const Tensor& a, const Tensor& b, Site site) {
  check_binary("mul", a, b);
  return make_op("mul", detail::zip("mul", a.value(), b.value(), [](auto x, auto y) { return x * y; }), {a, b},
                 [a, b](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   if (dx[0].wanted()) dx[0] += grad * b;
                   if (dx[1].wanted()) dx[1] += grad * a;
                 }, site);
}

Tensor neg(const Tensor& x, Site site) {
  return make_op("neg", detail::map(x.value(), [](auto v) { return -v; }), {x},
                 [](const Tensor& grad, const Tensor&, BackwardContext& dx) { dx[0] += neg(grad); }, site);
}

Tensor sub(const Tensor& a, const Tensor& b, Site site) { return add(a, neg(b, site), site); }
Tensor div(const Tensor& a, const Tensor& b, Site site) { return mul(a, pow(b, -1.0, site), site); }

Tensor operator+(Here<Tensor> a, const Tensor& b) { return add(a.value, b, a.site); }
Tensor operator-(Here<Tensor> a, const Tensor& b) { return sub(a.value, b, a.site); }
Tensor operator*(Here<Tensor> a, const Tensor& b) { return mul(a.value, b, a.site); }
Tensor operator/(Here<Tensor> a, const Tensor& b) { return div(a.value, b, a.site); }
Tensor operator-(Here<Tensor> x) { return neg(x.value, x.site); }
Tensor operator+(Here<Tensor> a, double b) { return add(a.value, scalar(b, a.value.dtype()), a.site); }
Tensor operator+(double a, Here<Tensor> b) { return add(scalar(a, b.value.dtype()), b.value, b.site); }
Tensor operator-(Here<Tensor> a, double b) { return add(a.value, scalar(-b, a.value.dtype()), a.site); }
Tensor operator-(double a, Here<Tensor> b) { return add(scalar(a, b.value.dtype()), neg(b.value, b.site), b.site); }
Tensor operator*(Here<Tensor> a, double b) { return mul(a.value, scalar(b, a.value.dtype()), a.site); }
Tensor operator*(double a, Here<Tensor> b) { return mul(scalar(a, b.value.dtype()), b.value, b.site); }
Tensor operator/(Here<Tensor> a, double b) { return mul(a.value, scalar(1.0 / b, a.value.dtype()), a.site); }
Tensor operator/(double a, Here<Tensor> b) { return mul(scalar(a, b.value.dtype()), pow(b.value, -1.0, b.site), b.site); }

Tensor broadcast_to(const Tensor& x, const Shape& shape, Site site) {
  if (!broadcasts_to(x.shape(), shape))
    throw std::invalid_argument(fmt::format("broadcast_to: {} does not broadcast to {}", describe(x), shape.str()));
  if (x.shape() == shape) return x;
  const Array zero = Array::zeros(shape, x.dtype());
  return make_op("broadcast_to", detail::zip("broadcast_to", zero, x.value(), [](auto, auto v) { return v; }), {x},
                 [](const Tensor& grad, const Tensor&, BackwardContext& dx) { dx[0] += grad; }, site);
}

Tensor sum_to(const Tensor& x, const Shape& shape, Site site) {
  if (!broadcasts_to(shape, x.shape()))
    throw std::invalid_argument(fmt::format("sum_to: {} does not reduce to {}", describe(x), shape.str()));
  if (x.shape() == shape) return x;
  const Array& v = x.value();
  Array out = Array::zeros(shape, v.dtype());
  dispatch(v.dtype(), [&]<class T>(T) {
    const T* pv = v.data<T>();
    T* po = out.data<T>();
    const std::int64_t m = shape.numel();
    if (m == 1) {
      T s = 0;
      for (std::int64_t i = 0; i < v.numel(); ++i) s += pv[i];
      po[0] = s;
    } else if (shape.rank() >= 1 && shape.numel() == shape[shape.rank() - 1] && v.shape()[v.rank() - 1] == m) {
      for (std::int64_t r = 0; r < v.numel(); r += m)  // [.., m] -> [m] (or [1,m]): sum the rows
        for (std::int64_t j = 0; j < m; ++j) po[j] += pv[r + j];
    } else {
      detail::for_each_broadcast(v.shape(), v.shape().strides(), detail::broadcast_strides(shape, v.shape()),
                                 [&](std::int64_t, std::int64_t iv, std::int64_t io) { po[io] += pv[iv]; });
    }
  });
  // The engine calls sum_to on gradients: its backward expands back, so create_graph sees it too.
  return make_op("sum_to", std::move(out), {x},
                 [xs = x.shape()](const Tensor& grad, const Tensor&, BackwardContext& dx) { dx[0] += broadcast_to(grad, xs); }, site);
}

void add_inplace(Array& dst, const Array& src) {
  if (!(dst.shape() == src.shape()) || dst.dtype() != src.dtype())
    throw std::invalid_argument(fmt::format("add_inplace: arrays differ (dst {} {}, src {} {})", dst.shape().str(),
                                            dtype_name(dst.dtype()), src.shape().str(), dtype_name(src.dtype())));
  dispatch(dst.dtype(), [&]<class T>(T) {
    T* d = dst.data<T>();
    const T* s = src.data<T>();
    const std::int64_t n = dst.numel();
    for (std::int64_t i = 0; i < n; ++i) d[i] += s[i];
  });
}

}  // namespace autodiff
