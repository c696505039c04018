// Indexing ops: selecting, gathering and scattering elements by integer indices, and masks.
#pragma once

#include "autodiff/tape.hpp"

#include <cstdint>
#include <vector>

namespace autodiff {

/// Rows x[indices[i]] along axis 0.
Tensor rows(const Tensor& x, const std::vector<std::int64_t>& indices, Site site = Site::current());
/// Zeros [n, ...] with row i of g added at row indices[i] (the adjoint of rows).
Tensor index_add_rows(const Tensor& g, const std::vector<std::int64_t>& indices, std::int64_t n, Site site = Site::current());

}  // namespace autodiff
