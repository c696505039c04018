// Var: the scalar (double) handle. Leaves own their value and grad; op results live on a tape.
#pragma once

#include "autodiff/detail/ref.hpp"
#include "autodiff/hooks.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

namespace autodiff {

class Tape;

/// Op codes of scalar nodes (one byte per node), for graph export and anomaly reports. `record` marks the position
/// of a tensor op in the node stream, `item` an element read out of a tensor as a Var, and `custom` a node made by
/// make_scalar_op (its name is kept beside it), and `expr` a
/// statement of several ops recorded as one node (`Var y = a * b + c;`).
enum class ScalarOp : std::uint8_t {
  leaf, item, add, sub, mul, div, neg, exp, log, sqrt, sin, cos, tanh, sigmoid, relu, abs, pow, min, max, record, custom, expr
};
std::string_view op_name(ScalarOp op);

class Var;

namespace detail {
class TapeStore;

template <class E>
bool extend(Var& z, const E& e, double sign);

/// An expression of Vars not yet recorded (a * b + sin(c)): see ops/scalar.hpp.
template <class T>
concept ScalarExpression = requires { typename std::remove_cvref_t<T>::scalar_expression; };

struct VarExtras {
  std::string label;
  std::shared_ptr<HookList<double>> hooks;
};

/// A scalar leaf. Leaves are pooled and their memory is never returned to the system, so a tape can hold a plain
/// pointer to one and tell from `gen` whether it is still the leaf it registered.
struct VarLeaf {
  std::atomic<int> refs{1};
  double value = 0.0;
  double grad = 0.0;                      // accumulated atomically: tapes of several threads may share a leaf
  std::atomic<std::uint64_t> version{0};  // bumped by set_value
  std::atomic<std::uint64_t> gen{0};      // bumped each time the memory is reused for a new leaf
  std::atomic<std::uint64_t> reg{0};      // hint to its registration on the last tape that used it (TapeStore::hint)
  std::unique_ptr<VarExtras> extras;
  static void destroy(VarLeaf* leaf) noexcept;
};
VarLeaf* new_var_leaf();

/// Which tape node a handle names: the tape, its epoch when the node was recorded, and the node's position.
/// A moved-from handle names nothing (the same rule as the reference-counted handles).
/// `sole` (in the padding after `index`) is true while this handle is the only one naming its op node, which then may
/// grow in place (z += w * x appends to z's node instead of recording a new one). A copy is never sole and makes its
/// source not sole; a move carries it. Atomic: copying a handle is a read, and may happen on several threads at once.
struct NodeRef {
  Tape* tape = nullptr;
  std::uint64_t epoch = 0;
  std::uint32_t index = 0;
  mutable std::atomic<bool> sole{false};
  NodeRef() = default;
  NodeRef(Tape* t, std::uint64_t e, std::uint32_t i, bool s = false) : tape(t), epoch(e), index(i), sole(s) {}
  NodeRef(const NodeRef& o) : tape(o.tape), epoch(o.epoch), index(o.index) { o.share(); }
  NodeRef& operator=(const NodeRef& o) {
    if (this != &o) {
      tape = o.tape;
      epoch = o.epoch;
      index = o.index;
      sole.store(false, std::memory_order_relaxed);
      o.share();
    }
    return *this;
  }
  NodeRef(NodeRef&& o) noexcept
      : tape(std::exchange(o.tape, nullptr)), epoch(std::exchange(o.epoch, 0)), index(o.index),
        sole(o.sole.exchange(false, std::memory_order_relaxed)) {}
  NodeRef& operator=(NodeRef&& o) noexcept {
    if (this != &o) {
      tape = std::exchange(o.tape, nullptr);
      epoch = std::exchange(o.epoch, 0);
      index = o.index;
      sole.store(o.sole.exchange(false, std::memory_order_relaxed), std::memory_order_relaxed);
    }
    return *this;
  }
  void share() const {
    if (sole.load(std::memory_order_relaxed)) [[unlikely]]
      sole.store(false, std::memory_order_relaxed);
  }
};
}  // namespace detail

/// A differentiable scalar. `Var x = 2.0;` makes a leaf that owns its value and grad and outlives tapes.
/// Arithmetic on Vars records nodes on the current thread's tape. Such a handle keeps its value for good; its grad
/// lives on the tape and is readable until the tape is cleared (or the graph is released by backward and a new op is
/// recorded); after that the handle is stale for grad() and for new ops.
class Var {
 public:
  /// A new leaf with this value.
  Var(double value = 0.0);  // NOLINT: implicit, as micrograd's Value(2.0)
  /// Records an expression of Vars (`Var y = a * b + sin(c);`) as one node with its partials.
  template <detail::ScalarExpression E>
  Var(const E& e);  // NOLINT: implicit, so an expression passes where a Var is taken

  /// The value (a leaf's current value, or the value an op computed).
  double value() const {
    if (leaf_) return leaf_->value;
    return node_.tape ? value_ : empty_value();
  }
  /// Leaf: accumulated grad. Op node: its grad from the latest backward on its tape that walked it (0 if none did).
  /// @throws std::logic_error for an op node whose tape was cleared or released (the message says why).
  double grad() const {
    if (leaf_) return std::atomic_ref<double>(leaf_->grad).load(std::memory_order_relaxed);
    return node_grad();
  }
  bool is_leaf() const { return static_cast<bool>(leaf_); }
  /// Sets a leaf's value (for optimizers); graphs recorded before then refuse backward.
  /// @throws std::logic_error on an op node.
  void set_value(double v);
  /// Resets a leaf's grad to 0.
  void zero_grad() {
    if (leaf_) std::atomic_ref<double>(leaf_->grad).store(0.0, std::memory_order_relaxed);
  }
  /// A user label shown by errors, DOT export and anomaly reports.
  Var& label(std::string name);
  std::string label() const;
  /// Calls fn(grad) when this node's gradient is complete during backward; its return value replaces the gradient.
  /// The hook stays while the returned handle lives.
  HookHandle register_hook(std::function<double(double)> fn);
  /// A new leaf with the same value and no history.
  Var detach() const { return Var(value()); }

  /// Tape that recorded this op node (nullptr for leaves), its epoch and position: for the engine and extensions.
  Tape* tape() const { return node_.tape; }
  std::uint64_t epoch() const { return node_.epoch; }
  std::uint32_t index() const { return node_.index; }
  detail::VarLeaf* leaf() const { return leaf_.get(); }
  /// For the engine: another handle or an expression now names this op node, so `+=` may no longer grow it in place.
  void share() const { node_.share(); }

 private:
  [[noreturn]] static double empty_value();
  double node_grad() const;
  friend class detail::TapeStore;
  template <class E>
  friend bool detail::extend(Var& z, const E& e, double sign);
  Var(Tape* tape, std::uint64_t epoch, std::uint32_t index, double value, bool sole) noexcept
      : node_(tape, epoch, index, sole), value_(value) {}
  detail::NodeRef node_;
  double value_ = 0.0;  // op nodes: the value computed
  detail::Ref<detail::VarLeaf> leaf_;
};

}  // namespace autodiff
