// The training loop shared by examples/train and the tests: Trainer, its epochs, history and exact checkpoints.
#pragma once

#include "autodiff/tape.hpp"
#include "autodiff/tensor.hpp"
#include "batcher.hpp"
#include "data.hpp"
#include "evaluation.hpp"
#include "optim.hpp"
#include "sequential.hpp"
#include "train_config.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace nn {

class Distributed;

/// Statistics of one training epoch. loss and accuracy are running means over the epoch's batches, measured on
/// each batch's forward pass before its update (so they lag the model at the end of the epoch).
struct EpochStats {
  double loss = 0.0;
  double accuracy = 0.0;
  double seconds = 0.0;
  std::size_t examples = 0;
};

/// One entry per completed epoch, kept in checkpoints so a resumed run plots its whole history.
struct History {
  std::vector<double> loss, train_accuracy, test_loss, test_accuracy, seconds;
  std::size_t size() const { return loss.size(); }
  void add(const EpochStats& s, const Evaluation& test);
};

/// What a checkpoint records about the training set, so that a resumed run can tell it has the same data: the
/// image count and size, and a CRC-32 of the pixels (as stored, float32) and labels.
struct DataSignature {
  std::size_t count = 0, rows = 0, cols = 0;
  std::uint32_t checksum = 0;
  bool operator==(const DataSignature&) const = default;
  /// "60000 images of 28x28, checksum 1a2b3c4d".
  std::string str() const;
};
DataSignature signature(const Dataset& d);

/// Whether Trainer::load requires the training set the checkpoint was trained on.
enum class DataCheck {
  same_data,  ///< to resume training: a different training set is an error
  any_data,   ///< to evaluate or fine-tune: only the image size has to fit the model
};

/// Owns a model, its optimizer, the run's generator and one reused tape, and trains epoch by epoch. The model is the
/// Sequential that build_model makes of model_arch(config) (an MLP for the fc-only presets, a CNN for conv arches);
/// it takes rows of pixels [B, rows*cols] and gives [B, classes].
///
/// Reproducibility: a single std::mt19937_64 seeded with config.seed draws the initial weights, then each epoch's
/// shuffle (and augmentation draws). A checkpoint stores that generator's state with the parameters, the
/// optimizer state, the completed epochs and the step count, so save + load + train gives bit-identical
/// parameters to an uninterrupted run.
class Trainer {
 public:
  /// Builds the model and optimizer for `config` on `train` (which must outlive the trainer).
  /// @throws std::invalid_argument on an empty dataset, a configuration value outside train_limits, or an arch that
  /// does not fit the images (a pool layer on images under 2x2).
  Trainer(TrainConfig config, const Dataset& train, std::int64_t classes = 10);
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  const TrainConfig& config() const { return config_; }
  /// Changes the total epoch count (for continuing a resumed run); cosine and step schedules stretch with it.
  void set_epochs(std::size_t epochs) { config_.epochs = epochs; }
  Sequential& model() { return model_; }
  const Sequential& model() const { return model_; }
  std::int64_t classes() const { return classes_; }
  Optimizer& optimizer() { return *optimizer_; }
  /// Epochs completed so far (restored by load).
  std::size_t epoch() const { return epoch_; }
  std::size_t steps_per_epoch() const { return batcher_.batches(); }
  History& history() { return history_; }
  const History& history() const { return history_; }
  std::mt19937_64& generator() { return gen_; }

  /// Data-parallel training over MPI (nn/distributed.hpp), or nullptr (the default) for one process. Copies rank
  /// 0's parameters to every rank; from then on each epoch every rank shuffles the same order, works on its shard
  /// of every batch (Batcher::load with a row range), and averages the gradients before each update, so the
  /// parameters equal a single-process run with the same batch size up to float rounding. Epoch statistics are
  /// summed over the ranks, and each epoch ends by checking that the ranks' parameters are identical. Call it on
  /// every rank, after load(); `d` must outlive the training calls.
  /// @throws std::runtime_error from train_epoch when the ranks' parameters have diverged.
  void set_distributed(Distributed* d);
  Distributed* distributed() const { return dist_; }

  /// Trains one epoch: reshuffles from the generator, then for each batch one forward, backward and update on the
  /// reused tape. With `progress` a terminal, draws a ProgressBar on it; otherwise prints nothing.
  /// @throws std::runtime_error naming the epoch and step at the first non-finite loss (before its update); the
  /// run is then over: the trainer is left mid-epoch.
  EpochStats train_epoch(std::FILE* progress = nullptr);

  /// Writes a checkpoint (format checkpoint_format): configuration (with the arch as (layer code, size) rows),
  /// parameters, optimizer state, completed epochs, step count, generator state, history and the training set's
  /// signature (entries "config.*", "model.*", "optimizer.*", "trainer.*", "history.*", "data.*").
  void save(const std::filesystem::path& file) const;
  /// Restores a checkpoint written by save() for the same configuration. Nothing changes unless it all fits. Checked
  /// besides the checksum: the configuration (as checkpoint_config), the training set (with DataCheck::same_data,
  /// when the checkpoint records one), the model's sizes and parameters (finite), the generator state (not all
  /// zeros), the epoch (at most config.epochs), the step count (every epoch's batches of this data, with
  /// DataCheck::same_data) and the history. A format 1 checkpoint (an MLP, written before archs were stored, its
  /// parameters named "layers.<i>.*") loads into the equal fc-only Sequential.
  /// @throws std::invalid_argument naming the file and the entry that is missing or does not match.
  void load(const std::filesystem::path& file, DataCheck data = DataCheck::same_data);
  /// The configuration stored in a checkpoint (to build the Trainer that loads it).
  /// @throws std::invalid_argument naming the file when it is not a checkpoint written by save(), or an entry is
  /// outside its table or train_limits.
  /// @throws std::invalid_argument naming the version for a format other than 1 or checkpoint_format.
  static TrainConfig checkpoint_config(const std::filesystem::path& file);
  /// The format save() writes ("trainer.format"): 2 stores the arch; 1 (no such entry) was MLP-only.
  static constexpr std::uint64_t checkpoint_format = 2;
  /// The training set recorded in a checkpoint, or nothing for a checkpoint written before it was recorded.
  /// @throws std::invalid_argument naming the file when it is not a readable checkpoint.
  static std::optional<DataSignature> checkpoint_data(const std::filesystem::path& file);
  /// The training set this trainer was built on.
  const DataSignature& data() const { return data_; }

 private:
  TrainConfig config_;
  DataSignature data_;
  std::int64_t classes_;
  std::mt19937_64 gen_;
  Sequential model_;
  std::unique_ptr<Optimizer> optimizer_;
  Batcher batcher_;
  autodiff::Tape tape_;
  std::size_t epoch_ = 0, step_ = 0;
  History history_;
  Distributed* dist_ = nullptr;
};

}  // namespace nn
