// Ops between scalar Vars and tensors (stack), and make_scalar_op.
#pragma once

#include "autodiff/ops/scalar.hpp"
#include "autodiff/tape.hpp"

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace autodiff {

/// A tensor of `shape` from scalar Vars, in row-major order.
Tensor stack(const std::vector<Var>& vars, const Shape& shape, Dtype dtype = Dtype::f64, Site site = Site::current());
/// A 1-D tensor from scalar Vars.
Tensor stack(const std::vector<Var>& vars, Dtype dtype = Dtype::f64, Site site = Site::current());

}  // namespace autodiff
