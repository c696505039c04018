// Random ops: dropout, drawing from an explicit generator.
#pragma once

#include "autodiff/tape.hpp"

#include <random>

namespace autodiff {

/// In training, zeroes each element with probability p and scales the others by 1 / (1 - p); the gradient uses the
/// same mask (torch.nn.functional.dropout). Each element takes one word of gen (uniform01(gen) < p drops it), so a
/// seed gives the same mask on every standard library. Identity when !training or p == 0, zeros when p == 1: neither
/// draws from gen.
/// @throws std::invalid_argument when p is outside [0, 1] (or NaN), or x is not a float tensor.
Tensor dropout(const Tensor& x, double p, std::mt19937_64& gen, bool training = true, Site site = Site::current());

}  // namespace autodiff
