// What one tape holds: a single stream of nodes in creation order. Scalar nodes are columns (value, op code, partials:
// a Jacobian tape); tensor ops are records with a backward closure. Both share one position space and one walk.
#pragma once

#include "autodiff/site.hpp"
#include "autodiff/tensor.hpp"
#include "autodiff/var.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <stdexcept>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace autodiff {
class BackwardContext;
}

namespace autodiff::detail {

inline constexpr std::uint32_t no_record = UINT32_MAX;

// initial-exec: one fs-relative load per access, without __tls_get_addr calls from inside the shared library.
#define AUTODIFF_TLS __attribute__((tls_model("initial-exec")))
extern constinit thread_local AUTODIFF_TLS bool grad_disabled;
extern constinit thread_local AUTODIFF_TLS bool anomaly_on;
extern constinit thread_local AUTODIFF_TLS bool op_by_op;  // OpByOp
extern constinit thread_local AUTODIFF_TLS Tape* current_tape;

/// A growable array of trivially copyable values with an unchecked push, so a scalar op checks capacity once.
template <class T>
class Column {
 public:
  /// At most `limit` elements: positions are 31-bit (leaf_bit marks leaves), partial offsets 32-bit.
  explicit Column(std::size_t limit = UINT32_MAX) : limit_(limit) {}
  Column(const Column&) = delete;
  Column& operator=(const Column&) = delete;
  ~Column() { std::free(begin_); }
  std::size_t size() const { return static_cast<std::size_t>(end_ - begin_); }
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

 private:
  void grow(std::size_t n) {
    const std::size_t size = this->size(), cap = static_cast<std::size_t>(cap_ - begin_);
    if (size + n > limit_)
      throw std::length_error(fmt::format("tape: more than {} nodes or partials recorded (clear the tape between steps)", limit_));
    const std::size_t want = std::min(limit_, std::max<std::size_t>(std::max<std::size_t>(2 * cap, 1024), size + n));
    T* p = static_cast<T*>(std::realloc(begin_, want * sizeof(T)));
    if (!p) throw std::bad_alloc();
    begin_ = p;
    end_ = p + size;
    cap_ = p + want;
  }
  std::size_t limit_;
  T* begin_ = nullptr;
  T* end_ = nullptr;
  T* cap_ = nullptr;
};

/// A backward closure placed in the tape's arena: no heap allocation per node.
struct Closure {
  void (*call)(void* self, BackwardContext& ctx) = nullptr;
  void (*destroy)(void* self) = nullptr;
  void* self = nullptr;
};

/// One input of a tensor record: a tensor (whose gradient goes to record `rec`, or nowhere for a constant) or a
/// scalar node (a Var input, at stream position `pos`). The value's storage and version are kept to refuse backward
/// after the value was changed in place.
struct Input {
  Ref<TensorImpl> tensor;
  std::uint32_t rec = no_record;
  std::uint32_t pos = 0;
  const void* storage = nullptr;
  std::uint64_t version = 0;
};

/// A tensor op (or the registration of a tensor leaf) at stream positions [pos, pos + count). A tensor result takes
/// one position; an op that yields Vars (Tensor::var, vars) takes one per Var, whose values and grads are the scalar
/// columns at those positions.
struct Record {
  OpName name = "leaf";
  std::uint32_t pos = 0, count = 1;
  std::uint32_t first_input = 0, num_tensors = 0, num_vars = 0;
  bool is_leaf = false;    // a leaf's registration: `out` is the leaf and the gradient gathers in `grad`
  Ref<TensorImpl> out;     // the tensor result, or the registered leaf
  Ref<TensorImpl> grad;    // leaf registrations only (an op result keeps its gradient in out->grad)
  const void* storage = nullptr;  // the output value's identity when recorded
  std::uint64_t version = 0;
  std::int64_t flat = 0;  // Var outputs: the first element of the input they read
  Closure backward;
  Site site = Site::unknown();
};

/// A Var leaf registered on a tape: the leaf, its incarnation, version and value then. Registered leaves are not
/// stream positions: an operand index with leaf_bit set names entry (index ^ leaf_bit) of the tape's leaf table.
struct VarSlot {
  VarLeaf* leaf;
  std::uint64_t gen, version;
  double value;
};
inline constexpr std::uint32_t leaf_bit = 1u << 31;

/// Records in fixed-size chunks: addresses stay valid while the tape grows (closures record during create_graph),
/// and chunks are reused after clear().
class RecordStore {
 public:
  static constexpr std::size_t chunk = 128;
  Record& operator[](std::size_t i) { return chunks_[i / chunk][i % chunk]; }
  const Record& operator[](std::size_t i) const { return chunks_[i / chunk][i % chunk]; }
  std::size_t size() const { return size_; }
  Record& emplace_back() {
    if (size_ == chunks_.size() * chunk) chunks_.push_back(std::make_unique<Record[]>(chunk));
    return (*this)[size_++];
  }
  /// Destroys every record's contents (closures first) and forgets them, keeping the chunks.
  void clear();

 private:
  std::vector<std::unique_ptr<Record[]>> chunks_;
  std::size_t size_ = 0;
};

class TapeStore;
/// A new, process-wide unique tape epoch (64-bit: it never wraps in practice).
std::uint64_t fresh_epoch();
/// "<op>: stale handle: ..." with the reason the handle's epoch ended, when its tape still knows it.
std::string stale_message(std::string_view op, const Tape* owner, std::uint64_t epoch);
/// Throws for an operand that is not on `store`: std::invalid_argument when it is on another live tape (mixing
/// tapes), std::logic_error when its tape was cleared, released or destroyed, or the handle is empty.
[[noreturn]] void throw_bad_operand(const TapeStore& store, const Tape* owner, std::uint64_t epoch, std::string_view op);

/// The storage of one tape. Tape is its public face; ops and the checking tools read it through this class.
class TapeStore {
 public:
  explicit TapeStore(Tape* tape);
  ~TapeStore();
  TapeStore(const TapeStore&) = delete;
  TapeStore& operator=(const TapeStore&) = delete;

  Tape* tape() const { return tape_; }
  std::uint64_t epoch() const { return epoch_; }
  /// Positions in the node stream (scalar nodes, Var outputs and tensor records).
  std::uint32_t positions() const { return static_cast<std::uint32_t>(val_.size()); }
  std::size_t records() const { return records_.size(); }
  /// Why the previous epoch ended ("cleared", "released by backward", ...), for stale-handle messages.
  std::string_view ended(std::uint64_t epoch) const { return epoch == prev_epoch_ ? prev_reason_ : std::string_view(); }

  /// Frees every node (keeping memory for reuse) and starts a new epoch; leaves are untouched.
  void clear(std::string_view reason);
  /// Marks the graph released: it is freed when the next op is recorded on this tape.
  void release_later() { release_pending_ = true; }
  bool release_pending() const { return release_pending_; }
  /// Applies a pending release; every recording entry point calls this first.
  void begin_op() {
    if (release_pending_) [[unlikely]]
      clear("released by backward");
  }

  // Scalar recording (inline: the scalar path must be lean).
  /// Position of a Var operand on this tape (a leaf is registered on first use, and again after set_value).
  std::uint32_t slot(const Var& v, std::string_view op) {
    if (v.leaf_) return leaf_slot(v.leaf_.get());
    if (v.node_.epoch == epoch_) [[likely]]
      return v.node_.index;
    throw_bad_operand(*this, v.node_.tape, v.node_.epoch, op);
  }
  std::uint32_t slot(const Var& v, ScalarOp op) {
    if (v.leaf_) return leaf_slot(v.leaf_.get());
    if (v.node_.epoch == epoch_) [[likely]]
      return v.node_.index;
    throw_bad_operand(*this, v.node_.tape, v.node_.epoch, op_name(op));
  }
  /// Appends N partials, summing those of a repeated operand; returns where they start.
  template <int N>
  std::size_t append_merged(const std::uint32_t* in, const double* d) {
    pin_.reserve_extra(N);
    pd_.reserve_extra(N);
    const std::size_t base = pin_.size();
    for (int k = 0; k < N; ++k) {
      std::size_t q = base;
      const std::size_t n = pin_.size();
      while (q < n && pin_[q] != in[k]) ++q;
      if (q < n) {
        pd_[q] += d[k];
      } else {
        pin_.push_unchecked(in[k]);
        pd_.push_unchecked(d[k]);
      }
    }
    return base;
  }
  /// True when expressions are recorded one node per op (AnomalyMode, OpByOp).
  static bool op_by_op() { return anomaly_on || detail::op_by_op; }
  /// Records a statement of `ops` elementary ops as one node with N partials, summing those of a repeated operand.
  template <int N>
  Var push_statement(double value, ScalarOp op, int ops, const std::uint32_t* in, const double* d) {
    append_merged<N>(in, d);
    scalar_ops_ += static_cast<std::uint64_t>(ops - 1);
    return push(value, op, Site::unknown());
  }
  /// The op node that `z += ...` may extend in place: the newest position, when it is a scalar op node that no
  /// backward has walked; UINT32_MAX when none.
  std::uint32_t open_node() const { return open_ < grads_valid_ ? UINT32_MAX : open_; }
  /// Appends N partials (times `sign`) and `ops` elementary ops to the open node, whose value becomes `value`.
  template <int N>
  void extend_open(double value, int ops, const std::uint32_t* in, const double* d, double sign) {
    const std::size_t base = append_merged<N>(in, d);
    for (std::size_t q = base; q < pd_.size(); ++q) pd_[q] *= sign;
    pend_[open_] = static_cast<std::uint32_t>(pin_.size());  // the open node is the newest position
    val_[open_] = value;
    op_[open_] = ScalarOp::expr;
    scalar_ops_ += static_cast<std::uint64_t>(ops);
  }
  Var push(double value, ScalarOp op, const Site& site) {
    if (anomaly_on) [[unlikely]]
      note_scalar_site(value, op, site);
    ++scalar_ops_;
    const auto i = static_cast<std::uint32_t>(val_.size());
    val_.push_back(value);
    pend_.push_back(static_cast<std::uint32_t>(pin_.size()));
    op_.push_back(op);
    open_ = i;
    return Var(tape_, epoch_, i, value, true);
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
  /// A handle to scalar node i.
  Var var_at(std::uint32_t i) const { return Var(tape_, epoch_, i, scalar_value(i), false); }
  /// Records a node with any number of partials (make_scalar_op), named `op`.
  Var push_custom(OpName op, double value, std::span<const std::uint32_t> inputs, std::span<const double> partials,
                  const Site& site);
  /// The op name of scalar node i (the custom name for make_scalar_op nodes).
  std::string_view scalar_op_name(std::uint32_t i) const;
  double scalar_value(std::uint32_t i) const { return i & leaf_bit ? var_leaves_[i ^ leaf_bit].value : val_[i]; }
  double scalar_grad(std::uint32_t i) const {
    if (i & leaf_bit) return (i ^ leaf_bit) < leaf_grads_.size() ? leaf_grads_[i ^ leaf_bit] : 0.0;
    return i < grads_valid_ ? grads_[i] : 0.0;
  }
  ScalarOp scalar_op(std::uint32_t i) const { return i & leaf_bit ? ScalarOp::leaf : op_[i]; }
  /// Partials of scalar node i: inputs and d(node)/d(input).
  /// A registered leaf (leaf_bit) has none.
  std::span<const std::uint32_t> scalar_inputs(std::uint32_t i) const {
    if (i & leaf_bit) return {};
    const std::uint32_t b = i ? pend_[i - 1] : 0;
    return {pin_.data() + b, pin_.data() + pend_[i]};
  }
  std::span<const double> scalar_partials(std::uint32_t i) const {
    if (i & leaf_bit) return {};
    const std::uint32_t b = i ? pend_[i - 1] : 0;
    return {pd_.data() + b, pd_.data() + pend_[i]};
  }
  /// The raw partial columns, for the reverse sweep: partials of node i are [pend[i-1], pend[i]) (0 for i = 0).
  const std::uint32_t* pend_data() const { return pend_.data(); }
  const std::uint32_t* pin_data() const { return pin_.data(); }
  const double* pd_data() const { return pd_.data(); }
  /// Bytes the scalar columns hold (value, grad, op code, partial offsets and partials, and the table of registered
  /// Var leaves) per elementary scalar op recorded: a statement `a * b + c` counts two.
  double scalar_bytes_per_op() const;

  // Tensor recording.
  /// The input entry for tensor `t` used by `op` on this tape: its record (registering a leaf on first use) or a
  /// constant. @throws std::invalid_argument when t is on another live tape, std::logic_error when its tape was
  /// cleared or released.
  Input resolve(const Tensor& t, OpName op);
  /// Appends a record with a tensor result and the given inputs; the caller fills in the closure.
  std::uint32_t push_record(OpName op, Array value, std::span<const Tensor> inputs, std::span<const Var> vars, const Site& site);
  /// Appends a record whose results are `values.size()` scalar nodes (Vars): elements flat, flat + 1, ... of `input`.
  std::uint32_t push_scalar_record(OpName op, const Tensor& input, std::int64_t flat, std::span<const double> values,
                                   const Site& site);
  void* arena_alloc(std::size_t bytes, std::size_t align);
  Record& record(std::size_t k) { return records_[k]; }
  const Record& record(std::size_t k) const { return records_[k]; }
  /// The last record at or below position `pos`, or -1.
  std::int64_t record_at_or_below(std::uint32_t pos) const;
  const Input& input(std::size_t i) const { return inputs_[i]; }
  std::span<const Input> inputs_of(std::size_t k) const {
    const Record& r = records_[k];
    return {inputs_.data() + r.first_input, static_cast<std::size_t>(r.num_tensors) + r.num_vars};
  }
  /// Gradient of record k (undefined when none reached it, and for records whose results are Vars).
  TensorImpl* record_grad(std::size_t k) const {
    const Record& r = records_[k];
    return r.is_leaf || !r.out ? r.grad.get() : r.out->grad.get();
  }
  Ref<TensorImpl>& record_grad_slot(std::size_t k) {
    Record& r = records_[k];
    return r.is_leaf || !r.out ? r.grad : r.out->grad;
  }
  /// The registered Var leaves, in registration order.
  const std::vector<VarSlot>& var_leaves() const { return var_leaves_; }
  /// The Var leaf that operand index i names (i has leaf_bit), or nullptr.
  const VarSlot* var_leaf_at(std::uint32_t i) const;

  // Labels, hooks and sites of scalar op nodes.
  void set_scalar_label(std::uint32_t i, std::string name) { scalar_labels_[i] = std::move(name); }
  std::string scalar_label(std::uint32_t i) const;
  std::shared_ptr<HookList<double>>& scalar_hooks(std::uint32_t i) { return scalar_hooks_[i]; }
  bool has_scalar_hooks() const { return !scalar_hooks_.empty(); }
  const HookList<double>* find_scalar_hooks(std::uint32_t i) const;
  /// Where scalar node i was created (recorded only under AnomalyMode; otherwise unknown).
  Site scalar_site(std::uint32_t i) const;

  // State of a running backward.
  double* grads() { return grads_.data(); }
  /// Gradients of the registered Var leaves, by table entry.
  double* leaf_grads() { return leaf_grads_.data(); }
  /// The gradient slot of operand index i (a position, or a leaf with leaf_bit).
  double& grad_at(std::uint32_t i) { return i & leaf_bit ? leaf_grads_[i ^ leaf_bit] : grads_[i]; }
  /// Sizes the scalar gradients for every position and zeroes [0, hi) and every leaf's.
  void reset_scalar_grads(std::uint32_t hi);
  /// Record whose backward is running, or no_record.
  std::uint32_t running = no_record;

 private:
  friend class RecordStore;
  /// A registration hint: the low 32 bits of the epoch, then 1 + the index. A hint from an older epoch fails on the
  /// first compare; one that matches is still checked against the entry, so a hint raced by two threads is harmless.
  std::uint64_t hint(std::size_t index) const { return (epoch_ << 32) | (index + 1); }
  std::size_t hinted_index(std::uint64_t h) const {
    return (h >> 32) == (epoch_ & 0xffffffffu) ? static_cast<std::size_t>(h & 0xffffffffu) : 0;
  }
  std::uint32_t leaf_slot(VarLeaf* leaf) {
    const std::size_t i = hinted_index(leaf->reg.load(std::memory_order_relaxed));
    if (i && i <= var_leaves_.size()) {
      const VarSlot& s = var_leaves_[i - 1];
      if (s.leaf == leaf && s.version == leaf->version.load(std::memory_order_relaxed) &&
          s.gen == leaf->gen.load(std::memory_order_relaxed)) [[likely]]
        return static_cast<std::uint32_t>(i - 1) | leaf_bit;
    }
    return register_leaf(leaf);
  }
  std::uint32_t register_leaf(VarLeaf* leaf);
  std::uint32_t register_tensor_leaf(TensorImpl* leaf);
  void note_scalar_site(double value, ScalarOp op, const Site& site);
  std::uint32_t next_position(std::uint32_t count);

  Tape* tape_;
  std::uint64_t epoch_;
  std::uint64_t prev_epoch_ = 0;
  std::string prev_reason_;
  bool release_pending_ = false;
  // Scalar columns, one entry per position: value, end of partials (CSR) and op code; then the partials.
  Column<double> val_{leaf_bit - 1};
  Column<std::uint32_t> pend_{leaf_bit - 1};
  Column<ScalarOp> op_{leaf_bit - 1};
  Column<std::uint32_t> pin_;
  Column<double> pd_;
  std::uint64_t scalar_ops_ = 0;  // elementary scalar ops recorded this epoch
  std::uint32_t open_ = UINT32_MAX;  // see open_node()
  std::vector<double> grads_;  // sized to the largest tape seen; valid below grads_valid_
  std::vector<double> leaf_grads_;  // one per registered Var leaf, sized by the latest backward
  std::size_t grads_valid_ = 0;
  std::vector<VarSlot> var_leaves_;
  RecordStore records_;
  std::vector<Input> inputs_;
  std::vector<std::unique_ptr<std::byte[]>> arena_;
  std::size_t arena_block_ = 0, arena_used_ = 0;
  std::unordered_map<std::uint32_t, std::string> scalar_labels_;
  std::unordered_map<std::uint32_t, OpName> custom_names_;
  std::unordered_map<std::uint32_t, Site> scalar_sites_;
  std::unordered_map<std::uint32_t, std::shared_ptr<HookList<double>>> scalar_hooks_;
};

}  // namespace autodiff::detail
