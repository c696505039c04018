// Tests for the training loop (nn/trainer): configuration, batching, evaluation, divergence and checkpoints.
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

/// The real data, loaded once for every test that needs it.
const nn::Split& fashion() {
  static const nn::Split split = nn::load_dataset(data_dir);
  return split;
}

/// Every parameter's bytes, in order.
std::vector<std::byte> parameter_bytes(const nn::Module& m) {
  std::vector<std::byte> out;
  for (const Tensor& p : m.parameters()) {
    const auto* b = p.value().data<std::byte>();
    out.insert(out.end(), b, b + p.numel() * static_cast<std::int64_t>(autodiff::dtype_size(p.dtype())));
  }
  return out;
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
  // A warmup shorter than one step leaves the rate as scheduled. Before, step 0 got lr / (warmup * steps): 200 times
  // lr here, and an infinite rate for a tiny warmup (found by the train fuzzer through a checkpoint).
  c.warmup = 0.00005;
  BOOST_TEST(nn::scheduled_lr(c, 0, 100) == 2.0);
  c.warmup = 1e-310;
  BOOST_TEST(nn::scheduled_lr(c, 0, 100) == 2.0);
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
  autodiff::Array weight = t.model().at<nn::Linear>(0).weight().value().clone();
  weight.set(3, std::nan(""));
  BOOST_TEST(load_error("model.0.weight", weight, {"'model.0.weight' holds nan at index 3"}));

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
  // Its step count is still checked against this data (found by fuzz_train: such a file loaded, and then the
  // checkpoint saved from it did not).
  for (auto& [k, a] : entries)
    if (k == "trainer.step") a = scalar(3);
  nn::save_arrays(file, entries);
  nn::Trainer older(c, d, 3);
  BOOST_TEST(throws_with<E>([&] { older.load(file); },
                            {"'trainer.step' = 3 does not match 1 epochs of 5 steps (the checkpoint does not record its "
                             "training set: was it trained on other data?)"}));
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
  const nn::Evaluation test = nn::evaluate(t.model(), c.cost, nn::subset(fashion().test, 2000), 10);
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
