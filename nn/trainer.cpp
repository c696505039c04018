// The training loop: one epoch of shuffled, augmented batches on one reused tape, optionally data-parallel.
#include "nn/trainer.hpp"

#include "autodiff/ops.hpp"
#include "nn/distributed.hpp"
#include "nn/progress.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <stdexcept>
#include <utility>

namespace nn {

using autodiff::Dtype;
using autodiff::Tensor;

void History::add(const EpochStats& s, const Evaluation& test) {
  loss.push_back(s.loss);
  train_accuracy.push_back(s.accuracy);
  test_loss.push_back(test.loss);
  test_accuracy.push_back(test.accuracy);
  seconds.push_back(s.seconds);
}

namespace {

std::unique_ptr<Optimizer> make_optimizer(const TrainConfig& c, const Module& model) {
  if (c.optimizer == OptimizerKind::sgd)
    return std::make_unique<SGD>(model.parameters(), SGDOptions{c.lr, c.momentum, false, c.weight_decay});
  AdamOptions o;
  o.lr = c.lr;
  o.weight_decay = c.weight_decay;
  o.decoupled = true;
  return std::make_unique<Adam>(model.parameters(), o);
}

const TrainConfig& checked(const TrainConfig& c, const Dataset& train) {
  if (const std::string e = config_problem(c); !e.empty()) throw std::invalid_argument("Trainer: " + e);
  if (train.count == 0) throw std::invalid_argument("Trainer: the training set is empty");
  if (static_cast<std::size_t>(c.shift) >= std::min(train.rows, train.cols))
    throw std::invalid_argument(fmt::format("Trainer: shift {} does not fit {}x{} images (expected less than {})", c.shift,
                                            train.rows, train.cols, std::min(train.rows, train.cols)));
  return c;
}

}  // namespace

std::string DataSignature::str() const {
  return fmt::format("{} images of {}x{}, checksum {:08x}", count, rows, cols, checksum);
}

DataSignature signature(const Dataset& d) {
  uLong crc = crc32(0L, Z_NULL, 0);
  auto add = [&](const void* p, std::size_t n) {
    const auto* b = static_cast<const Bytef*>(p);
    for (std::size_t done = 0; done < n;) {  // zlib takes uInt lengths
      const auto chunk = static_cast<uInt>(std::min<std::size_t>(n - done, 1u << 30));
      crc = crc32(crc, b + done, chunk);
      done += chunk;
    }
  };
  add(d.images.data(), d.images.size() * sizeof(float));
  // Labels below 256 are hashed as one byte each, as they were stored before labels became int64, so checkpoints
  // written then still match their data; larger labels are hashed as their int64 bytes.
  const std::size_t n = d.labels.size();
  if (std::all_of(d.labels.begin(), d.labels.begin() + static_cast<std::ptrdiff_t>(n),
                  [](std::int64_t l) { return l >= 0 && l < 256; })) {
    std::vector<std::uint8_t> bytes(d.labels.begin(), d.labels.begin() + static_cast<std::ptrdiff_t>(n));
    add(bytes.data(), bytes.size());
  } else {
    add(d.labels.data(), n * sizeof(std::int64_t));
  }
  return {d.count, d.rows, d.cols, static_cast<std::uint32_t>(crc)};
}

Trainer::Trainer(TrainConfig config, const Dataset& train, std::int64_t classes)
    : config_(checked(config, train)),
      data_(signature(train)),
      classes_(classes),
      gen_(config_.seed),
      model_(build_model(model_arch(config_),
                         model_shape(config_, static_cast<std::int64_t>(train.rows), static_cast<std::int64_t>(train.cols),
                                     classes),
                         gen_)),
      optimizer_(make_optimizer(config_, model_)),
      batcher_(train, config_.batch, classes, Dtype::f32, true, config_.cost == Cost::squared_error) {}

EpochStats Trainer::train_epoch(std::FILE* progress) {
  const auto start = std::chrono::steady_clock::now();
  batcher_.shuffle(gen_);
  const std::size_t n = batcher_.batches(), total = n * config_.epochs;
  std::optional<ProgressBar> bar;
  if (progress) bar.emplace(fmt::format("epoch {}/{}", epoch_ + 1, config_.epochs), n, progress);
  double loss_sum = 0.0;
  std::size_t correct = 0, seen = 0, batch_rows = 0;
  for (std::size_t i = 0; i < n; ++i) {
    // One process loads the whole batch; a rank loads its shard (the generator draws for every row either way).
    const std::size_t rows = batcher_.rows(i);
    const Shard part = dist_ ? shard(rows, dist_->rank(), dist_->size()) : Shard{0, rows};
    batcher_.load(i, part.first, part.rows, config_.flip, config_.shift, &gen_);
    if (part.rows > 0) {
      const std::vector<std::int64_t>& labels = batcher_.labels();
      autodiff::TapeScope scope(tape_);  // clears the tape at the end of the step, keeping its memory
      const Tensor out = model_.forward(batcher_.x());
      const Tensor loss = config_.cost == Cost::squared_error ? squared_error(out, batcher_.one_hot())
                                                              : cross_entropy(out, batcher_.label_tensor());
      const double value = loss.at(0);
      // A non-finite loss never recovers, and every update from it spreads NaN into the weights: stop here.
      if (!std::isfinite(value))
        throw std::runtime_error(fmt::format("Trainer: the loss is {} at epoch {}, step {} of {} (learning rate {:g}): "
                                             "training diverged; try a smaller learning rate",
                                             std::isnan(value) ? "nan" : fmt::format("{}", value), epoch_ + 1, i + 1, n,
                                             config_.lr));
      autodiff::backward(loss);
      loss_sum += value * static_cast<double>(labels.size());
      correct += count_correct(out.value(), labels);
    }
    // Each rank's loss is the mean over its own rows, so the weights rows_r / rows make the sum of the ranks'
    // gradients the gradient of the whole batch's mean loss.
    if (dist_) dist_->allreduce_mean(optimizer_->params(), static_cast<double>(part.rows) / static_cast<double>(rows));
    optimizer_->set_lr(scheduled_lr(config_, step_, total));
    optimizer_->step();
    optimizer_->zero_grad();
    ++step_;
    seen += part.rows;
    batch_rows += rows;
    if (bar) bar->update(i + 1, loss_sum / static_cast<double>(std::max<std::size_t>(seen, 1)), batch_rows);
  }
  if (bar) bar->finish();
  ++epoch_;
  if (dist_) {
    std::vector<double> sums{loss_sum, static_cast<double>(correct), static_cast<double>(seen)};
    dist_->allreduce_sum(sums);
    loss_sum = sums[0];
    correct = static_cast<std::size_t>(sums[1]);
    seen = static_cast<std::size_t>(sums[2]);
    if (!dist_->in_sync(optimizer_->params()))
      throw std::runtime_error(fmt::format("Trainer: the ranks' parameters differ after epoch {} (the MPI reduction "
                                           "did not give every rank the same sum)",
                                           epoch_));
  }
  EpochStats s;
  s.loss = loss_sum / static_cast<double>(seen);
  s.accuracy = static_cast<double>(correct) / static_cast<double>(seen);
  s.examples = seen;
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return s;
}

void Trainer::set_distributed(Distributed* d) {
  dist_ = d;
  if (dist_) dist_->broadcast(model_);
}

}  // namespace nn
