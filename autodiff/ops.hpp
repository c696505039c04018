// Declarations of every built-in op: scalar Var ops (inline, ops/scalar.hpp) and tensor ops (ops/*.cpp).
#pragma once

#include "autodiff/ops/scalar.hpp"
#include "autodiff/tape.hpp"

#include <cstdint>
#include <vector>

namespace autodiff {

// ---- arithmetic (ops/arithmetic.cpp); binary ops broadcast by NumPy rules -------------------------

/// forward: a + b.  backward: da += grad, db += grad (each summed to its input's shape by the engine)
Tensor add(const Tensor& a, const Tensor& b, Site site = Site::current());
/// forward: a * b.  backward: da += grad * b, db += grad * a
Tensor mul(const Tensor& a, const Tensor& b, Site site = Site::current());
/// forward: -x.  backward: dx += -grad
Tensor neg(const Tensor& x, Site site = Site::current());
/// Composite: a + (-b).
Tensor sub(const Tensor& a, const Tensor& b, Site site = Site::current());
/// Composite: a * b^-1.
Tensor div(const Tensor& a, const Tensor& b, Site site = Site::current());
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

/// forward: x broadcast to `shape`.  backward: dx += sum_to(grad, x.shape)
Tensor broadcast_to(const Tensor& x, const Shape& shape, Site site = Site::current());
/// forward: x summed over broadcast axes down to `shape` (the reduce-to-shape of broadcasting).
/// backward: dx += broadcast_to(grad, x.shape)
Tensor sum_to(const Tensor& x, const Shape& shape, Site site = Site::current());

// ---- elementwise (ops/elementwise.cpp) ------------------------------------------------------------

/// forward: exp(x).  backward: dx += grad * result
Tensor exp(const Tensor& x, Site site = Site::current());
/// forward: log(x) (NaN for x < 0, as <cmath>).  backward: dx += grad / x
Tensor log(const Tensor& x, Site site = Site::current());
/// forward: sqrt(x).  backward: dx += grad * 0.5 / result
Tensor sqrt(const Tensor& x, Site site = Site::current());
/// forward: sin(x).  backward: dx += grad * cos(x)
Tensor sin(const Tensor& x, Site site = Site::current());
/// forward: cos(x).  backward: dx += -grad * sin(x)
Tensor cos(const Tensor& x, Site site = Site::current());
/// forward: tanh(x).  backward: dx += grad * (1 - result^2)
Tensor tanh(const Tensor& x, Site site = Site::current());
/// forward: y = 1 / (1 + exp(-x)), computed without overflow for large |x|.
/// backward: dx += sigmoid_backward(grad, result) = grad * y * (1 - y)
Tensor sigmoid(const Tensor& x, Site site = Site::current());
/// Fused helper, primitive for speed: forward g * y * (1 - y).
/// backward: dg += grad * y * (1 - y), dy += grad * g * (1 - 2y)
Tensor sigmoid_backward(const Tensor& g, const Tensor& y, Site site = Site::current());
/// forward: max(x, 0).  backward: dx += grad * (x > 0)
Tensor relu(const Tensor& x, Site site = Site::current());
/// forward: |x|.  backward: dx += grad * sign(x)
Tensor abs(const Tensor& x, Site site = Site::current());
/// forward: x^p.  backward: dx += grad * p * x^(p-1)
Tensor pow(const Tensor& x, double p, Site site = Site::current());
/// forward: x^y.  backward: dx += grad * y * x^(y-1), dy += grad * result * log(x)
Tensor pow(const Tensor& x, const Tensor& y, Site site = Site::current());
/// forward: elementwise min(a, b) (ties pick a).  backward: da += grad * (a <= b), db += grad * (a > b)
Tensor minimum(const Tensor& a, const Tensor& b, Site site = Site::current());
/// forward: elementwise max(a, b) (ties pick a).  backward: da += grad * (a >= b), db += grad * (a < b)
Tensor maximum(const Tensor& a, const Tensor& b, Site site = Site::current());

// ---- reductions (ops/reduce.cpp) --------------------------------------------------------------------

/// forward: sum of all elements (0-d).  backward: dx += broadcast_to(grad, x.shape)
Tensor sum(const Tensor& x, Site site = Site::current());
/// forward: sum over `axis`.  backward: dx += broadcast_to(grad with axis kept, x.shape)
Tensor sum(const Tensor& x, int axis, bool keepdim = false, Site site = Site::current());
/// Composite: sum(x) / numel. @throws std::invalid_argument when x is empty (not NaN as in PyTorch).
Tensor mean(const Tensor& x, Site site = Site::current());
/// Composite: sum(x, axis) / x.shape[axis]. @throws std::invalid_argument when that axis is empty.
Tensor mean(const Tensor& x, int axis, bool keepdim = false, Site site = Site::current());
/// forward: max over `axis`.  backward: dx += grad at the first arg-max of each slice, 0 elsewhere
/// @throws std::invalid_argument when that axis is empty (as PyTorch). logsumexp and log_softmax likewise.
Tensor max(const Tensor& x, int axis, bool keepdim = false, Site site = Site::current());
/// Composite, stable: m + log(sum(exp(x - m), axis)) with m = max(x, axis) treated as a constant.
Tensor logsumexp(const Tensor& x, int axis, bool keepdim = false, Site site = Site::current());
/// Composite: x - logsumexp(x, axis, keepdim = true).
Tensor log_softmax(const Tensor& x, int axis, Site site = Site::current());

// ---- linear algebra (ops/linalg.cpp) ----------------------------------------------------------------

/// forward: C = op(A) op(B) on BLAS, op = transpose when the flag is set. [m,k] x [k,n] -> [m,n]
/// backward: dA += grad op(B)^T (or op(B) grad^T when transposed), dB += op(A)^T grad (or grad^T op(A))
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b, Site site = Site::current());
/// 2-D matrix product a b.
Tensor matmul(const Tensor& a, const Tensor& b, Site site = Site::current());
/// forward: 2-D transpose (a copy).  backward: dx += transpose(grad)
Tensor transpose(const Tensor& x, Site site = Site::current());

// ---- shape (ops/shape_ops.cpp) --------------------------------------------------------------------

/// forward: same data with another shape of equal numel.  backward: dx += reshape(grad, x.shape)
Tensor reshape(const Tensor& x, const Shape& shape, Site site = Site::current());
/// reshape(x, {3, -1}): as above, with one -1 inferred from the element count.
Tensor reshape(const Tensor& x, std::initializer_list<std::int64_t> dims, Site site = Site::current());
/// forward: rows x[indices[i]] along axis 0.  backward: dx += index_add_rows(grad, indices, x.shape[0])
Tensor rows(const Tensor& x, const std::vector<std::int64_t>& indices, Site site = Site::current());
/// forward: zeros [n, ...] with g's row i added at row indices[i].  backward: dg += rows(grad, indices)
Tensor index_add_rows(const Tensor& g, const std::vector<std::int64_t>& indices, std::int64_t n, Site site = Site::current());
/// forward: a tensor of `shape` from scalar Vars (row-major).  backward: dvars[i] += grad[i]
Tensor stack(const std::vector<Var>& vars, const Shape& shape, Dtype dtype = Dtype::f64, Site site = Site::current());
/// 1-D stack.
Tensor stack(const std::vector<Var>& vars, Dtype dtype = Dtype::f64, Site site = Site::current());

// ---- plain array helpers (no tape) ------------------------------------------------------------------

/// dst += src elementwise (same shape and dtype); used by the engine and optimizers.
void add_inplace(Array& dst, const Array& src);

}  // namespace autodiff
