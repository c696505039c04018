// Shape ops: views and rearrangements of a tensor's elements (reshape, permute, squeeze, slicing, cat, split).
#pragma once

#include "autodiff/tape.hpp"

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace autodiff {

/// The same elements with another shape of equal numel (shares storage; always a node of its own).
Tensor reshape(const Tensor& x, const Shape& shape, Site site = Site::current());
/// reshape(x, {3, -1}): as above, with one -1 inferred from the element count.
Tensor reshape(const Tensor& x, std::initializer_list<std::int64_t> dims, Site site = Site::current());

/// Axes reordered: axis i of the result is axis dims[i] of x (torch.permute; a copy): permute(x, {0, 2, 3, 1}).
/// @throws std::invalid_argument for a count other than x's rank, an axis out of range or a repeated axis.
Tensor permute(const Tensor& x, const Dims& dims, Site site = Site::current());
/// Axes dim0 and dim1 swapped, for any rank (torch.transpose; a copy). The 2-D transpose(x) is in ops/linalg.
Tensor transpose(const Tensor& x, int dim0, int dim1, Site site = Site::current());

/// Every size-1 axis removed: [1,3,1] -> [3] (shares storage).
Tensor squeeze(const Tensor& x, Site site = Site::current());
/// The listed axes removed where their size is 1, others kept as in PyTorch: squeeze(x, 0), squeeze(x, {0, 2}).
Tensor squeeze(const Tensor& x, const Dims& dims, Site site = Site::current());
/// A size-1 axis inserted at dim, in [-rank-1, rank]: unsqueeze(x, -1) appends one (shares storage).
Tensor unsqueeze(const Tensor& x, int dim, Site site = Site::current());
/// Axes start_dim..end_dim (inclusive) merged into one (shares storage); a 0-d x gives [1].
Tensor flatten(const Tensor& x, int start_dim = 0, int end_dim = -1, Site site = Site::current());
/// x repeated along its size-1 axes and new leading axes up to `shape` (torch.expand, but a copy); -1 keeps x's
/// size on that axis: expand(x, {4, -1, 3}). @throws std::invalid_argument when x does not expand to it.
Tensor expand(const Tensor& x, std::initializer_list<std::int64_t> shape, Site site = Site::current());
Tensor expand(const Tensor& x, const std::vector<std::int64_t>& shape, Site site = Site::current());
Tensor expand(const Tensor& x, const Shape& shape, Site site = Site::current());

/// Elements start .. start + length - 1 along dim (torch.narrow; a copy). A negative start counts from the end.
/// @throws std::invalid_argument when the range leaves the axis.
Tensor narrow(const Tensor& x, int dim, std::int64_t start, std::int64_t length, Site site = Site::current());
/// Element `index` along dim, that axis dropped (torch.select; a copy). A negative index counts from the end.
/// @throws std::invalid_argument naming the index and the size when it is out of range.
Tensor select(const Tensor& x, int dim, std::int64_t index, Site site = Site::current());
/// Elements start, start + step, ... before end along dim, as x[start:end:step] in Python (a copy): negative bounds
/// count from the end and bounds outside the axis are clamped (pass INT64_MAX as end for "to the end").
/// @throws std::invalid_argument when step <= 0 (as PyTorch).
Tensor slice(const Tensor& x, int dim, std::int64_t start, std::int64_t end, std::int64_t step = 1,
             Site site = Site::current());
/// The adjoint of slice (torch's slice_backward): zeros of input_shape with grad written where slice(., dim, start,
/// end, step) reads. Its own backward is that slice. @throws std::invalid_argument when grad has the wrong shape.
Tensor slice_backward(const Tensor& grad, const Shape& input_shape, int dim, std::int64_t start, std::int64_t end,
                      std::int64_t step, Site site = Site::current());

/// Tensors of one dtype joined along an existing axis; the other sizes must match (torch.cat). As in PyTorch, 1-D
/// empty tensors (shape [0]) are skipped, whatever the others' rank and dtype.
/// @throws std::invalid_argument for an empty list, a 0-d tensor, or dtypes or shapes that differ (naming which).
Tensor cat(const std::vector<Tensor>& tensors, int dim = 0, Site site = Site::current());
/// Tensors of one shape and dtype joined along a new axis dim, in [-rank-1, rank] (torch.stack).
/// @throws std::invalid_argument for an empty list or dtypes or shapes that differ (naming which).
Tensor stack(const std::vector<Tensor>& tensors, int dim = 0, Site site = Site::current());
/// Pieces of split_size along dim, the last one smaller when split_size does not divide the size (torch.split);
/// each piece is a narrow of x. @throws std::invalid_argument when split_size <= 0.
std::vector<Tensor> split(const Tensor& x, std::int64_t split_size, int dim = 0, Site site = Site::current());
/// x cut into pieces of ceil(size / chunks) along dim, the last smaller; fewer than `chunks` pieces when they run
/// out (torch.chunk: 5 into 3 gives 2,2,1; 6 into 4 gives 2,2,2). @throws std::invalid_argument when chunks <= 0.
std::vector<Tensor> chunk(const Tensor& x, std::int64_t chunks, int dim = 0, Site site = Site::current());

}  // namespace autodiff
