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
/// matmul's operands: rank >= 1 (transpose flags only on rank >= 2), float, equal inner dimensions, one dtype,
/// broadcastable batch dimensions.
void check_matmul(std::string_view op, const Tensor& a, const Tensor& b, bool ta, bool tb);
void check_index(std::string_view op, std::int64_t index, std::int64_t size);
void check_reshape(std::string_view op, const Tensor& from, const Shape& to);
/// A bool mask (Dtype::b8); the message says how to make one (a comparison, or x.to(Dtype::b8)).
void check_mask(std::string_view op, std::string_view what, const Tensor& t);
/// Every int64 value of idx in [0, size), size being dim `dim` of x (named `x_name` in the message, which names the
/// first bad index, its position in idx, the dim and its size).
void check_index_values(std::string_view op, const Tensor& idx, int dim, std::int64_t size, std::string_view x_name,
                        const Tensor& x);
/// where's operands: a bool cond, a and b of one dtype, and three shapes that broadcast. Returns the broadcast shape.
Shape check_where(std::string_view op, const Tensor& cond, const Tensor& a, const Tensor& b);

/// bmm's operands: 3-D float tensors of one dtype, equal batch sizes and inner dimensions.
void check_bmm(const Tensor& a, const Tensor& b);
/// 1-D float tensors of one dtype (dot, outer).
void check_vectors(std::string_view op, const Tensor& a, const Tensor& b);
/// Every masked axis of x holds at least one element (reductions with no identity over a list of axes).
void check_nonempty_axes(std::string_view op, const Tensor& x, const std::array<bool, Shape::max_rank>& mask);
/// var and std: count - correction > 0 (PyTorch divides by max(0, count - correction) and gives inf or NaN).
void check_correction(std::string_view op, const Tensor& x, std::int64_t count, double correction);

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
