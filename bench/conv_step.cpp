// Convolution speed: one conv2d forward + backward at the two conv layers of the "Models from primitives" CNN, that
// CNN's whole training step (SGD, hand-written), and the cnn preset's step (its Sequential and AdamW), ours against
// LibTorch in the same run, with 1 and 2 threads.
#include "bench/common.hpp"
#ifdef BENCH_LIBTORCH
#include "bench/torch_conv.hpp"
#endif

#include "autodiff/autodiff.hpp"
#include "nn/nn.hpp"
#include "nn/train_config.hpp"

#include <cblas.h>
#include <fmt/format.h>
#include <malloc.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <time.h>
#include <vector>

namespace {

using autodiff::Array;
using autodiff::Dtype;
using autodiff::Shape;
using autodiff::Tensor;

constexpr int trials = 9;
constexpr int batch = 64;

[[noreturn, maybe_unused]] void fail(const std::string& what) {
  fmt::print(stderr, "conv_step: {}\n", what);
  std::exit(1);
}

bench::Timing timing_for(int threads) { return threads == 1 ? bench::Timing::thread_cpu : bench::Timing::wall; }

void set_threads(int t) {
#ifdef BENCH_LIBTORCH
  bench::torch_conv_threads(t);
#endif
  openblas_set_num_threads(t);
}

std::vector<float> random_floats(std::int64_t n, double lo, double hi, std::mt19937_64& gen) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& f : v) f = static_cast<float>(lo + (hi - lo) * bench::unit(gen));
  return v;
}

Tensor leaf(const std::vector<float>& v, const Shape& s, bool requires_grad) {
  Array a(s, Dtype::f32);
  std::memcpy(a.data<float>(), v.data(), v.size() * sizeof(float));
  return Tensor(std::move(a), requires_grad);
}

std::vector<float> values(const Tensor& t) {
  const float* p = t.value().data<float>();
  return {p, p + t.numel()};
}

std::string opt_sig3(std::optional<double> v) { return v ? bench::sig3(*v) : "-"; }

/// Times ours (fns[0]) against LibTorch (fns[1], present when built with it) in one interleaved run and prints the
/// case line.
void time_case(const std::vector<std::function<void()>>& fns, int threads, const std::string& name) {
  const std::vector<double> t = bench::compare(trials, fns, timing_for(threads));
  const double ours_us = t[0] * 1e6;
  const std::optional<double> torch_us = t.size() > 1 ? std::optional(t[1] * 1e6) : std::nullopt;
  fmt::print("conv_step case={} ours_us={} libtorch_us={} ours/libtorch={}\n", name, bench::sig3(ours_us),
             opt_sig3(torch_us), torch_us ? bench::sig3(ours_us / *torch_us) : "-");
}

// ---- one conv2d layer: forward + backward from a fixed output gradient ----------------------------------

struct Layer {
  std::string name;
  std::int64_t c, h, o;  // x [B,c,h,h], w [o,c,3,3], padding 1
  bool x_grad;           // the first layer's input is data (no gradient), the second's a hidden activation
};

struct OursConv {
  Tensor x, w, b, g;
  autodiff::Tape tape;
  void step() {
    for (Tensor* t : {&x, &w, &b})
      if (t->requires_grad()) t->zero_grad();
    autodiff::TapeScope scope(tape);
    const Tensor y = autodiff::conv2d(x, w, b, 1, 1);
    autodiff::backward(y, {.seed = g});
  }
};

void run_layer(const Layer& l, int threads) {
  set_threads(threads);
  std::mt19937_64 gen(17);
  const Shape xs{batch, l.c, l.h, l.h}, ws{l.o, l.c, 3, 3}, bs{l.o}, gs{batch, l.o, l.h, l.h};
  const double bound = 1.0 / std::sqrt(static_cast<double>(l.c * 9));
  const auto xv = random_floats(xs.numel(), 0, 1, gen), wv = random_floats(ws.numel(), -bound, bound, gen),
             bv = random_floats(bs.numel(), -bound, bound, gen), gv = random_floats(gs.numel(), -1, 1, gen);
  OursConv ours{leaf(xv, xs, l.x_grad), leaf(wv, ws, true), leaf(bv, bs, true), leaf(gv, gs, false), {}};
  ours.step();
  std::vector<std::function<void()>> fns = {[&] { ours.step(); }};
#ifdef BENCH_LIBTORCH
  const auto blob = [](const Shape& s, const std::vector<float>& v) {
    return bench::Blob{std::vector<std::int64_t>(s.begin(), s.end()), v};
  };
  bench::TorchConv torch(blob(xs, xv), blob(ws, wv), blob(bs, bv), blob(gs, gv), 1, l.x_grad);
  torch.step();
  // Differences relative to the largest gradient element: float32 sums over 10^4 products round differently.
  const auto rel = [](const std::vector<float>& got, const std::vector<float>& want) {
    float scale = 0;
    for (float v : want) scale = std::max(scale, std::fabs(v));
    return bench::max_rel_diff(got, want, 1e-3 * scale);
  };
  const double dw = rel(values(ours.w.grad()), torch.w_grad()), db = rel(values(ours.b.grad()), torch.b_grad()),
               dx = l.x_grad ? rel(values(ours.x.grad()), torch.x_grad()) : 0.0;
  if (!(dw < 1e-3 && db < 1e-3 && dx < 1e-3))
    fail(fmt::format("{}: gradients differ from LibTorch's (w rel {:.3g}, b rel {:.3g}, x rel {:.3g})", l.name, dw, db, dx));
  fns.push_back([&] { torch.step(); });
#endif
  const std::string name = fmt::format("{}/B={}/t={}", l.name, batch, threads);
  time_case(fns, threads, name);
  const std::size_t m0 = autodiff::detail::pool_misses();
  for (int i = 0; i < 10; ++i) ours.step();
  const double misses = static_cast<double>(autodiff::detail::pool_misses() - m0) / 10;
  fmt::print("# case={} x [{},{},{},{}] w [{},{},3,3] padding 1, x {} grad, timing={}, ours pool_misses_per_step={:.1f}\n",
             name, batch, l.c, l.h, l.h, l.o, l.c, l.x_grad ? "needs" : "needs no", bench::timing_name(timing_for(threads)),
             misses);
  std::fflush(stdout);
}

// ---- the CNN's training step ------------------------------------------------------------------------------

struct CnnShapes {
  static constexpr std::int64_t c1 = 32, c2 = 64, hidden = 128, classes = 10, flat = c2 * 7 * 7;
};

struct OursCnn {
  std::vector<Tensor> p;  // w1, b1, w2, b2, w3 [in,out], b3, w4 [in,out], b4
  nn::SGD opt;
  autodiff::Tape tape;
  Tensor x;
  std::vector<std::int64_t> labels;

  OursCnn(std::vector<Tensor> params, double lr)
      : p(std::move(params)), opt(p, {.lr = lr}), x(Array(Shape{batch, 1, 28, 28}, Dtype::f32)) {}

  float step() {
    using namespace autodiff;
    opt.zero_grad();
    TapeScope scope(tape);
    Tensor h = max_pool2d(relu(conv2d(x, p[0], p[1], 1, 1)), 2);  // [B,32,14,14]
    h = max_pool2d(relu(conv2d(h, p[2], p[3], 1, 1)), 2);         // [B,64,7,7]
    h = relu(matmul(reshape(h, Shape{batch, CnnShapes::flat}), p[4]) + p[5]);
    const Tensor loss = nn::softmax_cross_entropy(matmul(h, p[6]) + p[7], labels);
    backward(loss);
    opt.step();
    return loss.value().data<float>()[0];
  }
};

std::vector<std::pair<Shape, double>> cnn_layout() {
  using S = CnnShapes;
  const auto fan = [](double n) { return 1.0 / std::sqrt(n); };
  return {{Shape{S::c1, 1, 3, 3}, fan(9)},          {Shape{S::c1}, fan(9)},
          {Shape{S::c2, S::c1, 3, 3}, fan(S::c1 * 9)}, {Shape{S::c2}, fan(S::c1 * 9)},
          {Shape{S::flat, S::hidden}, fan(S::flat)},   {Shape{S::hidden}, fan(S::flat)},
          {Shape{S::hidden, S::classes}, fan(S::hidden)}, {Shape{S::classes}, fan(S::hidden)}};
}

void run_cnn(int threads) {
  set_threads(threads);
  const double lr = 0.05;
  std::mt19937_64 gen(23);
  std::vector<Tensor> params;
  std::vector<std::vector<float>> init;
  for (const auto& [shape, bound] : cnn_layout()) {
    init.push_back(random_floats(shape.numel(), -bound, bound, gen));
    params.push_back(leaf(init.back(), shape, true));
  }
  OursCnn ours(params, lr);
  const auto xv = random_floats(batch * 28 * 28, 0, 1, gen);
  std::memcpy(ours.x.leaf_value().data<float>(), xv.data(), xv.size() * sizeof(float));
  std::vector<std::int64_t> labels64;
  for (int i = 0; i < batch; ++i) {
    ours.labels.push_back(static_cast<std::int64_t>(gen() % CnnShapes::classes));
    labels64.push_back(ours.labels.back());
  }
#ifdef BENCH_LIBTORCH
  bench::CnnParams tp;
  const auto layout = cnn_layout();
  for (std::size_t i = 0; i < init.size(); ++i)
    tp.p.push_back(bench::Blob{std::vector<std::int64_t>(layout[i].first.begin(), layout[i].first.end()), init[i]});
  bench::TorchCnn torch(tp, batch, lr);
  torch.set_batch(xv.data(), labels64);
#endif
  [[maybe_unused]] const float loss_ours = ours.step();
  std::vector<std::function<void()>> fns = {[&] { bench::keep(ours.step()); }};
#ifdef BENCH_LIBTORCH
  const float loss_torch = torch.step();
  const bench::CnnParams after = torch.params();
  double worst = 0;
  for (std::size_t i = 0; i < params.size(); ++i) {
    // Compare the updates (after - before): a relative difference of the parameters alone would hide them.
    std::vector<float> ua, ub;
    const std::vector<float> pa = values(ours.p[i]);
    for (std::size_t k = 0; k < pa.size(); ++k) {
      ua.push_back(pa[k] - init[i][k]);
      ub.push_back(after.p[i].data[k] - init[i][k]);
    }
    float scale = 0;
    for (float u : ub) scale = std::max(scale, std::fabs(u));
    worst = std::max(worst, bench::max_rel_diff(ua, ub, 0.05 * scale));
  }
  if (!(std::fabs(loss_ours - loss_torch) < 1e-4 * std::fabs(loss_torch) && worst < 1e-2))
    fail(fmt::format("cnn: one step differs from LibTorch's (loss {} vs {}, updates rel {:.3g})", loss_ours, loss_torch,
                     worst));
  fns.push_back([&] { bench::keep(torch.step()); });
#endif
  (void)labels64;
  const std::string name = fmt::format("cnn/B={}/t={}", batch, threads);
  time_case(fns, threads, name);
  fmt::print("# case={} conv(32,3x3)-relu-pool-conv(64,3x3)-relu-pool-linear(128)-relu-linear(10) on [{},1,28,28], "
             "cross-entropy, SGD; timing={}\n",
             name, batch, bench::timing_name(timing_for(threads)));
  std::fflush(stdout);
}

// ---- the CNN preset's training step: the Trainer's model and optimizer ------------------------------------------

// The model of `train --preset cnn` as the Trainer builds it (build_model of the preset's arch: ImageInput, Conv2d,
// ReLU, MaxPool2d, ..., Flatten, Linear), with its AdamW, on rows [B,784] and int64 labels.
struct OursCnnStep {
  nn::Sequential net;
  nn::Adam opt;
  autodiff::Tape tape;
  Tensor x, labels;

  OursCnnStep(nn::Sequential n, const nn::TrainConfig& c)
      : net(std::move(n)),
        opt(net.parameters(), nn::AdamOptions{.lr = c.lr, .weight_decay = c.weight_decay, .decoupled = true}),
        x(Array(Shape{batch, 784}, Dtype::f32)),
        labels(Array(Shape{batch}, Dtype::i64)) {}

  float step() {
    opt.zero_grad();
    autodiff::TapeScope scope(tape);
    const Tensor loss = nn::cross_entropy(net.forward(x), labels);
    autodiff::backward(loss);
    opt.step();
    return loss.value().data<float>()[0];
  }
};

void run_cnn_step(int threads) {
  set_threads(threads);
  const nn::TrainConfig c = nn::preset("cnn");
  std::mt19937_64 gen(29);
  OursCnnStep ours(nn::build_model(nn::model_arch(c), nn::model_shape(c, 28, 28, 10), gen), c);
  std::vector<std::vector<float>> init;
  for (const Tensor& p : ours.net.parameters()) init.push_back(values(p));
  const auto xv = random_floats(batch * 784, 0, 1, gen);
  std::memcpy(ours.x.leaf_value().data<float>(), xv.data(), xv.size() * sizeof(float));
  std::vector<std::int64_t> labels64;
  for (int i = 0; i < batch; ++i) labels64.push_back(static_cast<std::int64_t>(gen() % 10));
  std::memcpy(ours.labels.leaf_value().data<std::int64_t>(), labels64.data(), labels64.size() * sizeof(std::int64_t));
#ifdef BENCH_LIBTORCH
  bench::CnnParams tp;
  const std::vector<Tensor> params = ours.net.parameters();
  for (std::size_t i = 0; i < params.size(); ++i)
    tp.p.push_back(bench::Blob{std::vector<std::int64_t>(params[i].shape().begin(), params[i].shape().end()), init[i]});
  bench::TorchCnn torch(tp, batch, c.lr, c.weight_decay);
  torch.set_batch(xv.data(), labels64);
#endif
  [[maybe_unused]] const float loss_ours = ours.step();
  std::vector<std::function<void()>> fns = {[&] { bench::keep(ours.step()); }};
#ifdef BENCH_LIBTORCH
  const float loss_torch = torch.step();
  const bench::CnnParams after = torch.params();
  double worst = 0;
  const std::vector<Tensor> now = ours.net.parameters();
  for (std::size_t i = 0; i < now.size(); ++i) {
    // Adam's first update is about lr * sign(grad): compare the updates, relative to the largest one.
    std::vector<float> ua, ub;
    const std::vector<float> pa = values(now[i]);
    for (std::size_t k = 0; k < pa.size(); ++k) {
      ua.push_back(pa[k] - init[i][k]);
      ub.push_back(after.p[i].data[k] - init[i][k]);
    }
    float scale = 0;
    for (float u : ub) scale = std::max(scale, std::fabs(u));
    worst = std::max(worst, bench::max_rel_diff(ua, ub, 0.05 * scale));
  }
  if (!(std::fabs(loss_ours - loss_torch) < 1e-4 * std::fabs(loss_torch) && worst < 5e-2))
    fail(fmt::format("cnn_step: one step differs from LibTorch's (loss {} vs {}, updates rel {:.3g})", loss_ours,
                     loss_torch, worst));
  fns.push_back([&] { bench::keep(torch.step()); });
#endif
  const std::string name = fmt::format("cnn_step/B={}/t={}", batch, threads);
  time_case(fns, threads, name);
  fmt::print("# case={} train --preset cnn's step: {} on [{},784] rows, cross-entropy, AdamW lr {:g} weight decay "
             "{:g}; timing={}\n",
             name, nn::size_flow(nn::model_arch(c), nn::model_shape(c, 28, 28, 10)), batch, c.lr, c.weight_decay,
             bench::timing_name(timing_for(threads)));
  std::fflush(stdout);
}


}  // namespace

int main(int argc, char** argv) {
  std::string_view only;
  bool default_malloc = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--default-malloc")
      default_malloc = true;
    else if (only.empty() && (a == "conv1" || a == "conv2" || a == "cnn" || a == "cnn_step"))
      only = a;
    else {
      fmt::print(stderr, "usage: conv_step [--default-malloc] [conv1|conv2|cnn|cnn_step]\n");
      return 2;
    }
  }
  if (!default_malloc) {
    // LibTorch takes its buffers from malloc. By default glibc serves these megabyte blocks with mmap and returns them
    // at free, so every step faults its pages in again (up to 5x LibTorch's time on conv1 here). Keeping them in the
    // heap is LibTorch's best case; ours draws from its own pool either way.
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
  }
  std::string torch = "libtorch=-";
#ifdef BENCH_LIBTORCH
  torch = "libtorch=" + bench::torch_conv_info();
#endif
  fmt::print("cpu={} openblas_core={} {} malloc={}\n", bench::cpu_model(), openblas_get_corename(), torch,
             default_malloc ? "default" : "mmap_threshold=32MiB");
  fmt::print("# effective_cores={:.2f} (t=2 cases can only show scaling when this is near 2)\n", bench::effective_cores());
  std::fflush(stdout);
  const std::vector<Layer> layers{{"conv1", 1, 28, 32, false}, {"conv2", 32, 14, 64, true}};
  for (int threads : {1, 2}) {
    for (const Layer& l : layers)
      if (only.empty() || only == l.name) run_layer(l, threads);
    if (only.empty() || only == "cnn") run_cnn(threads);
    if (only.empty() || only == "cnn_step") run_cnn_step(threads);
  }
}
