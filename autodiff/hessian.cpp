// Hessian-vector products and full Hessians by differentiating the recorded backward pass.
#include "autodiff/hessian.hpp"

#include "autodiff/check.hpp"
#include "autodiff/ops.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace autodiff {

std::vector<Tensor> hvp(const TensorFunction& f, const std::vector<Tensor>& x, const std::vector<Tensor>& v) {
  if (x.size() != v.size())
    throw std::invalid_argument(fmt::format("hvp: {} inputs but {} directions", x.size(), v.size()));
  TapeScope scope;
  std::vector<Tensor> xs;
  for (std::size_t i = 0; i < x.size(); ++i) {
    check_same_shape("hvp", "direction", v[i].shape(), x[i].shape());
    xs.push_back(Tensor::parameter(x[i].value().to(Dtype::f64)));
  }
  Tensor y = f(xs);
  if (y.numel() != 1) throw std::invalid_argument(fmt::format("hvp: f must return one element (got {})", y.shape().str()));
  std::vector<Tensor> g = gradient(reshape(y, Shape{}), xs, {.create_graph = true});
  Tensor dot = sum(g[0] * Tensor(v[0].value().to(Dtype::f64)));
  for (std::size_t i = 1; i < g.size(); ++i) dot = dot + sum(g[i] * Tensor(v[i].value().to(Dtype::f64)));
  std::vector<Tensor> out;
  if (!dot.requires_grad()) {
    for (const Tensor& xi : xs) out.push_back(zeros(xi.shape(), Dtype::f64));
    return out;
  }
  for (Tensor& h : gradient(dot, xs)) out.push_back(Tensor(h.value().clone()));
  return out;
}

Tensor hessian(const std::function<Tensor(const Tensor&)>& f, const Tensor& x) {
  const std::int64_t n = x.numel();
  Array h(Shape{n, n}, Dtype::f64);
  TensorFunction fv = [&f](const std::vector<Tensor>& in) { return f(in[0]); };
  for (std::int64_t j = 0; j < n; ++j) {
    Array e = Array::zeros(x.shape(), Dtype::f64);
    e.set(j, 1.0);
    const Array col = hvp(fv, {x}, {Tensor(e)})[0].value();
    for (std::int64_t i = 0; i < n; ++i) h.set(i * n + j, col.at(i));
  }
  return Tensor(h);
}

}  // namespace autodiff
