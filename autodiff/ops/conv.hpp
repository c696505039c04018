// Convolution and pooling on NCHW tensors (conv2d, conv1d, max_pool2d, avg_pool2d, adaptive_avg_pool2d) and the
// backward ops they differentiate through, each differentiable again.
#pragma once

#include "autodiff/tape.hpp"

#include <cstdint>
#include <optional>
#include <utility>

namespace autodiff {

/// A (height, width) pair for kernel sizes, strides, paddings and dilations. One integer means both, as in PyTorch:
/// `2` is {2, 2}, `{2, 1}` is height 2 and width 1.
struct Size2 {
  std::int64_t h = 0, w = 0;
  constexpr Size2(std::int64_t both) : h(both), w(both) {}  // NOLINT: implicit, so `stride = 2` reads as 2x2
  constexpr Size2(std::int64_t height, std::int64_t width) : h(height), w(width) {}
  friend constexpr bool operator==(Size2 a, Size2 b) { return a.h == b.h && a.w == b.w; }
};

/// 2-D cross-correlation (torch.nn.functional.conv2d): x [N,C,H,W], w [O,C/groups,kH,kW], b [O] or undefined for no
/// bias -> [N,O,Ho,Wo] with Ho = (H + 2 padding.h - dilation.h (kH - 1) - 1) / stride.h + 1 (zero padding).
/// @throws std::invalid_argument for wrong ranks or dtypes, an empty C, H or W, channels that do not match w and
/// groups, C or O not divisible by groups, a bias not of shape [O], a non-positive stride, dilation or groups, a
/// negative padding, or a dilated kernel larger than the padded input.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b = {}, Size2 stride = 1, Size2 padding = 0,
              Size2 dilation = 1, std::int64_t groups = 1, Site site = Site::current());
/// 1-D cross-correlation (torch.nn.functional.conv1d): x [N,C,L], w [O,C/groups,k], b [O] or undefined -> [N,O,Lo].
/// @throws std::invalid_argument as conv2d.
Tensor conv1d(const Tensor& x, const Tensor& w, const Tensor& b = {}, std::int64_t stride = 1, std::int64_t padding = 0,
              std::int64_t dilation = 1, std::int64_t groups = 1, Site site = Site::current());
/// conv2d's gradient with respect to its input (torch.nn.grad.conv2d_input): grad [N,O,Ho,Wo] and w give an
/// input-shaped [N,C,H,W] result; input_shape fixes H and W, which a stride leaves ambiguous.
/// @throws std::invalid_argument as conv2d, or when grad is not the shape conv2d gives for input_shape.
Tensor conv2d_input_grad(const Tensor& grad, const Tensor& w, const Shape& input_shape, Size2 stride = 1,
                         Size2 padding = 0, Size2 dilation = 1, std::int64_t groups = 1, Site site = Site::current());
/// conv2d's gradient with respect to its weight (torch.nn.grad.conv2d_weight): x [N,C,H,W] and grad [N,O,Ho,Wo] give
/// a weight-shaped [O,C/groups,kH,kW] result.
/// @throws std::invalid_argument as conv2d, or when grad is not the shape conv2d gives for x and weight_shape.
Tensor conv2d_weight_grad(const Tensor& x, const Tensor& grad, const Shape& weight_shape, Size2 stride = 1,
                          Size2 padding = 0, Size2 dilation = 1, std::int64_t groups = 1, Site site = Site::current());
/// conv2d's gradient with respect to its bias: grad [N,O,Ho,Wo] summed over N, Ho and Wo -> [O].
/// @throws std::invalid_argument for a rank other than 4 or a non-float dtype.
Tensor conv2d_bias_grad(const Tensor& grad, Site site = Site::current());

/// 2-D max pooling over x [N,C,H,W] (torch.nn.functional.max_pool2d): stride defaults to the kernel; padding is -inf
/// and at most half the kernel. The first maximum of a window wins a tie; a NaN wins over numbers.
/// @throws std::invalid_argument for a rank other than 4, a non-float dtype, an empty C, H or W, a non-positive kernel,
/// stride or dilation, a negative padding or one above half the kernel, or a dilated kernel larger than the padded
/// input.
Tensor max_pool2d(const Tensor& x, Size2 kernel, std::optional<Size2> stride = std::nullopt, Size2 padding = 0,
                  Size2 dilation = 1, Site site = Site::current());
/// max_pool2d and the int64 indices of each window's maximum, flat within its [H,W] plane (as PyTorch's
/// return_indices). @throws std::invalid_argument as max_pool2d.
std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, Size2 kernel, std::optional<Size2> stride = std::nullopt,
                                                  Size2 padding = 0, Size2 dilation = 1, Site site = Site::current());
/// max_pool2d's gradient: grad [N,C,Ho,Wo] added at the plane positions `indices` into zeros of input_shape.
/// @throws std::invalid_argument when grad and indices differ in shape, or an index is outside the input plane.
Tensor max_pool2d_backward(const Tensor& grad, const Tensor& indices, const Shape& input_shape, Site site = Site::current());
/// The adjoint of max_pool2d_backward: x [N,C,H,W] read at the plane positions `indices` [N,C,Ho,Wo].
/// @throws std::invalid_argument when the batch or channels differ, or an index is outside the plane.
Tensor max_pool_double_backward(const Tensor& x, const Tensor& indices, Site site = Site::current());

/// 2-D average pooling (torch.nn.functional.avg_pool2d with count_include_pad = true): each window's sum over
/// kernel.h * kernel.w, padded zeros included. @throws std::invalid_argument as max_pool2d.
Tensor avg_pool2d(const Tensor& x, Size2 kernel, std::optional<Size2> stride = std::nullopt, Size2 padding = 0,
                  Site site = Site::current());
/// avg_pool2d's gradient: each grad element spread evenly over its window, into zeros of input_shape.
/// @throws std::invalid_argument as avg_pool2d, or when grad is not the shape avg_pool2d gives for input_shape.
Tensor avg_pool2d_backward(const Tensor& grad, const Shape& input_shape, Size2 kernel,
                           std::optional<Size2> stride = std::nullopt, Size2 padding = 0, Site site = Site::current());
/// Adaptive average pooling to output_size (torch.nn.functional.adaptive_avg_pool2d): output row i averages input rows
/// floor(i H / Ho) to ceil((i + 1) H / Ho) - 1, and likewise for columns. {1, 1} is the global average.
/// @throws std::invalid_argument for a rank other than 4, a non-float dtype, an empty C, H or W, or a non-positive
/// output size.
Tensor adaptive_avg_pool2d(const Tensor& x, Size2 output_size, Site site = Site::current());
/// adaptive_avg_pool2d's gradient: each grad element spread evenly over its window, into zeros of input_shape.
/// @throws std::invalid_argument when grad's batch or channels differ from input_shape's.
Tensor adaptive_avg_pool2d_backward(const Tensor& grad, const Shape& input_shape, Site site = Site::current());

}  // namespace autodiff
