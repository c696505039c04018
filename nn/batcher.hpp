// Seeded shuffling and minibatch gathering (with augmentation) into reused buffers.
#pragma once

#include "autodiff/tensor.hpp"
#include "data.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <random>
#include <span>
#include <vector>

namespace nn {

/// Fisher-Yates shuffle from the generator's 64-bit words (the same order on every standard library).
void shuffle(std::span<std::uint32_t> order, std::mt19937_64& gen);

/// Gathers minibatches of a dataset into preallocated input, label and (optionally) one-hot buffers, so a step
/// allocates nothing here. The last batch is shorter when the batch size does not divide the dataset.
///
/// With `compact`, the images are also kept as bytes when every pixel is exactly p/255 for a byte p (as the IDX
/// loader produces): shuffled batches then read a quarter of the memory (47 MB instead of 188 MB for Fashion-MNIST
/// training), which matters because random rows of the float images miss every cache. The values are identical.
class Batcher {
 public:
  /// With `one_hot` false the one-hot targets are not made (they take batch x classes values: the cross-entropy
  /// cost reads the labels only).
  /// @throws std::invalid_argument when batch is 0, the dataset is empty, classes is not positive, or a label is
  /// outside [0, classes).
  Batcher(const Dataset& data, std::size_t batch, std::int64_t classes, autodiff::Dtype dtype = autodiff::Dtype::f32,
          bool compact = true, bool one_hot = true);

  std::size_t batches() const { return (data_->count + batch_ - 1) / batch_; }
  /// Rows of batch i (the batch size, or fewer for the last batch).
  std::size_t rows(std::size_t i) const;
  /// Shuffles the examples from their original order, so an epoch's order depends on the generator's state only.
  void shuffle(std::mt19937_64& gen);
  /// Loads batch i of the current order, augmented: with flip > 0 each image is mirrored left-right with that
  /// probability, and with shift > 0 moved by whole pixels dx, dy uniform in [-shift, shift] (zero fill). Each
  /// augmentation that is on draws one word from gen per image, so the draw count never depends on the data.
  /// @throws std::invalid_argument when an augmentation is on without a generator.
  void load(std::size_t i, double flip = 0.0, int shift = 0, std::mt19937_64* gen = nullptr);
  /// Loads only rows [first, first + count) of batch i (one rank's shard in data-parallel training; count may be
  /// 0). Augmentation words are still drawn for every row of the batch, so the generator ends in the same state and
  /// each loaded row is exactly as load(i, flip, shift, gen) would make it.
  /// @throws std::invalid_argument when the rows are not inside the batch, or as load().
  void load(std::size_t i, std::size_t first, std::size_t count, double flip, int shift, std::mt19937_64* gen);

  /// Inputs [b, features] of the loaded batch.
  const autodiff::Tensor& x() const { return *x_; }
  /// Targets [b, classes], one-hot. @throws std::logic_error when the batcher was made without them.
  const autodiff::Tensor& one_hot() const;
  /// The labels of the loaded batch, as a vector and as an int64 tensor [b] (for cross_entropy).
  const std::vector<std::int64_t>& labels() const { return *labels_; }
  const autodiff::Tensor& label_tensor() const { return *label_tensor_; }
  const std::vector<std::uint32_t>& order() const { return order_; }

 private:
  struct Buffers {
    autodiff::Tensor x, y, label_tensor;
    std::vector<std::int64_t> labels;
  };
  Buffers make(std::size_t rows) const;

  const Dataset* data_;
  std::vector<std::uint8_t> bytes_;  // the images as p for p/255 (empty when not compact)
  std::size_t batch_;
  std::int64_t classes_;
  autodiff::Dtype dtype_;
  bool one_hot_;
  std::vector<std::uint32_t> order_;
  Buffers full_, tail_;
  std::map<std::size_t, Buffers> shards_;  // other row counts, made on first use (shards of full_ and tail_)
  const autodiff::Tensor* x_ = nullptr;
  const autodiff::Tensor* y_ = nullptr;
  const autodiff::Tensor* label_tensor_ = nullptr;
  const std::vector<std::int64_t>* labels_ = nullptr;
};

}  // namespace nn
