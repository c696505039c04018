// Training-step speed: ours (nn on the tape) against a hand-written floor and LibTorch, plus an epoch and SGEMM rates.
#include "bench/common.hpp"
#include "bench/floor.hpp"
#ifdef BENCH_LIBTORCH
#include "bench/torch_step.hpp"
#endif

#include "autodiff/autodiff.hpp"
#include "nn/nn.hpp"

#include <cblas.h>
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <new>
#include <numeric>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <time.h>
#include <vector>

// ---- heap allocation counting: every operator new of this thread -------------------------------------

namespace {
constinit thread_local std::size_t heap_allocs = 0;

void* counted_alloc(std::size_t n, std::size_t align) {
  ++heap_allocs;
  if (n == 0) n = 1;
  if (align <= alignof(std::max_align_t)) return std::malloc(n);
  void* p = nullptr;
  return posix_memalign(&p, align, n) == 0 ? p : nullptr;
}
void* counted_alloc_or_throw(std::size_t n, std::size_t align) {
  if (void* p = counted_alloc(n, align)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t n) { return counted_alloc_or_throw(n, 0); }
void* operator new[](std::size_t n) { return counted_alloc_or_throw(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) { return counted_alloc_or_throw(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted_alloc_or_throw(n, static_cast<std::size_t>(a)); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n, 0); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n, 0); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counted_alloc(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counted_alloc(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

namespace {

using autodiff::Tensor;
using bench::MlpParams;

constexpr int trials = 9;

[[noreturn]] void fail(const std::string& what) {
  fmt::print(stderr, "mlp_step: {}\n", what);
  std::exit(1);
}

bench::Timing timing_for(int threads) { return threads == 1 ? bench::Timing::thread_cpu : bench::Timing::wall; }

void set_threads(int t) {
#ifdef BENCH_LIBTORCH
  bench::torch_set_threads(t);
#endif
  openblas_set_num_threads(t);
}

// ---- ours: the nn API on a reused tape ---------------------------------------------------------------

struct Ours {
  std::mt19937_64 gen;
  nn::MLP mlp;
  nn::SGD opt;
  autodiff::Tape tape;
  Tensor x, y;
  std::size_t ops = 0;  // positions the last step recorded (op nodes and leaf registrations)

  Ours(const std::vector<int>& sizes, int batch, double lr, std::uint64_t seed)
      : gen(seed),
        mlp(std::vector<std::int64_t>(sizes.begin(), sizes.end()), gen),
        opt(mlp.parameters(), {.lr = lr}),
        x(autodiff::Array(autodiff::Shape{batch, sizes.front()}, autodiff::Dtype::f32)),
        y(autodiff::Array(autodiff::Shape{batch, sizes.back()}, autodiff::Dtype::f32)) {}

  void set_batch(const float* xp, const float* yp) {
    std::memcpy(x.leaf_value().data<float>(), xp, static_cast<std::size_t>(x.numel()) * sizeof(float));
    std::memcpy(y.leaf_value().data<float>(), yp, static_cast<std::size_t>(y.numel()) * sizeof(float));
  }

  float step() {
    opt.zero_grad();
    autodiff::TapeScope scope(tape);
    const Tensor a = mlp.forward(x);
    const Tensor cost = nn::squared_error(a, y);
    autodiff::backward(cost);
    ops = tape.size();
    opt.step();
    return cost.value().data<float>()[0];
  }

  MlpParams params() const {
    MlpParams p;
    for (std::int64_t s : mlp.sizes()) p.sizes.push_back(static_cast<int>(s));
    for (std::size_t l = 1; l <= mlp.depth(); ++l) {
      const autodiff::Array& w = mlp.layer(l).weight().value();
      const autodiff::Array& b = mlp.layer(l).bias().value();
      if (w.shape() != autodiff::Shape{p.sizes[l - 1], p.sizes[l]}) fail("nn::Linear weight is not [in, out]");
      p.w.emplace_back(w.data<float>(), w.data<float>() + w.numel());
      p.b.emplace_back(b.data<float>(), b.data<float>() + b.numel());
    }
    return p;
  }
};

// ---- verification: one step from the same start must give the same parameters ------------------------

// Largest difference of the updates (after - before), relative to the largest update of the reference.
double update_diff(const MlpParams& before, const MlpParams& got, const MlpParams& want) {
  const auto b = before.flat(), g = got.flat(), w = want.flat();
  if (g.size() != w.size() || b.size() != w.size()) return INFINITY;
  double scale = 0, diff = 0;
  for (std::size_t i = 0; i < w.size(); ++i) {
    scale = std::max(scale, std::fabs(static_cast<double>(w[i]) - b[i]));
    diff = std::max(diff, std::fabs((static_cast<double>(g[i]) - b[i]) - (static_cast<double>(w[i]) - b[i])));
  }
  return scale > 0 ? diff / scale : INFINITY;
}

void verify(const std::string& what, const MlpParams& before, const MlpParams& got, const MlpParams& want, float cost_got,
            float cost_want) {
  const double p = bench::max_rel_diff(got.flat(), want.flat()), u = update_diff(before, got, want);
  const double c = std::fabs(cost_got - cost_want) / std::max(1e-6f, std::fabs(cost_want));
  if (!(p < 1e-5 && u < 1e-3 && c < 1e-4))
    fail(fmt::format("{}: parameters after one step differ (params rel {:.3g}, updates rel {:.3g}, cost {} vs {})", what, p,
                     u, cost_got, cost_want));
}

// ---- cases -------------------------------------------------------------------------------------------

struct Case {
  std::vector<int> sizes;
  int batch, threads;
  std::string name() const { return fmt::format("{}/B={}/t={}", bench::sizes_name(sizes), batch, threads); }
};

std::string opt_sig3(std::optional<double> v) { return v ? bench::sig3(*v) : "-"; }

void run_case(const Case& c) {
  set_threads(c.threads);
  const double lr = 0.1;
  Ours ours(c.sizes, c.batch, lr, 42);
  const bench::Batch batch(c.batch, c.sizes.front(), c.sizes.back(), 7);
  ours.set_batch(batch.x.data(), batch.y.data());
  const MlpParams init = ours.params();
  bench::Floor floor(init, c.batch, static_cast<float>(lr));
  const bool small = c.sizes[1] <= 64;
  std::optional<bench::Floor> loops, hybrid;
  if (small) {
    loops.emplace(init, c.batch, static_cast<float>(lr), bench::Gemm::loops);
    hybrid.emplace(init, c.batch, static_cast<float>(lr), bench::Gemm::hybrid);
  }

  const float cost_floor = floor.step(batch.x.data(), batch.y.data());
  const float cost_ours = ours.step();
  verify(c.name() + " ours vs floor", init, ours.params(), floor.params(), cost_ours, cost_floor);
  if (loops) {
    const float cost_loops = loops->step(batch.x.data(), batch.y.data());
    verify(c.name() + " floor(loops) vs floor", init, loops->params(), floor.params(), cost_loops, cost_floor);
    const float cost_hybrid = hybrid->step(batch.x.data(), batch.y.data());
    verify(c.name() + " floor(hybrid) vs floor", init, hybrid->params(), floor.params(), cost_hybrid, cost_floor);
  }

  std::vector<std::function<void()>> fns = {[&] { bench::keep(ours.step()); },
                                            [&] { bench::keep(floor.step(batch.x.data(), batch.y.data())); }};
  if (small) {
    fns.push_back([&] { bench::keep(loops->step(batch.x.data(), batch.y.data())); });
    fns.push_back([&] { bench::keep(hybrid->step(batch.x.data(), batch.y.data())); });
  }
#ifdef BENCH_LIBTORCH
  bench::TorchStep torch(init, c.batch, lr);
  torch.set_batch(batch.x.data(), batch.y.data());
  const float cost_torch = torch.step();
  verify(c.name() + " libtorch vs floor", init, torch.params(), floor.params(), cost_torch, cost_floor);
  const std::size_t torch_index = fns.size();
  fns.push_back([&] { bench::keep(torch.step()); });
#endif
  const std::vector<double> t = bench::compare(trials, fns, timing_for(c.threads));
  const double ours_us = t[0] * 1e6, floor_us = t[1] * 1e6;
  std::optional<double> torch_us;
#ifdef BENCH_LIBTORCH
  torch_us = t[torch_index] * 1e6;
#endif
  fmt::print("mlp_step case={} ours_us={} floor_us={} libtorch_us={} ours/floor={} ours/libtorch={}\n", c.name(),
             bench::sig3(ours_us), bench::sig3(floor_us), opt_sig3(torch_us), bench::sig3(ours_us / floor_us),
             torch_us ? bench::sig3(ours_us / *torch_us) : "-");

  // Steady-state heap allocations per step (this thread's operator new; the tensor buffer pool is counted apart).
  const int n = small ? 1000 : 20;
  std::size_t a0 = heap_allocs, m0 = autodiff::detail::pool_misses();
  for (int i = 0; i < n; ++i) ours.step();
  const double ours_allocs = double(heap_allocs - a0) / n, ours_misses = double(autodiff::detail::pool_misses() - m0) / n;
  std::string extra;
#ifdef BENCH_LIBTORCH
  a0 = heap_allocs;
  for (int i = 0; i < n; ++i) torch.step();
  extra += fmt::format(" libtorch_allocs_per_step={:.0f}", double(heap_allocs - a0) / n);
#endif
  if (small)
    extra += fmt::format(" floor_loops_us={} floor_hybrid_us={} ours/floor_hybrid={}", bench::sig3(t[2] * 1e6),
                         bench::sig3(t[3] * 1e6), bench::sig3(ours_us / (t[3] * 1e6)));
  fmt::print("allocs_per_step={:.0f} case={} pool_misses_per_step={:.2f}\n", ours_allocs, c.name(), ours_misses);
  fmt::print("# case={} timing={}{}\n", c.name(), bench::timing_name(timing_for(c.threads)), extra);
  std::fflush(stdout);
}

// ---- memory: RSS across 10,000 steps of the small case ------------------------------------------------

void run_rss() {
  set_threads(1);
  Ours ours({784, 16, 16, 10}, 32, 0.1, 43);
  const bench::Batch batch(32, 784, 10, 8);
  ours.set_batch(batch.x.data(), batch.y.data());
  for (int i = 0; i < 10; ++i) ours.step();
  const long start = bench::rss_kb();
  for (int i = 0; i < 10000; ++i) ours.step();
  fmt::print("rss_kb_start={} rss_kb_end={} case=784-16-16-10/B=32/t=1 steps=10000\n", start, bench::rss_kb());
}

// ---- the engine's fixed cost: a step on 1-element tensors, per recorded op --------------------------------

void run_overhead() {
  set_threads(1);
  Ours ours({1, 1, 1, 1}, 1, 0.1, 44);
  const bench::Batch batch(1, 1, 1, 9);
  ours.set_batch(batch.x.data(), batch.y.data());
  ours.step();
  const double step_s = bench::compare(trials, {[&] { bench::keep(ours.step()); }}, bench::Timing::thread_cpu)[0];
  fmt::print("overhead_ns_per_op={} step_ns={} ops_per_step={} case=1-1-1-1/B=1/t=1 (forward, backward and SGD update "
             "of the nn API on a reused tape, divided by the positions recorded)\n",
             bench::sig3(step_s * 1e9 / static_cast<double>(ours.ops)), bench::sig3(step_s * 1e9), ours.ops);
}

// ---- memory of a recorded tensor node: a long chain of 1-element ops ---------------------------------

void run_node_memory() {
  constexpr int nodes = 1'000'000;
  autodiff::Tape tape;
  autodiff::TapeScope scope(tape);
  Tensor x = autodiff::full(autodiff::Shape{1}, 1.0, autodiff::Dtype::f32, true);
  Tensor y = x;
  const long start = bench::rss_kb();
  for (int i = 0; i < nodes; ++i) y = y * x;
  const long end = bench::rss_kb();
  const double per_node = static_cast<double>(end - start) * 1024.0 / nodes - sizeof(float);
  fmt::print("tensor_bytes_per_node={} nodes={} rss_kb_start={} rss_kb_end={} (y = y * x on float32 [1], RSS growth "
             "per node minus its 4 value bytes)\n",
             bench::sig3(per_node), nodes, start, end);
}

// ---- one epoch of Fashion-MNIST-sized training ---------------------------------------------------------

void run_epoch() {
  set_threads(1);
  constexpr int B = 32, in = 784, out = 10;
  constexpr double lr = 1.5;
  std::vector<float> images;
  std::vector<std::int64_t> labels;
  std::string source = "fashion-mnist";
  try {
    nn::Split s = nn::load_dataset("/usr/share/datasets/fashion-mnist");
    images = std::move(s.train.images);
    labels = std::move(s.train.labels);
  } catch (const std::exception& e) {
    source = "random";
    std::mt19937_64 gen(9);
    images.resize(60000ull * in);
    labels.resize(60000);
    for (float& v : images) v = static_cast<float>(bench::unit(gen));
    for (auto& l : labels) l = static_cast<std::int64_t>(gen() % out);
  }
  const std::size_t count = labels.size();
  const std::size_t steps = count / B;
  // A fixed shuffle (Fisher-Yates on the generator's words), the same for both.
  std::vector<std::uint32_t> order(count);
  std::iota(order.begin(), order.end(), 0u);
  std::mt19937_64 gen(10);
  for (std::size_t i = count - 1; i > 0; --i) std::swap(order[i], order[gen() % (i + 1)]);
  std::vector<float> xb(B * in), yb(B * out);
  auto gather = [&](std::size_t s) {
    std::fill(yb.begin(), yb.end(), 0.0f);
    for (int i = 0; i < B; ++i) {
      const std::size_t e = order[s * B + static_cast<std::size_t>(i)];
      std::memcpy(&xb[static_cast<std::size_t>(i) * in], &images[e * in], in * sizeof(float));
      yb[static_cast<std::size_t>(i) * out + static_cast<std::size_t>(labels[e])] = 1.0f;
    }
  };

  Ours ours({in, 16, 16, out}, B, lr, 44);
  float ours_cost = 0;
  std::vector<std::function<void()>> fns = {[&] {
    double c = 0;
    for (std::size_t s = 0; s < steps; ++s) {
      gather(s);
      ours.set_batch(xb.data(), yb.data());
      c += ours.step();
    }
    ours_cost = static_cast<float>(c / steps);
  }};
  std::string torch_s = "-", ratio = "-";
#ifdef BENCH_LIBTORCH
  bench::TorchStep torch(ours.params(), B, lr);
  float torch_cost = 0;
  fns.push_back([&] {
    double c = 0;
    for (std::size_t s = 0; s < steps; ++s) {
      gather(s);
      torch.set_batch(xb.data(), yb.data());
      c += torch.step();
    }
    torch_cost = static_cast<float>(c / steps);
  });
#endif
  const std::vector<double> t = bench::compare(7, fns, bench::Timing::thread_cpu);
#ifdef BENCH_LIBTORCH
  torch_s = bench::sig3(t[1]);
  ratio = bench::sig3(t[0] / t[1]);
#endif
  fmt::print("epoch preset=seed ours_s={} libtorch_s={} ours/libtorch={}\n", bench::sig3(t[0]), torch_s, ratio);
  std::string costs = fmt::format("ours_cost={:.4f}", ours_cost);
#ifdef BENCH_LIBTORCH
  costs += fmt::format(" libtorch_cost={:.4f}", torch_cost);
#endif
  fmt::print("# epoch data={} examples={} steps={} batch=32 784-16-16-10 lr=1.5 mean cost of the last epoch: {}\n", source,
             steps * B, steps, costs);
}

// ---- SGEMM rate of the 512-wide layer -------------------------------------------------------------------

void run_sgemm() {
  constexpr int m = 256, k = 784, n = 512;
  std::mt19937_64 gen(11);
  std::vector<float> a(m * k), b(k * n), c(m * n);
  for (float& v : a) v = static_cast<float>(bench::unit(gen));
  for (float& v : b) v = static_cast<float>(bench::unit(gen));
  std::string rates;
  for (int t : {1, 2}) {
    openblas_set_num_threads(t);
    std::vector<std::function<void()>> fns = {[&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
    }};
    const double s = bench::compare(trials, fns, timing_for(t))[0];
    rates += fmt::format(" t{}_gflops={}", t, bench::sig3(2.0 * m * n * k / s / 1e9));
  }
  const char* forced = std::getenv("OPENBLAS_CORETYPE");
  fmt::print("sgemm m={} k={} n={} core={} OPENBLAS_CORETYPE={}{}\n", m, k, n, openblas_get_corename(),
             forced ? forced : "-", rates);
}


}  // namespace

int main(int argc, char** argv) {
  const std::string_view mode = argc > 1 ? argv[1] : "";
  if (!mode.empty() && mode != "--sgemm" && mode != "--overhead") {
    fmt::print(stderr, "usage: mlp_step [--sgemm|--overhead]\n");
    return 2;
  }
  std::string torch = "libtorch=-";
#ifdef BENCH_LIBTORCH
  torch = "libtorch=" + bench::torch_version();
#endif
  fmt::print("cpu={} openblas_core={} openblas_config=\"{}\" {}\n", bench::cpu_model(), openblas_get_corename(),
             openblas_get_config(), torch);
  std::fflush(stdout);
  fmt::print("# effective_cores={:.2f} (t=2 cases and t2_gflops can only show scaling when this is near 2)\n",
             bench::effective_cores());
  std::fflush(stdout);
  if (mode == "--sgemm") {
    run_sgemm();
    return 0;
  }
  if (mode == "--overhead") {
    run_overhead();
    run_node_memory();
    return 0;
  }
  for (const Case& c : {Case{{784, 16, 16, 10}, 1, 1}, Case{{784, 16, 16, 10}, 32, 1}, Case{{784, 512, 512, 10}, 256, 1},
                        Case{{784, 512, 512, 10}, 256, 2}})
    run_case(c);
  run_overhead();
  run_node_memory();
  run_rss();
  run_epoch();
  run_sgemm();
}
