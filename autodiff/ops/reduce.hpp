// Reductions over all elements or a list of axes, and the stable log-sum-exp family.
#pragma once

#include "autodiff/tape.hpp"

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace autodiff {

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

}  // namespace autodiff
