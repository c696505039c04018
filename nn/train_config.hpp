// A training run's configuration: its enumerations (one table each), the presets, layer sizes, the one-line summary
// and the learning-rate schedule.
#pragma once

#include "nn/cost.hpp"
#include "nn/enum_table.hpp"
#include "nn/linear.hpp"
#include "nn/mlp.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nn {

enum class OptimizerKind { sgd, adam };
/// Names and stored codes of OptimizerKind (codes are those of checkpoint format 1 and never change).
inline constexpr EnumTable optimizers{"optimizer", std::array<EnumEntry<OptimizerKind>, 2>{{
    {OptimizerKind::sgd, "sgd", 0}, {OptimizerKind::adam, "adam", 1}}}};
static_assert(optimizers.valid());
/// "sgd" or "adam". @throws std::invalid_argument naming the unknown value.
OptimizerKind parse_optimizer(std::string_view s);
std::string_view name(OptimizerKind o);

/// Learning rate over the run, as a factor of the base rate at step t of T (t counts every batch of every epoch):
/// constant: 1;  cosine: (1 + cos(pi t / T)) / 2;  step: 1, then 0.1 from t = T/2 and 0.01 from t = 3T/4.
/// A warm-up fraction w > 0 multiplies by (t + 1) / (w T) while t < w T.
enum class Schedule { constant, cosine, step };
/// Names and stored codes of Schedule (codes are those of checkpoint format 1 and never change).
inline constexpr EnumTable schedules{"schedule", std::array<EnumEntry<Schedule>, 3>{{
    {Schedule::constant, "constant", 0}, {Schedule::cosine, "cosine", 1}, {Schedule::step, "step", 2}}}};
static_assert(schedules.valid());
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
/// 5 epochs) and "best" (see train_config.cpp for the choice). @throws std::invalid_argument on an unknown name.
TrainConfig preset(std::string_view name);

/// sigmoid for squared error (the seed: every layer is sigmoid); identity (logits) for softmax cross-entropy.
Activation output_activation(Cost c);

/// Layer sizes of the model: features, the hidden sizes, classes.
std::vector<std::int64_t> layer_sizes(const TrainConfig& c, std::int64_t features, std::int64_t classes);

/// One line such as "784-16-16-10 sigmoid/sigmoid, squared_error, sgd lr 1.5 (constant), batch 32, 5 epochs, seed 0".
std::string summary(const TrainConfig& c, std::int64_t features, std::int64_t classes);

/// Learning rate at step t of total_steps for config c (see Schedule).
double scheduled_lr(const TrainConfig& c, std::size_t t, std::size_t total_steps);

}  // namespace nn
