// Data-parallel training over MPI: process set-up, parameter broadcast and bucketed gradient averaging.
#pragma once

#include "autodiff/tensor.hpp"
#include "module.hpp"

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace nn {

/// The rows [first, first + rows) of a batch of `total` rows that rank `rank` of `size` works on: contiguous
/// slices in rank order, as even as possible (the first total % size ranks take one row more).
struct Shard {
  std::size_t first = 0, rows = 0;
};
/// @throws std::invalid_argument when size < 1 or rank is not in [0, size).
Shard shard(std::size_t total, int rank, int size);

/// A gradient of `numel` elements cut into buckets of at most `bucket_elements` elements each: the half-open
/// element ranges of a flat buffer that holds every parameter's gradient in parameter order. A bucket may end in
/// the middle of a parameter. @throws std::invalid_argument when bucket_elements is 0.
std::vector<std::pair<std::size_t, std::size_t>> buckets(std::size_t numel, std::size_t bucket_elements);

struct DistributedOptions {
  /// Largest gradient bucket handed to one MPI_Allreduce (PyTorch DDP's default is 25 MiB).
  std::size_t bucket_bytes = std::size_t{25} << 20;
  /// false sums the ranks' gradients without weighting them: only for showing that the equivalence test
  /// (tests/distributed_check) catches a missing average.
  bool average = true;
};

/// One MPI process of a data-parallel job (RAII: MPI_Init_thread in the constructor, MPI_Finalize in the destructor;
/// at most one per process). Every rank holds the whole model; each works on its shard of every batch, and
/// allreduce_mean() makes the gradients the full batch's before the optimizer steps, so the parameters stay
/// identical without ever being sent again.
///
/// The class exists in every build. Without MPI (meson -Dmpi=disabled, or libopenmpi-dev absent) available() is
/// false and the constructor throws.
class Distributed {
 public:
  /// True when this library was built with MPI.
  static bool available();

  /// Initialises MPI (thread level MPI_THREAD_FUNNELED: only the main thread calls MPI).
  /// @throws std::logic_error when built without MPI or when MPI is already initialised;
  ///         std::invalid_argument when options.bucket_bytes is below 8.
  explicit Distributed(DistributedOptions options = {});
  ~Distributed();
  Distributed(const Distributed&) = delete;
  Distributed& operator=(const Distributed&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  /// Rank 0 prints, evaluates and writes files.
  bool root() const { return rank_ == 0; }
  const DistributedOptions& options() const { return options_; }

  /// Copies every parameter value of rank 0 to the other ranks (one MPI_Bcast per bucket).
  /// @throws std::invalid_argument when the parameters mix dtypes.
  void broadcast(const Module& model);
  void broadcast(const std::vector<autodiff::Tensor>& params);

  /// Replaces each parameter's grad g_r on rank r by sum_r weight_r * g_r over all ranks, packed into buckets of
  /// options().bucket_bytes with one MPI_Allreduce (in place, sum) each. With weight_r = rows_r / rows of the whole
  /// batch, and each rank's loss the mean over its own rows, the result is the gradient of the whole batch's mean
  /// loss, also when a batch does not split evenly (a rank with no rows passes weight 0). Parameters without a grad
  /// count as zeros and have one afterwards.
  /// @throws std::invalid_argument when the parameters mix dtypes.
  void allreduce_mean(const std::vector<autodiff::Tensor>& params, double weight);

  /// Sums values elementwise over all ranks, in place (for epoch statistics).
  void allreduce_sum(std::vector<double>& values);
  /// True when every rank holds bitwise the same parameter values (compares a 64-bit hash; one small allreduce).
  bool in_sync(const std::vector<autodiff::Tensor>& params);
  void barrier();
  /// Ends every rank of the job with `code` (MPI_Abort): for an error on one rank while the others wait in a
  /// collective call.
  [[noreturn]] void abort(int code);

 private:
  DistributedOptions options_;
  int rank_ = 0, size_ = 1;
  std::vector<float> f32_;  // the packed gradient, reused across steps
  std::vector<double> f64_;
};

}  // namespace nn
