// Indexing ops: selecting, gathering and scattering elements by int64 indices, one_hot and embedding; masks (bool
// tensors, Dtype::b8), the comparisons that make them and the ops that use them (where, masked_fill, logical_*).
#pragma once

#include "autodiff/tape.hpp"

#include <cstdint>
#include <vector>

namespace autodiff {

// Indices are int64 tensors (Dtype::i64, e.g. tensor_i64({2, 0, 2})), checked against the indexed dim's size
// (negative index values are errors, as in PyTorch). Dims may be negative. Integer and bool results are constants.

/// Rows x[indices[i]] along axis 0: index_select(x, 0, indices) with a std::vector.
Tensor rows(const Tensor& x, const std::vector<std::int64_t>& indices, Site site = Site::current());
/// Zeros [n, ...] with row i of g added at row indices[i] (the adjoint of rows): index_add along dim 0.
Tensor index_add_rows(const Tensor& g, const std::vector<std::int64_t>& indices, std::int64_t n, Site site = Site::current());

/// The slices idx[0], idx[1], ... of x along dim (torch.index_select); idx 1-D (or 0-d) int64, x of any dtype, rank >= 1.
/// @throws std::invalid_argument for idx not int64 or not 1-D, or an index out of range naming it, the dim and its size.
Tensor index_select(const Tensor& x, int dim, const Tensor& idx, Site site = Site::current());
/// x with slice j of src added at slice idx[j] along dim, out of place (torch.index_add); repeated indices
/// accumulate. x and src float or int64 of one dtype; src's shape is x's with idx.numel() at dim.
Tensor index_add(const Tensor& x, int dim, const Tensor& idx, const Tensor& src, Site site = Site::current());
/// out[i][j][k] = x[i][idx[i][j][k]][k] for dim 1 (torch.gather): idx int64 of x's rank, no larger than x in the
/// other dims; the result has idx's shape and x's dtype.
Tensor gather(const Tensor& x, int dim, const Tensor& idx, Site site = Site::current());
/// x with src[i][j][k] added at [i][idx[i][j][k]][k] for dim 1, out of place (torch.scatter_add); repeated indices
/// accumulate. src must have idx's shape (PyTorch also takes a larger src and reads only idx's part of it).
Tensor scatter_add(const Tensor& x, int dim, const Tensor& idx, const Tensor& src, Site site = Site::current());

/// idx.shape + [num_classes], int64, 1 at [..., idx[...]] (torch.nn.functional.one_hot); convert with .to(Dtype::f32).
/// num_classes -1 means max(idx) + 1. @throws std::invalid_argument for a negative index or one >= num_classes.
Tensor one_hot(const Tensor& idx, std::int64_t num_classes = -1, Site site = Site::current());
/// Rows of weight [num, dim] (float) picked by idx (int64, any shape): idx.shape + [dim]. torch.embedding's argument
/// order (torch.nn.functional.embedding takes idx first); gradients of repeated indices accumulate.
Tensor embedding(const Tensor& weight, const Tensor& idx, Site site = Site::current());

/// a where cond is true, b elsewhere (torch.where), broadcasting over all three. cond a bool mask; a and b of one
/// dtype (any). @throws std::invalid_argument for a non-bool cond, saying how to make a mask.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b, Site site = Site::current());
/// where(cond, a, b) with b a constant of a's dtype.
Tensor where(const Tensor& cond, const Tensor& a, double b, Site site = Site::current());
/// where(cond, a, b) with a a constant of b's dtype.
Tensor where(const Tensor& cond, double a, const Tensor& b, Site site = Site::current());
/// x with `value` where mask is true (torch.masked_fill), broadcasting x and the bool mask.
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value, Site site = Site::current());

// Comparisons return bool masks (Dtype::b8), constants with no gradient. Tensor-tensor: both of one dtype (f32, f64,
// i64 or bool; convert one with x.to(...) otherwise), broadcasting. Tensor-scalar: a float tensor compares with the
// scalar converted to its dtype (as PyTorch); int64 and bool compare as doubles, so eq(labels, 2.5) is all false.
// NaN compares unequal to everything (ne is true).

/// a == b elementwise.
Tensor eq(const Tensor& a, const Tensor& b, Site site = Site::current());
/// a != b elementwise.
Tensor ne(const Tensor& a, const Tensor& b, Site site = Site::current());
/// a < b elementwise.
Tensor lt(const Tensor& a, const Tensor& b, Site site = Site::current());
/// a <= b elementwise.
Tensor le(const Tensor& a, const Tensor& b, Site site = Site::current());
/// a > b elementwise.
Tensor gt(const Tensor& a, const Tensor& b, Site site = Site::current());
/// a >= b elementwise.
Tensor ge(const Tensor& a, const Tensor& b, Site site = Site::current());
Tensor eq(const Tensor& a, double b, Site site = Site::current());
Tensor ne(const Tensor& a, double b, Site site = Site::current());
Tensor lt(const Tensor& a, double b, Site site = Site::current());
Tensor le(const Tensor& a, double b, Site site = Site::current());
Tensor gt(const Tensor& a, double b, Site site = Site::current());
Tensor ge(const Tensor& a, double b, Site site = Site::current());

/// Not x, for a bool mask.
Tensor logical_not(const Tensor& x, Site site = Site::current());
/// a and b, for bool masks (broadcasting).
Tensor logical_and(const Tensor& a, const Tensor& b, Site site = Site::current());
/// a or b, for bool masks (broadcasting).
Tensor logical_or(const Tensor& a, const Tensor& b, Site site = Site::current());

}  // namespace autodiff
