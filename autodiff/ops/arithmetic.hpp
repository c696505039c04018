// Arithmetic ops: add, sub, mul, div, neg and their operators (NumPy broadcasting); broadcast_to, sum_to; to.
#pragma once

#include "autodiff/tape.hpp"

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace autodiff {

/// Elementwise a + b.
Tensor add(const Tensor& a, const Tensor& b, Site site = Site::current());
/// Elementwise a - b.
Tensor sub(const Tensor& a, const Tensor& b, Site site = Site::current());
/// Elementwise a * b.
Tensor mul(const Tensor& a, const Tensor& b, Site site = Site::current());
/// Elementwise a / b (IEEE: x/0 is inf or NaN).
Tensor div(const Tensor& a, const Tensor& b, Site site = Site::current());
/// Elementwise -x.
Tensor neg(const Tensor& x, Site site = Site::current());
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

/// A copy of x with its own storage; gradients flow through (torch.clone).
Tensor clone(const Tensor& x, Site site = Site::current());

/// x broadcast to `shape` (a copy).
Tensor broadcast_to(const Tensor& x, const Shape& shape, Site site = Site::current());
/// x summed over broadcast axes down to `shape`: the reduce-to-shape of broadcasting.
Tensor sum_to(const Tensor& x, const Shape& shape, Site site = Site::current());

}  // namespace autodiff
