// Trainer checkpoints: the run's whole state as named arrays, read back with every entry checked before any change.
#include "nn/trainer.hpp"

#include "autodiff/format.hpp"
#include "nn/serialize.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace nn {

using autodiff::Array;
using autodiff::Dtype;
using autodiff::Shape;
using autodiff::Tensor;

namespace {

using Entries = std::vector<std::pair<std::string, Array>>;

Array scalar_array(double v) { return Array::full(Shape{}, v, Dtype::f64); }

Array vector_array(const std::vector<double>& v) {
  Array a(Shape{static_cast<std::int64_t>(v.size())}, Dtype::f64);
  std::copy(v.begin(), v.end(), a.data<double>());
  return a;
}

// 64-bit words as exact pairs of 32-bit halves in f64 ([n, 2]).
Array words_array(const std::vector<std::uint64_t>& w) {
  Array a(Shape{static_cast<std::int64_t>(w.size()), 2}, Dtype::f64);
  for (std::size_t i = 0; i < w.size(); ++i) {
    a.data<double>()[2 * i] = static_cast<double>(w[i] >> 32);
    a.data<double>()[2 * i + 1] = static_cast<double>(w[i] & 0xffffffffu);
  }
  return a;
}

class Reader {
 public:
  explicit Reader(const std::filesystem::path& file) : file_(file) {
    for (auto& [k, a] : load_arrays(file)) map_.emplace(k, std::move(a));
  }
  const Array& get(const std::string& key) const {
    auto it = map_.find(key);
    if (it == map_.end())
      throw std::invalid_argument(
          fmt::format("checkpoint {}: missing entry '{}' (not a checkpoint written by Trainer::save)", file_.string(), key));
    return it->second;
  }
  double scalar(const std::string& key) const {
    const Array& a = get(key);
    if (a.numel() != 1)
      throw std::invalid_argument(fmt::format("checkpoint {}: '{}' has shape {}, expected one value", file_.string(), key,
                                              a.shape().str()));
    return a.at(0);
  }
  // A non-negative integer stored exactly in an f64.
  std::uint64_t count(const std::string& key, double max = 9007199254740992.0) const {
    const double v = scalar(key);
    if (!(v >= 0 && v <= max && v == std::floor(v)))
      throw std::invalid_argument(
          fmt::format("checkpoint {}: '{}' = {} is not a whole number from 0 to {:.0f}", file_.string(), key, v, max));
    return static_cast<std::uint64_t>(v);
  }
  // An enumeration's stored code, looked up in its table (codes are explicit, never enum positions).
  template <class E, std::size_t N>
  E code(const std::string& key, const EnumTable<E, N>& table) const {
    const double v = scalar(key);
    if (auto e = table.from_code(v)) return *e;
    throw std::invalid_argument(fmt::format("checkpoint {}: '{}' has unknown {} code {} (known: {})", file_.string(), key,
                                            table.what, v, table.codes()));
  }
  std::vector<double> vector(const std::string& key) const {
    const Array& a = get(key);
    if (a.rank() != 1)
      throw std::invalid_argument(fmt::format("checkpoint {}: '{}' has shape {}, expected 1-D", file_.string(), key,
                                              a.shape().str()));
    std::vector<double> v(static_cast<std::size_t>(a.numel()));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = a.at(static_cast<std::int64_t>(i));
    return v;
  }
  std::vector<std::uint64_t> words(const std::string& key) const {
    const Array& a = get(key);
    if (a.rank() != 2 || a.shape()[1] != 2)
      throw std::invalid_argument(fmt::format("checkpoint {}: '{}' has shape {}, expected [n,2]", file_.string(), key,
                                              a.shape().str()));
    std::vector<std::uint64_t> w(static_cast<std::size_t>(a.shape()[0]));
    for (std::size_t i = 0; i < w.size(); ++i) {
      const double hi = a.at(static_cast<std::int64_t>(2 * i)), lo = a.at(static_cast<std::int64_t>(2 * i + 1));
      if (!(hi >= 0 && hi < 4294967296.0 && lo >= 0 && lo < 4294967296.0 && hi == std::floor(hi) && lo == std::floor(lo)))
        throw std::invalid_argument(fmt::format("checkpoint {}: '{}' holds a bad word", file_.string(), key));
      w[i] = static_cast<std::uint64_t>(hi) << 32 | static_cast<std::uint64_t>(lo);
    }
    return w;
  }
  bool has(const std::string& key) const { return map_.count(key) > 0; }
  const std::map<std::string, Array>& entries() const { return map_; }
  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
  std::map<std::string, Array> map_;
};

std::vector<std::uint64_t> generator_words(const std::mt19937_64& gen) {
  std::stringstream ss;
  ss << gen;
  std::vector<std::uint64_t> w;
  for (std::uint64_t x; ss >> x;) w.push_back(x);
  return w;
}

// The state of std::mt19937_64 as its stream operators write it: 312 state words, then the position (0..312).
constexpr std::size_t generator_state_words = std::mt19937_64::state_size;

// Restores a generator from its words, or says why they are not a generator state.
std::string load_generator(std::mt19937_64& gen, const std::vector<std::uint64_t>& words) {
  if (words.size() != generator_state_words + 1)
    return fmt::format("holds {} words, expected {}", words.size(), generator_state_words + 1);
  if (words.back() > generator_state_words)
    return fmt::format("has position {}, expected at most {}", words.back(), generator_state_words);
  // All zero is a fixed point of the recurrence (the generator would return 0 forever): seeding never makes it.
  if (std::all_of(words.begin(), words.end() - 1, [](std::uint64_t w) { return w == 0; }))
    return "is all zeros, which no seeded generator reaches (it would return 0 forever)";
  std::stringstream ss;
  for (std::uint64_t x : words) ss << x << ' ';
  std::mt19937_64 g;
  ss >> g;
  if (ss.fail()) return "is not a generator state";
  gen = g;
  return {};
}

// The checkpoint's format: 1 when it has no "trainer.format" entry (written before the arch was stored).
std::uint64_t read_format(const Reader& r) {
  if (!r.has("trainer.format")) return 1;
  const std::uint64_t v = r.count("trainer.format");
  if (v != 1 && v != Trainer::checkpoint_format)
    throw std::invalid_argument(fmt::format("checkpoint {}: format {} is not one this program reads (1 or {}); it was "
                                            "written by another version",
                                            r.file().string(), v, Trainer::checkpoint_format));
  return v;
}

// The arch as rows (layer code, size), n x 2.
Array arch_array(const std::vector<LayerSpec>& layers) {
  Array a(Shape{static_cast<std::int64_t>(layers.size()), 2}, Dtype::f64);
  for (std::size_t i = 0; i < layers.size(); ++i) {
    a.data<double>()[2 * i] = layer_kinds.code(layers[i].kind);
    a.data<double>()[2 * i + 1] = static_cast<double>(layers[i].size);
  }
  return a;
}

std::string read_arch(const Reader& r) {
  const std::string f = r.file().string();
  const Array& a = r.get("config.arch");
  if (!(a.rank() == 2 && a.shape()[1] == 2) && a.numel() != 0)
    throw std::invalid_argument(
        fmt::format("checkpoint {}: 'config.arch' has shape {}, expected [n,2]", f, a.shape().str()));
  std::vector<LayerSpec> layers;
  for (std::int64_t i = 0; i + 1 < a.numel(); i += 2) {
    const auto kind = layer_kinds.from_code(a.at(i));
    const double size = a.at(i + 1);
    if (!kind || !(size >= 0 && size <= 1e9 && size == std::floor(size)))
      throw std::invalid_argument(fmt::format("checkpoint {}: 'config.arch' row {} ({}, {}) is not a layer (known "
                                              "codes: {})",
                                              f, i / 2, a.at(i), size, layer_kinds.codes()));
    layers.push_back({*kind, static_cast<std::int64_t>(size)});
  }
  const std::string s = arch_string(layers);
  if (!s.empty()) try {
      if (!(parse_arch(s) == layers)) throw std::invalid_argument("arch: not in canonical form");
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(fmt::format("checkpoint {}: config.{}", f, e.what()));
    }
  return s;
}

// The configuration entries of a checkpoint, each checked against its table or range.
TrainConfig read_config(const Reader& r) {
  const std::string f = r.file().string();
  const std::uint64_t format = read_format(r);
  TrainConfig c;
  if (format >= 2) c.arch = read_arch(r);
  c.hidden.clear();
  for (double h : r.vector("config.hidden")) {
    if (!(h >= 1 && h == std::floor(h) && h <= static_cast<double>(train_limits::hidden_size.hi)))
      throw std::invalid_argument(fmt::format("checkpoint {}: config.hidden holds a bad size {} (expected {})", f, h,
                                              train_limits::hidden_size.str()));
    c.hidden.push_back(static_cast<std::int64_t>(h));
  }
  c.activation = r.code("config.activation", activations);
  c.cost = r.code("config.cost", costs);
  c.init = r.code("config.init", inits);
  c.optimizer = r.code("config.optimizer", optimizers);
  c.lr = r.scalar("config.lr");
  c.momentum = r.scalar("config.momentum");
  c.weight_decay = r.scalar("config.weight_decay");
  c.schedule = r.code("config.schedule", schedules);
  c.warmup = r.scalar("config.warmup");
  c.flip = r.scalar("config.flip");
  c.shift = static_cast<int>(r.count("config.shift", train_limits::shift.hi));
  c.batch = r.count("config.batch", train_limits::batch.hi);
  c.epochs = r.count("config.epochs", train_limits::epochs.hi);
  const std::vector<std::uint64_t> seed = r.words("config.seed");
  if (seed.size() != 1)
    throw std::invalid_argument(fmt::format("checkpoint {}: 'config.seed' holds {} words, expected 1", f, seed.size()));
  c.seed = seed[0];
  // A valid checksum says the bytes are as written, not that they mean a run: the values must be ones a run can have.
  if (const std::string e = config_problem(c); !e.empty())
    throw std::invalid_argument(fmt::format("checkpoint {}: config.{}", f, e));
  return c;
}

// The training set recorded in a checkpoint (absent in checkpoints written before it was recorded).
std::optional<DataSignature> read_signature(const Reader& r) {
  if (!r.has("data.count")) return std::nullopt;
  DataSignature d;
  d.count = r.count("data.count");
  const std::vector<double> size = r.vector("data.image_size");
  if (size.size() != 2 || !(size[0] >= 0 && size[0] <= 1e9 && size[0] == std::floor(size[0])) ||
      !(size[1] >= 0 && size[1] <= 1e9 && size[1] == std::floor(size[1])))
    throw std::invalid_argument(fmt::format("checkpoint {}: 'data.image_size' is not [rows, cols]", r.file().string()));
  d.rows = static_cast<std::size_t>(size[0]);
  d.cols = static_cast<std::size_t>(size[1]);
  d.checksum = static_cast<std::uint32_t>(r.count("data.checksum", 4294967295.0));
  return d;
}

}  // namespace

void Trainer::save(const std::filesystem::path& file) const {
  const TrainConfig& c = config_;
  Entries e;
  std::vector<double> hidden(c.hidden.begin(), c.hidden.end());
  e.emplace_back("trainer.format", scalar_array(static_cast<double>(checkpoint_format)));
  e.emplace_back("config.hidden", vector_array(hidden));
  e.emplace_back("config.arch", arch_array(c.arch.empty() ? std::vector<LayerSpec>{} : parse_arch(c.arch)));
  e.emplace_back("config.activation", scalar_array(activations.code(c.activation)));
  e.emplace_back("config.cost", scalar_array(costs.code(c.cost)));
  e.emplace_back("config.init", scalar_array(inits.code(c.init)));
  e.emplace_back("config.optimizer", scalar_array(optimizers.code(c.optimizer)));
  e.emplace_back("config.lr", scalar_array(c.lr));
  e.emplace_back("config.momentum", scalar_array(c.momentum));
  e.emplace_back("config.weight_decay", scalar_array(c.weight_decay));
  e.emplace_back("config.schedule", scalar_array(schedules.code(c.schedule)));
  e.emplace_back("config.warmup", scalar_array(c.warmup));
  e.emplace_back("config.flip", scalar_array(c.flip));
  e.emplace_back("config.shift", scalar_array(c.shift));
  e.emplace_back("config.batch", scalar_array(static_cast<double>(c.batch)));
  e.emplace_back("config.epochs", scalar_array(static_cast<double>(c.epochs)));
  e.emplace_back("config.seed", words_array({c.seed}));
  const std::vector<std::int64_t> sizes = layer_sizes(c, static_cast<std::int64_t>(data_.rows * data_.cols), classes_);
  e.emplace_back("trainer.sizes", vector_array(std::vector<double>(sizes.begin(), sizes.end())));
  e.emplace_back("trainer.epoch", scalar_array(static_cast<double>(epoch_)));
  e.emplace_back("trainer.step", scalar_array(static_cast<double>(step_)));
  e.emplace_back("trainer.generator", words_array(generator_words(gen_)));
  e.emplace_back("data.count", scalar_array(static_cast<double>(data_.count)));
  e.emplace_back("data.image_size", vector_array({static_cast<double>(data_.rows), static_cast<double>(data_.cols)}));
  e.emplace_back("data.checksum", scalar_array(data_.checksum));
  e.emplace_back("history.loss", vector_array(history_.loss));
  e.emplace_back("history.train_accuracy", vector_array(history_.train_accuracy));
  e.emplace_back("history.test_loss", vector_array(history_.test_loss));
  e.emplace_back("history.test_accuracy", vector_array(history_.test_accuracy));
  e.emplace_back("history.seconds", vector_array(history_.seconds));
  for (auto& [k, t] : model_.named_parameters()) e.emplace_back("model." + k, t.value());
  for (auto& [k, a] : optimizer_->state()) e.emplace_back("optimizer." + k, a);
  save_arrays(file, e);
}

TrainConfig Trainer::checkpoint_config(const std::filesystem::path& file) { return read_config(Reader(file)); }

std::optional<DataSignature> Trainer::checkpoint_data(const std::filesystem::path& file) {
  return read_signature(Reader(file));
}

void Trainer::load(const std::filesystem::path& file, DataCheck data) {
  const Reader r(file);
  const std::string f = file.string();
  // Everything is read and checked first; only then is anything changed.
  const TrainConfig saved = read_config(r);
  const std::uint64_t format = read_format(r);
  const std::optional<DataSignature> trained_on = read_signature(r);
  if (trained_on && data == DataCheck::same_data && !(*trained_on == data_))
    throw std::invalid_argument(fmt::format("checkpoint {}: trained on other data ({}); this training set has {}", f,
                                            trained_on->str(), data_.str()));
  if (saved.arch != config_.arch)
    throw std::invalid_argument(fmt::format("checkpoint {}: arch {} differs from this trainer's {}", f,
                                            autodiff::quote(saved.arch.empty() ? "fc layers of config.hidden" : saved.arch),
                                            autodiff::quote(config_.arch.empty() ? "fc layers of config.hidden" : config_.arch)));
  const std::vector<double> sizes = r.vector("trainer.sizes");
  const std::vector<std::int64_t> own = layer_sizes(config_, static_cast<std::int64_t>(data_.rows * data_.cols), classes_);
  if (!std::equal(sizes.begin(), sizes.end(), own.begin(), own.end()))
    throw std::invalid_argument(
        fmt::format("checkpoint {}: model {} differs from this trainer's {}", f, fmt::join(sizes, "-"), fmt::join(own, "-")));
  // Format 1 named an MLP's parameters "layers.<j>.weight"; here they belong to the j-th Linear of the Sequential.
  std::map<std::string, std::string> stored_name;
  if (format == 1) {
    std::size_t j = 0;
    for (const auto& [child, m] : model_.named_children())
      if (dynamic_cast<const Linear*>(m)) stored_name[child] = fmt::format("layers.{}", j++);
  }
  auto stored = [&](const std::string& k) {
    const std::size_t dot = k.find('.');
    auto it = stored_name.find(k.substr(0, dot));
    return "model." + (it == stored_name.end() ? k : it->second + k.substr(dot));
  };
  if (saved.activation != config_.activation || saved.cost != config_.cost || saved.optimizer != config_.optimizer)
    throw std::invalid_argument(fmt::format("checkpoint {}: saved with {}, {}, {}; this trainer uses {}, {}, {}", f,
                                            name(saved.activation), name(saved.cost), name(saved.optimizer),
                                            name(config_.activation), name(config_.cost), name(config_.optimizer)));
  std::vector<std::pair<Tensor, const Array*>> params;
  for (auto& [k, t] : model_.named_parameters()) {
    const std::string key = stored(k);
    const Array& a = r.get(key);
    if (!(a.shape() == t.shape()) || a.dtype() != t.dtype())
      throw std::invalid_argument(fmt::format("checkpoint {}: '{}' is {} {}, expected {} {}", f, key,
                                              autodiff::dtype_name(a.dtype()), a.shape().str(),
                                              autodiff::dtype_name(t.dtype()), t.shape().str()));
    for (std::int64_t i = 0; i < a.numel(); ++i)
      if (!std::isfinite(a.at(i)))
        throw std::invalid_argument(fmt::format("checkpoint {}: '{}' holds {} at index {}", f, key, a.at(i), i));
    params.emplace_back(t, &a);
  }
  Entries state;
  for (const auto& [k, a] : r.entries())
    if (k.starts_with("optimizer.")) state.emplace_back(k.substr(10), a);
  std::mt19937_64 gen;
  if (const std::string e = load_generator(gen, r.words("trainer.generator")); !e.empty())
    throw std::invalid_argument(fmt::format("checkpoint {}: 'trainer.generator' {}", f, e));
  const std::size_t epoch = r.count("trainer.epoch"), step = r.count("trainer.step");
  if (epoch > saved.epochs)
    throw std::invalid_argument(
        fmt::format("checkpoint {}: 'trainer.epoch' = {} is more than config.epochs = {}", f, epoch, saved.epochs));
  // Every epoch runs every batch, so the step count follows from the epochs on the data trained on (a checkpoint
  // without a recorded training set may have been trained on another one: then this is how it shows).
  if (data == DataCheck::same_data && step != epoch * steps_per_epoch())
    throw std::invalid_argument(fmt::format("checkpoint {}: 'trainer.step' = {} does not match {} epochs of {} steps{}",
                                            f, step, epoch, steps_per_epoch(),
                                            trained_on ? "" : " (the checkpoint does not record its training set: was "
                                                              "it trained on other data?)"));
  History h;
  h.loss = r.vector("history.loss");
  h.train_accuracy = r.vector("history.train_accuracy");
  h.test_loss = r.vector("history.test_loss");
  h.test_accuracy = r.vector("history.test_accuracy");
  h.seconds = r.vector("history.seconds");
  if (h.train_accuracy.size() != h.size() || h.test_loss.size() != h.size() || h.test_accuracy.size() != h.size() ||
      h.seconds.size() != h.size())
    throw std::invalid_argument(fmt::format("checkpoint {}: history entries differ in length", f));
  if (h.size() > epoch)
    throw std::invalid_argument(fmt::format("checkpoint {}: history has {} entries for {} epochs", f, h.size(), epoch));
  optimizer_->load_state(state);  // validates everything before it changes anything
  for (auto& [t, a] : params) {
    Array& v = t.leaf_value();
    std::memcpy(v.data<std::byte>(), a->data<std::byte>(),
                static_cast<std::size_t>(v.numel()) * autodiff::dtype_size(v.dtype()));
  }
  gen_ = gen;
  epoch_ = epoch;
  step_ = step;
  history_ = std::move(h);
}

}  // namespace nn
