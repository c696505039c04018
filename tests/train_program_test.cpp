// Tests for the training program (examples/train): its flags and messages, its files, and a whole run.
#define BOOST_TEST_MODULE train_program_test
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "temp_dir.hpp"

#include "nn/data.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace fs = std::filesystem;
namespace utf = boost::unit_test;

namespace {

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
      // A value with a newline in it stays on the one line, escaped (the train fuzzer found it printed raw).
      {"--seed \"$(printf '7\\nx')\"", {"train: --seed: '7\\nx' is not a whole number (expected a whole number"}},
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
      {"--preset fastest", {"--preset: unknown preset 'fastest' (expected seed, best or cnn)"}},
      {"--arch conv", {"train: --arch: unknown layer 'conv' at position 1 (expected convN, pool, fcN)"}},
      {"--arch conv32,,fc10", {"train: --arch: empty layer at position 2 (expected convN, pool, fcN)"}},
      {"--arch conv0", {"train: --arch: 'conv0' at position 1: size 0 is out of range (expected 1 to 4096)"}},
      {"--arch fc64,pool", {"train: --arch: 'pool' at position 2 follows an fc layer"}},
      {"--arch fc64 --hidden 32", {"--hidden and --arch both give the layers"}},
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
                           "--eval-only", "--plot", "--limit", "--max-data-bytes", "--arch", "seed", "best", "cnn",
                           "conv32,pool,conv64,pool,fc128"})
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
