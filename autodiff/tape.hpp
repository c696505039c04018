// What a user calls to record and differentiate: Tape, TapeScope, backward, gradient, NoGrad, AnomalyMode, make_op.
#pragma once

#include "autodiff/detail/tape_store.hpp"
#include "autodiff/site.hpp"
#include "autodiff/tensor.hpp"
#include "autodiff/var.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

namespace autodiff {

/// Thrown by AnomalyMode at the first non-finite value or gradient.
class AnomalyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
TapeStore& store(Tape& t);
/// False when another thread's TapeScope (or default tape) is using t.
bool used_by_this_thread(const Tape& t);
}

/// Records nodes in creation order and runs reverse-mode propagation over them. One tape is current per thread:
/// a per-thread default tape, or the tape of the innermost TapeScope.
///
/// Release: backward (without retain_graph) marks the tape's graph released; it is freed when the next op is recorded
/// on the tape. Until then every value and gradient stays readable and backward may run again. So a plain training
/// loop with no scope records one step at a time, with flat memory, as in PyTorch.
class Tape {
 public:
  Tape();
  /// @note Destroying a tape that is current, or that an active TapeScope will restore, terminates the program
  /// with a message (it would otherwise leave a dangling current tape).
  ~Tape();
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  /// The current tape of this thread.
  static Tape& current() {
    Tape* t = detail::current_tape;
    return t ? *t : default_tape();
  }
  /// Frees every recorded node (keeping memory for reuse). Tensor handles keep their values and grads; Var handles of
  /// op nodes go stale. Leaves are untouched.
  void clear();
  /// Positions in the node stream: scalar nodes, leaf registrations and tensor ops.
  std::size_t size() const { return store_.positions(); }
  /// Tensor records (ops and leaf registrations).
  std::size_t records() const { return store_.records(); }
  /// Changes at every clear; handles remember the epoch they were recorded in. 64-bit, so it never wraps.
  std::uint64_t epoch() const { return store_.epoch(); }

  /// The live tape with this address and epoch, or nullptr (the pointer may dangle: it is only compared).
  static Tape* find_live(const Tape* tape, std::uint64_t epoch);

 private:
  friend class TapeScope;
  friend detail::TapeStore& detail::store(Tape& t);
  friend bool detail::used_by_this_thread(const Tape& t);
  struct DefaultTag {};
  explicit Tape(DefaultTag);
  static Tape& default_tape();

  detail::TapeStore store_;
  // The thread whose TapeScope (or default tape) this is, as the address of a thread_local; nullptr when none.
  std::atomic<const void*> thread_{nullptr};
  int scopes_ = 0;  // active TapeScopes over this tape
};

namespace detail {
/// The storage behind a tape (for ops and tools).
inline TapeStore& store(Tape& t) { return t.store_; }
inline const TapeStore& store(const Tape& t) { return store(const_cast<Tape&>(t)); }
/// The current tape's storage, ready to record (a pending release is applied first).
inline TapeStore& recording() {
  TapeStore& s = store(Tape::current());
  s.begin_op();
  return s;
}
}  // namespace detail

/// Makes a fresh tape current for the scope (or `tape`, cleared at exit); restores the previous one after. Scopes nest.
/// @note Ending scopes out of order terminates the program with a message.
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

namespace detail {
/// Sets one of this thread's mode flags for a scope and restores its previous value after: NoGrad, AnomalyMode and
/// OpByOp. Scopes nest.
class FlagScope {
 public:
  explicit FlagScope(bool& flag) : flag_(flag), previous_(flag) { flag = true; }
  ~FlagScope() { flag_ = previous_; }
  FlagScope(const FlagScope&) = delete;
  FlagScope& operator=(const FlagScope&) = delete;

 private:
  bool& flag_;
  bool previous_;
};
}  // namespace detail

/// Disables recording in its scope: ops compute values only (inference, optimizer updates).
class NoGrad : detail::FlagScope {
 public:
  NoGrad() : FlagScope(detail::grad_disabled) {}
};

inline bool grad_enabled() { return !detail::grad_disabled; }

/// Anomaly mode for its scope: the first non-finite value (forward) or gradient (backward, including one created
/// when gradients are summed) throws AnomalyError naming the op, its label, input shapes and the creating source line.
/// Costs one predictable branch per op when off. Scalar expressions are recorded one node per op meanwhile.
class AnomalyMode : detail::FlagScope {
 public:
  AnomalyMode() : FlagScope(detail::anomaly_on) {}
};

/// Records one node per scalar op in its scope, each with its source line, instead of one node per statement: for
/// graph export (to_dot) when every op should show.
class OpByOp : detail::FlagScope {
 public:
  OpByOp() : FlagScope(detail::op_by_op) {}
};

/// Options of backward and gradient, for designated initializers: `backward(loss, {.retain_graph = true})`.
struct BackwardOptions {
  /// Gradient of the root; required when the root has more than one element (otherwise 1).
  Tensor seed = {};
  /// Keep the graph after this call, to record more ops that use its nodes. Default: create_graph.
  std::optional<bool> retain_graph = std::nullopt;
  /// Record the backward pass itself, so the gradients are differentiable (Hessian-vector products).
  bool create_graph = false;
};

/// Reverse pass from a scalar root: every leaf it depends on accumulates d root / d leaf into its grad, and every
/// op node it walks holds its own gradient until the tape is cleared.
/// @throws std::logic_error for a stale root or a leaf root, std::logic_error naming the leaf when a leaf used by the
/// graph was changed after it was recorded.
void backward(const Var& root, const BackwardOptions& opt = {});
/// Reverse pass from a tensor root; see backward(Var). A root with more than one element needs opt.seed.
void backward(const Tensor& root, const BackwardOptions& opt = {});
/// Gradients of root with respect to inputs (torch.autograd.grad), without touching the leaves' accumulated grads.
/// An input the root does not depend on gets zeros.
/// @throws std::logic_error with create_graph when the gradient flows through scalar Var nodes, which record numbers.
std::vector<Tensor> gradient(const Tensor& root, const std::vector<Tensor>& inputs, const BackwardOptions& opt = {});

/// Handed to a backward closure: `dx[i] += g` adds g to the gradient of tensor input i (a broadcast gradient is summed
/// back to the input's shape by the engine), `dx.var(i) += g` to Var input i.
class BackwardContext {
 public:
  class Slot {
   public:
    /// @throws std::logic_error naming the op when g is undefined, of another dtype, or not broadcastable to the input.
    void operator+=(const Tensor& g);
    /// True when this input needs a gradient (skip the work otherwise).
    bool wanted() const;

   private:
    friend class BackwardContext;
    Slot(BackwardContext* ctx, std::uint32_t i) : ctx_(ctx), i_(i) {}
    BackwardContext* ctx_;
    std::uint32_t i_;
  };
  class VarSlot {
   public:
    void operator+=(double g);
    bool wanted() const { return true; }

   private:
    friend class BackwardContext;
    VarSlot(BackwardContext* ctx, std::uint32_t i) : ctx_(ctx), i_(i) {}
    BackwardContext* ctx_;
    std::uint32_t i_;
  };

  /// Tensor input i. @throws std::logic_error naming the op when the op has no tensor input i.
  Slot operator[](std::size_t i);
  /// Var input i. @throws std::logic_error naming the op when the op has no Var input i.
  VarSlot var(std::size_t i);
  bool create_graph() const { return create_graph_; }

  // For the engine: the record being differentiated, its output and the gradient of its output.
  BackwardContext(detail::TapeStore& store, std::uint32_t rec, bool create_graph)
      : store_(store), rec_(rec), create_graph_(create_graph) {}
  Tensor result() const { return Tensor(store_.record(rec_).out); }
  Tensor output_grad() const { return Tensor(store_.record(rec_).out->grad); }
  detail::TapeStore& store() { return store_; }
  std::uint32_t record() const { return rec_; }
  /// Adds g[j] to element flat + j of tensor input i's gradient, in place (for ops that read elements as Vars).
  void add_elements(std::size_t i, std::int64_t flat, std::span<const double> g);

 private:
  detail::TapeStore& store_;
  std::uint32_t rec_;
  bool create_graph_;
};

namespace detail {
/// Checks make_op's arguments (a defined value and defined inputs). @throws std::logic_error naming the op.
void check_op_arguments(OpName op, const Array& value, std::span<const Tensor> inputs);
/// AnomalyMode's forward check. @throws AnomalyError when the value holds a NaN or an infinity.
void check_forward(OpName op, const Array& value, std::span<const Tensor> inputs, const Site& site);

inline bool needs_record(std::span<const Tensor> inputs, std::span<const Var> vars) {
  if (!vars.empty()) return true;
  for (const Tensor& t : inputs)
    if (t.requires_grad()) return true;
  return false;
}

/// Adapts a make_op backward `void(grad, result, dx)` to a closure over the context.
template <class Fn>
struct OpClosure {
  Fn fn;
  void operator()(BackwardContext& ctx) {
    const Tensor grad = ctx.output_grad();
    const Tensor result = ctx.result();
    fn(grad, result, ctx);
  }
};

/// Places fn (moved into `mem`, arena memory of its size and alignment) as the backward closure of record k.
template <class F>
void set_closure(TapeStore& s, std::uint32_t k, void* mem, F fn) {
  F* f = new (mem) F(std::move(fn));
  Record& r = s.record(k);
  r.backward.self = f;
  r.backward.destroy = [](void* self) { static_cast<F*>(self)->~F(); };
  r.backward.call = [](void* self, BackwardContext& ctx) { (*static_cast<F*>(self))(ctx); };
}
}  // namespace detail

/// Defines an op: `value` is the forward result, `inputs` the tensor inputs, and `backward` a callable
/// `void(const Tensor& grad, const Tensor& result, BackwardContext& dx)` that does `dx[i] += ...` with engine ops
/// (so the same rule records under create_graph). Built-in ops use exactly this. With no input requiring grad
/// (or under NoGrad), or an int64 or bool value, it returns a constant.
/// @throws std::logic_error naming the op when value or an input is undefined.
template <class F>
Tensor make_op(OpName op, Array value, std::span<const Tensor> inputs, std::span<const Var> vars, F&& backward,
               Site site = Site::current()) {
  detail::check_op_arguments(op, value, inputs);
  if (detail::anomaly_on) [[unlikely]]
    detail::check_forward(op, value, inputs, site);
  // Integer and bool results (argmax, comparisons) have no gradient: constants.
  if (!grad_enabled() || !is_float(value.dtype()) || !detail::needs_record(inputs, vars)) return Tensor(std::move(value));
  detail::TapeStore& s = detail::recording();
  using C = detail::OpClosure<std::decay_t<F>>;
  void* mem = s.arena_alloc(sizeof(C), alignof(C));
  const std::uint32_t k = s.push_record(op, std::move(value), inputs, vars, site);
  detail::set_closure(s, k, mem, C{std::forward<F>(backward)});
  return Tensor(s.record(k).out);
}

/// make_op with tensor inputs only.
template <class F>
Tensor make_op(OpName op, Array value, std::span<const Tensor> inputs, F&& backward, Site site = Site::current()) {
  return make_op(op, std::move(value), inputs, std::span<const Var>(), std::forward<F>(backward), site);
}

/// make_op with a braced list of tensor inputs: make_op("softplus", value, {x}, ...).
template <class F>
Tensor make_op(OpName op, Array value, std::initializer_list<Tensor> inputs, F&& backward, Site site = Site::current()) {
  return make_op(op, std::move(value), std::span<const Tensor>(inputs.begin(), inputs.size()), std::span<const Var>(),
                 std::forward<F>(backward), site);
}

}  // namespace autodiff
