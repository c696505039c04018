// Conv2d, MaxPool2d and AvgPool2d: argument checks that name the layer, PyTorch's initialisation, and one engine op
// each (no backward code).
#include "nn/conv.hpp"

#include "autodiff/check.hpp"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>
#include <string_view>

namespace nn {

using autodiff::Shape;
using autodiff::Tensor;

namespace {

std::string str(Size2 s) { return fmt::format("{}x{}", s.h, s.w); }

/// A 4-D float input whose padded plane holds the kernel; every message names the layer and the input.
void check_input(std::string_view layer, const Tensor& x, Size2 kernel, Size2 padding) {
  if (x.rank() != 4 || x.shape()[1] < 1 || x.shape()[2] < 1 || x.shape()[3] < 1)
    throw std::invalid_argument(fmt::format("{}: input must be [N,C,H,W] with C, H and W non-empty (input {})", layer,
                                            autodiff::describe(x)));
  autodiff::check_float(layer, x);
  const std::int64_t h = x.shape()[2] + 2 * padding.h, w = x.shape()[3] + 2 * padding.w;
  if (h < kernel.h || w < kernel.w)
    throw std::invalid_argument(fmt::format("{}: kernel {} does not fit the padded input {}x{} (padding {}, input {})",
                                            layer, str(kernel), h, w, str(padding), autodiff::describe(x)));
}

void check_pool_args(std::string_view layer, Size2 kernel, Size2 stride, Size2 padding) {
  if (kernel.h < 1 || kernel.w < 1 || stride.h < 1 || stride.w < 1)
    throw std::invalid_argument(fmt::format("{}: kernel and stride must be positive (kernel {}, stride {})", layer,
                                            str(kernel), str(stride)));
  if (padding.h < 0 || padding.w < 0 || 2 * padding.h > kernel.h || 2 * padding.w > kernel.w)
    throw std::invalid_argument(fmt::format("{}: padding must be between 0 and half the kernel (padding {}, kernel {})",
                                            layer, str(padding), str(kernel)));
}

}  // namespace

Conv2d::Conv2d(std::int64_t in, std::int64_t out, Size2 kernel, Size2 stride, Size2 padding, std::mt19937_64& gen,
               bool bias, autodiff::Dtype dtype)
    : in_(in), out_(out), kernel_(kernel), stride_(stride), padding_(padding) {
  if (in < 1 || out < 1 || kernel.h < 1 || kernel.w < 1 || stride.h < 1 || stride.w < 1)
    throw std::invalid_argument(fmt::format("Conv2d: channels, kernel and stride must be positive (in {}, out {}, kernel {}, "
                                            "stride {})",
                                            in, out, str(kernel), str(stride)));
  if (padding.h < 0 || padding.w < 0)
    throw std::invalid_argument(fmt::format("Conv2d: padding must not be negative (padding {})", str(padding)));
  // PyTorch's kaiming_uniform(a = sqrt(5)) reduces to U(-1/sqrt(fan_in), 1/sqrt(fan_in)), the bias's bound too.
  const double bound = 1.0 / std::sqrt(static_cast<double>(in * kernel.h * kernel.w));
  weight_ = autodiff::uniform(Shape{out, in, kernel.h, kernel.w}, -bound, bound, gen, dtype, true);
  if (bias) bias_ = autodiff::uniform(Shape{out}, -bound, bound, gen, dtype, true);
}

void Conv2d::list(ModuleVisitor& v) {
  v.parameter("weight", weight_);
  if (bias_.defined()) v.parameter("bias", bias_);
}

Tensor Conv2d::forward(const Tensor& x) const {
  check_input("Conv2d", x, kernel_, padding_);
  if (x.shape()[1] != in_)
    throw std::invalid_argument(fmt::format("Conv2d: input has {} channels, expected {} (input {})", x.shape()[1], in_,
                                            autodiff::describe(x)));
  if (x.dtype() != weight_.dtype())
    throw std::invalid_argument(fmt::format("Conv2d: input dtype {} differs from the layer's {} (input {})",
                                            autodiff::dtype_name(x.dtype()), autodiff::dtype_name(weight_.dtype()),
                                            autodiff::describe(x)));
  // [N,in,H,W] * [out,in,kh,kw] + [out] -> [N,out,Ho,Wo]
  return autodiff::conv2d(x, weight_, bias_, stride_, padding_);
}

MaxPool2d::MaxPool2d(Size2 kernel, std::optional<Size2> stride, Size2 padding)
    : kernel_(kernel), stride_(stride.value_or(kernel)), padding_(padding) {
  check_pool_args("MaxPool2d", kernel_, stride_, padding_);
}

void MaxPool2d::list(ModuleVisitor&) {}

Tensor MaxPool2d::forward(const Tensor& x) const {
  check_input("MaxPool2d", x, kernel_, padding_);
  return autodiff::max_pool2d(x, kernel_, stride_, padding_);
}

AvgPool2d::AvgPool2d(Size2 kernel, std::optional<Size2> stride, Size2 padding)
    : kernel_(kernel), stride_(stride.value_or(kernel)), padding_(padding) {
  check_pool_args("AvgPool2d", kernel_, stride_, padding_);
}

void AvgPool2d::list(ModuleVisitor&) {}

Tensor AvgPool2d::forward(const Tensor& x) const {
  check_input("AvgPool2d", x, kernel_, padding_);
  return autodiff::avg_pool2d(x, kernel_, stride_, padding_);
}

}  // namespace nn
