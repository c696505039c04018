// Run under mpirun: data-parallel training over N ranks gives the parameters of one process with the same batch.
//   mpirun -np 2 distributed_check [--no-average] [--bucket-bytes N] [--tolerance X]
// Each configuration trains 100 steps of global batch 64 (the last batch has 37 rows, so shards are uneven) with
// the ranks, then rank 0 trains the same configuration alone, in process, and compares every parameter. Prints the
// largest relative difference max|a - b| / max|b| per tensor; exits 0 when it is within the tolerance on every
// configuration and the ranks hold identical parameters, 1 otherwise (on every rank).
#include "nn/distributed.hpp"
#include "nn/trainer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

// 8x8 images, pixels p/255 and labels from mt19937 words (the same data on every rank and every library).
nn::Dataset synthetic(std::size_t count) {
  nn::Dataset d;
  d.rows = d.cols = 8;
  d.count = count;
  d.images.resize(count * d.features());
  d.labels.resize(count);
  std::mt19937 gen(7);
  for (std::size_t i = 0; i < count; ++i) {
    int brightest = 0;
    for (std::size_t k = 0; k < d.features(); ++k) {
      const auto p = static_cast<std::uint8_t>(gen() >> 24);
      d.images[i * d.features() + k] = static_cast<float>(p) / 255.0f;
      brightest = std::max<int>(brightest, p);
    }
    d.labels[i] = static_cast<std::int64_t>((brightest + gen() % 3) % 10);  // learnable in part
  }
  return d;
}

// max |a - b| / max |b| over one tensor.
double relative_difference(const autodiff::Array& a, const autodiff::Array& b) {
  double diff = 0, scale = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    diff = std::max(diff, std::fabs(a.at(i) - b.at(i)));
    scale = std::max(scale, std::fabs(b.at(i)));
  }
  return scale > 0 ? diff / scale : diff;
}

struct Case {
  std::string name;
  nn::TrainConfig config;
};

std::vector<Case> cases() {
  nn::TrainConfig sgd;  // the seed's set-up: sigmoid, squared error, plain SGD
  sgd.hidden = {32, 16};
  sgd.lr = 0.5;
  sgd.momentum = 0.9;
  sgd.batch = 64;
  sgd.epochs = 1;
  nn::TrainConfig adam = nn::preset("best");  // ReLU, cross-entropy, AdamW with cosine decay, flips
  adam.hidden = {48, 24};
  adam.shift = 1;
  adam.batch = 64;
  adam.epochs = 1;
  return {{"sgd momentum, squared error", sgd}, {"adamw cosine, cross-entropy, flip + shift", adam}};
}

}  // namespace

int main(int argc, char** argv) {
  nn::DistributedOptions options;
  options.bucket_bytes = 4096;  // small, so buckets split parameters and several calls happen per step
  // The ranks sum each batch's gradient in other pieces than one process does, so float32 rounding makes the runs
  // differ: 2.3e-7 was measured on an AVX2 machine, and how large it is depends on how the BLAS kernel for the CPU
  // (AVX2, AVX-512) blocks its sums, and grows with the steps. Real errors change whole updates: a sum in place of
  // an average doubles or triples every step (--no-average must fail). 1e-5 leaves 40x room for rounding on any CPU
  // and stays far below a wrong update.
  double tolerance = 1e-5;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--no-average") {
      options.average = false;
    } else if (a == "--bucket-bytes" && i + 1 < argc) {
      options.bucket_bytes = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--tolerance" && i + 1 < argc) {
      tolerance = std::strtod(argv[++i], nullptr);
    } else {
      std::fprintf(stderr, "usage: distributed_check [--no-average] [--bucket-bytes N] [--tolerance X]\n");
      return 2;
    }
  }
  if (!nn::Distributed::available()) {
    std::fprintf(stderr, "distributed_check: built without MPI\n");
    return 77;  // meson's skip code
  }
  try {
    nn::Distributed dist(options);
    const nn::Dataset data = synthetic(64 * 99 + 37);  // 100 steps of batch 64, the last one 37 rows
    bool ok = true;
    for (const Case& c : cases()) {
      nn::Trainer ranks(c.config, data);
      ranks.set_distributed(&dist);
      const nn::EpochStats s = ranks.train_epoch();
      const bool same = dist.in_sync(ranks.optimizer().params());
      if (!dist.root()) continue;
      nn::Trainer alone(c.config, data);
      const nn::EpochStats r = alone.train_epoch();
      double worst = 0;
      std::string detail;
      const auto a = ranks.model().named_parameters(), b = alone.model().named_parameters();
      for (std::size_t i = 0; i < a.size(); ++i) {
        const double d = relative_difference(a[i].second.value(), b[i].second.value());
        worst = std::max(worst, d);
        detail += fmt::format(" {} {:.2g}", a[i].first, d);
      }
      const bool pass = same && worst <= tolerance && std::isfinite(worst);
      ok = ok && pass;
      std::printf("%s: %d ranks vs 1 process, batch %zu, %zu steps: max relative difference %.3g (tolerance %g), "
                  "ranks %s, loss %.6f vs %.6f -> %s\n  per tensor:%s\n",
                  c.name.c_str(), dist.size(), c.config.batch, alone.steps_per_epoch(), worst, tolerance,
                  same ? "identical" : "DIFFER", s.loss, r.loss, pass ? "ok" : "FAIL", detail.c_str());
    }
    std::vector<double> failed{ok ? 0.0 : 1.0};
    dist.allreduce_sum(failed);  // every rank exits with rank 0's verdict
    return failed[0] > 0 ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "distributed_check: error: %s\n", e.what());
    return 1;
  }
}
