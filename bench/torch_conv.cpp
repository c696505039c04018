// LibTorch side of conv_step, kept in its own file so only it pulls in the LibTorch headers.
#include "bench/torch_conv.hpp"

#include <ATen/Parallel.h>
#include <ATen/Context.h>
#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/conv.h>
#include <torch/nn/functional/linear.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/functional/pooling.h>
#include <torch/optim/adamw.h>
#include <torch/version.h>

#include <fmt/format.h>

#include <cstring>

namespace bench {

namespace {
torch::Tensor from(const Blob& b, bool requires_grad = false) {
  torch::Tensor t = torch::from_blob(const_cast<float*>(b.data.data()), b.shape, torch::kFloat32).clone();
  return t.set_requires_grad(requires_grad);
}
std::vector<float> to_vector(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().contiguous();
  return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}
Blob to_blob(const torch::Tensor& t) { return Blob{t.sizes().vec(), to_vector(t)}; }
}  // namespace

struct TorchConv::Impl {
  torch::Tensor x, w, b, g;
  int padding;
};

TorchConv::TorchConv(const Blob& x, const Blob& w, const Blob& b, const Blob& g, int padding, bool x_grad)
    : impl_(std::make_unique<Impl>(Impl{from(x, x_grad), from(w, true), from(b, true), from(g), padding})) {}
TorchConv::~TorchConv() = default;

void TorchConv::step() {
  Impl& m = *impl_;
  for (torch::Tensor* t : {&m.x, &m.w, &m.b})
    if (t->requires_grad()) t->mutable_grad() = torch::Tensor();  // zero_grad(set_to_none = true)
  torch::Tensor y = torch::conv2d(m.x, m.w, m.b, 1, m.padding);
  y.backward(m.g);
}

std::vector<float> TorchConv::w_grad() const { return to_vector(impl_->w.grad()); }
std::vector<float> TorchConv::b_grad() const { return to_vector(impl_->b.grad()); }
std::vector<float> TorchConv::x_grad() const { return to_vector(impl_->x.grad()); }

struct TorchCnn::Impl {
  std::vector<torch::Tensor> p;
  torch::Tensor x, labels;
  double lr;
  std::unique_ptr<torch::optim::AdamW> adamw;
};

TorchCnn::TorchCnn(const CnnParams& init, int batch, double lr, std::optional<double> adamw_weight_decay)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  for (std::size_t i = 0; i < init.p.size(); ++i) {
    torch::Tensor t = from(init.p[i]);
    if (i == 4 || i == 6) t = t.t().contiguous();  // [in,out] -> Linear's [out,in]
    m.p.push_back(t.set_requires_grad(true));
  }
  m.x = torch::zeros({batch, 1, 28, 28}, torch::kFloat32);
  m.labels = torch::zeros({batch}, torch::kInt64);
  m.lr = lr;
  if (adamw_weight_decay)
    m.adamw = std::make_unique<torch::optim::AdamW>(
        m.p, torch::optim::AdamWOptions(lr).betas({0.9, 0.999}).eps(1e-8).weight_decay(*adamw_weight_decay));
}
TorchCnn::~TorchCnn() = default;

void TorchCnn::set_batch(const float* x, const std::vector<std::int64_t>& labels) {
  std::memcpy(impl_->x.data_ptr<float>(), x, static_cast<std::size_t>(impl_->x.numel()) * sizeof(float));
  std::memcpy(impl_->labels.data_ptr<std::int64_t>(), labels.data(), labels.size() * sizeof(std::int64_t));
}

float TorchCnn::step() {
  namespace F = torch::nn::functional;
  Impl& m = *impl_;
  for (torch::Tensor& t : m.p) t.mutable_grad() = torch::Tensor();
  torch::Tensor h = torch::max_pool2d(torch::relu(torch::conv2d(m.x, m.p[0], m.p[1], 1, 1)), 2);
  h = torch::max_pool2d(torch::relu(torch::conv2d(h, m.p[2], m.p[3], 1, 1)), 2);
  h = torch::relu(torch::linear(h.flatten(1), m.p[4], m.p[5]));
  torch::Tensor loss = F::cross_entropy(torch::linear(h, m.p[6], m.p[7]), m.labels);
  loss.backward();
  if (m.adamw) {
    m.adamw->step();
  } else {
    torch::NoGradGuard no_grad;
    for (torch::Tensor& t : m.p) t.sub_(t.grad(), m.lr);
  }
  return loss.item<float>();
}

CnnParams TorchCnn::params() const {
  CnnParams out;
  for (std::size_t i = 0; i < impl_->p.size(); ++i)
    out.p.push_back(to_blob(i == 4 || i == 6 ? impl_->p[i].t() : impl_->p[i]));
  return out;
}

std::string torch_conv_info() {
  return fmt::format("{} mkldnn={}", TORCH_VERSION, at::hasMKLDNN() ? 1 : 0);
}

void torch_conv_threads(int n) { torch::set_num_threads(n); }

}  // namespace bench
