// Tape: records scalar and tensor nodes in creation order (= topological order) and runs backward as a plain loop.
#pragma once

#include "autodiff/tensor.hpp"
#include "autodiff/var.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <functional>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace autodiff {

class Tape;
class BackwardContext;

/// Where an op was called from; every op takes one as a defaulted last argument.
/// Like std::source_location, but built on the __builtin_FILE/__builtin_LINE that GCC and clang 14 both have
/// (clang 14 cannot compile libstdc++'s <source_location>, and the fuzzers are built with clang).
struct Site {
  static constexpr Site current(const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) noexcept {
    return Site{file, line};
  }
  [[nodiscard]] constexpr const char* file_name() const noexcept { return file_; }
  [[nodiscard]] constexpr unsigned line() const noexcept { return line_; }
  const char* file_ = "";
  unsigned line_ = 0;
};

/// An operand that remembers the caller's source line (operators cannot take default arguments, conversions can).
template <class T>
struct Here {
  Here(const T& v, Site s = Site::current()) : value(v), site(s) {}  // NOLINT: implicit on purpose
  const T& value;
  Site site;
};

/// Scalar op codes, one byte per recorded scalar node (for graph export and anomaly reports).
enum class ScalarOp : std::uint8_t { leaf, item, add, sub, mul, div, neg, exp, log, sqrt, sin, cos, tanh, sigmoid, relu, abs, pow, min, max };
std::string_view op_name(ScalarOp op);

/// Thrown by AnomalyMode at the first non-finite value or gradient.
class AnomalyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
// initial-exec: one fs-relative load per access, without __tls_get_addr calls from inside the shared library.
#define AUTODIFF_TLS __attribute__((tls_model("initial-exec")))
extern constinit thread_local AUTODIFF_TLS Tape* current_tape;
extern constinit thread_local AUTODIFF_TLS bool grad_disabled;
extern constinit thread_local AUTODIFF_TLS bool anomaly_on;
[[noreturn]] void scalar_anomaly(ScalarOp op, double value, const Site& site);

// A backward closure placed in the tape's arena: no heap allocation per node.
struct Closure {
  void (*call)(void* self, BackwardContext& ctx) = nullptr;
  void (*destroy)(void* self) = nullptr;
  void* self = nullptr;
};

struct TensorNode {
  Array value;
  Tensor grad;
  const char* op = "";
  std::uint32_t scalar_pos = 0;  // scalar nodes recorded before this one
  std::uint32_t first_input = 0;
  std::uint32_t num_inputs = 0;
  Closure backward;
  Site site;
  bool hooked = false;
  TensorLeaf* leaf = nullptr;  // set for the slot that stands for a leaf on this tape
  // Link from scalar nodes [link_scalar, link_scalar + link_count) to elements from link_flat of input 0 (item, unstack).
  std::uint32_t link_scalar = 0, link_count = 0;
  std::int64_t link_flat = 0;
};

// A growable array of trivially copyable values with an unchecked push, so a scalar op checks capacity once.
template <class T>
class Column {
 public:
  Column() = default;
  Column(const Column&) = delete;
  Column& operator=(const Column&) = delete;
  ~Column() { std::free(begin_); }
  std::size_t size() const { return static_cast<std::size_t>(end_ - begin_); }
  bool empty() const { return end_ == begin_; }
  T* data() { return begin_; }
  const T* data() const { return begin_; }
  T& operator[](std::size_t i) { return begin_[i]; }
  const T& operator[](std::size_t i) const { return begin_[i]; }
  void clear() { end_ = begin_; }
  /// Makes room for n more elements.
  void reserve_extra(std::size_t n) {
    if (static_cast<std::size_t>(cap_ - end_) < n) [[unlikely]]
      grow(n);
  }
  void push_unchecked(T v) { *end_++ = v; }
  void push_back(T v) {
    reserve_extra(1);
    *end_++ = v;
  }
  std::size_t capacity_bytes() const { return static_cast<std::size_t>(cap_ - begin_) * sizeof(T); }

 private:
  void grow(std::size_t n) {
    const std::size_t size = this->size(), want = std::max<std::size_t>(std::max<std::size_t>(2 * capacity(), 1024), size + n);
    T* p = static_cast<T*>(std::realloc(begin_, want * sizeof(T)));
    if (!p) throw std::bad_alloc();
    begin_ = p;
    end_ = p + size;
    cap_ = p + want;
  }
  std::size_t capacity() const { return static_cast<std::size_t>(cap_ - begin_); }
  T* begin_ = nullptr;
  T* end_ = nullptr;
  T* cap_ = nullptr;
};

// Tensor nodes in fixed-size chunks: references stay valid while the tape grows, and chunks are reused after clear().
class NodeStore {
 public:
  static constexpr std::size_t chunk = 256;
  TensorNode& operator[](std::size_t i) { return chunks_[i / chunk][i % chunk]; }
  const TensorNode& operator[](std::size_t i) const { return chunks_[i / chunk][i % chunk]; }
  std::size_t size() const { return size_; }
  TensorNode& emplace_back() {
    if (size_ == chunks_.size() * chunk) chunks_.push_back(std::make_unique<TensorNode[]>(chunk));
    return (*this)[size_++];
  }
  void clear() {
    for (std::size_t i = 0; i < size_; ++i) (*this)[i] = TensorNode{};
    size_ = 0;
  }

 private:
  std::vector<std::unique_ptr<TensorNode[]>> chunks_;
  std::size_t size_ = 0;
};

[[noreturn]] void throw_bad_operand(const Tape* tape, Tape* owner, std::uint32_t epoch, std::string_view op);
}  // namespace detail

/// Per-node context handed to a backward closure: `dx[i] += g` adds g to input i's grad, reduced to its shape.
class BackwardContext {
 public:
  class Slot {
   public:
    /// Adds a gradient for this input; broadcast gradients are summed back to the input's shape by the engine.
    void operator+=(const Tensor& g);
    /// True when this input needs a gradient (skip the work otherwise).
    bool wanted() const;

   private:
    friend class BackwardContext;
    Slot(BackwardContext* ctx, std::uint32_t i) : ctx_(ctx), i_(i) {}
    BackwardContext* ctx_;
    std::uint32_t i_;
  };

  Slot operator[](std::uint32_t i) { return Slot(this, i); }
  /// Adds `g` to the grad of scalar node `i` of this tape (for ops that take Vars, such as stack).
  void add_scalar(std::uint32_t i, double g);
  bool create_graph() const { return create_graph_; }

 private:
  friend class Tape;
  BackwardContext(Tape* tape, std::uint32_t node, bool create_graph) : tape_(tape), node_(node), create_graph_(create_graph) {}
  Tape* tape_;
  std::uint32_t node_;
  bool create_graph_;
};

/// Records nodes and runs reverse-mode propagation. One tape is current per thread (see TapeScope).
class Tape {
 public:
  Tape();
  ~Tape();
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  /// The current tape of this thread (a per-thread default tape unless a TapeScope is active).
  static Tape& current() {
    Tape* t = detail::current_tape;
    return t ? *t : default_tape();
  }

  /// Frees every op node (keeping memory for reuse) and invalidates their handles. Leaves are untouched.
  void clear();
  std::size_t scalar_nodes() const { return values_.size(); }
  std::size_t tensor_nodes() const { return nodes_.size(); }
  std::size_t size() const { return scalar_nodes() + tensor_nodes(); }
  /// Bytes held by the scalar node arrays per recorded scalar node (value, partial offsets and partials).
  double scalar_bytes_per_node() const;
  std::uint32_t epoch() const { return epoch_; }

  /// Reverse pass from a scalar root (seed 1).
  /// @throws std::logic_error if the handle is stale or nothing was recorded.
  void backward(const Var& root);
  /// Reverse pass from a tensor root. A root with one element is seeded with 1; otherwise pass `seed`.
  void backward(const Tensor& root, const Tensor& seed = Tensor(), bool create_graph = false);
  /// Gradients of `root` with respect to `inputs`, without touching the leaves' accumulated grads.
  /// With create_graph, the results are differentiable (for Hessian-vector products).
  /// @throws std::logic_error with create_graph when the gradient flows through scalar Var nodes (item, unstack,
  /// stack), which record numbers, not differentiable ops.
  std::vector<Tensor> gradient(const Tensor& root, const std::vector<Tensor>& inputs, bool create_graph = false,
                               const Tensor& seed = Tensor());

  // Scalar recording, inline because the scalar path must be lean.
  std::uint32_t slot(const Var& v, ScalarOp op) {
    if (v.leaf_) return leaf_slot(v.leaf_);
    if (v.tape_ == this && v.epoch_ == epoch_) [[likely]]
      return v.index_;
    detail::throw_bad_operand(this, v.tape_, v.epoch_, op_name(op));
  }
  std::uint32_t slot(const Var& v, std::string_view op) {
    if (v.leaf_) return leaf_slot(v.leaf_);
    if (v.tape_ == this && v.epoch_ == epoch_) return v.index_;
    detail::throw_bad_operand(this, v.tape_, v.epoch_, op);
  }
  Var push(double value, ScalarOp op, const Site& site) {
    if (detail::anomaly_on) [[unlikely]]
      check_scalar(value, op, site);
    const auto i = static_cast<std::uint32_t>(values_.size());
    values_.push_back(value);
    pend_.push_back(static_cast<std::uint32_t>(pin_.size()));
    sop_.push_back(op);
    return Var(this, epoch_, i);
  }
  Var push(double value, ScalarOp op, const Site& site, std::uint32_t a, double da) {
    pin_.reserve_extra(1);
    pd_.reserve_extra(1);
    pin_.push_unchecked(a);
    pd_.push_unchecked(da);
    return push(value, op, site);
  }
  Var push(double value, ScalarOp op, const Site& site, std::uint32_t a, double da, std::uint32_t b, double db) {
    pin_.reserve_extra(2);
    pd_.reserve_extra(2);
    pin_.push_unchecked(a);
    pin_.push_unchecked(b);
    pd_.push_unchecked(da);
    pd_.push_unchecked(db);
    return push(value, op, site);
  }
  double scalar_value(std::uint32_t i) const { return values_[i]; }
  double scalar_grad(std::uint32_t i) const { return i < grads_valid_ ? grads_[i] : 0.0; }

  // Tensor recording (used by make_op).
  template <class F>
  Tensor record(const char* op, Array value, std::span<const Tensor> inputs, F&& backward, const Site& site);
  const detail::TensorNode& node(std::uint32_t i) const { return nodes_[i]; }
  std::span<const Tensor> node_inputs(std::uint32_t i) const {
    return {inputs_.data() + nodes_[i].first_input, nodes_[i].num_inputs};
  }
  /// Partials of scalar node i: inputs and d(node)/d(input).
  std::span<const std::uint32_t> scalar_inputs(std::uint32_t i) const {
    const std::uint32_t b = i ? pend_[i - 1] : 0;
    return {pin_.data() + b, pin_.data() + pend_[i]};
  }
  std::span<const double> scalar_partials(std::uint32_t i) const {
    const std::uint32_t b = i ? pend_[i - 1] : 0;
    return {pd_.data() + b, pd_.data() + pend_[i]};
  }
  ScalarOp scalar_op(std::uint32_t i) const { return sop_[i]; }
  /// Scalar nodes feeding tensor node i (ops such as stack that take Vars), for graph export.
  void note_scalar_inputs(std::uint32_t i, std::vector<std::uint32_t> scalars) { scalar_feeds_[i] = std::move(scalars); }
  const std::vector<std::uint32_t>* scalar_feeds(std::uint32_t i) const {
    auto it = scalar_feeds_.find(i);
    return it == scalar_feeds_.end() ? nullptr : &it->second;
  }
  /// Where scalar node i was created (recorded only under AnomalyMode; otherwise empty).
  Site scalar_site(std::uint32_t i) const;
  /// Registered leaf for scalar slot i, or nullptr.
  const detail::VarLeaf* scalar_leaf(std::uint32_t i) const;
  void set_scalar_label(std::uint32_t i, std::string name) { scalar_labels_[i] = std::move(name); }
  std::string scalar_label(std::uint32_t i) const;
  void set_node_label(std::uint32_t i, std::string name) { node_labels_[i] = std::move(name); }
  std::string node_label(std::uint32_t i) const;
  void add_hook(std::uint32_t tensor_node, std::function<Tensor(const Tensor&)> fn);
  /// Node whose backward is running, or UINT32_MAX.
  std::uint32_t running() const { return running_; }
  /// "op 'label' #i -> [shape] (inputs [..]) created at file:line", for error and anomaly messages.
  std::string describe_node(std::uint32_t i) const;
  void add_scalar_hook(std::uint32_t scalar_node, std::function<double(double)> fn);

  /// True when the handle refers to a live node of this tape.
  bool owns(const Tape* tape, std::uint32_t epoch) const { return tape == this && epoch == epoch_; }
  /// Resolves a tape pointer that may be dangling: the live tape with that epoch, or nullptr.
  static Tape* find_live(const Tape* tape, std::uint32_t epoch);
  Tensor input_handle(const Tensor& t, std::string_view op);

 private:
  friend class BackwardContext;
  friend class Var;
  friend class Tensor;
  friend class TapeScope;
  struct DefaultTag {};
  explicit Tape(DefaultTag);
  static Tape& default_tape();
  /// @throws std::invalid_argument when another thread is using this tape (its TapeScope or default tape).
  void check_thread(std::string_view op) const;
  std::uint32_t leaf_slot(detail::VarLeaf* leaf) {
    const std::uint64_t r = leaf->reg.load(std::memory_order_relaxed);
    if ((r >> 32) == epoch_) return static_cast<std::uint32_t>(r);
    return register_leaf(leaf);
  }
  std::uint32_t register_leaf(detail::VarLeaf* leaf);
  std::uint32_t tensor_slot(detail::TensorLeaf* leaf);
  std::uint32_t push_node(const char* op, Array value, std::span<const Tensor> inputs, std::uint32_t scalar_pos);
  void* arena_alloc(std::size_t bytes, std::size_t align);
  void accumulate(std::uint32_t node, Tensor g);
  void check_scalar(double value, ScalarOp op, const Site& site);
  void apply_hooks(std::uint32_t node);
  void scalar_sweep(std::int64_t& i, std::int64_t lo, bool create_graph);
  [[noreturn]] void grad_anomaly(std::uint32_t target, const Array& before, const Array& added) const;
  void accumulate_elements(std::uint32_t node, std::int64_t flat, const double* g, std::uint32_t count);
  std::vector<Var> link(const Tensor& t, std::int64_t flat, std::uint32_t count, const char* op);
  void run(bool scalar_root, std::uint32_t root, const Tensor& seed, bool create_graph, bool to_leaves);

  std::uint32_t epoch_;
  // Scalar nodes: value, end of partials (CSR), partial inputs and partial derivatives.
  detail::Column<double> values_;
  std::vector<double> grads_;  // sized to the largest tape seen; valid below grads_valid_
  std::size_t grads_valid_ = 0;
  detail::Column<std::uint32_t> pend_;
  detail::Column<std::uint32_t> pin_;
  detail::Column<double> pd_;
  detail::Column<ScalarOp> sop_;
  std::vector<std::pair<detail::VarLeaf*, std::uint32_t>> scalar_leaves_;
  std::unordered_map<std::uint32_t, Site> scalar_sites_;
  std::unordered_map<std::uint32_t, std::vector<std::uint32_t>> scalar_feeds_;
  std::unordered_map<std::uint32_t, std::vector<std::function<double(double)>>> scalar_hooks_;
  std::unordered_map<std::uint32_t, std::vector<std::function<Tensor(const Tensor&)>>> hooks_;
  std::uint32_t running_ = UINT32_MAX;  // node whose backward is running (for anomaly reports)
  // Tensor nodes and their inputs.
  detail::NodeStore nodes_;
  std::vector<Tensor> inputs_;
  std::vector<std::unique_ptr<std::byte[]>> arena_;
  std::size_t arena_block_ = 0, arena_used_ = 0;
  std::unordered_map<std::uint32_t, std::string> scalar_labels_, node_labels_;
  // The thread whose TapeScope (or default tape) this is, as the address of a thread_local; nullptr when none.
  std::atomic<const void*> thread_{nullptr};
};

/// Makes a fresh tape current for the scope (or `tape`, cleared at exit); restores the previous one after. Scopes nest.
class TapeScope {
 public:
  TapeScope();
  explicit TapeScope(Tape& tape);
  ~TapeScope();
  TapeScope(const TapeScope&) = delete;
  TapeScope& operator=(const TapeScope&) = delete;
  Tape& tape() { return *tape_; }

 private:
  std::unique_ptr<Tape> owned_;
  Tape* tape_;
  Tape* previous_;
  const void* previous_thread_;
};

/// Disables recording in its scope: ops compute values only (inference, optimizer updates).
class NoGrad {
 public:
  NoGrad() : previous_(detail::grad_disabled) { detail::grad_disabled = true; }
  ~NoGrad() { detail::grad_disabled = previous_; }
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  bool previous_;
};

inline bool grad_enabled() { return !detail::grad_disabled; }

/// Anomaly mode for its scope: the first non-finite value (forward) or gradient (backward, including one created
/// when gradients are summed) throws AnomalyError naming the op, its label, input shapes and the creating source line.
/// Costs one predictable branch per op when off.
class AnomalyMode {
 public:
  AnomalyMode() : previous_(detail::anomaly_on) { detail::anomaly_on = true; }
  ~AnomalyMode() { detail::anomaly_on = previous_; }
  AnomalyMode(const AnomalyMode&) = delete;
  AnomalyMode& operator=(const AnomalyMode&) = delete;

 private:
  bool previous_;
};

/// True when every element is finite.
bool all_finite(const Array& a);

namespace detail {
void check_forward(const char* op, const Array& value, std::initializer_list<Tensor> inputs, const Site& site);
}

/// Backward from a scalar root on its tape.
void backward(const Var& root);
/// Backward from a tensor root on its tape; see Tape::backward.
void backward(const Tensor& root, const Tensor& seed = Tensor(), bool create_graph = false);
/// Gradients of root with respect to inputs (like torch.autograd.grad); see Tape::gradient.
std::vector<Tensor> gradient(const Tensor& root, const std::vector<Tensor>& inputs, bool create_graph = false);

/// Defines an op: `value` is the forward result, `inputs` the differentiable inputs, and `backward` a callable
/// `void(const Tensor& grad, const Tensor& result, BackwardContext& dx)` that does `dx[i] += ...` with engine ops.
/// Built-in ops use exactly this. With no input requiring grad (or under NoGrad) it returns a constant.
template <class F>
Tensor make_op(const char* op, Array value, std::initializer_list<Tensor> inputs, F&& backward, const Site& site = Site::current()) {
  bool any = false;
  if (grad_enabled())
    for (const Tensor& t : inputs) any = any || t.requires_grad();
  if (detail::anomaly_on) [[unlikely]]
    detail::check_forward(op, value, inputs, site);
  if (!any) return Tensor(std::move(value), false);
  return Tape::current().record(op, std::move(value), std::span<const Tensor>(inputs.begin(), inputs.size()),
                                std::forward<F>(backward), site);
}

template <class F>
Tensor Tape::record(const char* op, Array value, std::span<const Tensor> inputs, F&& backward, const Site& site) {
  using Fn = std::decay_t<F>;
  const auto idx = push_node(op, std::move(value), inputs, static_cast<std::uint32_t>(values_.size()));
  nodes_[idx].site = site;
  void* mem = arena_alloc(sizeof(Fn), alignof(Fn));
  Fn* fn = new (mem) Fn(std::forward<F>(backward));
  detail::TensorNode& n = nodes_[idx];
  n.backward.self = fn;
  n.backward.destroy = [](void* self) { static_cast<Fn*>(self)->~Fn(); };
  n.backward.call = [](void* self, BackwardContext& ctx) {
    Tape* t = ctx.tape_;
    const std::uint32_t i = ctx.node_;
    // Copies: the closure may record new nodes (create_graph), which can move nodes_.
    const Tensor grad = t->nodes_[i].grad;
    const Tensor result(t, t->epoch_, i);
    (*static_cast<Fn*>(self))(grad, result, ctx);
  };
  return Tensor(this, epoch_, idx);
}

}  // namespace autodiff
