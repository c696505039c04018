// Tests for the training loop (nn/trainer) and the training program's command line (examples/train).
#define BOOST_TEST_MODULE train_test
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "synthetic_data.hpp"
#include "temp_dir.hpp"
#include "throws_with.hpp"

#include "nn/data.hpp"
#include "nn/serialize.hpp"
#include "nn/trainer.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace fs = std::filesystem;
namespace utf = boost::unit_test;
using autodiff::Tensor;

namespace {

using testing::synthetic;
using testing::TempDir;

const fs::path data_dir = "/usr/share/datasets/fashion-mnist";
// Tests run with workdir build/tests; the program is built next door.
const fs::path program = "../examples/train";

boost::test_tools::assertion_result has_data(utf::test_unit_id) {
  boost::test_tools::assertion_result r(fs::exists(data_dir / "train-images-idx3-ubyte.gz"));
  r.message() << data_dir.string() << " is missing (install dataset-fashion-mnist)";
  return r;
}

boost::test_tools::assertion_result has_program(utf::test_unit_id) {
  boost::test_tools::assertion_result r(fs::exists(program));
  r.message() << program.string() << " is not built (run from build/tests)";
  return r;
}

/// The real data, loaded once for every test that needs it.
const nn::Split& fashion() {
  static const nn::Split split = nn::load_dataset(data_dir);
  return split;
}

/// Every parameter's bytes, in order.
std::vector<std::byte> parameter_bytes(const nn::MLP& m) {
  std::vector<std::byte> out;
  for (const Tensor& p : m.parameters()) {
    const auto* b = p.value().data<std::byte>();
    out.insert(out.end(), b, b + p.numel() * static_cast<std::int64_t>(autodiff::dtype_size(p.dtype())));
  }
  return out;
}

struct Run {
  int status = -1;
  std::string output;  // stdout and stderr together
};

/// Runs the training program with `args` (shell syntax), capturing its output and exit status. `shell` runs first
/// in the same shell (to set limits), and the program replaces it.
Run run_program(const std::string& args, const std::string& shell = "") {
  Run r;
  const std::string cmd = fmt::format("{}exec {} {} 2>&1", shell, program.string(), args);
  std::FILE* p = popen(cmd.c_str(), "r");
  BOOST_REQUIRE(p != nullptr);
  std::array<char, 4096> buf{};
  for (std::size_t n; (n = std::fread(buf.data(), 1, buf.size(), p)) > 0;) r.output.append(buf.data(), n);
  const int status = pclose(p);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string last_line(const std::string& s) {
  std::string t = s;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  return t.substr(t.rfind('\n') == std::string::npos ? 0 : t.rfind('\n') + 1);
}

}  // namespace

// ---- pieces --------------------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(presets_match_the_brief) {
  const nn::TrainConfig s = nn::preset("seed");
  BOOST_TEST((s.hidden == std::vector<std::int64_t>{16, 16}));
  BOOST_TEST((s.activation == nn::Activation::sigmoid));
  BOOST_TEST((nn::output_activation(s.cost) == nn::Activation::sigmoid));
  BOOST_TEST((s.cost == nn::Cost::squared_error));
  BOOST_TEST((s.optimizer == nn::OptimizerKind::sgd));
  BOOST_TEST(s.lr == 1.5);
  BOOST_TEST(s.momentum == 0.0);
  BOOST_TEST(s.weight_decay == 0.0);
  BOOST_TEST((s.schedule == nn::Schedule::constant));
  BOOST_TEST(s.flip == 0.0);
  BOOST_TEST(s.batch == 32u);
  BOOST_TEST(s.epochs == 5u);
  BOOST_TEST((s.init == nn::Init::uniform));
  const nn::TrainConfig b = nn::preset("best");
  BOOST_TEST((b.cost == nn::Cost::cross_entropy));
  BOOST_TEST((nn::output_activation(b.cost) == nn::Activation::identity));
  BOOST_CHECK_EXCEPTION(nn::preset("fast"), std::invalid_argument, [](const std::invalid_argument& e) {
    return std::string(e.what()).find("unknown preset 'fast'") != std::string::npos;
  });
  BOOST_TEST(nn::summary(s, 784, 10).find("784-16-16-10 sigmoid/sigmoid") == 0u);
}

// One table per enumeration drives parsing, printing, the command-line choices and the stored codes. The codes are
// part of the checkpoint format: they must never change (checkpoints written before the tables used these codes).
BOOST_AUTO_TEST_CASE(enum_tables_give_names_and_stable_codes) {
  auto round_trip = [](const auto& table) {
    for (const auto& e : table.entries) {
      BOOST_TEST((table.parse(e.name) == e.value));
      BOOST_TEST(table.name(e.value) == e.name);
      BOOST_TEST((table.from_code(e.code) == e.value));
    }
    BOOST_TEST(table.names().size() == table.entries.size());
    BOOST_TEST(!table.from_code(0.5).has_value());
    BOOST_TEST(!table.from_code(200).has_value());
  };
  round_trip(nn::activations);
  round_trip(nn::costs);
  round_trip(nn::inits);
  round_trip(nn::optimizers);
  round_trip(nn::schedules);
  using nn::Activation;
  BOOST_TEST(nn::activations.code(Activation::sigmoid) == 0);
  BOOST_TEST(nn::activations.code(Activation::relu) == 1);
  BOOST_TEST(nn::activations.code(Activation::tanh) == 2);
  BOOST_TEST(nn::activations.code(Activation::identity) == 3);
  BOOST_TEST(nn::costs.code(nn::Cost::squared_error) == 0);
  BOOST_TEST(nn::costs.code(nn::Cost::cross_entropy) == 1);
  BOOST_TEST(nn::inits.code(nn::Init::uniform) == 0);
  BOOST_TEST(nn::inits.code(nn::Init::normal) == 1);
  BOOST_TEST(nn::optimizers.code(nn::OptimizerKind::sgd) == 0);
  BOOST_TEST(nn::optimizers.code(nn::OptimizerKind::adam) == 1);
  BOOST_TEST(nn::schedules.code(nn::Schedule::constant) == 0);
  BOOST_TEST(nn::schedules.code(nn::Schedule::cosine) == 1);
  BOOST_TEST(nn::schedules.code(nn::Schedule::step) == 2);
  BOOST_CHECK(throws_with<std::invalid_argument>([] { nn::parse_schedule("linear"); },
                                                 {"parse_schedule", "unknown schedule 'linear'", "constant, cosine or step"}));
  BOOST_CHECK(throws_with<std::invalid_argument>([] { nn::parse_optimizer("rmsprop"); },
                                                 {"parse_optimizer", "'rmsprop'", "sgd or adam"}));
  // A table with a repeated code is caught at compile time by the static_assert beside each table.
  constexpr nn::EnumTable twice{"x", std::array<nn::EnumEntry<int>, 2>{{{1, "a", 0}, {2, "b", 0}}}};
  static_assert(!twice.valid());
}

BOOST_AUTO_TEST_CASE(schedules) {
  nn::TrainConfig c;
  c.lr = 2.0;
  BOOST_TEST(nn::scheduled_lr(c, 0, 100) == 2.0);
  BOOST_TEST(nn::scheduled_lr(c, 99, 100) == 2.0);
  c.schedule = nn::Schedule::cosine;
  BOOST_TEST(nn::scheduled_lr(c, 0, 100) == 2.0);
  BOOST_TEST(nn::scheduled_lr(c, 50, 100) == 1.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(nn::scheduled_lr(c, 100, 100) == 0.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(nn::scheduled_lr(c, 30, 100) > nn::scheduled_lr(c, 31, 100));
  c.schedule = nn::Schedule::step;
  BOOST_TEST(nn::scheduled_lr(c, 49, 100) == 2.0);
  BOOST_TEST(nn::scheduled_lr(c, 50, 100) == 0.2, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(nn::scheduled_lr(c, 75, 100) == 0.02, boost::test_tools::tolerance(1e-12));
  c.schedule = nn::Schedule::constant;
  c.warmup = 0.1;
  BOOST_TEST(nn::scheduled_lr(c, 0, 100) == 0.2, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(nn::scheduled_lr(c, 9, 100) == 2.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(nn::scheduled_lr(c, 10, 100) == 2.0);
}

BOOST_AUTO_TEST_CASE(shuffle_is_a_seeded_permutation) {
  std::vector<std::uint32_t> a(1000), b(1000);
  std::iota(a.begin(), a.end(), 0u);
  std::iota(b.begin(), b.end(), 0u);
  std::mt19937_64 g1(7), g2(7);
  nn::shuffle(a, g1);
  nn::shuffle(b, g2);
  BOOST_TEST(a == b);
  BOOST_TEST(std::set<std::uint32_t>(a.begin(), a.end()).size() == 1000u);
  std::size_t fixed = 0;
  for (std::uint32_t i = 0; i < 1000; ++i) fixed += a[i] == i;
  BOOST_TEST(fixed < 20u);  // about 1 expected
  nn::shuffle(b, g2);
  BOOST_TEST(a != b);  // the generator moved on: the next epoch has another order
}

BOOST_AUTO_TEST_CASE(batcher_gathers_rows_labels_and_one_hot) {
  const nn::Dataset d = synthetic(10);
  for (bool compact : {true, false}) {
    BOOST_TEST_CONTEXT("compact " << compact) {
      nn::Batcher b(d, 4, 3, autodiff::Dtype::f32, compact);
      BOOST_TEST(b.batches() == 3u);
      std::mt19937_64 gen(1);
      b.shuffle(gen);
      for (std::size_t i = 0; i < b.batches(); ++i) {
        b.load(i);
        const std::size_t rows = i < 2 ? 4 : 2;  // the last batch is short
        BOOST_REQUIRE(b.x().shape() == (autodiff::Shape{static_cast<std::int64_t>(rows), 12}));
        BOOST_REQUIRE(b.one_hot().shape() == (autodiff::Shape{static_cast<std::int64_t>(rows), 3}));
        BOOST_REQUIRE(b.labels().size() == rows);
        for (std::size_t r = 0; r < rows; ++r) {
          const std::size_t e = b.order()[i * 4 + r];
          BOOST_TEST(b.labels()[r] == d.labels[e]);
          for (std::size_t k = 0; k < 12; ++k) BOOST_TEST(b.x().at(static_cast<std::int64_t>(r * 12 + k)) == d.images[e * 12 + k]);
          for (std::int64_t c = 0; c < 3; ++c)
            BOOST_TEST(b.one_hot().at(static_cast<std::int64_t>(r) * 3 + c) == (c == d.labels[e] ? 1.0 : 0.0));
        }
      }
      // flip = 1 mirrors every image left-right.
      b.load(0, 1.0, 0, &gen);
      const std::size_t e = b.order()[0];
      for (std::size_t row = 0; row < 4; ++row)
        for (std::size_t c = 0; c < 3; ++c)
          BOOST_TEST(b.x().at(static_cast<std::int64_t>(row * 3 + c)) == d.images[e * 12 + row * 3 + 2 - c]);
      // shift = 1 moves every image by some (dy, dx) in [-1, 1]^2 with zero fill, and the draws vary the move.
      std::set<std::pair<int, int>> moves;
      for (int round = 0; round < 20; ++round) {
        b.load(0, 0.0, 1, &gen);
        for (std::size_t r = 0; r < 4; ++r) {
          const std::size_t img = b.order()[r];
          auto shifted = [&](int dy, int dx) {
            for (int row = 0; row < 4; ++row)
              for (int c = 0; c < 3; ++c) {
                const int sr = row - dy, sc = c - dx;
                const float want = sr < 0 || sr >= 4 || sc < 0 || sc >= 3 ? 0.0f : d.images[img * 12 + static_cast<std::size_t>(sr * 3 + sc)];
                if (b.x().at(static_cast<std::int64_t>(r * 12) + row * 3 + c) != want) return false;
              }
            return true;
          };
          bool found = false;
          for (int dy = -1; dy <= 1 && !found; ++dy)
            for (int dx = -1; dx <= 1 && !found; ++dx)
              if (shifted(dy, dx)) {
                found = true;
                moves.emplace(dy, dx);
              }
          BOOST_TEST(found);
        }
      }
      BOOST_TEST(moves.size() >= 6u);
    }
  }
  nn::Batcher plain(d, 4, 3);
  BOOST_CHECK_THROW(plain.load(0, 0.5), std::invalid_argument);  // augmentation without a generator
  BOOST_CHECK_THROW(nn::Batcher(d, 0, 3), std::invalid_argument);
  BOOST_CHECK_EXCEPTION(nn::Batcher(d, 4, 2), std::invalid_argument, [](const std::invalid_argument& ex) {
    return std::string(ex.what()).find("label 2") != std::string::npos;
  });
}

BOOST_AUTO_TEST_CASE(evaluation_and_confusion_matrix) {
  const nn::Dataset d = synthetic(50);
  std::mt19937_64 gen(3);
  nn::MLP m({12, 5, 3}, gen, nn::Activation::relu, nn::Activation::identity);
  const nn::Evaluation e = nn::evaluate(m, nn::Cost::cross_entropy, d, 16);
  BOOST_TEST(e.count == 50u);
  BOOST_TEST(e.classes == 3u);
  std::size_t total = 0, diagonal = 0;
  for (std::size_t t = 0; t < 3; ++t)
    for (std::size_t p = 0; p < 3; ++p) {
      total += e.at(t, p);
      diagonal += t == p ? e.at(t, p) : 0;
    }
  BOOST_TEST(total == 50u);
  BOOST_TEST(e.accuracy == static_cast<double>(diagonal) / 50.0);
  // Chunking does not change the result.
  const nn::Evaluation whole = nn::evaluate(m, nn::Cost::cross_entropy, d, 1000);
  BOOST_TEST(whole.confusion == e.confusion);
  BOOST_TEST(whole.loss == e.loss, boost::test_tools::tolerance(1e-6));
  BOOST_TEST(std::isfinite(e.loss));
  const std::array<std::string_view, 3> names = {"alpha", "beta", "gamma"};
  const std::string table = nn::format_confusion(e, names);
  BOOST_TEST(table.find("2 gamma") != std::string::npos);
  BOOST_TEST(table.find("accuracy") != std::string::npos);
  BOOST_CHECK_THROW(nn::evaluate(m, nn::Cost::cross_entropy, synthetic(0)), std::invalid_argument);
}

// The first non-finite loss stops training, naming the epoch and step and suggesting a smaller learning rate.
// Before: --lr 1e308 (SGD) and Adam with lr 1e300 trained to "loss nan" and exited 0.
BOOST_AUTO_TEST_CASE(divergence_stops_at_the_first_non_finite_loss) {
  const nn::Dataset d = synthetic(64);
  nn::TrainConfig sgd = nn::preset("seed");
  sgd.lr = 1e308;
  sgd.batch = 8;
  nn::TrainConfig adam = nn::preset("best");
  adam.hidden = {8};
  adam.lr = 1e300;
  adam.batch = 8;
  for (const nn::TrainConfig& c : {sgd, adam}) {
    BOOST_TEST_CONTEXT(nn::summary(c, 12, 3)) {
      nn::Trainer t(c, d, 3);
      bool stopped = false;
      for (int e = 0; e < 3 && !stopped; ++e) {
        try {
          t.train_epoch();
        } catch (const std::runtime_error& ex) {
          const std::string m = ex.what();
          BOOST_TEST_MESSAGE(m);
          stopped = true;
          for (const char* w : {"Trainer: the loss is ", " at epoch ", ", step ", " of 8 (learning rate ",
                                "training diverged; try a smaller learning rate"})
            BOOST_TEST(m.find(w) != std::string::npos, "'" << w << "' in: " << m);
          BOOST_TEST((m.find("nan") != std::string::npos || m.find("inf") != std::string::npos));
        }
      }
      BOOST_TEST(stopped);
    }
  }
}

namespace {

/// A checkpoint of a fresh seed-network trainer on `d`, with entry `key` replaced by `value` (a valid CRC: only
/// the meaning is wrong).
void save_with(const nn::Trainer& t, const fs::path& file, const std::string& key, const autodiff::Array& value) {
  t.save(file);
  auto entries = nn::load_arrays(file);
  bool found = false;
  for (auto& [k, a] : entries)
    if (k == key) a = value, found = true;
  BOOST_REQUIRE_MESSAGE(found, key);
  nn::save_arrays(file, entries);
}

autodiff::Array f64(std::vector<double> v, autodiff::Shape s) {
  autodiff::Array a(s, autodiff::Dtype::f64);
  std::copy(v.begin(), v.end(), a.data<double>());
  return a;
}
autodiff::Array scalar(double v) { return f64({v}, autodiff::Shape{}); }

}  // namespace

// A crafted checkpoint with a valid checksum but a meaning no run can have is refused, naming the entry and the
// allowed values. Before: a weight decay of 100 was accepted (and trained to nan), as were an all-zero generator
// state and inconsistent counters.
BOOST_AUTO_TEST_CASE(checkpoint_meaning_is_validated) {
  const nn::Dataset d = synthetic(40);
  const TempDir dir("train_test");
  const fs::path file = dir.path / "crafted.ckpt";
  nn::TrainConfig c = nn::preset("seed");
  c.batch = 8;
  nn::Trainer t(c, d, 3);
  t.train_epoch();
  t.history().add(nn::EpochStats{1, 0.5, 1, 40}, nn::Evaluation{});
  using E = std::invalid_argument;
  auto config_error = [&](const std::string& key, const autodiff::Array& v, std::initializer_list<std::string> words) {
    save_with(t, file, key, v);
    return throws_with<E>([&] { nn::Trainer::checkpoint_config(file); }, words);
  };
  auto load_error = [&](const std::string& key, const autodiff::Array& v, std::initializer_list<std::string> words) {
    save_with(t, file, key, v);
    nn::Trainer fresh(c, d, 3);
    return throws_with<E>([&] { fresh.load(file); }, words);
  };
  BOOST_TEST(config_error("config.weight_decay", scalar(100),
                          {"checkpoint", "crafted.ckpt", "config.weight_decay = 100 is out of range (expected 0 <= x <= 1)"}));
  BOOST_TEST(config_error("config.activation", scalar(7),
                          {"'config.activation' has unknown activation code 7 (known: 0 sigmoid, 1 relu, 2 tanh, 3 identity)"}));
  BOOST_TEST(config_error("config.batch", scalar(1e12), {"'config.batch' = 1000000000000 is not a whole number from 0 to 1048576"}));
  BOOST_TEST(config_error("config.hidden", f64({16, 0}, autodiff::Shape{2}),
                          {"config.hidden holds a bad size 0 (expected a whole number from 1 to 65536)"}));
  std::vector<double> zeros(2 * 313, 0.0);
  BOOST_TEST(load_error("trainer.generator", f64(zeros, autodiff::Shape{313, 2}),
                        {"'trainer.generator' is all zeros, which no seeded generator reaches"}));
  BOOST_TEST(load_error("trainer.generator", f64({0, 1, 0, 2, 0, 3}, autodiff::Shape{3, 2}),
                        {"'trainer.generator' holds 3 words, expected 313"}));
  BOOST_TEST(load_error("trainer.epoch", scalar(9), {"'trainer.epoch' = 9 is more than config.epochs = 5"}));
  BOOST_TEST(load_error("trainer.step", scalar(4), {"'trainer.step' = 4 does not match 1 epochs of 5 steps"}));
  BOOST_TEST(load_error("history.loss", f64({1, 2}, autodiff::Shape{2}), {"history entries differ in length"}));
  autodiff::Array weight = t.model().layer(1).weight().value().clone();
  weight.set(3, std::nan(""));
  BOOST_TEST(load_error("model.layers.0.weight", weight, {"'model.layers.0.weight' holds nan at index 3"}));

  // The checkpoint records its training set: resuming on other data is refused, evaluating on it is allowed.
  t.save(file);
  const nn::Dataset other = synthetic(48);
  nn::Trainer elsewhere(c, other, 3);
  BOOST_TEST(throws_with<E>([&] { elsewhere.load(file); },
                            {"crafted.ckpt: trained on other data (40 images of 4x3, checksum", "this training set has 48 images of 4x3"}));
  elsewhere.load(file, nn::DataCheck::any_data);
  BOOST_TEST(elsewhere.epoch() == 1u);
  BOOST_TEST((nn::Trainer::checkpoint_data(file) == t.data()));
  // A checkpoint written before the data was recorded (no data.* entries) still loads.
  auto entries = nn::load_arrays(file);
  std::erase_if(entries, [](const auto& e) { return e.first.starts_with("data."); });
  nn::save_arrays(file, entries);
  BOOST_TEST(!nn::Trainer::checkpoint_data(file).has_value());
  nn::Trainer old(c, d, 3);
  old.load(file);
  BOOST_TEST(old.epoch() == 1u);
}

// ---- training on the real data -------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(short_run_on_a_subset_beats_chance, *utf::precondition(has_data)) {
  const nn::Dataset train = nn::subset(fashion().train, 2000);
  nn::TrainConfig c = nn::preset("seed");
  c.epochs = 10;
  c.seed = 1;
  nn::Trainer t(c, train);
  double first_loss = 0.0;
  for (std::size_t e = 0; e < c.epochs; ++e) {
    const nn::EpochStats s = t.train_epoch();
    if (e == 0) first_loss = s.loss;
    BOOST_TEST(s.examples == 2000u);
    if (e + 1 == c.epochs) BOOST_TEST(s.loss < first_loss);
  }
  BOOST_TEST(t.epoch() == 10u);
  const nn::Evaluation test = nn::evaluate(t.model(), c.cost, nn::subset(fashion().test, 2000));
  BOOST_TEST_MESSAGE("test accuracy after 10 epochs on 2000 images: " << test.accuracy);
  BOOST_TEST(test.accuracy > 0.5);  // chance is 0.1
}

BOOST_AUTO_TEST_CASE(checkpoint_resume_is_bit_identical, *utf::precondition(has_data)) {
  const nn::Dataset train = nn::subset(fashion().train, 2000);
  // SGD with momentum and Adam with a cosine schedule and flips: optimizer buffers, the schedule's step count and the
  // generator's state all have to survive the checkpoint.
  nn::TrainConfig sgd = nn::preset("seed");
  sgd.momentum = 0.9;
  sgd.lr = 0.1;
  sgd.batch = 48;  // 2000 / 48 leaves a short last batch
  nn::TrainConfig adam = nn::preset("best");
  adam.hidden = {32};
  adam.epochs = 3;
  for (const nn::TrainConfig& c : {sgd, adam}) {
    BOOST_TEST_CONTEXT(nn::summary(c, 784, 10)) {
      const TempDir dir("train_test");
      const fs::path file = dir.path / "run.ckpt";

      nn::Trainer straight(c, train);
      straight.train_epoch();
      straight.train_epoch();

      {
        nn::Trainer first(c, train);
        first.train_epoch();
        first.history().add(nn::EpochStats{0.5, 0.25, 1.0, 2000}, nn::Evaluation{0.75, 0.125, 0, 0, {}});
        first.save(file);
      }
      const nn::TrainConfig saved = nn::Trainer::checkpoint_config(file);
      BOOST_TEST(saved.hidden == c.hidden);
      BOOST_TEST(saved.lr == c.lr);
      BOOST_TEST(saved.seed == c.seed);
      BOOST_TEST(saved.epochs == c.epochs);
      BOOST_TEST((saved.schedule == c.schedule));
      nn::Trainer resumed(saved, train);
      resumed.load(file);
      BOOST_TEST(resumed.epoch() == 1u);
      BOOST_REQUIRE(resumed.history().size() == 1u);
      BOOST_TEST(resumed.history().test_accuracy[0] == 0.125);
      resumed.train_epoch();
      BOOST_TEST(resumed.epoch() == 2u);
      BOOST_TEST((parameter_bytes(resumed.model()) == parameter_bytes(straight.model())));

      // Without the checkpoint, a second run's epoch differs: the check above is not vacuous.
      nn::Trainer fresh(c, train);
      fresh.train_epoch();
      BOOST_TEST((parameter_bytes(fresh.model()) != parameter_bytes(straight.model())));
    }
  }
}

BOOST_AUTO_TEST_CASE(checkpoint_errors, *utf::precondition(has_data)) {
  const nn::Dataset train = nn::subset(fashion().train, 300);
  const TempDir dir("train_test");
  const fs::path file = dir.path / "a.ckpt";
  nn::TrainConfig c = nn::preset("seed");
  nn::Trainer a(c, train);
  a.save(file);

  nn::TrainConfig wider = c;
  wider.hidden = {32, 16};
  nn::Trainer b(wider, train);
  const std::vector<std::byte> before = parameter_bytes(b.model());
  BOOST_CHECK_EXCEPTION(b.load(file), std::invalid_argument, [](const std::invalid_argument& e) {
    const std::string m = e.what();
    return m.find("a.ckpt") != std::string::npos && m.find("784-16-16-10") != std::string::npos &&
           m.find("784-32-16-10") != std::string::npos;
  });
  BOOST_TEST((parameter_bytes(b.model()) == before));  // unchanged after a failed load

  nn::TrainConfig adam = c;
  adam.optimizer = nn::OptimizerKind::adam;
  nn::Trainer d(adam, train);
  BOOST_CHECK_EXCEPTION(d.load(file), std::invalid_argument,
                        [](const std::invalid_argument& e) { return std::string(e.what()).find("sgd") != std::string::npos; });

  // A plain parameter file is not a checkpoint.
  const fs::path params = dir.path / "params.bin";
  nn::save(a.model(), params);
  BOOST_CHECK_EXCEPTION(nn::Trainer::checkpoint_config(params), std::invalid_argument, [](const std::invalid_argument& e) {
    return std::string(e.what()).find("missing entry 'config.") != std::string::npos;
  });
  BOOST_CHECK_THROW(a.load(dir.path / "missing.ckpt"), std::invalid_argument);
}

// ---- the program ---------------------------------------------------------------------------------------------------

/// One line of the program's output that contains `words` in order, or an empty string.
bool one_line_with(const std::string& output, const std::vector<std::string>& words) {
  std::size_t start = 0;
  while (start < output.size()) {
    const std::size_t end = std::min(output.find('\n', start), output.size());
    const std::string line = output.substr(start, end - start);
    std::size_t at = 0;
    bool all = true;
    for (const std::string& w : words) {
      at = line.find(w, at);
      if (at == std::string::npos) {
        all = false;
        break;
      }
      at += w.size();
    }
    if (all) return true;
    start = end + 1;
  }
  return false;
}

// Every bad flag value gives exit status 2 and one line that names the flag, the value and what is allowed, before
// anything is read. Before: --lr 0 printed "not in range 0.000000 to 1797...(309 digits)", --epochs 1.5 "not in
// range", --hidden "" "Value  not in range"; --hidden 10,,10 silently became 10,10, and --seed -1 and --seed 2^64
// both silently became 18446744073709551615.
BOOST_AUTO_TEST_CASE(program_flag_errors_exit_2, *utf::precondition(has_program)) {
  struct Case {
    std::string args;
    std::vector<std::string> words;  // expected in order on one line
  };
  const std::vector<Case> cases = {
      {"--lr 0", {"train: --lr: '0' is out of range (expected x > 0)"}},
      {"--epochs 1.5", {"train: --epochs: '1.5' is not a whole number (expected a whole number from 1 to 100000)"}},
      {"--hidden ''", {"train: --hidden: the value is empty (expected sizes separated by commas, such as 512,256"}},
      {"--hidden 10,,10", {"train: --hidden: '10,,10' has an empty size at position 2 (expected sizes separated by commas"}},
      {"--seed -1", {"train: --seed: '-1' is negative (expected a whole number from 0 to 18446744073709551615)"}},
      {"--seed 18446744073709551616", {"train: --seed: '18446744073709551616' is too large (expected a whole number from 0 to 18446744073709551615)"}},
      {"--lr abc", {"--lr: 'abc' is not a number (expected x > 0)"}},
      {"--lr inf", {"--lr: 'inf' is not a finite number"}},
      {"--lr", {"--lr: the value is missing"}},
      {"--lr 1 --lr 2", {"--lr: given 2 times (give it once)"}},
      {"--batch 0", {"--batch: '0' is out of range (expected a whole number from 1 to 1048576)"}},
      {"--hidden 128,x", {"--hidden: 'x' at position 2 is not a whole number"}},
      {"--hidden 0", {"--hidden: '0' at position 1 is out of range"}},
      {"--activation softplus", {"--activation: unknown activation 'softplus' (expected sigmoid, relu, tanh or identity)"}},
      {"--cost hinge", {"--cost: unknown cost 'hinge' (expected squared_error or cross_entropy)"}},
      {"--optimizer rmsprop", {"--optimizer: unknown optimizer 'rmsprop' (expected sgd or adam)"}},
      {"--schedule linear", {"--schedule: unknown schedule 'linear' (expected constant, cosine or step)"}},
      {"--init xavier", {"--init: unknown init 'xavier' (expected uniform or normal)"}},
      {"--preset fastest", {"--preset: unknown preset 'fastest' (expected seed or best)"}},
      {"--momentum 1", {"--momentum: '1' is out of range (expected 0 <= x < 1)"}},
      {"--weight-decay 100", {"--weight-decay: '100' is out of range (expected 0 <= x <= 1)"}},
      {"--shift 20", {"--shift: '20' is out of range (expected a whole number from 0 to 8)"}},
      {"--threads 0", {"--threads: '0' is out of range"}},
      {"--max-data-bytes 0", {"--max-data-bytes: '0' is out of range"}},
      {"--eval-only", {"--eval-only needs --load FILE"}},
      {"--frobnicate", {"--frobnicate"}},
      {"--optimizer adam --momentum 0.9", {"--momentum applies to --optimizer sgd only (the optimizer is adam)"}},
      {"--save ''", {"--save: the value is empty (expected a path)"}},
      {"--save run.ckpt --plot run.ckpt", {"--save and --plot name the same file 'run.ckpt'"}},
      {"--data /nonexistent/dir", {"--data: load_dataset: /nonexistent/dir: directory does not exist"}},
      {"--load /nonexistent/file.ckpt", {"--load: load_arrays: /nonexistent/file.ckpt: file does not exist"}},
      {"--save /nonexistent/dir/run.ckpt", {"--save: /nonexistent/dir/run.ckpt: directory '/nonexistent/dir' does not exist"}},
      {"--load x.ckpt --limit 100", {"--limit cannot be combined with --load: the checkpoint fixes the run's settings and training set"}},
      {"--load x.ckpt --lr 0.1", {"--lr cannot be combined with --load"}},
      {"--load x.ckpt --eval-only --epochs 3", {"--epochs cannot be combined with --eval-only: nothing is trained"}},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT("train " << c.args) {
      const Run r = run_program(c.args);
      BOOST_TEST(r.status == 2);
      BOOST_TEST(one_line_with(r.output, c.words), "in: " << r.output);
      BOOST_TEST(std::count(r.output.begin(), r.output.end(), '\n') == 1, "one line: " << r.output);
      BOOST_TEST(r.output.find("test accuracy") == std::string::npos);
    }
  }
}

namespace {

/// A dataset folder of `train` and `test` images of size x size (10 classes), gzipped like Fashion-MNIST's; `seed`
/// varies the training pixels.
void write_dataset(const fs::path& dir, std::uint32_t train = 300, std::uint32_t test = 100, std::uint32_t size = 8,
                   std::uint32_t seed = 0) {
  fs::create_directories(dir);
  auto pixels = [](std::uint32_t n, std::uint32_t seed) {
    std::vector<std::uint8_t> b(n);
    for (std::uint32_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>((i * 7 + seed) % 256);
    return b;
  };
  auto labels = [](std::uint32_t n) {
    std::vector<std::uint8_t> b(n);
    for (std::uint32_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i % 10);
    return b;
  };
  nn::write_idx(dir / "train-images-idx3-ubyte.gz", {train, size, size}, pixels(train * size * size, seed), true);
  nn::write_idx(dir / "train-labels-idx1-ubyte.gz", {train}, labels(train), true);
  nn::write_idx(dir / "t10k-images-idx3-ubyte.gz", {test, size, size}, pixels(test * size * size, 3), true);
  nn::write_idx(dir / "t10k-labels-idx1-ubyte.gz", {test}, labels(test), true);
}

}  // namespace

// --save and --plot are checked before the data is read or anything is trained: a path that is not a regular file or
// a new path, an unwritable directory, or a data file is refused with exit status 2, and left as it was. Before, a
// FIFO, a symlink and a device became regular files (as root, --save /dev/null replaced /dev/null), and a bad --plot
// failed only after the last epoch.
BOOST_AUTO_TEST_CASE(program_refuses_unsafe_output_paths_up_front, *utf::precondition(has_program)) {
  const TempDir dir("train_test");
  const fs::path data = dir.path / "data", fifo = dir.path / "fifo", to_null = dir.path / "to-null";
  write_dataset(data);
  BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
  fs::create_symlink("/dev/null", to_null);
  const fs::path labels = data / "train-labels-idx1-ubyte.gz", link_to_labels = dir.path / "labels-link";
  fs::create_symlink(labels, link_to_labels);
  const auto labels_bytes = fs::file_size(labels);
  struct Case {
    std::string args;
    std::vector<std::string> words;
  };
  const std::string d = "--data " + data.string() + " ";
  const std::vector<Case> cases = {
      {d + "--save " + fifo.string(), {"--save: ", "fifo: not a regular file (a FIFO); only a regular file or a new path is written"}},
      {d + "--save " + to_null.string(), {"--save: ", "to-null: symlink target '/dev/null' is not a regular file (a character device)"}},
      {d + "--plot " + dir.path.string(), {"--plot: ", ": not a regular file (a directory)"}},
      {d + "--plot /sys/curve.svg", {"--plot: /sys/curve.svg: cannot create a file in '/sys' (Permission denied)"}},
      {d + "--save " + labels.string(), {"--save: ", "train-labels-idx1-ubyte.gz is a data file (refusing to overwrite the data)"}},
      {d + "--save " + link_to_labels.string(), {"--save: ", "labels-link is the data file ", "train-labels-idx1-ubyte.gz (refusing"}},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT("train " << c.args) {
      const Run r = run_program(c.args);
      BOOST_TEST(r.status == 2);
      BOOST_TEST(one_line_with(r.output, c.words), "in: " << r.output);
      BOOST_TEST(r.output.find("epoch") == std::string::npos);  // refused before training
    }
  }
  BOOST_TEST(fs::is_fifo(fifo));
  BOOST_TEST(fs::is_character_file("/dev/null"));
  BOOST_TEST(fs::file_size(labels) == labels_bytes);
}

// The first non-finite loss ends the run with exit status 1, naming the epoch and step. Before: --lr 1e308 trained
// to "loss nan" and exited 0.
BOOST_AUTO_TEST_CASE(program_stops_when_training_diverges, *utf::precondition(has_program)) {
  const TempDir dir("train_test");
  write_dataset(dir.path);
  const Run r = run_program(fmt::format("--data {} --lr 1e308", dir.path.string()));
  BOOST_TEST(r.status == 1);
  BOOST_TEST(one_line_with(r.output, {"train: error: Trainer: the loss is ", " at epoch 1, step ", " of 10 (learning rate 1e+308): training diverged; try a smaller learning rate"}),
             r.output);
  BOOST_TEST(r.output.find("test accuracy") == std::string::npos);
}

// A plot that fails at the end (here the file-size limit makes the write fail with EFBIG, after the up-front check
// passed) does not lose the run: the confusion matrix and test accuracy are printed, then the error with the OS's
// reason, and the exit status is 1. Before: "cannot write file" without a reason, and no results.
BOOST_AUTO_TEST_CASE(program_prints_results_before_a_failed_plot, *utf::precondition(has_program)) {
  const TempDir dir("train_test");
  write_dataset(dir.path / "data");
  const fs::path svg = dir.path / "curve.svg";
  const Run r = run_program(fmt::format("--data {} --epochs 1 --plot {}", (dir.path / "data").string(), svg.string()),
                            "trap '' XFSZ; ulimit -f 1; ");
  BOOST_TEST(r.status == 1);
  const auto accuracy = r.output.find("test accuracy: 0.");
  const auto error = r.output.find("train: error: write_svg: " + svg.string() + ": write to '");
  BOOST_TEST(r.output.find("confusion matrix") != std::string::npos, r.output);
  BOOST_TEST(accuracy != std::string::npos, r.output);
  BOOST_TEST(error != std::string::npos, r.output);
  BOOST_TEST(accuracy < error);
  BOOST_TEST(one_line_with(r.output, {"failed (File too large) (the results above are complete; only the plot is missing)"}));
  BOOST_TEST(!fs::exists(svg));
}

// The data files are checked before training: a header claiming more than --max-data-bytes (a gzip bomb) names the
// file and the flag; train/test halves that do not fit one model name the file (data_test covers each check).
BOOST_AUTO_TEST_CASE(program_checks_the_data_before_training, *utf::precondition(has_program)) {
  const TempDir dir("train_test");
  const fs::path small = dir.path / "small", mixed = dir.path / "mixed";
  write_dataset(small);
  write_dataset(mixed, 300, 100, 8);
  write_dataset(dir.path / "other", 300, 100, 6);
  fs::copy_file(dir.path / "other" / "t10k-images-idx3-ubyte.gz", mixed / "t10k-images-idx3-ubyte.gz",
                fs::copy_options::overwrite_existing);
  const Run capped = run_program(fmt::format("--data {} --max-data-bytes 10000", small.string()));
  BOOST_TEST(capped.status == 1);
  BOOST_TEST(one_line_with(capped.output, {"train: error: read_idx: ", "train-images-idx3-ubyte.gz: header claims 19200 bytes of data ([300,8,8]), more than the limit of 10000 bytes; a larger limit can be given with --max-data-bytes"}),
             capped.output);
  const Run mismatch = run_program(fmt::format("--data {}", mixed.string()));
  BOOST_TEST(mismatch.status == 1);
  BOOST_TEST(one_line_with(mismatch.output, {"load_dataset: ", "t10k-images-idx3-ubyte.gz: test images are 6x6, training images are 8x8"}),
             mismatch.output);
  BOOST_TEST(mismatch.output.find("epoch") == std::string::npos);
}

// A checkpoint fixes the run's settings and its training set: --limit is refused with --load (the checkpoint
// records the first N images it trained on and resumes on them), other data is refused for resuming but allowed for
// --eval-only, and --epochs below the completed count is refused. Before: --load silently accepted --limit and
// --data, although --help said only --epochs may change.
BOOST_AUTO_TEST_CASE(program_load_keeps_the_runs_settings_and_data, *utf::precondition(has_program)) {
  const TempDir dir("train_test");
  const fs::path data = dir.path / "data", other = dir.path / "other", ckpt = dir.path / "run.ckpt";
  write_dataset(data);
  write_dataset(other, 400, 100, 8, 1);
  const Run first = run_program(fmt::format("--data {} --limit 200 --epochs 2 --save {}", data.string(), ckpt.string()));
  BOOST_TEST_REQUIRE(first.status == 0, first.output);
  const Run resumed = run_program(fmt::format("--data {} --load {} --epochs 3", data.string(), ckpt.string()));
  BOOST_TEST(resumed.status == 0, resumed.output);
  BOOST_TEST(resumed.output.find("data: 200 training") != std::string::npos, resumed.output);  // the first 200 again
  BOOST_TEST(resumed.output.find("epoch 3/3") != std::string::npos);
  const Run elsewhere = run_program(fmt::format("--data {} --load {}", other.string(), ckpt.string()));
  BOOST_TEST(elsewhere.status == 2);
  BOOST_TEST(one_line_with(elsewhere.output, {"--load: checkpoint ", "run.ckpt: trained on other data (200 images of 8x8, checksum ", "this training set has 200 images of 8x8, checksum "}),
             elsewhere.output);
  const Run evaluated = run_program(fmt::format("--data {} --load {} --eval-only", other.string(), ckpt.string()));
  BOOST_TEST(evaluated.status == 0, evaluated.output);
  const Run fewer = run_program(fmt::format("--data {} --load {} --epochs 1", data.string(), ckpt.string()));
  BOOST_TEST(fewer.status == 2);
  BOOST_TEST(one_line_with(fewer.output, {"--epochs 1: the checkpoint ", "has already completed 2 epochs"}), fewer.output);
}

BOOST_AUTO_TEST_CASE(program_help_lists_every_flag, *utf::precondition(has_program)) {
  const Run r = run_program("--help");
  BOOST_TEST(r.status == 0);
  for (const char* flag : {"--preset", "--epochs", "--batch", "--lr", "--hidden", "--activation", "--cost", "--optimizer",
                           "--momentum", "--weight-decay", "--seed", "--threads", "--data", "--save", "--load",
                           "--eval-only", "--plot", "--limit", "--max-data-bytes", "seed", "best"})
    BOOST_TEST(r.output.find(flag) != std::string::npos, flag);
}

BOOST_AUTO_TEST_CASE(program_trains_saves_resumes_and_plots, *utf::precondition(has_program) *
                                                                 utf::precondition(has_data)) {
  const TempDir dir("train_test");
  const fs::path ckpt = dir.path / "run.ckpt", svg = dir.path / "curve.svg";
  const Run r = run_program(fmt::format("--limit 1000 --epochs 2 --seed 3 --save {} --plot {}", ckpt.string(), svg.string()));
  BOOST_TEST_REQUIRE(r.status == 0, r.output);
  BOOST_TEST(r.output.find('\r') == std::string::npos);  // no terminal: no progress-bar redraws
  BOOST_TEST(r.output.find("epoch 1/2  loss ") != std::string::npos);
  BOOST_TEST(r.output.find("epoch 2/2  loss ") != std::string::npos);
  BOOST_TEST(r.output.find("Ankle boot") != std::string::npos);
  const std::string last = last_line(r.output);
  BOOST_TEST(last.starts_with("test accuracy: 0."));
  BOOST_TEST(last.size() == std::string("test accuracy: 0.XXXX").size());
  BOOST_TEST(fs::exists(ckpt));
  BOOST_TEST(fs::exists(svg));
  std::ifstream in(svg);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  BOOST_TEST(text.find("<svg") != std::string::npos);
  BOOST_TEST(text.find("epoch") != std::string::npos);

  // Evaluating the checkpoint reproduces the final accuracy; resuming continues at epoch 3.
  const Run eval = run_program(fmt::format("--load {} --eval-only", ckpt.string()));
  BOOST_TEST_REQUIRE(eval.status == 0, eval.output);
  BOOST_TEST(last_line(eval.output) == last);
  const Run more = run_program(fmt::format("--load {} --epochs 3", ckpt.string()));
  BOOST_TEST_REQUIRE(more.status == 0, more.output);
  BOOST_TEST(more.output.find("resumed from") != std::string::npos);
  BOOST_TEST(more.output.find("epoch 3/3  loss ") != std::string::npos);
  BOOST_TEST(more.output.find("epoch 2/3") == std::string::npos);
  // Settings are fixed by the checkpoint.
  const Run clash = run_program(fmt::format("--load {} --lr 0.1", ckpt.string()));
  BOOST_TEST(clash.status == 2);
  BOOST_TEST(clash.output.find("--lr") != std::string::npos);
}
