// Declarations of every built-in op: scalar Var ops (inline, ops/scalar.hpp) and tensor ops (ops/*.cpp). Each op's
// forward and backward formulas are stated at its definition, next to its backward code.
#pragma once

#include "autodiff/ops/scalar.hpp"
#include "autodiff/tape.hpp"

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace autodiff {

// Arithmetic (ops/arithmetic.cpp): binary ops broadcast by NumPy rules.

/// Elementwise a + b.
Tensor add(const Tensor& a, const Tensor& b, Site site = Site::current());
/// Elementwise a - b.
Tensor sub(const Tensor& a, const Tensor& b, Site site = Site::current());
/// Elementwise a * b.
Tensor mul(const Tensor& a, const Tensor& b, Site site = Site::current());
/// Elementwise a / b (IEEE: x/0 is inf or NaN).
Tensor div(const Tensor& a, const Tensor& b, Site site = Site::current());
/// Elementwise -x.
Tensor neg(const Tensor& x, Site site = Site::current());
/// A 0-d constant of the given dtype.
Tensor scalar(double v, Dtype dtype);

// Operators take the left (or only) tensor operand as Here<Tensor> to record the caller's source line.
Tensor operator+(Here<Tensor> a, const Tensor& b);
Tensor operator-(Here<Tensor> a, const Tensor& b);
Tensor operator*(Here<Tensor> a, const Tensor& b);
Tensor operator/(Here<Tensor> a, const Tensor& b);
Tensor operator-(Here<Tensor> x);
Tensor operator+(Here<Tensor> a, double b);
Tensor operator+(double a, Here<Tensor> b);
Tensor operator-(Here<Tensor> a, double b);
Tensor operator-(double a, Here<Tensor> b);
Tensor operator*(Here<Tensor> a, double b);
Tensor operator*(double a, Here<Tensor> b);
Tensor operator/(Here<Tensor> a, double b);
Tensor operator/(double a, Here<Tensor> b);

/// x broadcast to `shape` (a copy).
Tensor broadcast_to(const Tensor& x, const Shape& shape, Site site = Site::current());
/// x summed over broadcast axes down to `shape`: the reduce-to-shape of broadcasting.
Tensor sum_to(const Tensor& x, const Shape& shape, Site site = Site::current());

// Elementwise (ops/elementwise.cpp).

Tensor exp(const Tensor& x, Site site = Site::current());
/// Natural log (NaN for x < 0, as <cmath>).
Tensor log(const Tensor& x, Site site = Site::current());
Tensor sqrt(const Tensor& x, Site site = Site::current());
Tensor sin(const Tensor& x, Site site = Site::current());
Tensor cos(const Tensor& x, Site site = Site::current());
Tensor tanh(const Tensor& x, Site site = Site::current());
/// Logistic function 1 / (1 + exp(-x)), without overflow for large |x|.
Tensor sigmoid(const Tensor& x, Site site = Site::current());
/// Fused sigmoid gradient g * y * (1 - y) (primitive for speed, itself differentiable).
Tensor sigmoid_backward(const Tensor& g, const Tensor& y, Site site = Site::current());
/// max(x, 0).
Tensor relu(const Tensor& x, Site site = Site::current());
Tensor abs(const Tensor& x, Site site = Site::current());
/// x^p for a constant exponent.
Tensor pow(const Tensor& x, double p, Site site = Site::current());
/// x^y elementwise (broadcasting).
Tensor pow(const Tensor& x, const Tensor& y, Site site = Site::current());
/// Elementwise min(a, b); ties pick a.
Tensor minimum(const Tensor& a, const Tensor& b, Site site = Site::current());
/// Elementwise max(a, b); ties pick a.
Tensor maximum(const Tensor& a, const Tensor& b, Site site = Site::current());

// Reductions (ops/reduce.cpp).

/// Sum of all elements (0-d).
Tensor sum(const Tensor& x, Site site = Site::current());
/// Sum over the given axes: sum(x, 1), sum(x, {0, 2}, true).
Tensor sum(const Tensor& x, const Dims& dims, bool keepdim = false, Site site = Site::current());
/// Mean of all elements. @throws std::invalid_argument when x is empty (PyTorch gives NaN).
Tensor mean(const Tensor& x, Site site = Site::current());
/// Mean over the given axes. @throws std::invalid_argument when a reduced axis is empty.
Tensor mean(const Tensor& x, const Dims& dims, bool keepdim = false, Site site = Site::current());
/// Maximum over one axis. @throws std::invalid_argument when that axis is empty (as PyTorch).
Tensor max(const Tensor& x, int axis, bool keepdim = false, Site site = Site::current());
/// log(sum(exp(x))) over one axis, computed stably.
Tensor logsumexp(const Tensor& x, int axis, bool keepdim = false, Site site = Site::current());
/// x - logsumexp(x, axis) over one axis.
Tensor log_softmax(const Tensor& x, int axis, Site site = Site::current());

// Linear algebra (ops/linalg.cpp).

/// op(A) op(B) on BLAS, where op transposes when its flag is set: [m,k] x [k,n] -> [m,n].
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b, Site site = Site::current());
/// 2-D matrix product a b.
Tensor matmul(const Tensor& a, const Tensor& b, Site site = Site::current());
/// 2-D transpose (a copy).
Tensor transpose(const Tensor& x, Site site = Site::current());

// Shape (ops/shape_ops.cpp).

/// The same elements with another shape of equal numel (shares storage; always a node of its own).
Tensor reshape(const Tensor& x, const Shape& shape, Site site = Site::current());
/// reshape(x, {3, -1}): as above, with one -1 inferred from the element count.
Tensor reshape(const Tensor& x, std::initializer_list<std::int64_t> dims, Site site = Site::current());
/// Rows x[indices[i]] along axis 0.
Tensor rows(const Tensor& x, const std::vector<std::int64_t>& indices, Site site = Site::current());
/// Zeros [n, ...] with row i of g added at row indices[i] (the adjoint of rows).
Tensor index_add_rows(const Tensor& g, const std::vector<std::int64_t>& indices, std::int64_t n, Site site = Site::current());

// Scalars and tensors (ops/bridge.cpp).

/// A tensor of `shape` from scalar Vars, in row-major order.
Tensor stack(const std::vector<Var>& vars, const Shape& shape, Dtype dtype = Dtype::f64, Site site = Site::current());
/// A 1-D tensor from scalar Vars.
Tensor stack(const std::vector<Var>& vars, Dtype dtype = Dtype::f64, Site site = Site::current());

}  // namespace autodiff
