// Communication per data-parallel step, per model, under mpirun -np N: the bucketed gradient average
// (nn::Distributed::allreduce_mean) next to one step's compute at the per-rank batch (scripts/bench runs it when MPI is
// built; docs/distributed.md uses the figures).
//   mpirun -np 2 bench/allreduce [--batch 256] [--trials 40] [--bucket-mb 25]
#include "autodiff/tape.hpp"
#include "bench/common.hpp"
#include "nn/cost.hpp"
#include "nn/distributed.hpp"
#include "nn/mlp.hpp"
#include "nn/optim.hpp"

#include <cblas.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

struct Model {
  std::string name;
  std::vector<std::int64_t> sizes;
};

}  // namespace

int main(int argc, char** argv) {
  std::size_t batch = 256, trials = 40;
  double bucket_mb = 25;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view a = argv[i];
    if (a == "--batch") batch = std::strtoull(argv[i + 1], nullptr, 10);
    else if (a == "--trials") trials = std::strtoull(argv[i + 1], nullptr, 10);
    else if (a == "--bucket-mb") bucket_mb = std::strtod(argv[i + 1], nullptr);
  }
  if (!nn::Distributed::available()) {
    std::fprintf(stderr, "allreduce: built without MPI (meson -Dmpi=enabled)\n");
    return 2;
  }
  nn::DistributedOptions options;
  options.bucket_bytes = static_cast<std::size_t>(bucket_mb * 1024 * 1024);
  nn::Distributed dist(options);
  if (std::getenv("OPENBLAS_NUM_THREADS") == nullptr) openblas_set_num_threads(1);
  const nn::Shard part = nn::shard(batch, dist.rank(), dist.size());
  const auto rows = static_cast<std::int64_t>(part.rows);
  const double weight = static_cast<double>(part.rows) / static_cast<double>(batch);
  if (dist.root())
    std::printf("%d ranks, global batch %zu (%lld on rank 0), buckets of %g MiB, %zu trials, medians, wall time\n"
                "%-16s %9s %8s %8s %13s %12s %9s %10s\n",
                dist.size(), batch, static_cast<long long>(rows), bucket_mb, trials, "model", "params", "MB", "buckets",
                "allreduce us", "in-step us", "step us", "comm share");
  const std::vector<Model> models = {{"784-16-16-10", {784, 16, 16, 10}},
                                     {"784-512-256-10", {784, 512, 256, 10}},
                                     {"784-512-512-10", {784, 512, 512, 10}}};
  for (const Model& m : models) {
    std::mt19937_64 gen(1);
    nn::MLP mlp(m.sizes, gen, nn::Activation::relu, nn::Activation::identity);
    nn::AdamOptions o;
    o.lr = 1e-3;
    nn::Adam opt(mlp.parameters(), o);
    const autodiff::Tensor x = autodiff::uniform(autodiff::Shape{rows, m.sizes.front()}, 0, 1, gen);
    std::vector<std::int64_t> labels(part.rows);
    for (auto& l : labels) l = static_cast<std::int64_t>(gen() % 10);
    autodiff::Tape tape;
    std::size_t params = 0;
    for (const auto& p : mlp.parameters()) params += static_cast<std::size_t>(p.numel());
    const double bytes = 4.0 * static_cast<double>(params);

    // Allreduce alone, after a barrier: the communication cost without waiting for a slower rank.
    std::vector<double> alone, in_step, step;
    for (std::size_t t = 0; t < trials + 3; ++t) {
      dist.barrier();
      const double t0 = bench::now_s(bench::Timing::wall);
      dist.allreduce_mean(opt.params(), weight);
      if (t >= 3) alone.push_back(bench::now_s(bench::Timing::wall) - t0);
    }
    // A whole step: forward, backward, allreduce, Adam update.
    for (std::size_t t = 0; t < trials + 3; ++t) {
      const double t0 = bench::now_s(bench::Timing::wall);
      {
        autodiff::TapeScope scope(tape);
        autodiff::backward(nn::softmax_cross_entropy(mlp.forward(x), labels));
      }
      const double t1 = bench::now_s(bench::Timing::wall);
      dist.allreduce_mean(opt.params(), weight);
      const double t2 = bench::now_s(bench::Timing::wall);
      opt.step();
      opt.zero_grad();
      const double t3 = bench::now_s(bench::Timing::wall);
      if (t >= 3) {
        in_step.push_back(t2 - t1);
        step.push_back(t3 - t0);
      }
    }
    const double a = bench::median(alone) * 1e6, s = bench::median(step) * 1e6;
    const std::size_t calls = nn::buckets(params, options.bucket_bytes / 4).size();
    if (dist.root())
      std::printf("%-16s %9zu %8.2f %8zu %13s %12s %9s %9.1f%%\n", m.name.c_str(), params, bytes / 1e6, calls,
                  bench::sig3(a).c_str(), bench::sig3(bench::median(in_step) * 1e6).c_str(), bench::sig3(s).c_str(),
                  100.0 * bench::median(in_step) * 1e6 / s);
  }
  return 0;
}
