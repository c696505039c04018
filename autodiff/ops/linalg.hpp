// Linear algebra on BLAS: matrix products of any rank, dot and outer products, transposes.
#pragma once

#include "autodiff/tape.hpp"

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace autodiff {

/// Matrix product with torch.matmul's rules: 1-D x 1-D is a dot product (0-d); a 1-D lhs is a row vector and a 1-D
/// rhs a column vector, squeezed from the result; batch dims broadcast ([B,1,m,k] x [H,k,n] -> [B,H,m,n]).
/// @throws std::invalid_argument naming both shapes when the inner dimensions differ or the batch dims do not broadcast.
Tensor matmul(const Tensor& a, const Tensor& b, Site site = Site::current());
/// op(A) op(B), where op transposes the last two dims when its flag is set: [.., m,k] x [.., k,n] -> [.., m,n]
/// (as matmul otherwise; a flag on a 1-D operand is an error). Backward uses the flags, so it copies nothing.
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b, Site site = Site::current());
/// Batched product [B,m,k] x [B,k,n] -> [B,m,n] without broadcasting (torch.bmm).
/// @throws std::invalid_argument unless both are 3-D with equal batch sizes and inner dimensions.
Tensor bmm(const Tensor& a, const Tensor& b, Site site = Site::current());
/// input + mat1 mat2 for 2-D mat1 [m,k] and mat2 [k,n], input broadcastable to [m,n] (torch.addmm): one GEMM onto the
/// broadcast input, as nn::Linear uses for its bias.
/// @throws std::invalid_argument when mat1 or mat2 is not 2-D, inner dimensions or dtypes differ, or input does not
/// broadcast to [m,n].
Tensor addmm(const Tensor& input, const Tensor& mat1, const Tensor& mat2, Site site = Site::current());
/// Inner product of two 1-D tensors of one size (0-d).
Tensor dot(const Tensor& a, const Tensor& b, Site site = Site::current());
/// Outer product of two 1-D tensors: [m] x [n] -> [m,n].
Tensor outer(const Tensor& a, const Tensor& b, Site site = Site::current());
/// 2-D transpose (a copy).
Tensor transpose(const Tensor& x, Site site = Site::current());

}  // namespace autodiff
