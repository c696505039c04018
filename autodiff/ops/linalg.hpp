// Linear algebra on BLAS: matrix products and transposes.
#pragma once

#include "autodiff/tape.hpp"

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace autodiff {

/// op(A) op(B) on BLAS, where op transposes when its flag is set: [m,k] x [k,n] -> [m,n].
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b, Site site = Site::current());
/// 2-D matrix product a b.
Tensor matmul(const Tensor& a, const Tensor& b, Site site = Site::current());
/// 2-D transpose (a copy).
Tensor transpose(const Tensor& x, Site site = Site::current());

}  // namespace autodiff
