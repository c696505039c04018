// Elementwise ops: exp, log, sqrt, trigonometric and activation functions, pow, minimum, maximum.
#pragma once

#include "autodiff/tape.hpp"

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace autodiff {

Tensor exp(const Tensor& x, Site site = Site::current());
/// Natural log (NaN for x < 0, as <cmath>).
Tensor log(const Tensor& x, Site site = Site::current());
Tensor sqrt(const Tensor& x, Site site = Site::current());
Tensor sin(const Tensor& x, Site site = Site::current());
Tensor cos(const Tensor& x, Site site = Site::current());
Tensor tanh(const Tensor& x, Site site = Site::current());
/// Logistic function 1 / (1 + exp(-x)), without overflow for large |x|.
Tensor sigmoid(const Tensor& x, Site site = Site::current());
/// Fused sigmoid gradient g * y * (1 - y) (primitive for speed, itself differentiable).
Tensor sigmoid_backward(const Tensor& g, const Tensor& y, Site site = Site::current());
/// max(x, 0).
Tensor relu(const Tensor& x, Site site = Site::current());
Tensor abs(const Tensor& x, Site site = Site::current());
/// x^p for a constant exponent.
Tensor pow(const Tensor& x, double p, Site site = Site::current());
/// x^y elementwise (broadcasting).
Tensor pow(const Tensor& x, const Tensor& y, Site site = Site::current());
/// Elementwise min(a, b); ties pick a.
Tensor minimum(const Tensor& a, const Tensor& b, Site site = Site::current());
/// Elementwise max(a, b); ties pick a.
Tensor maximum(const Tensor& a, const Tensor& b, Site site = Site::current());

}  // namespace autodiff
