// Convolution and pooling layers on NCHW tensors: Conv2d, MaxPool2d and AvgPool2d (PyTorch's modules of those names).
#pragma once

#include "autodiff/ops/conv.hpp"
#include "autodiff/tensor.hpp"
#include "module.hpp"

#include <cstdint>
#include <optional>
#include <random>

namespace nn {

using autodiff::Size2;

/// 2-D convolution (PyTorch's nn.Conv2d with dilation 1, groups 1, zero padding): x [N,in,H,W] -> [N,out,Ho,Wo],
/// Ho = (H + 2 padding.h - kernel.h) / stride.h + 1. Parameters "weight" [out,in,kh,kw] and "bias" [out] (none when
/// bias is false), both drawn U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in * kh * kw, weight first.
///
///   nn::Conv2d conv(1, 32, 3, 1, 1, gen);   // 3x3, stride 1, padding 1: [N,1,28,28] -> [N,32,28,28]
class Conv2d : public Module {
 public:
  /// @throws std::invalid_argument when a channel count, kernel size or stride is not positive, or a padding negative.
  Conv2d(std::int64_t in, std::int64_t out, Size2 kernel, Size2 stride, Size2 padding, std::mt19937_64& gen,
         bool bias = true, autodiff::Dtype dtype = autodiff::Dtype::f32);
  /// The same with the generator right after the kernel: Conv2d(1, 32, 3, gen) or Conv2d(1, 32, 3, gen, 2, 1).
  Conv2d(std::int64_t in, std::int64_t out, Size2 kernel, std::mt19937_64& gen, Size2 stride = 1, Size2 padding = 0,
         bool bias = true, autodiff::Dtype dtype = autodiff::Dtype::f32)
      : Conv2d(in, out, kernel, stride, padding, gen, bias, dtype) {}

  void list(ModuleVisitor& v) override;
  /// autodiff::conv2d(x, weight, bias, stride, padding). @throws std::invalid_argument, naming the layer, when x is not
  /// [N,in,H,W], its dtype differs from the layer's, or the kernel does not fit the padded input.
  autodiff::Tensor forward(const autodiff::Tensor& x) const override;

  autodiff::Tensor& weight() { return weight_; }
  /// Undefined (defined() is false) for a layer without bias.
  autodiff::Tensor& bias() { return bias_; }
  const autodiff::Tensor& weight() const { return weight_; }
  const autodiff::Tensor& bias() const { return bias_; }
  std::int64_t in_channels() const { return in_; }
  std::int64_t out_channels() const { return out_; }
  Size2 kernel_size() const { return kernel_; }
  Size2 stride() const { return stride_; }
  Size2 padding() const { return padding_; }
  autodiff::Dtype dtype() const { return weight_.dtype(); }

 private:
  std::int64_t in_, out_;
  Size2 kernel_, stride_, padding_;
  autodiff::Tensor weight_, bias_;
};

/// 2-D max pooling (PyTorch's nn.MaxPool2d): each window's maximum, x [N,C,H,W] -> [N,C,Ho,Wo]; stride defaults to
/// the kernel, padding (-inf) is at most half the kernel. No parameters.
class MaxPool2d : public Module {
 public:
  /// @throws std::invalid_argument when the kernel or stride is not positive, or padding is negative or above half the
  /// kernel.
  explicit MaxPool2d(Size2 kernel, std::optional<Size2> stride = std::nullopt, Size2 padding = 0);

  void list(ModuleVisitor& v) override;
  /// @throws std::invalid_argument, naming the layer, when x is not a 4-D float tensor or the kernel does not fit the
  /// padded input.
  autodiff::Tensor forward(const autodiff::Tensor& x) const override;

  Size2 kernel_size() const { return kernel_; }
  Size2 stride() const { return stride_; }
  Size2 padding() const { return padding_; }

 private:
  Size2 kernel_, stride_, padding_;
};

/// 2-D average pooling (PyTorch's nn.AvgPool2d, count_include_pad): each window's mean, padded zeros included,
/// x [N,C,H,W] -> [N,C,Ho,Wo]; stride defaults to the kernel. No parameters.
class AvgPool2d : public Module {
 public:
  /// @throws std::invalid_argument as MaxPool2d.
  explicit AvgPool2d(Size2 kernel, std::optional<Size2> stride = std::nullopt, Size2 padding = 0);

  void list(ModuleVisitor& v) override;
  /// @throws std::invalid_argument as MaxPool2d::forward.
  autodiff::Tensor forward(const autodiff::Tensor& x) const override;

  Size2 kernel_size() const { return kernel_; }
  Size2 stride() const { return stride_; }
  Size2 padding() const { return padding_; }

 private:
  Size2 kernel_, stride_, padding_;
};

}  // namespace nn
