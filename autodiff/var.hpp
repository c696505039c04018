// Var: the scalar (double) handle. Leaves own their value and grad; op results live on a tape.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace autodiff {

class Tape;
class Tensor;

namespace detail {
struct VarLeaf {
  std::atomic<int> refs{1};
  double value = 0.0;
  double grad = 0.0;
  // (tape epoch << 32 | slot) of its latest registration; one atomic word so a leaf read by two tapes stays consistent.
  std::atomic<std::uint64_t> reg{0};
  std::uint32_t pins = 0;  // registrations on tapes not yet cleared (tapes are used by one thread at a time)
  std::string label;
  std::vector<std::function<double(double)>> hooks;
};
}  // namespace detail

/// A differentiable scalar. `Var x = 2.0;` makes a leaf that owns its value and grad and outlives tapes.
/// Arithmetic on Vars records nodes on the current thread's tape; those handles go stale when the tape is cleared.
class Var {
 public:
  /// A new leaf with this value.
  Var(double value = 0.0);  // NOLINT: implicit, as micrograd's Value(2.0)
  Var(const Var& o) noexcept : tape_(o.tape_), epoch_(o.epoch_), index_(o.index_), leaf_(o.leaf_) {
    if (leaf_) leaf_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  Var(Var&& o) noexcept : tape_(o.tape_), epoch_(o.epoch_), index_(o.index_), leaf_(o.leaf_) { o.leaf_ = nullptr; }
  Var& operator=(const Var& o) noexcept {
    if (o.leaf_) o.leaf_->refs.fetch_add(1, std::memory_order_relaxed);
    if (leaf_) release();
    tape_ = o.tape_;
    epoch_ = o.epoch_;
    index_ = o.index_;
    leaf_ = o.leaf_;
    return *this;
  }
  Var& operator=(Var&& o) noexcept {
    if (this != &o) {
      if (leaf_) release();
      tape_ = o.tape_;
      epoch_ = o.epoch_;
      index_ = o.index_;
      leaf_ = o.leaf_;
      o.leaf_ = nullptr;
    }
    return *this;
  }
  ~Var() {
    if (leaf_) release();
  }

  /// @throws std::logic_error if the node's tape was cleared.
  double value() const;
  /// Leaf: accumulated grad. Op node: its grad from the latest backward on its tape that walked it (0 if none did).
  double grad() const;
  bool is_leaf() const { return leaf_ != nullptr; }
  /// Sets a leaf's value (for optimizers). @throws std::logic_error on an op node.
  void set_value(double v);
  /// Resets a leaf's grad to 0.
  void zero_grad() {
    if (leaf_) leaf_->grad = 0.0;
  }
  /// A user label shown by errors, DOT export and anomaly reports.
  Var& label(std::string name);
  std::string label() const;
  /// Calls fn(grad) when this node's gradient is complete during backward; its return value replaces the gradient.
  Var& register_hook(std::function<double(double)> fn);
  /// A new leaf with the same value and no history.
  Var detach() const { return Var(value()); }

  /// Tape that recorded this op node (nullptr for leaves), its epoch and index: for the engine and extensions.
  Tape* tape() const { return tape_; }
  std::uint32_t epoch() const { return epoch_; }
  std::uint32_t index() const { return index_; }
  detail::VarLeaf* leaf() const { return leaf_; }

 private:
  friend class Tape;
  Var(Tape* tape, std::uint32_t epoch, std::uint32_t index) noexcept : tape_(tape), epoch_(epoch), index_(index), leaf_(nullptr) {}
  void release() noexcept;

  Tape* tape_ = nullptr;
  std::uint32_t epoch_ = 0;
  std::uint32_t index_ = 0;
  detail::VarLeaf* leaf_ = nullptr;
};

}  // namespace autodiff
