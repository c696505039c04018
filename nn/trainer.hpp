// Training-loop pieces shared by examples/train and the tests: run configuration and presets, seeded batching,
// one epoch, learning-rate schedules, evaluation with a confusion matrix, and checkpoints that resume exactly.
#pragma once

#include "autodiff/array.hpp"
#include "autodiff/tape.hpp"
#include "autodiff/tensor.hpp"
#include "cost.hpp"
#include "data.hpp"
#include "linear.hpp"
#include "mlp.hpp"
#include "optim.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nn {

class Distributed;

enum class OptimizerKind { sgd, adam };
/// "sgd" or "adam". @throws std::invalid_argument naming the unknown value.
OptimizerKind parse_optimizer(std::string_view s);
std::string_view name(OptimizerKind o);

/// Learning rate over the run, as a factor of the base rate at step t of T (t counts every batch of every epoch):
/// constant: 1;  cosine: (1 + cos(pi t / T)) / 2;  step: 1, then 0.1 from t = T/2 and 0.01 from t = 3T/4.
/// A warm-up fraction w > 0 multiplies by (t + 1) / (w T) while t < w T.
enum class Schedule { constant, cosine, step };
/// "constant", "cosine" or "step". @throws std::invalid_argument naming the unknown value.
Schedule parse_schedule(std::string_view s);
std::string_view name(Schedule s);

/// Everything that defines a training run. The output activation follows the cost (see output_activation).
struct TrainConfig {
  std::vector<std::int64_t> hidden{16, 16};
  Activation activation = Activation::sigmoid;  ///< of the hidden layers
  Cost cost = Cost::squared_error;
  Init init = Init::uniform;
  OptimizerKind optimizer = OptimizerKind::sgd;
  double lr = 1.5;
  double momentum = 0.0;      ///< SGD only
  double weight_decay = 0.0;  ///< SGD: L2 in the gradient; Adam: decoupled (AdamW)
  Schedule schedule = Schedule::constant;
  double warmup = 0.0;  ///< fraction of all steps with a linear warm-up
  double flip = 0.0;    ///< probability of mirroring a training image left-right (augmentation)
  int shift = 0;        ///< largest random translation of a training image, in pixels per axis (augmentation)
  std::size_t batch = 32;
  std::size_t epochs = 5;
  std::uint64_t seed = 0;
};

/// The named presets: "seed" (the seed's 784-16-16-10 sigmoid network, squared error, SGD lr 1.5, batch 32,
/// 5 epochs) and "best" (see trainer.cpp for the choice). @throws std::invalid_argument on an unknown name.
TrainConfig preset(std::string_view name);

/// sigmoid for squared error (the seed: every layer is sigmoid); identity (logits) for softmax cross-entropy.
Activation output_activation(Cost c);

/// Layer sizes of the model: features, the hidden sizes, classes.
std::vector<std::int64_t> layer_sizes(const TrainConfig& c, std::int64_t features, std::int64_t classes);

/// One line such as "784-16-16-10 sigmoid/sigmoid, squared_error, sgd lr 1.5 (constant), batch 32, 5 epochs, seed 0".
std::string summary(const TrainConfig& c, std::int64_t features, std::int64_t classes);

/// Learning rate at step t of total_steps for config c (see Schedule).
double scheduled_lr(const TrainConfig& c, std::size_t t, std::size_t total_steps);

/// Fisher-Yates shuffle from the generator's 64-bit words (the same order on every standard library).
void shuffle(std::span<std::uint32_t> order, std::mt19937_64& gen);

/// Gathers minibatches of a dataset into preallocated input, one-hot and label buffers, so a step allocates
/// nothing here. The last batch is shorter when the batch size does not divide the dataset.
///
/// With `compact`, the images are also kept as bytes when every pixel is exactly p/255 for a byte p (as the IDX
/// loader produces): shuffled batches then read a quarter of the memory (47 MB instead of 188 MB for Fashion-MNIST
/// training), which matters because random rows of the float images miss every cache. The values are identical.
class Batcher {
 public:
  /// @throws std::invalid_argument when batch is 0, the dataset is empty, or a label is >= classes.
  Batcher(const Dataset& data, std::size_t batch, std::int64_t classes, autodiff::Dtype dtype = autodiff::Dtype::f32,
          bool compact = true);

  std::size_t batches() const { return (data_->count + batch_ - 1) / batch_; }
  /// Rows of batch i (the batch size, or fewer for the last batch).
  std::size_t rows(std::size_t i) const;
  /// Shuffles the examples from their original order, so an epoch's order depends on the generator's state only.
  void shuffle(std::mt19937_64& gen);
  /// Loads batch i of the current order, augmented: with flip > 0 each image is mirrored left-right with that
  /// probability, and with shift > 0 moved by whole pixels dx, dy uniform in [-shift, shift] (zero fill). Each
  /// augmentation that is on draws one word from gen per image, so the draw count never depends on the data.
  /// @throws std::invalid_argument when an augmentation is on without a generator.
  void load(std::size_t i, double flip = 0.0, int shift = 0, std::mt19937_64* gen = nullptr);
  /// Loads only rows [first, first + count) of batch i (one rank's shard in data-parallel training; count may be
  /// 0). Augmentation words are still drawn for every row of the batch, so the generator ends in the same state and
  /// each loaded row is exactly as load(i, flip, shift, gen) would make it.
  /// @throws std::invalid_argument when the rows are not inside the batch, or as load().
  void load(std::size_t i, std::size_t first, std::size_t count, double flip, int shift, std::mt19937_64* gen);

  /// Inputs [b, features] of the loaded batch.
  const autodiff::Tensor& x() const { return *x_; }
  /// Targets [b, classes], one-hot.
  const autodiff::Tensor& one_hot() const { return *y_; }
  const std::vector<std::uint8_t>& labels() const { return *labels_; }
  const std::vector<std::uint32_t>& order() const { return order_; }

 private:
  struct Buffers {
    autodiff::Tensor x, y;
    std::vector<std::uint8_t> labels;
  };
  Buffers make(std::size_t rows) const;

  const Dataset* data_;
  std::vector<std::uint8_t> bytes_;  // the images as p for p/255 (empty when not compact)
  std::size_t batch_;
  std::int64_t classes_;
  autodiff::Dtype dtype_;
  std::vector<std::uint32_t> order_;
  Buffers full_, tail_;
  std::map<std::size_t, Buffers> shards_;  // other row counts, made on first use (shards of full_ and tail_)
  const autodiff::Tensor* x_ = nullptr;
  const autodiff::Tensor* y_ = nullptr;
  const std::vector<std::uint8_t>* labels_ = nullptr;
};

/// Index of the largest entry of each row of a [B, C] array (the first one on ties), compared with labels:
/// the number of rows whose arg-max equals its label.
std::size_t count_correct(const autodiff::Array& scores, std::span<const std::uint8_t> labels);

/// Loss, accuracy and confusion matrix of a model on a dataset.
struct Evaluation {
  double loss = 0.0;
  double accuracy = 0.0;
  std::size_t count = 0;
  std::size_t classes = 0;
  std::vector<std::size_t> confusion;  ///< [true label * classes + predicted]

  std::size_t at(std::size_t truth, std::size_t predicted) const { return confusion[truth * classes + predicted]; }
  /// Fraction of the examples of class c predicted as c (0 when the class has no examples).
  double class_accuracy(std::size_t c) const;
};

/// Evaluates under NoGrad in chunks of `chunk` rows (the cost is the batch mean, averaged over all rows).
/// @throws std::invalid_argument when the dataset is empty or its features differ from the model's input size.
Evaluation evaluate(const MLP& model, Cost cost, const Dataset& data, std::size_t chunk = 1000);

/// The confusion matrix as a table (rows: true class, columns: predicted class by index) with per-class accuracy.
/// `names` gives the class names (indices are used when it is shorter than the class count).
std::string format_confusion(const Evaluation& e, std::span<const std::string_view> names);

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

/// Owns a model, its optimizer, the run's generator and one reused tape, and trains epoch by epoch.
///
/// Reproducibility: a single std::mt19937_64 seeded with config.seed draws the initial weights, then each epoch's
/// shuffle (and augmentation draws). A checkpoint stores that generator's state with the parameters, the
/// optimizer state, the completed epochs and the step count, so save + load + train gives bit-identical
/// parameters to an uninterrupted run.
class Trainer {
 public:
  /// Builds the model and optimizer for `config` on `train` (which must outlive the trainer).
  /// @throws std::invalid_argument on an empty dataset or a bad configuration value.
  Trainer(TrainConfig config, const Dataset& train, std::int64_t classes = 10);
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  const TrainConfig& config() const { return config_; }
  /// Changes the total epoch count (for continuing a resumed run); cosine and step schedules stretch with it.
  void set_epochs(std::size_t epochs) { config_.epochs = epochs; }
  MLP& model() { return model_; }
  const MLP& model() const { return model_; }
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
  EpochStats train_epoch(std::FILE* progress = nullptr);

  /// Writes a checkpoint: configuration, parameters, optimizer state, completed epochs, step count, generator
  /// state and history (entries "config.*", "model.*", "optimizer.*", "trainer.*", "history.*").
  void save(const std::filesystem::path& file) const;
  /// Restores a checkpoint written by save() for the same configuration. Nothing changes unless it all fits.
  /// @throws std::invalid_argument naming the file and the entry that is missing or does not match.
  void load(const std::filesystem::path& file);
  /// The configuration stored in a checkpoint (to build the Trainer that loads it).
  /// @throws std::invalid_argument naming the file when it is not a checkpoint written by save().
  static TrainConfig checkpoint_config(const std::filesystem::path& file);

 private:
  TrainConfig config_;
  std::mt19937_64 gen_;
  MLP model_;
  std::unique_ptr<Optimizer> optimizer_;
  Batcher batcher_;
  autodiff::Tape tape_;
  std::size_t epoch_ = 0, step_ = 0;
  History history_;
  Distributed* dist_ = nullptr;
};

}  // namespace nn
