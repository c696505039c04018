// A training run's configuration: its enumerations (one table each), ranges, presets, summary and schedule.
#pragma once

#include "arch.hpp"
#include "cost.hpp"
#include "enum_table.hpp"
#include "linear.hpp"
#include "mlp.hpp"

#include <cstddef>
#include <cstdint>
#include <limits>
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
  std::vector<std::int64_t> hidden{16, 16};  ///< fc layer sizes when arch is empty
  std::string arch;  ///< the layer stack as parse_arch reads it ("conv32,pool,fc128"); empty: fc layers of hidden
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

/// An interval of accepted values, as the messages print it: "x > 0", "0 <= x < 1", "a whole number from 1 to 32".
struct Range {
  double lo, hi;
  bool lo_open = false, hi_open = false;
  bool integer = false;
  bool contains(double v) const;
  std::string str() const;
};

/// The accepted value of every TrainConfig field: one place for the Trainer, the checkpoint reader and the
/// command line (examples/train).
namespace train_limits {
inline constexpr Range lr{0, 1.7976931348623157e308, true, false};  // any finite positive number
inline constexpr Range momentum{0, 1, false, true};
inline constexpr Range weight_decay{0, 1};
inline constexpr Range warmup{0, 1, false, true};
inline constexpr Range flip{0, 1};
inline constexpr Range shift{0, 8, false, false, true};
inline constexpr Range batch{1, 1 << 20, false, false, true};
inline constexpr Range epochs{1, 100000, false, false, true};
inline constexpr Range hidden_size{1, 65536, false, false, true};
inline constexpr std::size_t max_hidden_layers = 32;
}  // namespace train_limits

/// The first field of c outside train_limits, as "weight_decay = 100 is out of range (expected 0 <= x <= 1)", or an
/// empty string. Also: momentum > 0 with an optimizer other than sgd.
std::string config_problem(const TrainConfig& c);
/// @throws std::invalid_argument "TrainConfig: <config_problem>" when there is one.
void validate(const TrainConfig& c);

/// The named presets: "seed" (the seed's 784-16-16-10 sigmoid network, squared error, SGD lr 1.5, batch 32,
/// 5 epochs), "best" (the best MLP) and "cnn" (a small convolutional network); see train_config.cpp for the choices.
/// @throws std::invalid_argument on an unknown name.
TrainConfig preset(std::string_view name);
/// The preset names, as the command line offers them: "seed, best or cnn".
inline constexpr const char* preset_names = "seed, best or cnn";

/// The model's layers: parse_arch(c.arch), or fc layers of c.hidden when arch is empty.
/// @throws std::invalid_argument "arch: ..." when arch does not parse.
std::vector<LayerSpec> model_arch(const TrainConfig& c);
/// How the Trainer builds c's model for images of rows x cols and `classes` outputs.
ModelShape model_shape(const TrainConfig& c, std::int64_t rows, std::int64_t cols, std::int64_t classes);

/// sigmoid for squared error (the seed: every layer is sigmoid); identity (logits) for softmax cross-entropy.
Activation output_activation(Cost c);

/// Layer sizes of an MLP model: features, the hidden sizes, classes (the fc layers of arch when it is set).
std::vector<std::int64_t> layer_sizes(const TrainConfig& c, std::int64_t features, std::int64_t classes);

/// One line such as "784-16-16-10 sigmoid/sigmoid, squared_error, sgd lr 1.5 (constant), batch 32, 5 epochs, seed 0"
/// (a convolutional arch starts "1x28x28-conv32-pool-...-10"; features are taken as square images then).
std::string summary(const TrainConfig& c, std::int64_t features, std::int64_t classes);

/// Learning rate at step t of total_steps for config c (see Schedule).
double scheduled_lr(const TrainConfig& c, std::size_t t, std::size_t total_steps);

}  // namespace nn
