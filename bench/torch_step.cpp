// LibTorch training step for mlp_step, kept in its own file so only it pulls in the LibTorch headers.
#include "bench/torch_step.hpp"

#include <ATen/Parallel.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/sgd.h>
#include <torch/version.h>

#include <cstring>
#include <vector>

namespace bench {

struct TorchStep::Impl {
  std::vector<int> sizes;
  std::vector<torch::nn::Linear> layers;
  std::vector<torch::Tensor> params;
  torch::Tensor x, y;
  std::unique_ptr<torch::optim::SGD> opt;
};

TorchStep::TorchStep(const MlpParams& init, int batch, double lr) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.sizes = init.sizes;
  torch::NoGradGuard no_grad;
  for (std::size_t l = 0; l < init.layers(); ++l) {
    const int in = init.sizes[l], out = init.sizes[l + 1];
    torch::nn::Linear lin(in, out);
    // Ours stores W [in, out]; Linear stores its transpose [out, in] and computes x W^T + b.
    auto w = torch::from_blob(const_cast<float*>(init.w[l].data()), {in, out}, torch::kFloat32);
    lin->weight.copy_(w.t());
    lin->bias.copy_(torch::from_blob(const_cast<float*>(init.b[l].data()), {out}, torch::kFloat32));
    m.params.push_back(lin->weight);
    m.params.push_back(lin->bias);
    m.layers.push_back(lin);
  }
  m.x = torch::zeros({batch, init.sizes.front()}, torch::kFloat32);
  m.y = torch::zeros({batch, init.sizes.back()}, torch::kFloat32);
  m.opt = std::make_unique<torch::optim::SGD>(m.params, torch::optim::SGDOptions(lr));
}

TorchStep::~TorchStep() = default;

void TorchStep::set_batch(const float* x, const float* y) {
  std::memcpy(impl_->x.data_ptr<float>(), x, static_cast<std::size_t>(impl_->x.numel()) * sizeof(float));
  std::memcpy(impl_->y.data_ptr<float>(), y, static_cast<std::size_t>(impl_->y.numel()) * sizeof(float));
}

float TorchStep::step() {
  Impl& m = *impl_;
  m.opt->zero_grad();
  torch::Tensor a = m.x;
  for (auto& lin : m.layers) a = torch::sigmoid(lin->forward(a));
  // The seed's cost: mean over the batch of sum_j (y_j - a_j)^2.
  torch::Tensor cost = (m.y - a).pow(2).sum(1).mean();
  cost.backward();
  m.opt->step();
  return cost.item<float>();
}

MlpParams TorchStep::params() const {
  MlpParams p;
  p.sizes = impl_->sizes;
  for (auto& lin : impl_->layers) {
    torch::Tensor w = lin->weight.detach().t().contiguous();
    torch::Tensor b = lin->bias.detach().contiguous();
    p.w.emplace_back(w.data_ptr<float>(), w.data_ptr<float>() + w.numel());
    p.b.emplace_back(b.data_ptr<float>(), b.data_ptr<float>() + b.numel());
  }
  return p;
}

void torch_set_threads(int n) { torch::set_num_threads(n); }

std::string torch_version() { return TORCH_VERSION; }

}  // namespace bench
