// Load tests: 10,000-step training on concurrent threads, flat memory over 10,000 steps, a 10^7-node chain on a small stack.
#define BOOST_TEST_MODULE load_test
#include <boost/test/unit_test.hpp>

#include "rss.hpp"
#include "sanitizers.hpp"

#include "autodiff/autodiff.hpp"
#include "nn/scalar_mlp.hpp"
#include "nn/trainer.hpp"

#include <cblas.h>
#include <pthread.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <random>
#include <string>
#include <thread>
#include <vector>

using autodiff::Var;
namespace tt = boost::test_tools;

namespace {

constexpr std::size_t steps = 10000;  // training steps per model, as issue 8 asks
constexpr std::size_t batch = 32;
constexpr std::size_t examples = 3200;  // 100 batches of 32: an epoch is 100 steps, so 100 epochs are 10,000 steps

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// Synthetic 28x28 images with labels from std::mt19937_64 words: rows 2c and 2c+1 are bright for class c and the
/// other pixels are noise, so the seed network can learn it. Pixels are p/255 as the IDX loader makes them.
nn::Dataset synthetic_images(std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  nn::Dataset d;
  d.rows = 28;
  d.cols = 28;
  d.count = examples;
  d.images.reserve(examples * 784);
  for (std::size_t i = 0; i < examples; ++i) {
    const auto label = static_cast<std::size_t>(gen() % 10);
    d.labels.push_back(static_cast<std::int64_t>(label));
    for (std::size_t r = 0; r < 28; ++r)
      for (std::size_t c = 0; c < 28; ++c) {
        const auto noise = static_cast<std::uint8_t>(gen() >> 57);  // 0..127
        const bool bright = r / 2 == label;
        d.images.push_back(static_cast<float>(bright ? 255 : noise) / 255.0f);
      }
  }
  return d;
}

/// The outcome of one training run: every parameter's bytes, in order, and the loss at the start and the end.
struct Run {
  std::vector<unsigned char> bytes;
  double first_loss = 0.0, last_loss = 0.0;
  double seconds = 0.0;
  std::string error;  // an exception thrown on a worker thread, reported on the main one
};

template <class T>
void append_bytes(std::vector<unsigned char>& out, const T* p, std::size_t n) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  out.insert(out.end(), b, b + n * sizeof(T));
}

/// The seed network (784-16-16-10 sigmoid, squared error, SGD lr 1.5, batch 32) on `data`, through nn::Trainer,
/// which steps on its own tape under a TapeScope.
nn::TrainConfig seed_config(std::uint64_t seed) {
  nn::TrainConfig c = nn::preset("seed");
  c.seed = seed;
  c.batch = batch;
  c.epochs = steps / (examples / batch);
  return c;
}

std::vector<unsigned char> parameter_bytes(const nn::Module& m) {
  std::vector<unsigned char> out;
  for (const autodiff::Tensor& p : m.parameters()) {
    const autodiff::Array& a = p.value();
    append_bytes(out, a.data<float>(), static_cast<std::size_t>(a.numel()));
  }
  return out;
}

/// Trains the seed network for `steps` steps.
Run train_seed_network(std::uint64_t seed, const nn::Dataset& data) {
  Run r;
  try {
    const auto start = std::chrono::steady_clock::now();
    nn::Trainer t(seed_config(seed), data);
    while (t.epoch() < t.config().epochs) {
      const nn::EpochStats s = t.train_epoch();
      if (t.epoch() == 1) r.first_loss = s.loss;
      r.last_loss = s.loss;
    }
    r.bytes = parameter_bytes(t.model());
    r.seconds = seconds_since(start);
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  return r;
}

/// A per-neuron scalar-Var model (4-8-8-3 sigmoid, the seed's squared error, SGD lr 0.5, batch 4) on 64 fixed
/// examples whose class is the quadrant of (x0, x1) folded to 3 classes; one reused tape, cleared every step.
class ScalarRun {
 public:
  explicit ScalarRun(std::uint64_t seed) : gen_(seed), model_({4, 8, 8, 3}, gen_), params_(model_.parameters()) {
    for (int i = 0; i < 64; ++i) {
      std::vector<Var> x;
      for (int k = 0; k < 4; ++k) x.emplace_back(2.0 * autodiff::uniform01(gen_) - 1.0);
      const int label = ((x[0].value() > 0) + (x[1].value() > 0)) % 3;
      std::vector<double> y(3, 0.0);
      y[static_cast<std::size_t>(label)] = 1.0;
      xs_.push_back(std::move(x));
      ys_.push_back(std::move(y));
    }
  }

  void train(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i, ++step_) {
      autodiff::TapeScope scope(tape_);
      Var cost = loss(step_ * 4);
      for (std::size_t b = 1; b < 4; ++b) cost = cost + loss(step_ * 4 + b);
      cost = cost * 0.25;
      autodiff::backward(cost);
      // Mean cost over the first 16 steps (which cover every example) and over the latest 16.
      if (step_ < 16) first_loss_ += cost.value() / 16;
      recent_[step_ % recent_.size()] = cost.value();
      for (Var& p : params_) {
        p.set_value(p.value() - 0.5 * p.grad());
        p.zero_grad();
      }
    }
  }

  /// Trains `steps` steps and returns the result.
  Run run() {
    Run r;
    try {
      const auto start = std::chrono::steady_clock::now();
      train(steps);
      for (const Var& p : params_) {
        const double v = p.value();
        append_bytes(r.bytes, &v, 1);
      }
      r.first_loss = first_loss_;
      for (double c : recent_) r.last_loss += c / static_cast<double>(recent_.size());
      r.seconds = seconds_since(start);
    } catch (const std::exception& e) {
      r.error = e.what();
    }
    return r;
  }

 private:
  std::mt19937_64 gen_;
  nn::ScalarMLP model_;
  std::vector<Var> params_;
  std::vector<std::vector<Var>> xs_;
  std::vector<std::vector<double>> ys_;
  autodiff::Tape tape_;
  std::size_t step_ = 0;
  double first_loss_ = 0.0;
  std::array<double, 16> recent_{};

  Var loss(std::size_t i) const {
    const std::size_t e = i % xs_.size();
    return nn::squared_error(model_.forward(xs_[e]), ys_[e]);
  }
};

Run train_scalar_model(std::uint64_t seed) { return ScalarRun(seed).run(); }

bool same_bytes(const Run& a, const Run& b) {
  return a.bytes.size() == b.bytes.size() && std::memcmp(a.bytes.data(), b.bytes.data(), a.bytes.size()) == 0;
}

}  // namespace

// ---- threads ------------------------------------------------------------------------------------------

// Four threads on the two cores, each with its own model and tape for 10,000 steps: three seed networks and one
// scalar-Var model. Any sharing between tapes (a global node pool, a shared scratch buffer, a race on the current
// tape) would change some bits or crash; the serial runs of the same seeds are the reference.
// OpenBLAS runs on one thread here: four training threads each asking OpenBLAS's pool for two more threads on two
// cores spin-wait against each other (a serial run took 400 s instead of 0.5 s on a loaded machine). The test is
// about the engine's tapes, and OpenBLAS gives the same bits on any thread count for these sizes.
BOOST_AUTO_TEST_CASE(four_threads_training_10000_steps_match_serial_runs, *boost::unit_test::label("threads")) {
  openblas_set_num_threads(1);
  const nn::Dataset data = synthetic_images(7);
  const std::vector<std::uint64_t> seeds = {1, 2, 3};
  constexpr std::uint64_t scalar_seed = 4;

  auto start = std::chrono::steady_clock::now();
  std::vector<Run> serial;
  for (std::uint64_t s : seeds) serial.push_back(train_seed_network(s, data));
  serial.push_back(train_scalar_model(scalar_seed));
  const double serial_seconds = seconds_since(start);

  for (std::size_t i = 0; i < serial.size(); ++i) {
    BOOST_TEST_CONTEXT("serial run " << i) {
      BOOST_TEST_REQUIRE(serial[i].error.empty(), serial[i].error);
      BOOST_TEST_MESSAGE("serial run " << i << ": loss " << serial[i].first_loss << " -> " << serial[i].last_loss << " in "
                                       << serial[i].seconds << " s");
      BOOST_TEST(serial[i].last_loss < 0.5 * serial[i].first_loss);  // each model really trains
    }
  }
  BOOST_TEST(!same_bytes(serial[0], serial[1]));  // different seeds give different bits, so equality means something

  start = std::chrono::steady_clock::now();
  std::vector<Run> threaded(serial.size());
  {
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < seeds.size(); ++i)
      threads.emplace_back([&, i] { threaded[i] = train_seed_network(seeds[i], data); });
    threads.emplace_back([&] { threaded.back() = train_scalar_model(scalar_seed); });
    for (std::thread& t : threads) t.join();
  }
  const double threaded_seconds = seconds_since(start);
  BOOST_TEST_MESSAGE("4 models x 10,000 steps: serial " << serial_seconds << " s, on 4 threads " << threaded_seconds << " s");

  for (std::size_t i = 0; i < serial.size(); ++i) {
    BOOST_TEST_CONTEXT("thread " << i) {
      BOOST_TEST_REQUIRE(threaded[i].error.empty(), threaded[i].error);
      BOOST_TEST(threaded[i].bytes.size() == serial[i].bytes.size());
      BOOST_TEST(same_bytes(threaded[i], serial[i]));
    }
  }
}

// ---- memory ------------------------------------------------------------------------------------------

// A tape that kept nodes, grads or buffers per step would grow by at least the step's recorded size every step:
// about 10 KB for the seed network's batch and about 40 KB for the scalar model's 1,200 nodes, so 10,000 steps would
// add 100 MB or more, far above the bound.
// Under AddressSanitizer RSS also holds its quarantine of freed blocks (up to 256 MiB), so it grows with any churn:
// the bound is checked in the other builds, and LeakSanitizer reports leaks in that one.
constexpr std::size_t growth_bound = 8u << 20;
namespace {
void check_flat(std::size_t before, std::size_t after) {
  BOOST_TEST(before > 0u);
  if (testing::asan)
    BOOST_TEST_MESSAGE("ASan build: RSS bound not checked (quarantine)");
  else
    BOOST_TEST(after < before + growth_bound);
}
}  // namespace

BOOST_AUTO_TEST_CASE(seed_network_rss_flat_over_10000_steps) {
  const nn::Dataset data = synthetic_images(8);
  rss::reset_peak();
  nn::TrainConfig c = seed_config(5);
  c.epochs += 5;
  nn::Trainer t(c, data);
  for (int e = 0; e < 5; ++e) t.train_epoch();  // warm-up: 500 steps
  const std::size_t before = rss::current_bytes();
  const auto start = std::chrono::steady_clock::now();
  while (t.epoch() < c.epochs) t.train_epoch();  // 10,000 steps more
  const double seconds = seconds_since(start);
  const std::size_t after = rss::current_bytes(), peak = rss::peak_bytes();
  BOOST_TEST_MESSAGE("seed network, 10,000 steps after 500 warm-up steps (" << seconds << " s): RSS " << rss::mib(before)
                                                                           << " MiB -> " << rss::mib(after)
                                                                           << " MiB, peak (VmHWM) " << rss::mib(peak) << " MiB");
  check_flat(before, after);
}

BOOST_AUTO_TEST_CASE(scalar_model_rss_flat_over_10000_steps) {
  rss::reset_peak();
  ScalarRun run(6);
  run.train(500);  // warm-up
  const std::size_t before = rss::current_bytes();
  const auto start = std::chrono::steady_clock::now();
  run.train(steps);
  const double seconds = seconds_since(start);
  const std::size_t after = rss::current_bytes(), peak = rss::peak_bytes();
  BOOST_TEST_MESSAGE("scalar 4-8-8-3 model, 10,000 steps after 500 warm-up steps (" << seconds << " s): RSS "
                                                                                    << rss::mib(before) << " MiB -> "
                                                                                    << rss::mib(after) << " MiB, peak (VmHWM) "
                                                                                    << rss::mib(peak) << " MiB");
  check_flat(before, after);
}

// ---- depth -------------------------------------------------------------------------------------------

namespace {

constexpr std::size_t chain_nodes = 10000000;
constexpr double chain_a = 1.0000001, chain_b = 1e-9;

struct ChainResult {
  double value = 0.0, grad = 0.0, bytes_per_node = 0.0;
  std::size_t nodes = 0;
  double build_seconds = 0.0, backward_seconds = 0.0, destroy_seconds = 0.0;
  std::string error;
};

// x <- x * a, then x <- x + b: two nodes per round, 10^7 in all, built, walked backward and destroyed on this thread.
void* run_chain(void* arg) {
  auto& r = *static_cast<ChainResult*>(arg);
  try {
    Var x0 = 1.0;
    auto start = std::chrono::steady_clock::now();
    {
      autodiff::Tape tape;
      autodiff::TapeScope scope(tape);
      {
        Var x = x0;
        for (std::size_t i = 0; i < chain_nodes / 2; ++i) {  // two statements, so two nodes per round
          x = x * chain_a;
          x = x + chain_b;
        }
        r.build_seconds = seconds_since(start);
        r.nodes = tape.size();
        start = std::chrono::steady_clock::now();
        autodiff::backward(x);
        r.backward_seconds = seconds_since(start);
        r.value = x.value();
        r.bytes_per_node = autodiff::detail::store(tape).scalar_bytes_per_op();
      }
      start = std::chrono::steady_clock::now();
    }
    r.destroy_seconds = seconds_since(start);
    r.grad = x0.grad();
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  return nullptr;
}

}  // namespace

// A recursive backward or destructor needs at least one frame per node: 10^7 frames of even 32 bytes are 320 MB,
// so on a 256 KiB stack any recursion crashes the test (with a guard-page segfault) instead of passing.
BOOST_AUTO_TEST_CASE(chain_of_ten_million_on_a_256_kib_stack) {
  constexpr std::size_t stack_size = 256 * 1024;
  pthread_attr_t attr;
  BOOST_TEST_REQUIRE(pthread_attr_init(&attr) == 0);
  BOOST_TEST_REQUIRE(pthread_attr_setstacksize(&attr, stack_size) == 0);
  std::size_t got = 0;
  pthread_attr_getstacksize(&attr, &got);
  BOOST_TEST(got == stack_size);

  ChainResult r;
  const std::size_t rss_before = rss::current_bytes();
  const bool peak_reset = rss::reset_peak();
  pthread_t thread;
  BOOST_TEST_REQUIRE(pthread_create(&thread, &attr, run_chain, &r) == 0);
  BOOST_TEST_REQUIRE(pthread_join(thread, nullptr) == 0);
  pthread_attr_destroy(&attr);
  const std::size_t peak = rss::peak_bytes(), rss_after = rss::current_bytes();
  BOOST_TEST_REQUIRE(r.error.empty(), r.error);

  BOOST_TEST_MESSAGE("chain of " << r.nodes << " scalar nodes on a " << stack_size / 1024 << " KiB stack: build "
                                 << r.build_seconds << " s, backward " << r.backward_seconds << " s, destroy "
                                 << r.destroy_seconds << " s; " << r.bytes_per_node << " bytes/node ("
                                 << rss::mib(static_cast<std::size_t>(r.bytes_per_node * static_cast<double>(r.nodes)))
                                 << " MiB); RSS " << rss::mib(rss_before) << " MiB before, peak (VmHWM"
                                 << (peak_reset ? "" : " of the whole process") << ") " << rss::mib(peak)
                                 << " MiB, " << rss::mib(rss_after) << " MiB after");
  BOOST_TEST(r.nodes >= chain_nodes);  // really recorded: one chain of 10^7 op nodes (plus the leaf)
  // Closed form: x_n = a^n x_0 + b (a^n - 1) / (a - 1), so dx_n/dx_0 = a^n, with n = 5*10^6 rounds.
  const double n = static_cast<double>(chain_nodes / 2);
  const double an = std::pow(chain_a, n);
  BOOST_TEST(r.grad == an, tt::tolerance(1e-9));  // the n roundings of the product stay within n * 2^-53 ~ 6e-10
  BOOST_TEST(r.grad == std::exp(0.5), tt::tolerance(1e-6));
  BOOST_TEST(r.value == an + chain_b * (an - 1.0) / (chain_a - 1.0), tt::tolerance(1e-9));
}
