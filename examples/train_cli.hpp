// The training program's command line: its flags, their one-line messages, and the run they ask for.
//
// Kept apart from examples/train.cpp's main so that the fuzz target for flag parsing (tests/fuzz) runs this code.
#pragma once

#include "autodiff/format.hpp"
#include "nn/data.hpp"
#include "nn/distributed.hpp"
#include "nn/train_config.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace train_cli {

inline constexpr const char* default_data_dir = "/usr/share/datasets/fashion-mnist";
inline constexpr nn::Range threads_range{1, 1024, false, false, true};
inline constexpr nn::Range limit_range{1, 4294967295.0, false, false, true};
inline constexpr nn::Range max_data_bytes_range{1, 4611686018427387904.0, false, false, true};  // up to 2^62

/// The flags that fix a run's settings: a checkpoint given to --load fixes them all (only --epochs may change).
inline const std::vector<std::string> run_setting_flags = {
    "--preset", "--batch", "--lr",    "--hidden", "--arch", "--activation", "--cost", "--optimizer", "--momentum",
    "--weight-decay", "--schedule", "--warmup", "--flip", "--shift", "--init", "--seed", "--limit"};

/// What the command line asks for.
struct Options {
  nn::TrainConfig config;  ///< the preset with the flags applied (with --load: defaults, except epochs)
  std::set<std::string> given;
  std::string preset = "seed";
  std::size_t limit = 0;  ///< 0: every training image
  int threads = 0;        ///< 0: chosen from the model's size
  std::string data_dir = default_data_dir;
  std::string save_file, load_file, plot_file;
  bool eval_only = false, distributed = false;
  std::uint64_t max_data_bytes = nn::default_max_data_bytes;
  bool has(const std::string& flag) const { return given.count(flag) > 0; }
};

/// The outcome of parsing: a run to start, or text to print and an exit status.
struct Parsed {
  std::optional<Options> options;
  int exit_code = 0;  ///< without options: 0 for --help (text on stdout), 2 for a usage error (text on stderr)
  std::string text;   ///< the help, or a one-line message naming the flag, what is wrong and what is allowed
};

namespace detail {

/// A usage error: thrown inside parse() only, turned into Parsed.
struct Usage {
  std::string message;
};

/// The value in quotes, escaped so a newline or control byte in it cannot break the one-line message.
inline std::string quoted(std::string_view s) { return autodiff::quote(s); }

/// A whole number in r (digits only: no sign, fraction, exponent or spaces).
inline std::uint64_t whole(std::string_view flag, std::string_view text, const nn::Range& r,
                           std::string_view range_text = {}) {
  const std::string expected = fmt::format("(expected {})", range_text.empty() ? r.str() : std::string(range_text));
  if (text.empty()) throw Usage{fmt::format("{}: the value is empty {}", flag, expected)};
  if (text.front() == '-' && text.size() > 1 && text.find_first_not_of("0123456789", 1) == std::string_view::npos)
    throw Usage{fmt::format("{}: {} is negative {}", flag, quoted(text), expected)};
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc::result_out_of_range) throw Usage{fmt::format("{}: {} is too large {}", flag, quoted(text), expected)};
  if (ec != std::errc() || end != text.data() + text.size())
    throw Usage{fmt::format("{}: {} is not a whole number {}", flag, quoted(text), expected)};
  if (!r.contains(static_cast<double>(v)))
    throw Usage{fmt::format("{}: {} is out of range {}", flag, quoted(text), expected)};
  return v;
}

/// A finite number in r.
inline double real(std::string_view flag, std::string_view text, const nn::Range& r) {
  const std::string expected = fmt::format("(expected {})", r.str());
  if (text.empty()) throw Usage{fmt::format("{}: the value is empty {}", flag, expected)};
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc::result_out_of_range) throw Usage{fmt::format("{}: {} is out of range {}", flag, quoted(text), expected)};
  if (ec != std::errc() || end != text.data() + text.size())
    throw Usage{fmt::format("{}: {} is not a number {}", flag, quoted(text), expected)};
  if (!std::isfinite(v)) throw Usage{fmt::format("{}: {} is not a finite number {}", flag, quoted(text), expected)};
  if (!r.contains(v)) throw Usage{fmt::format("{}: {} is out of range {}", flag, quoted(text), expected)};
  return v;
}

/// The seed: any 64-bit unsigned number.
inline std::uint64_t seed(std::string_view text) {
  return whole("--seed", text, nn::Range{0, 18446744073709551615.0, false, false, true},
               "a whole number from 0 to 18446744073709551615");
}

/// "512,256": sizes separated by commas, none empty.
inline std::vector<std::int64_t> hidden(std::string_view text) {
  namespace L = nn::train_limits;
  const std::string expected = fmt::format("(expected sizes separated by commas, such as 512,256, each {}; at most {})",
                                           L::hidden_size.str(), L::max_hidden_layers);
  if (text.empty()) throw Usage{fmt::format("--hidden: the value is empty {}", expected)};
  std::vector<std::int64_t> sizes;
  std::size_t start = 0;
  for (std::size_t position = 1;; ++position) {
    const std::size_t comma = text.find(',', start);
    const std::string_view part = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (part.empty())
      throw Usage{fmt::format("--hidden: {} has an empty size at position {} {}", quoted(text), position, expected)};
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (ec != std::errc() || end != part.data() + part.size())
      throw Usage{fmt::format("--hidden: {} at position {} is not a whole number {}", quoted(part), position, expected)};
    if (!L::hidden_size.contains(static_cast<double>(v)))
      throw Usage{fmt::format("--hidden: {} at position {} is out of range {}", quoted(part), position, expected)};
    sizes.push_back(static_cast<std::int64_t>(v));
    if (sizes.size() > L::max_hidden_layers)
      throw Usage{fmt::format("--hidden: {} has more than {} sizes {}", quoted(text), L::max_hidden_layers, expected)};
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return sizes;
}

/// A name from an enumeration's table.
template <class E, std::size_t N>
E choice(std::string_view flag, std::string_view text, const nn::EnumTable<E, N>& table) {
  if (auto e = table.find(text)) return *e;
  throw Usage{fmt::format("{}: unknown {} {} (expected {})", flag, table.what, quoted(text), table.choices())};
}

}  // namespace detail

/// Parses the arguments (without the program name). Never throws for any input: every problem is a Parsed with
/// exit code 2 and a one-line message. Touches no file: paths are checked by the program before it starts.
inline Parsed parse(const std::vector<std::string>& args, unsigned cores) {
  // Every value is read as text and converted here, so every message has one form and says what is allowed.
  std::string preset, epochs, batch, lr, hidden, arch, activation, cost, optimizer, momentum, weight_decay, schedule, warmup,
      flip, shift, init, seed, threads, limit, max_data_bytes, data_dir = default_data_dir, save_file, load_file,
      plot_file;
  bool eval_only = false, distributed = false;

  CLI::App app{
      "Trains a multilayer perceptron or a small convolutional network on Fashion-MNIST with the autodiff engine\n"
      "and prints per-epoch loss and accuracy, then a confusion matrix and, as the last line, 'test accuracy: 0.XXXX'.\n"
      "Flags override the values of the chosen preset (defaults below are given as seed / best / cnn).",
      "train"};
  app.get_formatter()->column_width(34);
  app.footer(
      "Presets:\n"
      "  seed  the seed's network, exactly: 784-16-16-10 with sigmoid on every layer, the squared-error cost\n"
      "        (batch mean of sum_j (y_j - a_j)^2, no 1/2), plain SGD with lr 1.5, batch 32, 5 epochs,\n"
      "        U(-1/sqrt(fan_in), +1/sqrt(fan_in)) init, reshuffled every epoch from --seed. Float32.\n"
      "  best  the most accurate set-up found that trains within 120 s on a 2-core machine: 784-512-256-10\n"
      "        ReLU, softmax cross-entropy, AdamW (lr 0.002, decoupled weight decay 0.05) with a cosine decay\n"
      "        to 0, batch 256, 30 epochs, each training image mirrored left-right with probability 0.5\n"
      "        (about 0.90 test accuracy; wider or deeper nets, dropout or shifts did not do better in 120 s).\n"
      "  cnn   a small CNN, --arch conv32,pool,conv64,pool,fc128: two 3x3 convolutions (padding 1) with ReLU,\n"
      "        each followed by 2x2 max pooling (28x28 -> 14x14 -> 7x7), a 128-unit ReLU layer and a linear layer\n"
      "        to the 10 logits; softmax cross-entropy, AdamW (lr 0.001, decoupled weight decay 0.05) with a cosine\n"
      "        decay to 0, batch 64, 12 epochs, mirroring with probability 0.5 (about 0.92 test accuracy;\n"
      "        about 20 s per epoch on 2 idle cores, 27 s on 1).\n"
      "Architectures (--arch): layers separated by commas, applied in order to the 28x28 images: convN is a 3x3\n"
      "convolution with padding 1 to N channels followed by the activation, pool a 2x2 max pooling, fcN a linear\n"
      "layer to N units followed by the activation; conv and pool layers come before fc layers, and a linear layer\n"
      "to the classes is added at the end. --hidden 512,256 is --arch fc512,fc256.\n"
      "Output: on a terminal a progress bar per epoch (on stderr); 'loss' and 'train acc' are running means over\n"
      "the epoch's training batches, measured on each batch's forward pass before its update; 'test acc' is\n"
      "measured on the test set after the epoch; the time is the epoch's training time. Training stops with an\n"
      "error at the first loss that is not finite.\n"
      "Files: --save and --plot write only a regular file or a new path (a symlink is followed to a regular\n"
      "file), atomically, and never a dataset file; both are checked before training starts.\n"
      "Distributed: under 'mpirun -np N train --distributed ...' each of the N processes trains on its shard of\n"
      "every batch (--batch is the global batch) and gradients are averaged with MPI_Allreduce; rank 0 prints,\n"
      "evaluates and writes files. See docs/distributed.md.\n"
      "Exit status: 0 on success, 1 on a runtime error (unreadable data, unwritable file, divergence), 2 on bad\n"
      "flags.");
  namespace L = nn::train_limits;
  auto option = [&](const char* flag, std::string& into, const char* type, const std::string& help) {
    return app.add_option(flag, into, help)->type_name(type)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  };
  option("--preset", preset, "NAME", fmt::format("{} (default seed); see Presets below", nn::preset_names));
  option("--epochs", epochs, "N",
         fmt::format("total epochs to train, {} (5 / 30 / 12); with --load, training continues up to it", L::epochs.str()));
  option("--batch", batch, "N", fmt::format("minibatch size, {} (32 / 256 / 64)", L::batch.str()));
  option("--lr", lr, "X", "base learning rate, x > 0 (1.5 / 0.002 / 0.001)");
  option("--hidden", hidden, "SIZES",
         fmt::format("hidden layer sizes of an MLP, comma separated, each {} (16,16 / 512,256 / -)",
                     L::hidden_size.str()));
  option("--arch", arch, "LAYERS",
         "the layer stack, e.g. conv32,pool,conv64,pool,fc128 (convN, pool, fcN; see Architectures below) "
         "(fc16,fc16 / fc512,fc256 / conv32,pool,conv64,pool,fc128)");
  option("--activation", activation, "NAME",
         fmt::format("hidden-layer activation: {} (sigmoid / relu / relu)", nn::activations.choices()));
  option("--cost", cost, "NAME",
         "squared_error (sigmoid output layer) or cross_entropy (softmax on identity logits) (squared_error / "
         "cross_entropy / cross_entropy)");
  option("--optimizer", optimizer, "NAME", "sgd or adam (AdamW when --weight-decay is set) (sgd / adam / adam)");
  option("--momentum", momentum, "X", fmt::format("SGD momentum, {} (0 / 0 / 0)", L::momentum.str()));
  option("--weight-decay", weight_decay, "X",
         fmt::format("L2 decay for SGD, decoupled decay for Adam, {} (0 / 0.05 / 0.05)", L::weight_decay.str()));
  option("--schedule", schedule, "NAME",
         "learning-rate schedule: constant, cosine (to 0) or step (x0.1 at 50% and 75%) (constant / cosine / cosine)");
  option("--warmup", warmup, "X",
         fmt::format("fraction of all steps with a linear learning-rate warm-up, {} (0 / 0 / 0)", L::warmup.str()));
  option("--flip", flip, "X",
         fmt::format("probability of mirroring a training image left-right, {} (0 / 0.5 / 0.5)", L::flip.str()));
  option("--shift", shift, "N",
         fmt::format("largest random shift of a training image in pixels, per axis, {} (0 / 0 / 0)", L::shift.str()));
  option("--init", init, "NAME", "weight init: uniform (+-1/sqrt(fan_in)) or normal (N(0,1)) of the linear layers (uniform / uniform / uniform)");
  option("--seed", seed, "N", "seed of the generator for the initial weights and the shuffles, 0 to 2^64-1 (0)");
  option("--threads", threads, "N",
         fmt::format("OpenBLAS threads, {} (1 / 2 / 2: 2 for a convolutional model or an MLP with a weight "
                     "matrix of 100k entries or more; this machine has {} cores)",
                     threads_range.str(), cores));
  option("--data", data_dir, "DIR",
         fmt::format("folder of {{train,t10k}}-{{images-idx3,labels-idx1}}-ubyte[.gz] ({})", default_data_dir));
  option("--limit", limit, "N", "train on only the first N training images (all)");
  option("--max-data-bytes", max_data_bytes, "N",
         fmt::format("largest data file payload to read, in bytes ({} = 2^28); guards against a file that claims "
                     "more than it holds",
                     nn::default_max_data_bytes));
  option("--save", save_file, "FILE", "write a checkpoint to FILE after every epoch (none)");
  option("--load", load_file, "FILE",
         "resume from a checkpoint FILE with its settings and training set; only --epochs may change, and --data "
         "may name another copy of the same data (none)");
  app.add_flag("--eval-only", eval_only, "with --load: only evaluate the checkpoint on the test set (of --data)");
  option("--plot", plot_file, "FILE", "write loss and accuracy per epoch as an SVG chart to FILE (none)");
  app.add_flag("--distributed", distributed,
               nn::Distributed::available()
                   ? "data-parallel training over MPI, one process per rank (run under mpirun; --threads defaults to 1)"
                   : "data-parallel training over MPI (not in this build: install libopenmpi-dev, rebuild with "
                     "-Dmpi=enabled)");

  Parsed out;
  // CLI11's messages quote the arguments raw; a newline in one must not split the message.
  auto one_line = [](std::string m) {
    for (char& c : m)
      if (c == '\n' || c == '\r') c = ' ';
    return m;
  };
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes the arguments last first
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    out.text = app.help();
    return out;
  } catch (const CLI::ArgumentMismatch& e) {
    // CLI11 says "--lr: 1 required X missing"; say it plainly.
    const std::string m = e.what();
    out.exit_code = 2;
    out.text = m.find(" required ") != std::string::npos && m.find(": ") != std::string::npos
                   ? m.substr(0, m.find(": ")) + ": the value is missing"
                   : one_line(m);
    return out;
  } catch (const CLI::ParseError& e) {
    out.exit_code = 2;
    out.text = one_line(e.what());
    return out;
  }

  try {
    Options o;
    for (const CLI::Option* opt : app.get_options()) {
      if (opt->count() == 0 || opt->get_name() == "--help") continue;
      const std::string flag = opt->get_name();
      if (opt->count() > 1) throw detail::Usage{fmt::format("{}: given {} times (give it once)", flag, opt->count())};
      o.given.insert(flag);
    }
    // A checkpoint fixes the run's settings, so flags that would change them conflict with --load.
    if (o.has("--load"))
      for (const std::string& flag : run_setting_flags)
        if (o.has(flag))
          throw detail::Usage{fmt::format("{} cannot be combined with --load: the checkpoint fixes the run's settings "
                                          "and training set (only --epochs can change)",
                                          flag)};
    if (o.has("--eval-only") && !o.has("--load")) throw detail::Usage{"--eval-only needs --load FILE (the checkpoint to evaluate)"};
    if (o.has("--eval-only"))
      for (const char* flag : {"--epochs", "--save"})
        if (o.has(flag)) throw detail::Usage{fmt::format("{} cannot be combined with --eval-only: nothing is trained", flag)};
    for (const char* flag : {"--data", "--save", "--load", "--plot"})
      if (o.has(flag) && app.get_option(flag)->as<std::string>().empty())
        throw detail::Usage{fmt::format("{}: the value is empty (expected a path)", flag)};

    if (o.has("--preset")) {
      if (preset != "seed" && preset != "best" && preset != "cnn")
        throw detail::Usage{
            fmt::format("--preset: unknown preset {} (expected {})", detail::quoted(preset), nn::preset_names)};
      o.preset = preset;
    }
    if (o.has("--hidden") && o.has("--arch"))
      throw detail::Usage{"--hidden and --arch both give the layers: give one (--hidden 512,256 is --arch fc512,fc256)"};
    nn::TrainConfig& c = o.config;
    c = nn::preset(o.preset);
    if (o.has("--epochs")) c.epochs = detail::whole("--epochs", epochs, L::epochs);
    if (o.has("--batch")) c.batch = detail::whole("--batch", batch, L::batch);
    if (o.has("--lr")) c.lr = detail::real("--lr", lr, L::lr);
    if (o.has("--hidden")) {
      c.hidden = detail::hidden(hidden);
      c.arch.clear();
    }
    if (o.has("--arch")) {
      try {
        (void)nn::parse_arch(arch, "--arch");
      } catch (const std::invalid_argument& e) {
        throw detail::Usage{e.what()};
      }
      c.arch = arch;
      c.hidden.clear();
    }
    if (o.has("--activation")) c.activation = detail::choice("--activation", activation, nn::activations);
    if (o.has("--cost")) c.cost = detail::choice("--cost", cost, nn::costs);
    if (o.has("--optimizer")) c.optimizer = detail::choice("--optimizer", optimizer, nn::optimizers);
    if (o.has("--momentum")) c.momentum = detail::real("--momentum", momentum, L::momentum);
    if (o.has("--weight-decay")) c.weight_decay = detail::real("--weight-decay", weight_decay, L::weight_decay);
    if (o.has("--schedule")) c.schedule = detail::choice("--schedule", schedule, nn::schedules);
    if (o.has("--warmup")) c.warmup = detail::real("--warmup", warmup, L::warmup);
    if (o.has("--flip")) c.flip = detail::real("--flip", flip, L::flip);
    if (o.has("--shift")) c.shift = static_cast<int>(detail::whole("--shift", shift, L::shift));
    if (o.has("--init")) c.init = detail::choice("--init", init, nn::inits);
    if (o.has("--seed")) c.seed = detail::seed(seed);
    if (o.has("--threads")) o.threads = static_cast<int>(detail::whole("--threads", threads, threads_range));
    if (o.has("--limit")) o.limit = static_cast<std::size_t>(detail::whole("--limit", limit, limit_range));
    if (o.has("--max-data-bytes")) o.max_data_bytes = detail::whole("--max-data-bytes", max_data_bytes, max_data_bytes_range);
    if (c.momentum > 0 && c.optimizer != nn::OptimizerKind::sgd)
      throw detail::Usage{fmt::format("--momentum applies to --optimizer sgd only (the optimizer is {})", nn::name(c.optimizer))};
    o.data_dir = data_dir;
    o.save_file = save_file;
    o.load_file = load_file;
    o.plot_file = plot_file;
    o.eval_only = eval_only;
    o.distributed = distributed;
    if (o.has("--save") && o.has("--plot") && o.save_file == o.plot_file)
      throw detail::Usage{fmt::format("--save and --plot name the same file {} (the plot would replace the checkpoint)",
                                      detail::quoted(o.save_file))};
    if (o.has("--load") && o.has("--plot") && o.load_file == o.plot_file)
      throw detail::Usage{fmt::format("--plot names the checkpoint given to --load {}", detail::quoted(o.load_file))};
    out.options = std::move(o);
  } catch (const detail::Usage& u) {
    out.exit_code = 2;
    out.text = u.message;
  }
  return out;
}

}  // namespace train_cli
