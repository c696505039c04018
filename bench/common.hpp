// Shared bench helpers: timing and medians, machine facts, deterministic data, and the MLP parameters all steps share.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <time.h>
#include <vector>

#include <fmt/format.h>

namespace bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

/// What a trial is timed with. thread_cpu (CLOCK_THREAD_CPUTIME_ID) leaves out the time this thread waits while other
/// processes run on the two shared cores, so single-threaded ratios stay stable under load; multi-threaded cases,
/// whose work runs on other threads too, need wall.
enum class Timing { wall, thread_cpu };

inline std::string_view timing_name(Timing t) { return t == Timing::wall ? "wall" : "thread-cpu"; }

inline double now_s(Timing t) {
  if (t == Timing::wall) return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// Three significant digits for times and ratios (18.2, 1.21, 0.231, 1234).
inline std::string sig3(double x) {
  const double a = std::fabs(x);
  if (a >= 100) return fmt::format("{:.0f}", x);
  if (a >= 10) return fmt::format("{:.1f}", x);
  if (a >= 1) return fmt::format("{:.2f}", x);
  return fmt::format("{:.3f}", x);
}

/// Keeps a value alive as far as the optimiser can tell.
template <class T>
inline void keep(const T& v) {
  asm volatile("" : : "r"(&v) : "memory");
}

inline std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(colon + 2);
    }
  return "unknown";
}

/// Cores this process really gets: CPU time of two threads spinning for 50 ms over wall time. On the two shared cores
/// other processes may leave only one, and then t=2 cases show the scheduler, not the code.
inline double effective_cores() {
  auto cpu = [] {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  };
  const auto t0 = Clock::now();
  const double c0 = cpu();
  auto spin = [t0] {
    while (seconds_since(t0) < 0.05) {
    }
  };
  std::thread a(spin), b(spin);
  a.join();
  b.join();
  return (cpu() - c0) / seconds_since(t0);
}

/// Resident set size of this process in KiB (VmRSS).
inline long rss_kb() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

/// Uniform double in [0,1) from one 64-bit word (identical on every standard library).
inline double unit(std::mt19937_64& gen) { return static_cast<double>(gen() >> 11) * 0x1.0p-53; }

/// Repetitions per trial so that one trial lasts about `target` seconds, given one call's time.
inline int reps_for(double one_call_s, double target = 0.03) {
  return std::clamp(static_cast<int>(target / std::max(one_call_s, 1e-9)), 1, 1000000);
}

/// Seconds per call of fn, one trial of `reps` calls.
template <class F>
double time_per_call(F&& fn, int reps, Timing timing) {
  const double t0 = now_s(timing);
  for (int r = 0; r < reps; ++r) fn();
  return (now_s(timing) - t0) / reps;
}

/// Median over `trials` of seconds per call for each function, trials interleaved so load spikes hit all alike.
/// Each function is warmed up first and gets its own repetition count (about 30 ms per trial).
inline std::vector<double> compare(int trials, const std::vector<std::function<void()>>& fns, Timing timing) {
  std::vector<int> reps;
  for (const auto& fn : fns) {
    fn();
    const auto t0 = Clock::now();
    int n = 0;
    while (seconds_since(t0) < 0.01 || n < 3) {
      fn();
      ++n;
    }
    reps.push_back(reps_for(seconds_since(t0) / n));
  }
  std::vector<std::vector<double>> times(fns.size());
  for (int t = 0; t < trials; ++t)
    for (std::size_t k = 0; k < fns.size(); ++k) times[k].push_back(time_per_call(fns[k], reps[k], timing));
  std::vector<double> out;
  for (auto& v : times) out.push_back(median(v));
  return out;
}

/// Layer sizes and parameters of a sigmoid MLP in float32: w[l] is W [in, out] row-major (w_kj of the seed), b[l] is [out].
struct MlpParams {
  std::vector<int> sizes;
  std::vector<std::vector<float>> w, b;

  std::size_t layers() const { return w.size(); }
  /// Every parameter in order W1, b1, W2, b2, ...
  std::vector<float> flat() const {
    std::vector<float> out;
    for (std::size_t l = 0; l < layers(); ++l) {
      out.insert(out.end(), w[l].begin(), w[l].end());
      out.insert(out.end(), b[l].begin(), b[l].end());
    }
    return out;
  }
};

/// A fixed random batch: inputs in [0,1) and one-hot targets.
struct Batch {
  int size = 0, in = 0, out = 0;
  std::vector<float> x, y;
  Batch(int batch, int inputs, int outputs, std::uint64_t seed) : size(batch), in(inputs), out(outputs) {
    std::mt19937_64 gen(seed);
    x.resize(static_cast<std::size_t>(batch) * inputs);
    y.assign(static_cast<std::size_t>(batch) * outputs, 0.0f);
    for (float& v : x) v = static_cast<float>(unit(gen));
    for (int i = 0; i < batch; ++i) y[static_cast<std::size_t>(i) * outputs + gen() % outputs] = 1.0f;
  }
};

inline std::string sizes_name(const std::vector<int>& sizes) {
  std::string s;
  for (std::size_t i = 0; i < sizes.size(); ++i) s += fmt::format("{}{}", i ? "-" : "", sizes[i]);
  return s;
}

/// Largest |a - b| / (|b| + floor) over two equally long arrays.
inline double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b, double floor = 1e-3) {
  double m = a.size() == b.size() ? 0.0 : INFINITY;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    m = std::max(m, std::fabs(static_cast<double>(a[i]) - b[i]) / (std::fabs(static_cast<double>(b[i])) + floor));
  return m;
}

}  // namespace bench
