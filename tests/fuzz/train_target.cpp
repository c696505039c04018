// Fuzz target body for the training program's flags (examples/train_cli.hpp) and a Trainer checkpoint's meaning.
#include "tests/fuzz/targets.hpp"

#include "examples/train_cli.hpp"
#include "nn/serialize.hpp"
#include "nn/trainer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <optional>
#include <span>
#include <utility>
#include <string>
#include <typeinfo>
#include <vector>

namespace fuzz {
namespace {

namespace fs = std::filesystem;
using autodiff::Array;
using autodiff::Dtype;
using autodiff::Shape;

/// 16 images of 12x12 (room for the largest shift), labels 0..9: enough for a Trainer to take a step.
const nn::Dataset& small_data() {
  static const nn::Dataset d = [] {
    nn::Dataset s;
    s.rows = s.cols = 12;
    s.count = 16;
    for (std::size_t i = 0; i < s.count * 144; ++i) s.images.push_back(static_cast<float>((i * 37) % 256) / 255.0f);
    for (std::size_t i = 0; i < s.count; ++i) s.labels.push_back(static_cast<std::int64_t>(i % 10));
    return s;
  }();
  return d;
}

/// Parameters of an MLP of these sizes.
double parameters(const nn::TrainConfig& c, double features) {
  double n = 0, in = features;
  for (std::int64_t h : c.hidden) n += (in + 1) * static_cast<double>(h), in = static_cast<double>(h);
  return n + (in + 1) * 10;
}

/// Trains one epoch when that is cheap: the only error allowed is the documented divergence stop.
void train_a_little(nn::Trainer& t, std::string_view where) {
  if (parameters(t.config(), 144) > 2e5) return;
  try {
    t.set_epochs(std::max<std::size_t>(t.config().epochs, t.epoch() + 1));
    t.train_epoch();
  } catch (const std::runtime_error& e) {
    if (typeid(e) != typeid(std::runtime_error) || std::string_view(e.what()).find("training diverged") == std::string_view::npos)
      fail(fmt::format("{}: train_epoch threw {} ({})", where, typeid(e).name(), e.what()));
    note(e.what());
  }
}

/// The flags that give `o` back: every given flag with its value, values printed exactly.
std::vector<std::string> render(const train_cli::Options& o) {
  const nn::TrainConfig& c = o.config;
  std::vector<std::string> a;
  // "--flag=value": a value that starts with '-' stays a value.
  auto add = [&](const char* flag, const std::string& value) {
    if (o.has(flag)) a.push_back(fmt::format("{}={}", flag, value));
  };
  add("--preset", o.preset);
  add("--epochs", fmt::format("{}", c.epochs));
  add("--batch", fmt::format("{}", c.batch));
  add("--lr", fmt::format("{:.17g}", c.lr));
  std::string hidden;
  for (std::int64_t h : c.hidden) hidden += (hidden.empty() ? "" : ",") + std::to_string(h);
  add("--hidden", hidden);
  add("--activation", std::string(nn::name(c.activation)));
  add("--cost", std::string(nn::name(c.cost)));
  add("--optimizer", std::string(nn::name(c.optimizer)));
  add("--momentum", fmt::format("{:.17g}", c.momentum));
  add("--weight-decay", fmt::format("{:.17g}", c.weight_decay));
  add("--schedule", std::string(nn::name(c.schedule)));
  add("--warmup", fmt::format("{:.17g}", c.warmup));
  add("--flip", fmt::format("{:.17g}", c.flip));
  add("--shift", fmt::format("{}", c.shift));
  add("--init", std::string(nn::name(c.init)));
  add("--seed", fmt::format("{}", c.seed));
  add("--threads", fmt::format("{}", o.threads));
  add("--limit", fmt::format("{}", o.limit));
  add("--max-data-bytes", fmt::format("{}", o.max_data_bytes));
  add("--data", o.data_dir);
  add("--save", o.save_file);
  add("--load", o.load_file);
  add("--plot", o.plot_file);
  if (o.eval_only) a.emplace_back("--eval-only");
  if (o.distributed) a.emplace_back("--distributed");
  return a;
}

bool same(const nn::TrainConfig& a, const nn::TrainConfig& b) {
  return a.hidden == b.hidden && a.activation == b.activation && a.cost == b.cost && a.init == b.init &&
         a.optimizer == b.optimizer && a.lr == b.lr && a.momentum == b.momentum && a.weight_decay == b.weight_decay &&
         a.schedule == b.schedule && a.warmup == b.warmup && a.flip == b.flip && a.shift == b.shift &&
         a.batch == b.batch && a.epochs == b.epochs && a.seed == b.seed;
}

void flags(std::span<const std::uint8_t> in) {
  std::vector<std::string> args(1);
  for (std::uint8_t b : in) {
    if (b == 0) {
      if (args.size() == 64) break;
      args.emplace_back();
    } else {
      args.back() += static_cast<char>(b);
    }
  }
  train_cli::Parsed p;
  try {
    p = train_cli::parse(args, 2);
  } catch (...) {
    fail(fmt::format("train_cli::parse threw ({})", in_flight()));
  }
  if (!p.options) {
    if (p.exit_code == 0) {
      if (p.text.find("Usage") == std::string::npos) fail("train_cli: exit 0 without a help text");
      return;
    }
    // A usage error: one line, naming a flag or the argument it could not place.
    if (p.exit_code != 2) fail(fmt::format("train_cli: exit code {} ({})", p.exit_code, p.text));
    if (p.text.empty() || p.text.find('\n') != std::string::npos)
      fail(fmt::format("train_cli: the message is not one line: '{}'", p.text));
    if (p.text.find("--") == std::string::npos && p.text.find("argument") == std::string::npos)
      fail(fmt::format("train_cli: the message names no flag: '{}'", p.text));
    note(p.text);
    return;
  }
  const train_cli::Options& o = *p.options;
  // Whatever the command line accepts, the library accepts.
  if (const std::string e = nn::config_problem(o.config); !e.empty())
    fail(fmt::format("train_cli: accepted a configuration the Trainer refuses ({})", e));
  if (o.eval_only && !o.has("--load")) fail("train_cli: --eval-only accepted without --load");
  if (o.has("--load"))
    for (const std::string& flag : train_cli::run_setting_flags)
      if (o.has(flag)) fail(fmt::format("train_cli: {} accepted with --load", flag));
  for (const auto& [flag, path] : {std::pair{"--data", &o.data_dir}, std::pair{"--save", &o.save_file},
                                    std::pair{"--load", &o.load_file}, std::pair{"--plot", &o.plot_file}})
    if (o.has(flag) && path->empty()) fail(fmt::format("train_cli: accepted an empty {}", flag));
  // Printing what was accepted and parsing it again gives the same run.
  const train_cli::Parsed again = train_cli::parse(render(o), 2);
  if (!again.options) fail(fmt::format("train_cli: refused its own rendering ({})", again.text));
  if (!same(again.options->config, o.config) || again.options->given != o.given)
    fail("train_cli: the rendering parses to another run");
  if (!o.has("--load") && parameters(o.config, 144) <= 2e5) {
    try {
      nn::Trainer t(o.config, small_data(), 10);
      train_a_little(t, "train_cli");
    } catch (...) {
      classify("Trainer");
      fail(fmt::format("Trainer: refused what the command line accepted ({})", in_flight()));
    }
  }
}

/// Values that sit on or just past the edges of the checkpoint's ranges.
constexpr double specials[] = {0,      -1,    1,       0.5,       2,     3,        7,     100,   1e308, -1e308,
                               1e12,   0.999, 1.00001, 65536,     65537, 1048577,  312,   313,   314,   4294967296.0,
                               9.1e15, 1e-300, 8,      9,         32,    33,       1.5,   -0.0,  255,   0.05};

double special(std::uint8_t b) {
  switch (b % 40) {
    case 30: return std::numeric_limits<double>::infinity();
    case 31: return -std::numeric_limits<double>::infinity();
    case 32: return std::numeric_limits<double>::quiet_NaN();
    case 33: return std::numeric_limits<double>::denorm_min();
    default: return specials[(b % 40) % std::size(specials)];
  }
}

void checkpoint(std::span<const std::uint8_t> in) {
  static const fs::path file = scratch_path("train-checkpoint");
  struct Remove {
    ~Remove() {
      std::error_code ec;
      fs::remove(file, ec);
    }
  } remove_at_exit;
  std::size_t i = 0;
  auto next = [&]() -> std::uint8_t { return i < in.size() ? in[i++] : 0; };
  // A small valid run first: sizes, optimizer, schedule and a few epochs from the input.
  nn::TrainConfig c = nn::preset((next() & 1) ? "best" : "seed");
  c.hidden.assign(next() % 3, 0);
  for (auto& h : c.hidden) h = 1 + next() % 6;
  c.batch = 1 + next() % 16;
  c.epochs = 1 + next() % 3;
  c.momentum = c.optimizer == nn::OptimizerKind::sgd && (next() & 1) ? 0.9 : 0.0;
  c.shift = next() % 3;
  nn::Trainer t(c, small_data(), 10);
  const std::size_t trained = next() % (c.epochs + 1);
  for (std::size_t e = 0; e < trained; ++e) {
    t.train_epoch();
    t.history().add(nn::EpochStats{0.5, 0.5, 0.1, 16}, nn::Evaluation{});
  }
  t.save(file);
  auto entries = nn::load_arrays(file);

  // Then the input rewrites entries: a value, an element, a shape, or the entry's presence.
  while (i < in.size() && !entries.empty()) {
    const std::uint8_t op = next();
    const std::size_t k = next() % entries.size();
    Array& a = entries[k].second;
    const double v = special(next());
    switch (op % 5) {
      case 0: a = Array::full(Shape{}, v, Dtype::f64); break;
      case 1:
        if (a.numel() > 0) {
          a = a.clone();
          a.set(next() % a.numel(), v);
        }
        break;
      case 2: a = Array::full(Shape{static_cast<std::int64_t>(next() % 4)}, v, a.dtype()); break;
      case 3: a = Array::zeros(a.shape(), a.dtype()); break;
      default: entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(k)); break;
    }
  }
  nn::save_arrays(file, entries);

  nn::TrainConfig saved;
  try {
    saved = nn::Trainer::checkpoint_config(file);
    nn::Trainer::checkpoint_data(file);
  } catch (...) {
    classify("checkpoint_config");
    return;
  }
  if (const std::string e = nn::config_problem(saved); !e.empty())
    fail(fmt::format("checkpoint_config: accepted a configuration the Trainer refuses ({})", e));
  if (parameters(saved, 144) > 2e5) return;
  std::optional<nn::Trainer> resumed;
  try {
    resumed.emplace(saved, small_data(), 10);
    resumed->load(file);
  } catch (...) {
    classify("Trainer::load");
    return;
  }
  // What load accepts is a state a run can have: it saves and loads again, and trains on.
  if (resumed->epoch() > resumed->config().epochs || resumed->history().size() > resumed->epoch())
    fail(fmt::format("Trainer::load: accepted epoch {} of {} with {} history entries", resumed->epoch(),
                     resumed->config().epochs, resumed->history().size()));
  try {
    resumed->save(file);
    nn::Trainer again(saved, small_data(), 10);
    again.load(file);
  } catch (...) {
    classify("Trainer::save");
    fail(fmt::format("Trainer: refused to load what it saved after a load ({})", in_flight()));
  }
  train_a_little(*resumed, "Trainer::load");
}

}  // namespace

int fuzz_train(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::span<const std::uint8_t> rest(data + 1, size - 1);
  if (data[0] & 1)
    checkpoint(rest);
  else
    flags(rest);
  return 0;
}

}  // namespace fuzz
