// Shape ops: views and rearrangements of a tensor's elements.
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

}  // namespace autodiff
