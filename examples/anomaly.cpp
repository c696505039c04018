// Debugging numerics: AnomalyMode finds where a NaN or inf first appears; NoGrad, detach and a clipping gradient hook.
//
//   anomaly                 the demonstration; exits 1 when a report misses the op or the source line
//   anomaly --bench [N]     times N (default 2000) training steps of a 784-16-16-10 MLP with anomaly mode off and on
#include "autodiff/autodiff.hpp"
#include "nn/cost.hpp"
#include "nn/mlp.hpp"
#include "nn/optim.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <time.h>

namespace {

using autodiff::Dtype;
using autodiff::Tensor;

bool pass = true;

/// The message must name the op and this file's line where the op was written.
void expect(const std::string& message, std::string_view op, int line) {
  const std::string where = fmt::format("anomaly.cpp:{}", line);
  const bool ok = message.find(op) != std::string::npos && message.find(where) != std::string::npos;
  fmt::print("  names '{}' and {}: {}\n\n", op, where, ok ? "yes" : "NO");
  pass = pass && ok;
}

void forward_nan() {
  fmt::print("(a) a NaN in forward: log of a negative number\n");
  autodiff::AnomalyMode anomaly;
  autodiff::TapeScope scope;
  const Tensor x = autodiff::tensor({2.0, -1.0, 3.0}, Dtype::f64, true);
  int line = 0;
  try {
    line = __LINE__ + 1;
    const Tensor y = autodiff::log(x);
    fmt::print("  no anomaly reported\n");
    pass = false;
  } catch (const autodiff::AnomalyError& e) {
    fmt::print("  {}\n", e.what());
    expect(e.what(), "log", line);
  }
}

void accumulation_overflow() {
  fmt::print("(b) an inf made only by summing two finite gradients: x on two paths, each path's grad 1e308\n");
  autodiff::AnomalyMode anomaly;
  autodiff::TapeScope scope;
  Tensor x = autodiff::tensor({1e-300}, Dtype::f64, true);
  x.label("x");
  const int line = __LINE__ + 1;
  const Tensor y = x * 1e308 + x * 1e308;  // forward 2e8 is fine; dy/dx = 1e308 + 1e308 overflows
  try {
    autodiff::backward(y);
    fmt::print("  no anomaly reported\n");
    pass = false;
  } catch (const autodiff::AnomalyError& e) {
    fmt::print("  {}\n", e.what());
    const bool summed = std::string_view(e.what()).find("summed") != std::string_view::npos;
    fmt::print("  says the gradients were summed: {}\n", summed ? "yes" : "NO");
    pass = pass && summed;
    expect(e.what(), "mul", line);
  }
}

void without_anomaly_mode() {
  fmt::print("the same code without AnomalyMode runs through and leaves non-finite numbers behind:\n");
  autodiff::TapeScope scope;
  const Tensor x = autodiff::tensor({1e-300}, Dtype::f64, true);
  autodiff::backward(x * 1e308 + x * 1e308);
  const Tensor l = autodiff::log(autodiff::tensor({-1.0}, Dtype::f64, true));
  fmt::print("  x.grad = {}, log(-1) = {}\n\n", x.grad().at(0), l.at(0));
  pass = pass && std::isinf(x.grad().at(0)) && std::isnan(l.at(0));
}

void no_grad_detach_hook() {
  fmt::print("NoGrad, detach and a gradient hook\n");
  Tensor w = autodiff::tensor({0.5, -2.0, 3.0}, Dtype::f64, true);
  {
    autodiff::NoGrad inference;
    const Tensor y = w * 2.0;
    fmt::print("  under NoGrad: (w * 2).requires_grad() = {}\n", y.requires_grad());
    pass = pass && !y.requires_grad();
  }
  {
    autodiff::TapeScope scope;
    autodiff::backward(autodiff::sum(w.detach() * w));  // d/dw sum(c * w) = c = w's value: no gradient through c
    fmt::print("  d/dw sum(w.detach() * w) = {} (w itself, not 2 w)\n", w.grad().to_vector());
    pass = pass && w.grad().to_vector() == std::vector<double>{0.5, -2.0, 3.0};
    w.zero_grad();
  }
  {
    autodiff::TapeScope scope;
    Tensor h = w * 100.0;
    // Clip h's gradient to [-1, 1] before it flows on to w.
    const autodiff::HookHandle clip = h.register_hook([](const Tensor& g) {
      autodiff::Array clipped = g.value().clone();
      for (std::int64_t i = 0; i < clipped.numel(); ++i) clipped.set(i, std::clamp(clipped.at(i), -1.0, 1.0));
      fmt::print("  hook on h: grad {} clipped to {}\n", g.to_vector(), Tensor(clipped).to_vector());
      return Tensor(clipped);
    });
    autodiff::backward(autodiff::sum(h * h));  // dh = 2 h = [100, -400, 600]
    fmt::print("  w.grad = 100 * clipped = {}\n\n", w.grad().to_vector());
    pass = pass && w.grad().to_vector() == std::vector<double>{100.0, -100.0, 100.0};
  }
}

// ---- --bench: the cost of anomaly mode ----------------------------------------------------------------------------

enum class Mode { never_touched, off, on };

struct Timing {
  double wall = 0, cpu = 0;  // seconds; cpu is this thread's CPU time, which a busy machine disturbs less
};

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

/// Runs `steps` training steps in a fresh thread, whose thread_local anomaly flag starts untouched.
Timing time_steps(Mode mode, int steps) {
  Timing t;
  std::thread worker([&] {
    if (mode == Mode::off) {
      autodiff::AnomalyMode touched;  // set, then restored at the end of this block: the flag is off again
    }
    std::mt19937_64 gen(1);
    nn::MLP mlp({784, 16, 16, 10}, gen);
    nn::SGD sgd(mlp.parameters(), {.lr = 0.1});
    const Tensor x = autodiff::uniform({32, 784}, 0.0, 1.0, gen);
    std::vector<std::int64_t> labels(32);
    for (auto& l : labels) l = static_cast<std::int64_t>(gen() % 10);
    autodiff::Tape tape;
    const auto step = [&] {
      autodiff::TapeScope scope(tape);
      autodiff::backward(nn::cost(nn::Cost::squared_error, mlp.forward(x), labels));
      sgd.step();
      sgd.zero_grad();
    };
    const auto run = [&] {
      for (int i = 0; i < 50; ++i) step();  // warm the buffer pools and the tape's arena
      const auto w0 = std::chrono::steady_clock::now();
      const double c0 = thread_cpu_seconds();
      for (int i = 0; i < steps; ++i) step();
      t.cpu = thread_cpu_seconds() - c0;
      t.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
    };
    if (mode == Mode::on) {
      autodiff::AnomalyMode anomaly;
      run();
    } else {
      run();
    }
  });
  worker.join();
  return t;
}

int bench(int steps) {
  constexpr int rounds = 11;
  if (!std::getenv("OPENBLAS_NUM_THREADS"))
    fmt::print("note: set OPENBLAS_NUM_THREADS=1, or BLAS threads spinning on a shared machine swamp the difference\n");
  std::vector<Timing> runs[3];
  for (int r = 0; r < rounds; ++r)  // interleaved, so a burst of load on the shared machine hits all three
    for (Mode m : {Mode::never_touched, Mode::off, Mode::on}) runs[static_cast<int>(m)].push_back(time_steps(m, steps));
  const auto stats = [](const std::vector<Timing>& v, double Timing::*field) {
    std::vector<double> x;
    for (const Timing& t : v) x.push_back(t.*field);
    std::sort(x.begin(), x.end());
    return std::pair{x.front(), x[x.size() / 2]};  // min, median
  };
  fmt::print("{} steps of a 784-16-16-10 sigmoid MLP (batch 32, float32, squared error, SGD), {} interleaved rounds\n",
             steps, rounds);
  // The minimum is the least disturbed run, so its ratio is the cost; medians show how noisy the machine was.
  fmt::print("  {:<20} {:>16} {:>7} {:>18} {:>19}\n", "", "min cpu us/step", "ratio", "median cpu us/step",
             "median wall us/step");
  const char* names[] = {"flag never touched", "AnomalyMode off", "AnomalyMode on"};
  const double base = stats(runs[0], &Timing::cpu).first;
  for (int m = 0; m < 3; ++m) {
    const auto [cpu_min, cpu_median] = stats(runs[m], &Timing::cpu);
    fmt::print("  {:<20} {:>16.1f} {:>7.3f} {:>18.1f} {:>19.1f}\n", names[m], 1e6 * cpu_min / steps, cpu_min / base,
               1e6 * cpu_median / steps, 1e6 * stats(runs[m], &Timing::wall).second / steps);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "--bench") return bench(argc >= 3 ? std::atoi(argv[2]) : 2000);
  forward_nan();
  accumulation_overflow();
  without_anomaly_mode();
  no_grad_detach_hook();
  fmt::print("{}\n", pass ? "anomaly: PASS" : "anomaly: FAIL");
  return pass ? 0 : 1;
}
