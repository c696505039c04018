// Trains an MLP or a CNN on Fashion-MNIST (or any folder of the four MNIST-style IDX files): the seed's network, the
// best MLP, the CNN preset or any --arch.
#include "examples/train_cli.hpp"
#include "nn/distributed.hpp"
#include "nn/file.hpp"
#include "nn/nn.hpp"
#include "nn/trainer.hpp"

#include <cblas.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;

constexpr int exit_usage = 2;  // bad flags or flag values
constexpr std::int64_t classes = 10;
bool quiet = false;  // ranks other than 0 of a distributed run print nothing but their own errors

/// A bad flag, or a flag value that names something unusable: one line, then exit status 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

int report_usage(const std::string& message) {
  if (!quiet) std::fprintf(stderr, "train: %s; see train --help\n", message.c_str());
  return exit_usage;
}

bool is_fashion(const fs::path& dir) {
  std::string s = dir.lexically_normal().string();
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s.find("fashion") != std::string::npos;
}

void write_plot(const fs::path& file, const nn::History& h, const std::string& title) {
  std::vector<nn::Panel> panels = {
      {"Loss", "cost", {{"train (running mean)", h.loss}, {"test", h.test_loss}}},
      {"Accuracy", "accuracy", {{"train (running mean)", h.train_accuracy}, {"test", h.test_accuracy}}},
  };
  nn::write_svg(file, title, "epoch", panels, 1.0);
}

/// Refuses an output path that would replace one of the data files (the same file, by any name or link).
void not_a_data_file(const char* flag, const std::string& file, const nn::DatasetFiles& data) {
  for (const fs::path& f : {data.train_images, data.train_labels, data.test_images, data.test_labels}) {
    std::error_code ec;
    if (fs::equivalent(file, f, ec))
      throw UsageError(fs::path(file) == f ? fmt::format("{}: {} is a data file (refusing to overwrite the data)", flag, file)
                                           : fmt::format("{}: {} is the data file {} (refusing to overwrite the data)",
                                                         flag, file, f.string()));
  }
}

/// Everything that can be found wrong before the data is read and training starts: output paths (kind, directory,
/// writability, not a data file), the data files' presence, the checkpoint's configuration and its data.
struct Plan {
  nn::TrainConfig config;
  nn::DatasetFiles files;
  std::optional<nn::DataSignature> trained_on;  // what the --load checkpoint was trained on
};

Plan plan(const train_cli::Options& o) {
  Plan p;
  p.config = o.config;
  try {
    p.files = nn::dataset_files(o.data_dir);
  } catch (const std::invalid_argument& e) {
    throw UsageError(fmt::format("--data: {}", e.what()));
  }
  if (o.has("--load")) {
    try {
      p.config = nn::Trainer::checkpoint_config(o.load_file);
      p.trained_on = nn::Trainer::checkpoint_data(o.load_file);
    } catch (const std::invalid_argument& e) {
      throw UsageError(fmt::format("--load: {}", e.what()));
    }
    if (o.has("--epochs")) p.config.epochs = o.config.epochs;
  }
  for (const auto& [flag, file] : {std::pair{"--save", o.save_file}, std::pair{"--plot", o.plot_file}}) {
    if (!o.has(flag)) continue;
    not_a_data_file(flag, file, p.files);
    try {
      nn::check_output_file(flag, file);
    } catch (const std::invalid_argument& e) {
      throw UsageError(e.what());
    }
  }
  if (o.has("--save") && o.has("--plot")) {
    std::error_code ec;
    if (fs::equivalent(o.save_file, o.plot_file, ec))
      throw UsageError(fmt::format("--save and --plot name the same file ({} and {})", o.save_file, o.plot_file));
  }
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const train_cli::Parsed parsed = train_cli::parse(std::vector<std::string>(argv + 1, argv + argc), cores);
  if (!parsed.options) {
    if (parsed.exit_code == 0) {
      std::fputs(parsed.text.c_str(), stdout);
      return 0;
    }
    return report_usage(parsed.text);
  }
  const train_cli::Options& o = *parsed.options;
  int threads = o.threads;

  // ---- processes ---------------------------------------------------------------------------------------------
  std::optional<nn::Distributed> dist;
  if (o.distributed) {
    if (!nn::Distributed::available())
      return report_usage(
          "--distributed needs MPI, and this build has none: install libopenmpi-dev and openmpi-bin, then rebuild "
          "with 'meson setup --reconfigure build -Dmpi=enabled'");
    dist.emplace();
    if (!dist->root()) {
      quiet = true;
      // Only rank 0 reports: the others' standard output goes nowhere (their errors still reach stderr).
      if (!std::freopen("/dev/null", "w", stdout)) return 1;
    }
  }
  const bool root = !dist || dist->root();

  // ---- everything that can be checked before reading the data ---------------------------------------------------
  Plan p;
  try {
    p = plan(o);
  } catch (const UsageError& e) {
    return report_usage(e.what());
  }

  try {
    // ---- data --------------------------------------------------------------------------------------------------
    nn::Split data;
    try {
      data = nn::load_dataset(o.data_dir, o.max_data_bytes);
    } catch (const std::invalid_argument& e) {
      const std::string m = e.what();
      if (m.find("the limit of") == std::string::npos) throw;
      throw std::invalid_argument(m + "; a larger limit can be given with --max-data-bytes");
    }
    // A resumed run trains on the images it was trained on: the first trained_on->count of them.
    const std::size_t limit = p.trained_on && !o.eval_only ? p.trained_on->count : o.limit;
    if (limit > 0 && limit != data.train.count) {
      if (limit > data.train.count) {
        if (!o.has("--load"))
          return report_usage(
              fmt::format("--limit {} exceeds the {} training images in {}", limit, data.train.count, o.data_dir));
        throw std::invalid_argument(fmt::format("--load: {}: trained on {}; {} has only {} training images",
                                                o.load_file, p.trained_on->str(), o.data_dir, data.train.count));
      }
      data.train = nn::subset(data.train, limit);
    }
    std::vector<std::string_view> names;
    if (is_fashion(o.data_dir)) names.assign(nn::fashion_mnist_classes.begin(), nn::fashion_mnist_classes.end());
    const auto features = static_cast<std::int64_t>(data.train.features());
    if (dist && threads == 0) {
      threads = 1;  // one rank per core
    } else if (threads == 0) {
      // Default threads: 1 for small models, 2 for models with a weight matrix of 100k entries or more, and 2 for
      // convolutional models. Measured here: seed preset 0.25 s per epoch on 1 thread, 0.34 s on 2; best preset
      // 3.3 s on 1, 3.0 s on 2; cnn preset (conv2d on chunks of samples) 27.0 s on 1, 22.6 s on 2. A fixed count
      // (not the core count) keeps results identical across machines, since threaded sgemm sums in another order.
      threads = 1;
      const std::vector<std::int64_t> sizes = nn::layer_sizes(p.config, features, classes);
      if (nn::is_convolutional(nn::model_arch(p.config)))
        threads = static_cast<int>(std::min(2u, cores));
      else
        for (std::size_t l = 0; l + 1 < sizes.size(); ++l)
          if (sizes[l] * sizes[l + 1] >= 100000) threads = static_cast<int>(std::min(2u, cores));
    }
    openblas_set_num_threads(threads);

    // ---- model, optimizer and trainer --------------------------------------------------------------------------
    std::unique_ptr<nn::Trainer> trainer;
    try {
      trainer = std::make_unique<nn::Trainer>(p.config, data.train, classes);
    } catch (const std::invalid_argument& e) {
      return report_usage(e.what());
    }
    if (o.has("--load")) {
      try {
        trainer->load(o.load_file, o.eval_only ? nn::DataCheck::any_data : nn::DataCheck::same_data);
      } catch (const std::invalid_argument& e) {
        return report_usage(fmt::format("--load: {}", e.what()));
      }
      if (trainer->epoch() > p.config.epochs)
        return report_usage(fmt::format("--epochs {}: the checkpoint {} has already completed {} epochs",
                                        p.config.epochs, o.load_file, trainer->epoch()));
      trainer->set_epochs(p.config.epochs);
    }
    if (dist) trainer->set_distributed(&*dist);  // every rank starts from rank 0's parameters

    std::printf("data: %zu training and %zu test images of %zux%zu from %s\n", data.train.count, data.test.count,
                data.train.rows, data.train.cols, o.data_dir.c_str());
    std::printf("model: %s\n", nn::summary(trainer->config(), features, classes).c_str());
    std::printf("threads: %d (OpenBLAS)%s\n", threads, dist ? " per rank" : "");
    if (dist) {
      const std::size_t batch = trainer->config().batch;
      const nn::Shard small = nn::shard(batch, dist->size() - 1, dist->size());
      const nn::Shard large = nn::shard(batch, 0, dist->size());
      const std::string per_rank =
          small.rows == large.rows ? fmt::format("{}", large.rows) : fmt::format("{}-{}", small.rows, large.rows);
      std::printf("distributed: %d ranks, global batch %zu (%s per rank)\n", dist->size(), batch, per_rank.c_str());
    }
    if (o.eval_only)
      std::printf("evaluating %s (trained for %zu epochs)\n", o.load_file.c_str(), trainer->epoch());
    else if (o.has("--load"))
      std::printf("resumed from %s after epoch %zu\n", o.load_file.c_str(), trainer->epoch());
    if (!o.eval_only)
      std::printf("loss and train acc: running means over the epoch's batches (before each update); test acc: after it\n");
    std::fflush(stdout);

    // ---- training ----------------------------------------------------------------------------------------------
    nn::Evaluation last;
    bool evaluated = false;
    double train_seconds = 0.0;
    std::size_t trained = 0;
    if (!o.eval_only) {
      for (std::size_t e = trainer->epoch(); e < trainer->config().epochs; ++e) {
        const nn::EpochStats s = trainer->train_epoch(root ? stderr : nullptr);
        if (root) last = nn::evaluate(trainer->model(), trainer->config().cost, data.test, classes);
        evaluated = true;
        trainer->history().add(s, last);
        train_seconds += s.seconds;
        ++trained;
        std::printf("epoch %zu/%zu  loss %.4f  train acc %.4f  test acc %.4f  %.2f s\n", trainer->epoch(),
                    trainer->config().epochs, s.loss, s.accuracy, last.accuracy, s.seconds);
        std::fflush(stdout);
        if (root && o.has("--save")) trainer->save(o.save_file);
      }
      if (trained > 0)
        std::printf("training time: %.2f s for %zu epochs (%.3f s per epoch, %.0f samples/s)\n", train_seconds, trained,
                    train_seconds / static_cast<double>(trained),
                    static_cast<double>(trained * data.train.count) / train_seconds);
    }
    if (!root) return 0;  // rank 0 alone plots and reports

    // ---- final report: the plot's failure must not lose the run's results ------------------------------------------
    if (!evaluated) last = nn::evaluate(trainer->model(), trainer->config().cost, data.test, classes);
    std::string plot_error;
    if (o.has("--plot")) {
      if (trainer->history().size() == 0) {
        std::fprintf(stderr, "train: no epochs recorded, so no plot is written\n");
      } else {
        const nn::TrainConfig& c = trainer->config();
        try {
          write_plot(o.plot_file, trainer->history(),
                     fmt::format("{}: {} {}, {}, {} lr {:g} ({})", is_fashion(o.data_dir) ? "Fashion-MNIST" : o.data_dir,
                                 nn::size_flow(nn::model_arch(c), nn::model_shape(c, static_cast<std::int64_t>(data.train.rows),
                                                                                 static_cast<std::int64_t>(data.train.cols), classes)),
                                 nn::name(c.activation),
                                 nn::name(c.cost), nn::name(c.optimizer), c.lr, nn::name(c.schedule)));
          std::printf("plot: %s\n", o.plot_file.c_str());
        } catch (const std::exception& e) {
          plot_error = e.what();
        }
      }
    }
    std::printf("\n%s", nn::format_confusion(last, names).c_str());
    std::printf("test loss: %.4f\n", last.loss);
    std::printf("test accuracy: %.4f\n", last.accuracy);
    if (!plot_error.empty()) {
      std::fflush(stdout);
      std::fprintf(stderr, "train: error: %s (the results above are complete; only the plot is missing)\n",
                   plot_error.c_str());
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    if (dist && dist->size() > 1) {
      // The other ranks may be waiting in a collective call: end them all.
      std::fprintf(stderr, "train: rank %d: error: %s\n", dist->rank(), e.what());
      dist->abort(1);
    }
    std::fprintf(stderr, "train: error: %s\n", e.what());
    return 1;
  }
}
