// Tests for the training loop (nn/trainer) and the training program's command line (examples/train).
#define BOOST_TEST_MODULE train_test
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "synthetic_data.hpp"
#include "temp_dir.hpp"
#include "throws_with.hpp"

#include "nn/serialize.hpp"
#include "nn/trainer.hpp"

#include <fmt/format.h>
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

/// Runs the training program with `args` (shell syntax), capturing its output and exit status.
Run run_program(const std::string& args) {
  Run r;
  const std::string cmd = fmt::format("{} {} 2>&1", program.string(), args);
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

BOOST_AUTO_TEST_CASE(program_flag_errors_exit_2, *utf::precondition(has_program)) {
  struct Case {
    std::string args;
    std::vector<std::string> words;  // expected in the message
  };
  const std::vector<Case> cases = {
      {"--batch 0", {"--batch", "0"}},
      {"--epochs -3", {"--epochs"}},
      {"--lr abc", {"--lr", "abc"}},
      {"--lr -1", {"--lr"}},
      {"--hidden 128,x", {"--hidden", "x"}},
      {"--hidden 0", {"--hidden"}},
      {"--activation softplus", {"--activation", "softplus"}},
      {"--cost hinge", {"--cost", "hinge"}},
      {"--optimizer rmsprop", {"--optimizer", "rmsprop"}},
      {"--preset fastest", {"--preset", "fastest"}},
      {"--momentum 1.5", {"--momentum"}},
      {"--threads 0", {"--threads"}},
      {"--data /nonexistent/dir", {"--data", "/nonexistent/dir"}},
      {"--load /nonexistent/file.ckpt", {"--load", "/nonexistent/file.ckpt"}},
      {"--eval-only", {"--eval-only", "--load"}},
      {"--save /nonexistent/dir/run.ckpt", {"--save", "/nonexistent/dir"}},
      {"--plot /nonexistent/dir/curve.svg", {"--plot", "/nonexistent/dir"}},
      {"--shift 20", {"--shift"}},
      {"--frobnicate", {"--frobnicate"}},
      {"--optimizer adam --momentum 0.9", {"--momentum", "sgd"}},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT("train " << c.args) {
      const Run r = run_program(c.args);
      BOOST_TEST(r.status == 2);
      for (const std::string& w : c.words) BOOST_TEST(r.output.find(w) != std::string::npos, "'" << w << "' in: " << r.output);
      BOOST_TEST(r.output.find("test accuracy") == std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(program_help_lists_every_flag, *utf::precondition(has_program)) {
  const Run r = run_program("--help");
  BOOST_TEST(r.status == 0);
  for (const char* flag : {"--preset", "--epochs", "--batch", "--lr", "--hidden", "--activation", "--cost", "--optimizer",
                           "--momentum", "--weight-decay", "--seed", "--threads", "--data", "--save", "--load",
                           "--eval-only", "--plot", "--limit", "seed", "best"})
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
  const Run more = run_program(fmt::format("--load {} --epochs 3 --limit 1000", ckpt.string()));
  BOOST_TEST_REQUIRE(more.status == 0, more.output);
  BOOST_TEST(more.output.find("resumed from") != std::string::npos);
  BOOST_TEST(more.output.find("epoch 3/3  loss ") != std::string::npos);
  BOOST_TEST(more.output.find("epoch 2/3") == std::string::npos);
  // Settings are fixed by the checkpoint.
  const Run clash = run_program(fmt::format("--load {} --lr 0.1", ckpt.string()));
  BOOST_TEST(clash.status == 2);
  BOOST_TEST(clash.output.find("--lr") != std::string::npos);
}
