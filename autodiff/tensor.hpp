// Tensor: the differentiable n-D handle (float or double). Leaves and constants own an Array; op results live on a tape.
#pragma once

#include "autodiff/array.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

namespace autodiff {

class Tape;
class Var;

class Tensor;
namespace detail {
struct TensorLeaf {
  std::atomic<int> refs{1};
  Array value;
  Array grad;
  bool requires_grad = false;
  std::atomic<std::uint64_t> reg{0};  // (tape epoch << 32 | slot), as for VarLeaf
  std::string label;
  std::vector<std::function<Tensor(const Tensor&)>> hooks;
};
// Leaves come from a per-thread free list: eager backward makes one per intermediate gradient.
TensorLeaf* new_tensor_leaf();
void free_tensor_leaf(TensorLeaf* leaf) noexcept;
}  // namespace detail

/// A differentiable n-D array. Parameters and inputs are leaves; results of ops are nodes of the current tape.
/// With no tape history (constants, or results computed under NoGrad) a Tensor just holds its value.
class Tensor {
 public:
  Tensor() = default;
  /// A leaf holding `value`; its grad accumulates across backward calls when requires_grad is true.
  explicit Tensor(Array value, bool requires_grad = false);
  Tensor(const Tensor& o) noexcept : tape_(o.tape_), epoch_(o.epoch_), index_(o.index_), leaf_(o.leaf_) {
    if (leaf_) leaf_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  Tensor(Tensor&& o) noexcept : tape_(o.tape_), epoch_(o.epoch_), index_(o.index_), leaf_(o.leaf_) { o.leaf_ = nullptr; o.tape_ = nullptr; }
  Tensor& operator=(const Tensor& o) noexcept;
  Tensor& operator=(Tensor&& o) noexcept;
  ~Tensor() {
    if (leaf_) release();
  }

  /// Leaf that requires grad (a trainable parameter).
  static Tensor parameter(Array value) { return Tensor(std::move(value), true); }

  bool defined() const { return leaf_ != nullptr || tape_ != nullptr; }
  bool is_leaf() const { return leaf_ != nullptr; }
  /// True for parameters and for op nodes on a tape.
  bool requires_grad() const { return tape_ != nullptr || (leaf_ && leaf_->requires_grad); }

  /// @throws std::logic_error if the node's tape was cleared.
  const Array& value() const;
  const Shape& shape() const { return value().shape(); }
  Dtype dtype() const { return value().dtype(); }
  std::int64_t numel() const { return value().numel(); }
  int rank() const { return value().rank(); }

  /// Leaf: accumulated grad (zeros before any backward). Op node: grad from the latest backward on its tape that
  /// walked it (zeros if none did), as a
  /// Tensor that is itself differentiable when that backward ran with create_graph.
  Tensor grad() const;
  /// True when a leaf holds a gradient (since construction or its last zero_grad).
  bool has_grad() const { return leaf_ && leaf_->grad.defined(); }
  /// A leaf's value and grad storage, for optimizers and loaders. @throws std::logic_error on an op node.
  Array& leaf_value();
  Array& leaf_grad();
  /// Drops a leaf's grad (grad() then reads zeros); the next backward moves its result in without a copy.
  void zero_grad();

  /// Element at a flat row-major index, read as a differentiable scalar on the current tape.
  Var item(std::int64_t flat = 0) const;
  /// Every element as a Var, in one tape entry (cheaper than numel() calls to item()).
  std::vector<Var> unstack() const;
  /// Plain value of one element.
  double at(std::int64_t flat) const { return value().at(flat); }
  std::vector<double> to_vector() const;

  Tensor& label(std::string name);
  std::string label() const;
  /// Calls fn(grad) when this node's gradient is complete during backward (before it flows on, or into a leaf's
  /// grad); a defined return value replaces the gradient.
  Tensor& register_hook(std::function<Tensor(const Tensor&)> fn);
  /// A constant Tensor sharing this value, with no history.
  Tensor detach() const { return Tensor(value(), false); }

  Tape* tape() const { return tape_; }
  std::uint32_t epoch() const { return epoch_; }
  std::uint32_t index() const { return index_; }
  detail::TensorLeaf* leaf() const { return leaf_; }

 private:
  friend class Tape;
  Tensor(Tape* tape, std::uint32_t epoch, std::uint32_t index) noexcept : tape_(tape), epoch_(epoch), index_(index) {}
  void release() noexcept;

  Tape* tape_ = nullptr;
  std::uint32_t epoch_ = 0;
  std::uint32_t index_ = 0;
  detail::TensorLeaf* leaf_ = nullptr;
};

/// Constant tensor from values (row-major) with the given shape.
/// @throws std::invalid_argument when the count of values differs from the shape's element count.
Tensor tensor(std::vector<double> values, const Shape& shape, Dtype dtype = Dtype::f32, bool requires_grad = false);
/// 1-D constant tensor.
Tensor tensor(std::initializer_list<double> values, Dtype dtype = Dtype::f32, bool requires_grad = false);
Tensor zeros(const Shape& shape, Dtype dtype = Dtype::f32, bool requires_grad = false);
Tensor ones(const Shape& shape, Dtype dtype = Dtype::f32, bool requires_grad = false);
Tensor full(const Shape& shape, double value, Dtype dtype = Dtype::f32, bool requires_grad = false);
/// Uniform in [lo, hi) from the generator's 64-bit words (identical on every standard library).
Tensor uniform(const Shape& shape, double lo, double hi, std::mt19937_64& gen, Dtype dtype = Dtype::f32,
               bool requires_grad = false);
/// Normal(mean, stddev) by Box-Muller from the generator's 64-bit words.
Tensor normal(const Shape& shape, double mean, double stddev, std::mt19937_64& gen, Dtype dtype = Dtype::f32,
              bool requires_grad = false);
/// Uniform double in [0,1) from one 64-bit word.
double uniform01(std::mt19937_64& gen);

}  // namespace autodiff
