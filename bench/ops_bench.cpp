// Op speed against LibTorch in one run, 1 thread: softmax forward + backward over [B, 1000] and a batched matmul
// [32,64,64] x [32,64,64] forward + backward, each as a user writes it (grad reset, op, backward with a seed).
#include "bench/common.hpp"

#include "autodiff/autodiff.hpp"

#include <cblas.h>
#include <fmt/format.h>

#ifdef BENCH_LIBTORCH
#include <ATen/Parallel.h>
#include <torch/torch.h>
#include <torch/version.h>
#endif

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

namespace ad = autodiff;

constexpr int trials = 15;

std::vector<float> random_floats(std::int64_t n, std::uint64_t seed, double lo, double hi) {
  std::mt19937_64 gen(seed);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = static_cast<float>(lo + (hi - lo) * bench::unit(gen));
  return v;
}

ad::Tensor ours_tensor(const std::vector<float>& v, const ad::Shape& s, bool requires_grad) {
  ad::Array a(s, ad::Dtype::f32);
  std::copy(v.begin(), v.end(), a.data<float>());
  return ad::Tensor(std::move(a), requires_grad);
}

std::vector<float> values(const ad::Tensor& t) {
  const float* p = t.value().data<float>();
  return {p, p + t.numel()};
}

/// One case: ours and LibTorch's step, each leaving the input gradients in place for the agreement check.
struct Case {
  std::string name;
  std::function<void()> ours;
  std::function<std::vector<float>()> ours_grad;
#ifdef BENCH_LIBTORCH
  std::function<void()> torch;
  std::function<std::vector<float>()> torch_grad;
#endif
};

#ifdef BENCH_LIBTORCH
torch::Tensor torch_tensor(const std::vector<float>& v, std::vector<std::int64_t> shape, bool requires_grad) {
  return torch::from_blob(const_cast<float*>(v.data()), shape, torch::kFloat32).clone().set_requires_grad(requires_grad);
}
std::vector<float> values(const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous();
  return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}
#endif

Case softmax_case(std::int64_t batch, bool log) {
  const std::int64_t classes = 1000;
  const std::vector<float> xv = random_floats(batch * classes, 1, -5, 5), gv = random_floats(batch * classes, 2, -1, 1);
  const ad::Shape s{batch, classes};
  Case c;
  c.name = fmt::format("{}/B={}", log ? "log_softmax" : "softmax", batch);
  auto x = std::make_shared<ad::Tensor>(ours_tensor(xv, s, true));
  const ad::Tensor g = ours_tensor(gv, s, false);
  c.ours = [x, g, log] {
    x->zero_grad();
    const ad::Tensor y = log ? ad::log_softmax(*x, 1) : ad::softmax(*x, 1);
    ad::backward(y, {.seed = g});
  };
  c.ours_grad = [x] { return values(x->grad()); };
#ifdef BENCH_LIBTORCH
  auto tx = std::make_shared<torch::Tensor>(torch_tensor(xv, {batch, classes}, true));
  const torch::Tensor tg = torch_tensor(gv, {batch, classes}, false);
  c.torch = [tx, tg, log] {
    tx->mutable_grad() = torch::Tensor();
    const torch::Tensor y = log ? torch::log_softmax(*tx, 1) : torch::softmax(*tx, 1);
    y.backward(tg);
  };
  c.torch_grad = [tx] { return values(tx->grad()); };
#endif
  return c;
}

Case matmul_case(std::int64_t batch, std::int64_t n) {
  const std::vector<float> av = random_floats(batch * n * n, 3, -1, 1), bv = random_floats(batch * n * n, 4, -1, 1);
  const std::vector<float> gv = random_floats(batch * n * n, 5, -1, 1);
  const ad::Shape s{batch, n, n};
  Case c;
  c.name = fmt::format("matmul/[{0},{1},{1}]x[{0},{1},{1}]", batch, n);
  auto a = std::make_shared<ad::Tensor>(ours_tensor(av, s, true));
  auto b = std::make_shared<ad::Tensor>(ours_tensor(bv, s, true));
  const ad::Tensor g = ours_tensor(gv, s, false);
  c.ours = [a, b, g] {
    a->zero_grad();
    b->zero_grad();
    ad::backward(ad::matmul(*a, *b), {.seed = g});
  };
  c.ours_grad = [a, b] {
    std::vector<float> v = values(a->grad()), w = values(b->grad());
    v.insert(v.end(), w.begin(), w.end());
    return v;
  };
#ifdef BENCH_LIBTORCH
  auto ta = std::make_shared<torch::Tensor>(torch_tensor(av, {batch, n, n}, true));
  auto tb = std::make_shared<torch::Tensor>(torch_tensor(bv, {batch, n, n}, true));
  const torch::Tensor tg = torch_tensor(gv, {batch, n, n}, false);
  c.torch = [ta, tb, tg] {
    ta->mutable_grad() = torch::Tensor();
    tb->mutable_grad() = torch::Tensor();
    torch::matmul(*ta, *tb).backward(tg);
  };
  c.torch_grad = [ta, tb] {
    std::vector<float> v = values(ta->grad()), w = values(tb->grad());
    v.insert(v.end(), w.begin(), w.end());
    return v;
  };
#endif
  return c;
}

void run(const Case& c) {
  std::vector<std::function<void()>> fns{c.ours};
#ifdef BENCH_LIBTORCH
  fns.push_back(c.torch);
#endif
  const std::vector<double> t = bench::compare(trials, fns, bench::Timing::thread_cpu);
  std::string torch_us = "-", ratio = "-", agree;
#ifdef BENCH_LIBTORCH
  torch_us = bench::sig3(t[1] * 1e6);
  ratio = bench::sig3(t[0] / t[1]);
  agree = fmt::format(" max_rel_grad_diff={:.1e}", bench::max_rel_diff(c.ours_grad(), c.torch_grad()));
#endif
  fmt::print("ops case={} ours_us={} libtorch_us={} ours/libtorch={}{}\n", c.name, bench::sig3(t[0] * 1e6), torch_us, ratio,
             agree);
  std::fflush(stdout);
}

}  // namespace

int main() {
  openblas_set_num_threads(1);
  std::string torch = "libtorch=-";
#ifdef BENCH_LIBTORCH
  torch::set_num_threads(1);
  torch = std::string("libtorch=") + TORCH_VERSION;
#endif
  fmt::print("cpu={} openblas_core={} {} threads=1 timing={} trials={}\n", bench::cpu_model(), openblas_get_corename(),
             torch, bench::timing_name(bench::Timing::thread_cpu), trials);
  std::fflush(stdout);
  run(softmax_case(64, false));
  run(softmax_case(256, false));
  run(softmax_case(256, true));
  run(matmul_case(32, 64));
}
