// Argument checks that throw std::invalid_argument with uniform "<op>: <what is wrong> (<values>)" messages.
#pragma once

#include "autodiff/array.hpp"
#include "autodiff/tensor.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace autodiff {

/// "[32,100]", or "'z1' [32,100]" when the tensor has a user label.
std::string describe(const Tensor& t);

void check_same_dtype(std::string_view op, const Tensor& a, const Tensor& b);
/// A float32 or float64 tensor (the dtypes that carry gradients).
void check_float(std::string_view op, const Tensor& t);
/// An int64 tensor of indices.
void check_int(std::string_view op, std::string_view what, const Tensor& t);
/// NumPy-broadcastable shapes (the message names user labels).
void check_broadcast(std::string_view op, const Tensor& a, const Tensor& b);
/// Float tensors of the same dtype with NumPy-broadcastable shapes: the arithmetic ops.
void check_binary(std::string_view op, const Tensor& a, const Tensor& b);
void check_same_shape(std::string_view op, std::string_view what, const Shape& got, const Shape& want);
void check_rank(std::string_view op, std::string_view what, const Tensor& t, int rank);
/// For reductions with no identity (max, mean, logsumexp): the reduced axis must hold at least one element.
void check_nonempty_axis(std::string_view op, const Tensor& x, int axis);
/// For reductions of all elements with no identity (mean): x must hold at least one element.
void check_nonempty(std::string_view op, const Tensor& x);
void check_matmul(std::string_view op, const Tensor& a, const Tensor& b, bool ta, bool tb);
void check_index(std::string_view op, std::int64_t index, std::int64_t size);
void check_reshape(std::string_view op, const Tensor& from, const Shape& to);

/// Convolution geometry (op conv2d or conv1d, one entry per spatial axis in stride, padding and dilation): x [N,C,...]
/// (C and the spatial sizes non-empty) and w [O,C/groups,...] of rank 2 + spatial axes, b undefined or [O], positive
/// stride, dilation and groups, non-negative padding, C and O divisible by groups, and a dilated kernel that fits the
/// padded input. x and w name the tensors in messages when given (with their labels); else their shapes are shown.
/// Dtypes are the caller's to check.
void check_conv(std::string_view op, const Shape& x_shape, const Tensor* x, const Shape& w_shape, const Tensor* w,
                const Tensor& b, std::span<const std::int64_t> stride, std::span<const std::int64_t> padding,
                std::span<const std::int64_t> dilation, std::int64_t groups);
/// Pooling geometry over the last kernel.size() axes of x (rank 2 + kernel.size(), every axis after the batch
/// non-empty): positive kernel, stride and dilation, padding non-negative and at most half the kernel, and a dilated
/// kernel that fits the padded input. x names the input in messages when given (with its label); else x_shape is shown.
/// The dtype is the caller's to check.
void check_pool(std::string_view op, const Shape& x_shape, const Tensor* x, std::span<const std::int64_t> kernel,
                std::span<const std::int64_t> stride, std::span<const std::int64_t> padding,
                std::span<const std::int64_t> dilation);
/// An op's gradient argument: same shape as the output the forward op gives (`want`).
void check_grad_shape(std::string_view op, const Tensor& grad, const Shape& want);

}  // namespace autodiff
