// LibTorch reference for mlp_step: the same training step through LibTorch's C++ API (built with -Dlibtorch=enabled).
#pragma once

#include "bench/common.hpp"

#include <memory>
#include <string>

namespace bench {

/// zero_grad + forward (sigmoid on every torch::nn::Linear) + the seed's squared-error cost + backward + SGD step,
/// written as a LibTorch user would. Parameters start from `init` (W transposed into Linear's [out, in] weight).
class TorchStep {
 public:
  TorchStep(const MlpParams& init, int batch, double lr);
  ~TorchStep();
  TorchStep(const TorchStep&) = delete;
  TorchStep& operator=(const TorchStep&) = delete;

  /// Copies x [B, n_0] and y [B, n_L] into the step's input tensors.
  void set_batch(const float* x, const float* y);
  /// One training step on the current batch; returns the cost before the update.
  float step();
  /// Current parameters in MlpParams layout.
  MlpParams params() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// torch::set_num_threads (intra-op threads).
void torch_set_threads(int n);
/// "1.13.1" and the like.
std::string torch_version();

}  // namespace bench
