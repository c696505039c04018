// Elementwise ops: exp, log, sqrt, trigonometric and special functions, activations (with their fused gradients),
// pow, minimum, maximum.
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
/// x for x > 0, negative_slope * x otherwise (torch.nn.functional.leaky_relu).
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01, Site site = Site::current());
/// Fused leaky_relu gradient g * (x > 0 ? 1 : negative_slope) (primitive for speed, itself differentiable).
Tensor leaky_relu_backward(const Tensor& g, const Tensor& x, double negative_slope, Site site = Site::current());
/// x for x > 0, alpha * (exp(x) - 1) otherwise (torch.nn.functional.elu).
Tensor elu(const Tensor& x, double alpha = 1.0, Site site = Site::current());
/// Fused elu gradient g * (x > 0 ? 1 : alpha * exp(x)) (primitive for speed, itself differentiable).
Tensor elu_backward(const Tensor& g, const Tensor& x, double alpha, Site site = Site::current());
/// log(1 + exp(beta * x)) / beta, and x where beta * x > threshold (torch.nn.functional.softplus); never overflows.
Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0, Site site = Site::current());
/// Fused softplus gradient g * (beta * x > threshold ? 1 : sigmoid(beta * x)) (primitive for speed, differentiable).
Tensor softplus_backward(const Tensor& g, const Tensor& x, double beta, double threshold, Site site = Site::current());
/// x * sigmoid(x), also called swish (torch.nn.functional.silu).
Tensor silu(const Tensor& x, Site site = Site::current());
/// Fused silu gradient g * s * (1 + x * (1 - s)), s = sigmoid(x) (primitive for speed, itself differentiable).
Tensor silu_backward(const Tensor& g, const Tensor& x, Site site = Site::current());

/// GELU's two forms, as PyTorch's `approximate` argument: "none" (exact, with erf) and "tanh".
enum class GeluApproximate : std::uint8_t { none, tanh };
/// x * Phi(x) with Phi the standard normal CDF, or its tanh approximation (torch.nn.functional.gelu).
Tensor gelu(const Tensor& x, GeluApproximate approximate = GeluApproximate::none, Site site = Site::current());
/// Fused gelu gradient g * gelu'(x) (primitive for speed, itself differentiable).
Tensor gelu_backward(const Tensor& g, const Tensor& x, GeluApproximate approximate = GeluApproximate::none,
                     Site site = Site::current());

/// log(1 + x), accurate for x near 0.
Tensor log1p(const Tensor& x, Site site = Site::current());
/// exp(x) - 1, accurate for x near 0.
Tensor expm1(const Tensor& x, Site site = Site::current());
/// The error function.
Tensor erf(const Tensor& x, Site site = Site::current());
/// x * x.
Tensor square(const Tensor& x, Site site = Site::current());
/// 1 / sqrt(x) (inf at 0, NaN for x < 0, as <cmath>).
Tensor rsqrt(const Tensor& x, Site site = Site::current());
/// -1, 0 or 1 by the sign of x (0 for -0.0; NaN stays NaN, where PyTorch gives 0). Its gradient is zero.
Tensor sign(const Tensor& x, Site site = Site::current());
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
