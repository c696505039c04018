// LibTorch reference for conv_step: one conv2d forward + backward, and a small CNN's training step, through LibTorch's
// C++ API (built with -Dlibtorch=enabled; only torch_conv.cpp includes LibTorch).
#pragma once

#include "bench/common.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace bench {

/// A float32 array and its shape.
struct Blob {
  std::vector<std::int64_t> shape;
  std::vector<float> data;
};

/// conv2d(x, w, b, stride 1, padding) forward, then backward from a fixed output gradient g.
class TorchConv {
 public:
  TorchConv(const Blob& x, const Blob& w, const Blob& b, const Blob& g, int padding, bool x_grad);
  ~TorchConv();
  TorchConv(const TorchConv&) = delete;
  TorchConv& operator=(const TorchConv&) = delete;
  void step();
  /// Gradients of the last step: w, b and (when x requires grad) x.
  std::vector<float> w_grad() const;
  std::vector<float> b_grad() const;
  std::vector<float> x_grad() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// conv(c1, 3x3, pad 1)-relu-maxpool 2-conv(c2, 3x3, pad 1)-relu-maxpool 2-linear(h)-relu-linear(classes) on
/// [B,1,28,28], softmax cross-entropy, plain SGD (or torch.optim.AdamW when adamw_weight_decay is given, betas
/// 0.9, 0.999, eps 1e-8). Linear weights are [in, out] here (transposed for LibTorch).
struct CnnParams {
  std::vector<Blob> p;  // w1, b1, w2, b2, w3 [in,out], b3, w4 [in,out], b4
};

class TorchCnn {
 public:
  TorchCnn(const CnnParams& init, int batch, double lr, std::optional<double> adamw_weight_decay = std::nullopt);
  ~TorchCnn();
  TorchCnn(const TorchCnn&) = delete;
  TorchCnn& operator=(const TorchCnn&) = delete;
  void set_batch(const float* x, const std::vector<std::int64_t>& labels);
  /// One training step; returns the loss before the update.
  float step();
  CnnParams params() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// "1.13.1 mkldnn=0" and the like: the version and whether LibTorch has oneDNN for its CPU convolutions.
std::string torch_conv_info();
void torch_conv_threads(int n);

}  // namespace bench
