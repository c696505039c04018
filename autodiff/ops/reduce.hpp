// Reductions over all elements or a list of axes (sum, mean, amax, amin, prod, var, std, norm), over one axis with
// indices (max, min, argmax, argmin), cumsum, clamp, and the stable softmax family.
#pragma once

#include "autodiff/tape.hpp"

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <vector>

namespace autodiff {

/// The result of max(x, dim) and min(x, dim): values (differentiable) and int64 indices, as torch.max's pair.
/// `auto [values, indices] = max(x, 1);`
struct ValuesIndices {
  Tensor values;
  Tensor indices;
};

/// Sum of all elements (0-d).
Tensor sum(const Tensor& x, Site site = Site::current());
/// Sum over the given axes: sum(x, 1), sum(x, {0, 2}, true).
Tensor sum(const Tensor& x, const Dims& dims, bool keepdim = false, Site site = Site::current());
/// Mean of all elements. @throws std::invalid_argument when x is empty (PyTorch gives NaN).
Tensor mean(const Tensor& x, Site site = Site::current());
/// Mean over the given axes. @throws std::invalid_argument when a reduced axis is empty.
Tensor mean(const Tensor& x, const Dims& dims, bool keepdim = false, Site site = Site::current());

/// Largest element (0-d); ties share the gradient evenly. @throws std::invalid_argument when x is empty.
Tensor amax(const Tensor& x, Site site = Site::current());
/// Largest element over the given axes; ties share the gradient evenly (torch.amax).
/// @throws std::invalid_argument when a reduced axis is empty.
Tensor amax(const Tensor& x, const Dims& dims, bool keepdim = false, Site site = Site::current());
/// Smallest element (0-d); ties share the gradient evenly. @throws std::invalid_argument when x is empty.
Tensor amin(const Tensor& x, Site site = Site::current());
/// Smallest element over the given axes; ties share the gradient evenly (torch.amin).
/// @throws std::invalid_argument when a reduced axis is empty.
Tensor amin(const Tensor& x, const Dims& dims, bool keepdim = false, Site site = Site::current());
/// Largest element (0-d), as torch.max(x). @throws std::invalid_argument when x is empty.
Tensor max(const Tensor& x, Site site = Site::current());
/// Smallest element (0-d), as torch.min(x). @throws std::invalid_argument when x is empty.
Tensor min(const Tensor& x, Site site = Site::current());
/// Largest element along dim and the int64 index of the first one (NaN wins), as torch.max(x, dim).
/// @throws std::invalid_argument when that axis is empty.
ValuesIndices max(const Tensor& x, int dim, bool keepdim = false, Site site = Site::current());
/// Smallest element along dim and the int64 index of the first one (NaN wins), as torch.min(x, dim).
/// @throws std::invalid_argument when that axis is empty.
ValuesIndices min(const Tensor& x, int dim, bool keepdim = false, Site site = Site::current());
/// Flat int64 index (0-d) of the first largest element. @throws std::invalid_argument when x is empty.
Tensor argmax(const Tensor& x, Site site = Site::current());
/// int64 index of the first largest element along dim (float or int64 x).
/// @throws std::invalid_argument when that axis is empty.
Tensor argmax(const Tensor& x, int dim, bool keepdim = false, Site site = Site::current());
/// Flat int64 index (0-d) of the first smallest element. @throws std::invalid_argument when x is empty.
Tensor argmin(const Tensor& x, Site site = Site::current());
/// int64 index of the first smallest element along dim (float or int64 x).
/// @throws std::invalid_argument when that axis is empty.
Tensor argmin(const Tensor& x, int dim, bool keepdim = false, Site site = Site::current());

/// Product of all elements (0-d; 1 when empty). The gradient is exact where elements are 0.
Tensor prod(const Tensor& x, Site site = Site::current());
/// Product over the given axes (1 for an empty slice).
Tensor prod(const Tensor& x, const Dims& dims, bool keepdim = false, Site site = Site::current());
/// Variance of all elements with correction 1 (Bessel), as torch.var(x).
/// @throws std::invalid_argument when x has fewer than 2 elements (PyTorch gives NaN or inf).
Tensor var(const Tensor& x, Site site = Site::current());
/// Variance over the given axes: sum((x - mean)^2) / (n - correction).
/// @throws std::invalid_argument when correction >= n, the number of elements reduced (PyTorch gives NaN or inf).
Tensor var(const Tensor& x, const Dims& dims, bool keepdim = false, double correction = 1.0, Site site = Site::current());
/// Standard deviation of all elements, sqrt(var(x)). @throws std::invalid_argument as var.
/// @note Under `using namespace autodiff`, an unqualified std(x) is ambiguous with namespace std: write autodiff::std(x).
Tensor std(const Tensor& x, Site site = Site::current());
/// Standard deviation over the given axes, sqrt(var(x, dims, keepdim, correction)); its gradient is 0 where it is 0.
/// @throws std::invalid_argument as var.
Tensor std(const Tensor& x, const Dims& dims, bool keepdim = false, double correction = 1.0, Site site = Site::current());
/// Vector p-norm of all elements (torch.linalg.vector_norm): p = 1, 2, any p >= 1, or inf (max |x|). At 0 the
/// gradient is taken as 0 (PyTorch does the same), not NaN. @throws std::invalid_argument for other p.
Tensor norm(const Tensor& x, double p = 2.0, Site site = Site::current());
/// Vector p-norm over the given axes. @throws std::invalid_argument for p < 1 or NaN, or inf over an empty axis.
Tensor norm(const Tensor& x, double p, const Dims& dims, bool keepdim = false, Site site = Site::current());
/// Running sum along dim (float, int64; bool counts into int64).
Tensor cumsum(const Tensor& x, int dim, Site site = Site::current());

/// min(max(x, min), max) with either bound left out; the gradient passes inside and at the bounds (as PyTorch).
/// @throws std::invalid_argument when both bounds are left out.
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max, Site site = Site::current());
/// max(x, min).
Tensor clamp_min(const Tensor& x, double min, Site site = Site::current());
/// min(x, max).
Tensor clamp_max(const Tensor& x, double max, Site site = Site::current());

/// exp(x) / sum(exp(x)) along dim, computed with the max shift (stable for logits of any size).
Tensor softmax(const Tensor& x, int dim, Site site = Site::current());
/// x - logsumexp(x, dim) along dim, stable.
Tensor log_softmax(const Tensor& x, int dim, Site site = Site::current());
/// log(sum(exp(x))) over the given axes, stable: logsumexp(x, 1), logsumexp(x, {0, 2}, true).
Tensor logsumexp(const Tensor& x, const Dims& dims, bool keepdim = false, Site site = Site::current());
/// Fused softmax gradient y * (g - sum(g * y, dim)) (primitive for speed, itself differentiable).
Tensor softmax_backward(const Tensor& g, const Tensor& y, int dim, Site site = Site::current());
/// Fused log_softmax gradient g - exp(y) * sum(g, dim) (primitive for speed, itself differentiable).
Tensor log_softmax_backward(const Tensor& g, const Tensor& y, int dim, Site site = Site::current());

}  // namespace autodiff
