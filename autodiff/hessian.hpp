// Second derivatives from create_graph: Hessian-vector products and small full Hessians.
#pragma once

#include "autodiff/gradcheck.hpp"

namespace autodiff {

/// H(x) v for a scalar-valued f: the gradient of grad f(x) . v, built with create_graph. One result per input.
std::vector<Tensor> hvp(const TensorFunction& f, const std::vector<Tensor>& x, const std::vector<Tensor>& v);
/// The full Hessian [n, n] (float64) of a scalar-valued f of one input with n elements, by n Hessian-vector products.
Tensor hessian(const std::function<Tensor(const Tensor&)>& f, const Tensor& x);

}  // namespace autodiff
