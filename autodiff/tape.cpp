// Tape recording, clearing, the reverse loop, and the Var/Tensor handle members that need the tape.
#include "autodiff/tape.hpp"

#include "autodiff/check.hpp"
#include "autodiff/ops.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <unordered_set>

namespace autodiff {

namespace detail {
constinit thread_local AUTODIFF_TLS Tape* current_tape = nullptr;
constinit thread_local AUTODIFF_TLS bool grad_disabled = false;
constinit thread_local AUTODIFF_TLS bool anomaly_on = false;
constinit thread_local AUTODIFF_TLS const Tape* in_backward = nullptr;
}  // namespace detail

std::string_view op_name(ScalarOp op) {
  static constexpr std::string_view names[] = {"leaf", "item", "add", "sub",  "mul",     "div",  "neg", "exp", "log", "sqrt",
                                               "sin",  "cos",  "tanh", "sigmoid", "relu", "abs", "pow", "min", "max"};
  return names[static_cast<std::size_t>(op)];
}

namespace {

std::atomic<std::uint32_t> next_epoch{1};

std::uint32_t fresh_epoch() {
  std::uint32_t e = next_epoch.fetch_add(1, std::memory_order_relaxed);
  if (e == 0) e = next_epoch.fetch_add(1, std::memory_order_relaxed);
  return e;
}

// Live tapes, so a handle whose tape may be gone can be checked without touching freed memory.
constinit bool registry_gone = false;
struct Registry {
  std::mutex mutex;
  std::unordered_set<const Tape*> tapes;
  ~Registry() { registry_gone = true; }
};
Registry& registry_object() {
  static Registry r;
  return r;
}
std::mutex& registry_mutex() { return registry_object().mutex; }
std::unordered_set<const Tape*>& registry() { return registry_object().tapes; }

constexpr std::size_t arena_block_bytes = 1 << 16;

}  // namespace

// ---- Tape ------------------------------------------------------------------------------------------

Tape::Tape() : epoch_(fresh_epoch()) {
  std::lock_guard lock(registry_mutex());
  registry().insert(this);
}

Tape::~Tape() {
  clear();
  if (registry_gone) return;
  std::lock_guard lock(registry_mutex());
  registry().erase(this);
}

namespace {
const void* thread_token() {
  static constinit thread_local char token = 0;
  return &token;
}
}  // namespace

Tape::Tape(DefaultTag) : Tape() { thread_.store(thread_token(), std::memory_order_relaxed); }

Tape& Tape::default_tape() {
  thread_local Tape t{DefaultTag{}};
  return t;
}

void Tape::check_thread(std::string_view op) const {
  const void* user = thread_.load(std::memory_order_relaxed);
  if (user && user != thread_token())
    throw std::invalid_argument(fmt::format(
        "{}: root was recorded on a tape that another thread is using (tape epoch {}); run backward on the thread that "
        "recorded it",
        op, epoch_));
}

Tape* Tape::find_live(const Tape* tape, std::uint32_t epoch) {
  if (!tape) return nullptr;
  if (tape == detail::current_tape || tape == &default_tape()) return tape->epoch_ == epoch ? const_cast<Tape*>(tape) : nullptr;
  std::lock_guard lock(registry_mutex());
  if (!registry().count(tape)) return nullptr;
  return tape->epoch_ == epoch ? const_cast<Tape*>(tape) : nullptr;
}

void Tape::clear() {
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    detail::TensorNode& n = nodes_[i];
    if (n.backward.destroy) n.backward.destroy(n.backward.self);
    if (n.leaf && n.leaf->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) detail::free_tensor_leaf(n.leaf);
  }
  for (auto& [leaf, slot] : scalar_leaves_)
    if (--leaf->pins == 0 && leaf->refs.load(std::memory_order_acquire) == 0) delete leaf;
  nodes_.clear();
  inputs_.clear();
  values_.clear();
  grads_valid_ = 0;
  sop_.clear();
  scalar_sites_.clear();
  scalar_feeds_.clear();
  scalar_hooks_.clear();
  hooks_.clear();
  pend_.clear();
  pin_.clear();
  pd_.clear();
  scalar_leaves_.clear();
  scalar_labels_.clear();
  node_labels_.clear();
  arena_block_ = 0;
  arena_used_ = 0;
  epoch_ = fresh_epoch();
}

double Tape::scalar_bytes_per_node() const {
  if (values_.empty()) return 0.0;
  const double bytes = static_cast<double>(values_.size() * (sizeof(double) * 2 + sizeof(std::uint32_t) + sizeof(ScalarOp)) +
                                           pin_.size() * (sizeof(std::uint32_t) + sizeof(double)));
  return bytes / static_cast<double>(values_.size());
}

std::uint32_t Tape::register_leaf(detail::VarLeaf* leaf) {
  const auto slot = static_cast<std::uint32_t>(values_.size());
  values_.push_back(leaf->value);
  pend_.push_back(static_cast<std::uint32_t>(pin_.size()));
  sop_.push_back(ScalarOp::leaf);
  if (!leaf->hooks.empty()) scalar_hooks_[slot] = leaf->hooks;
  // Pinned by a plain per-tape count, not the atomic reference count (two atomics per leaf and step were a
  // measurable share of the scalar benchmark); a leaf whose handles all died is freed by the last tape to clear.
  ++leaf->pins;
  scalar_leaves_.emplace_back(leaf, slot);
  leaf->reg.store((std::uint64_t{epoch_} << 32) | slot, std::memory_order_relaxed);
  return slot;
}

const detail::VarLeaf* Tape::scalar_leaf(std::uint32_t i) const {
  auto it = std::lower_bound(scalar_leaves_.begin(), scalar_leaves_.end(), i,
                             [](const auto& p, std::uint32_t v) { return p.second < v; });
  return it != scalar_leaves_.end() && it->second == i ? it->first : nullptr;
}

std::string Tape::scalar_label(std::uint32_t i) const {
  if (const detail::VarLeaf* l = scalar_leaf(i)) return l->label;
  auto it = scalar_labels_.find(i);
  return it == scalar_labels_.end() ? std::string() : it->second;
}

std::string Tape::node_label(std::uint32_t i) const {
  if (nodes_[i].leaf) return nodes_[i].leaf->label;
  auto it = node_labels_.find(i);
  return it == node_labels_.end() ? std::string() : it->second;
}

std::uint32_t Tape::tensor_slot(detail::TensorLeaf* leaf) {
  const std::uint64_t r = leaf->reg.load(std::memory_order_relaxed);
  if ((r >> 32) == epoch_) return static_cast<std::uint32_t>(r);
  const auto idx = push_node("leaf", leaf->value, {}, static_cast<std::uint32_t>(values_.size()));
  leaf->refs.fetch_add(1, std::memory_order_relaxed);
  nodes_[idx].leaf = leaf;
  nodes_[idx].hooked = !leaf->hooks.empty();
  leaf->reg.store((std::uint64_t{epoch_} << 32) | idx, std::memory_order_relaxed);
  return idx;
}

Tensor Tape::input_handle(const Tensor& t, std::string_view op) {
  if (t.leaf_) {
    if (!t.leaf_->requires_grad) return t;
    return Tensor(this, epoch_, tensor_slot(t.leaf_));
  }
  if (t.tape_ == this && t.epoch_ == epoch_) return t;
  detail::throw_bad_operand(this, t.tape_, t.epoch_, op);
}

std::uint32_t Tape::push_node(const char* op, Array value, std::span<const Tensor> inputs, std::uint32_t scalar_pos) {
  const auto first = static_cast<std::uint32_t>(inputs_.size());
  for (const Tensor& t : inputs) inputs_.push_back(input_handle(t, op));
  const auto idx = static_cast<std::uint32_t>(nodes_.size());
  detail::TensorNode& n = nodes_.emplace_back();
  n.value = std::move(value);
  n.op = op;
  n.scalar_pos = scalar_pos;
  n.first_input = first;
  n.num_inputs = static_cast<std::uint32_t>(inputs.size());
  return idx;
}

std::vector<Var> Tape::link(const Tensor& t, std::int64_t flat, std::uint32_t count, const char* op) {
  const Array& v = t.value();
  std::vector<Var> out;
  out.reserve(count);
  if (!t.requires_grad() || !grad_enabled()) {
    for (std::uint32_t j = 0; j < count; ++j) out.emplace_back(v.at(flat + j));
    return out;
  }
  const Tensor in = input_handle(t, op);
  const auto first = static_cast<std::uint32_t>(values_.size());
  for (std::uint32_t j = 0; j < count; ++j) out.push_back(push(v.at(flat + j), ScalarOp::item, Site::current()));
  const Tensor inputs[1] = {in};
  const auto idx = push_node(op, Array(), inputs, first);
  nodes_[idx].link_scalar = first;
  nodes_[idx].link_count = count;
  nodes_[idx].link_flat = flat;
  return out;
}

void Tape::accumulate_elements(std::uint32_t node, std::int64_t flat, const double* g, std::uint32_t count) {
  Tensor& cur = nodes_[node].grad;
  const bool owned = cur.defined() && cur.is_leaf() && cur.leaf_->refs.load() == 1 && cur.leaf_->value.unique();
  if (!owned) {
    const Array& v = nodes_[node].value;
    cur = Tensor(cur.defined() ? cur.value().clone() : Array::zeros(v.shape(), v.dtype()));
  }
  Array& a = cur.leaf_->value;
  for (std::uint32_t j = 0; j < count; ++j)
    if (g[j] != 0.0) a.set(flat + j, a.at(flat + j) + g[j]);
}

void* Tape::arena_alloc(std::size_t bytes, std::size_t align) {
  for (;;) {
    if (arena_block_ < arena_.size()) {
      const std::size_t start = (arena_used_ + align - 1) / align * align;
      if (start + bytes <= arena_block_bytes) {
        arena_used_ = start + bytes;
        return arena_[arena_block_].get() + start;
      }
      ++arena_block_;
      arena_used_ = 0;
      continue;
    }
    if (bytes + align > arena_block_bytes)
      throw std::invalid_argument(fmt::format("make_op: backward closure of {} bytes is too large", bytes));
    arena_.push_back(std::make_unique<std::byte[]>(arena_block_bytes));
  }
}

namespace detail {
void throw_bad_operand(const Tape* tape, Tape* owner, std::uint32_t epoch, std::string_view op) {
  if (Tape::find_live(owner, epoch))
    throw std::invalid_argument(fmt::format(
        "{}: operand was recorded on another tape (mixing tapes; operand tape epoch {}, current tape epoch {})", op, epoch,
        tape->epoch()));
  throw std::logic_error(fmt::format("{}: stale handle: its tape was cleared or destroyed (epoch {})", op, epoch));
}
}  // namespace detail

// ---- backward --------------------------------------------------------------------------------------

void Tape::accumulate(std::uint32_t node, Tensor g) {
  const Shape want = nodes_[node].value.shape();
  if (!(g.shape() == want)) g = sum_to(g, want);
  Tensor& cur = nodes_[node].grad;
  if (!cur.defined()) {
    if (detail::anomaly_on && !all_finite(g.value())) [[unlikely]]
      grad_anomaly(node, Array(), g.value());
    nodes_[node].grad = std::move(g);
    return;
  }
  const Array before = detail::anomaly_on ? cur.value().clone() : Array();
  if (!grad_enabled() && cur.is_leaf() && cur.leaf_->refs.load() == 1 && cur.leaf_->value.unique()) {
    add_inplace(cur.leaf_->value, g.value());
  } else {
    Tensor sum = add(cur, g);
    nodes_[node].grad = std::move(sum);
  }
  if (detail::anomaly_on && !all_finite(nodes_[node].grad.value())) [[unlikely]]
    grad_anomaly(node, before, g.value());
}

namespace {
bool finite_scalar(double v) { return std::isfinite(v); }
}  // namespace

bool all_finite(const Array& a) {
  return dispatch(a.dtype(), [&]<class T>(T) {
    const T* p = a.data<T>();
    for (std::int64_t i = 0; i < a.numel(); ++i)
      if (!std::isfinite(p[i])) return false;
    return true;
  });
}

std::string Tape::describe_node(std::uint32_t i) const {
  const detail::TensorNode& n = nodes_[i];
  if (n.leaf) return fmt::format("leaf{} {}", n.leaf->label.empty() ? "" : fmt::format(" '{}'", n.leaf->label), n.value.shape().str());
  std::string shapes;
  for (std::uint32_t k = 0; k < n.num_inputs; ++k) {
    if (k) shapes += ", ";
    const Tensor& in = inputs_[n.first_input + k];
    shapes += in.tape() ? nodes_[in.index()].value.shape().str() : in.value().shape().str();
  }
  const std::string label = node_label(i);
  return fmt::format("{}{} #{} -> {} (inputs {}) created at {}:{}", n.op, label.empty() ? "" : fmt::format(" '{}'", label), i,
                     n.value.defined() ? n.value.shape().str() : std::string("scalars"), shapes,
                     n.site.file_name(), n.site.line());
}

void Tape::grad_anomaly(std::uint32_t target, const Array& before, const Array& added) const {
  std::string cause;
  if (before.defined() && all_finite(before) && all_finite(added))
    cause = "created when gradients were summed (both addends finite)";
  else if (!all_finite(added))
    cause = "in the gradient flowing in";
  else
    cause = "already in the accumulated gradient";
  std::string from = running_ == UINT32_MAX ? std::string("the seed") : fmt::format("the backward of {}", describe_node(running_));
  throw AnomalyError(fmt::format("anomaly: non-finite gradient of {} ({}), from {}", describe_node(target), cause, from));
}

void Tape::check_scalar(double value, ScalarOp op, const Site& site) {
  const auto i = static_cast<std::uint32_t>(values_.size());
  scalar_sites_[i] = site;
  if (!finite_scalar(value))
    throw AnomalyError(fmt::format("anomaly: {} produced {} in forward (scalar node #{}) at {}:{}", op_name(op), value, i,
                                   site.file_name(), site.line()));
}

Site Tape::scalar_site(std::uint32_t i) const {
  auto it = scalar_sites_.find(i);
  return it == scalar_sites_.end() ? Site() : it->second;
}

void Tape::add_hook(std::uint32_t node, std::function<Tensor(const Tensor&)> fn) {
  hooks_[node].push_back(std::move(fn));
  nodes_[node].hooked = true;
}

void Tape::add_scalar_hook(std::uint32_t node, std::function<double(double)> fn) { scalar_hooks_[node].push_back(std::move(fn)); }

void Tape::apply_hooks(std::uint32_t node) {
  detail::TensorNode& n = nodes_[node];
  if (!n.grad.defined()) return;
  auto run_all = [&](const std::vector<std::function<Tensor(const Tensor&)>>& fns) {
    for (const auto& fn : fns) {
      Tensor r = fn(nodes_[node].grad);
      if (r.defined()) {
        check_same_shape("hook", "returned gradient", r.shape(), nodes_[node].value.shape());
        nodes_[node].grad = std::move(r);
      }
    }
  };
  if (n.leaf) run_all(n.leaf->hooks);
  auto it = hooks_.find(node);
  if (it != hooks_.end()) run_all(it->second);
}

namespace detail {
void check_forward(const char* op, const Array& value, std::initializer_list<Tensor> inputs, const Site& site) {
  if (all_finite(value)) return;
  std::string shapes, state = "finite";
  for (const Tensor& t : inputs) {
    if (!shapes.empty()) shapes += ", ";
    shapes += describe(t);
    if (!all_finite(t.value())) state = "already non-finite";
  }
  std::string during;
  if (in_backward && in_backward->running() != UINT32_MAX)
    during = fmt::format(", while computing gradients in the backward of {}", in_backward->describe_node(in_backward->running()));
  throw AnomalyError(fmt::format("anomaly: {} produced a non-finite value (inputs {}, {}) at {}:{}{}", op, shapes, state,
                                 site.file_name(), site.line(), during));
}
}  // namespace detail

void BackwardContext::Slot::operator+=(const Tensor& g) {
  Tape* t = ctx_->tape_;
  const detail::TensorNode& n = t->nodes_[ctx_->node_];
  const Tensor& in = t->inputs_[n.first_input + i_];
  if (!in.tape()) return;  // constant input
  t->accumulate(in.index(), g);
}

bool BackwardContext::Slot::wanted() const {
  const Tape* t = ctx_->tape_;
  const detail::TensorNode& n = t->nodes_[ctx_->node_];
  return t->inputs_[n.first_input + i_].tape() != nullptr;
}

void BackwardContext::add_scalar(std::uint32_t i, double g) {
  if (create_graph_) throw std::logic_error("backward: create_graph does not flow into scalar Var nodes");
  tape_->grads_[i] += g;
}

void Tape::run(bool scalar_root, std::uint32_t root, const Tensor& seed, bool create_graph, bool to_leaves) {
  std::uint32_t s_hi, t_hi;
  if (scalar_root) {
    s_hi = root + 1;
    // Tensor nodes recorded before scalar `root`: the first with scalar_pos > root bounds them (binary search).
    std::size_t lo = 0, hi = nodes_.size();
    while (lo < hi) {
      const std::size_t mid = (lo + hi) / 2;
      if (nodes_[mid].scalar_pos <= root)
        lo = mid + 1;
      else
        hi = mid;
    }
    t_hi = static_cast<std::uint32_t>(lo);
  } else {
    t_hi = root + 1;
    s_hi = nodes_[root].scalar_pos;
  }
  if (grads_.size() < values_.size()) grads_.resize(values_.size());
  std::fill_n(grads_.begin(), s_hi, 0.0);
  grads_valid_ = std::max<std::size_t>(grads_valid_, s_hi);
  for (std::uint32_t k = 0; k < t_hi; ++k) nodes_[k].grad = Tensor();
  if (scalar_root) {
    grads_[root] = 1.0;
  } else {
    nodes_[root].grad = seed;
  }

  const bool was_disabled = detail::grad_disabled;
  detail::grad_disabled = !create_graph;
  struct Restore {
    bool v;
    ~Restore() { detail::grad_disabled = v; }
  } restore{was_disabled};

  std::int64_t k = static_cast<std::int64_t>(t_hi) - 1;
  std::int64_t i = static_cast<std::int64_t>(s_hi) - 1;
  double* grads = grads_.data();
  const std::uint32_t* pend = pend_.data();
  const std::uint32_t* pin = pin_.data();
  const double* pd = pd_.data();
  const bool slow = detail::anomaly_on || !scalar_hooks_.empty() || create_graph;
  running_ = UINT32_MAX;
  struct InBackward {
    const Tape* previous = detail::in_backward;
    explicit InBackward(const Tape* t) { detail::in_backward = t; }
    ~InBackward() { detail::in_backward = previous; }
  } in_backward(this);
  for (;;) {
    const std::int64_t lo = k >= 0 ? nodes_[static_cast<std::size_t>(k)].scalar_pos : 0;
    if (slow) {
      scalar_sweep(i, lo, create_graph);
    } else {
      for (; i >= lo; --i) {
        const double g = grads[i];
        if (g == 0.0) continue;
        const std::uint32_t e = pend[i];
        for (std::uint32_t p = i ? pend[i - 1] : 0; p < e; ++p) grads[pin[p]] += g * pd[p];
      }
    }
    if (k < 0) break;
    const auto ku = static_cast<std::uint32_t>(k);
    running_ = ku;
    if (nodes_[ku].hooked) apply_hooks(ku);
    if (nodes_[ku].link_count) {
      const detail::TensorNode& n = nodes_[ku];
      const double* g = grads_.data() + n.link_scalar;
      if (std::any_of(g, g + n.link_count, [](double x) { return x != 0.0; })) {
        if (create_graph) throw std::logic_error("backward: create_graph does not flow through scalar Var nodes");
        accumulate_elements(inputs_[n.first_input].index_, n.link_flat, g, n.link_count);
      }
    } else if (nodes_[ku].backward.call && nodes_[ku].grad.defined()) {
      BackwardContext ctx(this, ku, create_graph);
      nodes_[ku].backward.call(nodes_[ku].backward.self, ctx);
      // The closure may have grown the tape (create_graph) or the scalar grads (links).
      grads = grads_.data();
    }
    --k;
  }

  if (!to_leaves) return;
  for (auto& [leaf, slot] : scalar_leaves_) {
    if (slot >= s_hi) break;
    leaf->grad += grads_[slot];
  }
  for (std::uint32_t n = 0; n < t_hi; ++n) {
    detail::TensorNode& node = nodes_[n];
    if (!node.leaf || !node.grad.defined()) continue;
    Array& lg = node.leaf->grad;
    if (lg.defined()) {
      add_inplace(lg, node.grad.value());
      continue;
    }
    // First gradient since zero_grad: take the buffer when nothing else shares it, else copy.
    const Tensor& g = node.grad;
    const bool sole = g.is_leaf() && g.leaf()->refs.load() == 1 && g.leaf()->value.unique() && !create_graph;
    lg = sole ? std::move(g.leaf()->value) : g.value().clone();
    if (sole) node.grad = Tensor(lg);
  }
}

void Tape::scalar_sweep(std::int64_t& i, std::int64_t lo, bool create_graph) {
  for (; i >= lo; --i) {
    const auto u = static_cast<std::uint32_t>(i);
    if (!scalar_hooks_.empty()) {
      auto it = scalar_hooks_.find(u);
      if (it != scalar_hooks_.end())
        for (const auto& fn : it->second) grads_[u] = fn(grads_[u]);
    }
    const double g = grads_[u];
    if (g == 0.0) continue;
    const std::uint32_t b = u ? pend_[u - 1] : 0, e = pend_[u];
    if (create_graph && b != e)
      throw std::logic_error("backward: create_graph does not flow through scalar Var nodes (they record numeric "
                             "partials); build the function from tensors for higher-order derivatives");
    for (std::uint32_t p = b; p < e; ++p) {
      const double before = grads_[pin_[p]];
      grads_[pin_[p]] += g * pd_[p];
      if (detail::anomaly_on && !std::isfinite(grads_[pin_[p]])) {
        const Site s = scalar_site(u);
        const std::string label = scalar_label(pin_[p]);
        throw AnomalyError(fmt::format(
            "anomaly: non-finite gradient {} of scalar node #{}{} ({}), from the backward of {} #{} (grad {}, partial {}) "
            "created at {}:{}",
            grads_[pin_[p]], pin_[p], label.empty() ? "" : fmt::format(" '{}'", label),
            std::isfinite(before) && std::isfinite(g * pd_[p]) ? "created when gradients were summed" : "in the gradient flowing in",
            op_name(sop_[u]), u, g, pd_[p], s.file_name() ? s.file_name() : "?", s.line()));
      }
    }
  }
}

void Tape::backward(const Var& root) {
  check_thread("backward");
  if (root.leaf_) throw std::logic_error("backward: root is a leaf; nothing was recorded");
  if (!owns(root.tape_, root.epoch_)) detail::throw_bad_operand(this, root.tape_, root.epoch_, "backward");
  run(true, root.index_, Tensor(), false, true);
}

namespace {
Tensor seed_for(const Tensor& root, const Tensor& seed) {
  if (seed.defined()) {
    check_same_shape("backward", "seed", seed.shape(), root.shape());
    return seed.value().dtype() == root.dtype() ? seed : Tensor(seed.value().to(root.dtype()));
  }
  if (root.numel() != 1)
    throw std::invalid_argument(fmt::format(
        "backward: root {} has {} elements; pass a seed gradient of the same shape for a non-scalar root",
        root.shape().str(), root.numel()));
  return Tensor(Array::full(root.shape(), 1.0, root.dtype()));
}
}  // namespace

void Tape::backward(const Tensor& root, const Tensor& seed, bool create_graph) {
  check_thread("backward");
  if (!root.tape_) throw std::logic_error("backward: root has no recorded history (a leaf or a constant)");
  if (!owns(root.tape_, root.epoch_)) detail::throw_bad_operand(this, root.tape_, root.epoch_, "backward");
  run(false, root.index_, seed_for(root, seed), create_graph, true);
}

std::vector<Tensor> Tape::gradient(const Tensor& root, const std::vector<Tensor>& inputs, bool create_graph,
                                   const Tensor& seed) {
  check_thread("gradient");
  if (!root.tape_) throw std::logic_error("gradient: root has no recorded history (a leaf or a constant)");
  if (!owns(root.tape_, root.epoch_)) detail::throw_bad_operand(this, root.tape_, root.epoch_, "gradient");
  for (const Tensor& in : inputs)
    if (!in.leaf_ && !owns(in.tape_, in.epoch_)) detail::throw_bad_operand(this, in.tape_, in.epoch_, "gradient");
  run(false, root.index_, seed_for(root, seed), create_graph, false);
  std::vector<Tensor> out;
  for (const Tensor& in : inputs) {
    Tensor g;
    if (in.leaf_) {
      // A leaf may hold several slots on this tape (it was used again after an inner scope re-registered it).
      for (std::uint32_t k = 0; k <= root.index_; ++k) {
        const detail::TensorNode& n = nodes_[k];
        if (n.leaf != in.leaf_ || !n.grad.defined()) continue;
        g = g.defined() ? add(g, n.grad) : n.grad;
      }
    } else if (in.index_ <= root.index_) {
      g = nodes_[in.index_].grad;
    }
    out.push_back(g.defined() ? g : Tensor(Array::zeros(in.shape(), in.dtype())));
  }
  return out;
}

void backward(const Var& root) {
  Tape* t = Tape::find_live(root.tape(), root.epoch());
  if (!t) {
    if (root.is_leaf()) throw std::logic_error("backward: root is a leaf; nothing was recorded");
    detail::throw_bad_operand(&Tape::current(), root.tape(), root.epoch(), "backward");
  }
  t->backward(root);
}

void backward(const Tensor& root, const Tensor& seed, bool create_graph) {
  Tape* t = Tape::find_live(root.tape(), root.epoch());
  if (!t) {
    if (!root.tape()) throw std::logic_error("backward: root has no recorded history (a leaf or a constant)");
    detail::throw_bad_operand(&Tape::current(), root.tape(), root.epoch(), "backward");
  }
  t->backward(root, seed, create_graph);
}

std::vector<Tensor> gradient(const Tensor& root, const std::vector<Tensor>& inputs, bool create_graph) {
  Tape* t = Tape::find_live(root.tape(), root.epoch());
  if (!t) {
    if (!root.tape()) throw std::logic_error("gradient: root has no recorded history (a leaf or a constant)");
    detail::throw_bad_operand(&Tape::current(), root.tape(), root.epoch(), "gradient");
  }
  return t->gradient(root, inputs, create_graph);
}

// ---- scopes ----------------------------------------------------------------------------------------

TapeScope::TapeScope() : owned_(std::make_unique<Tape>()), tape_(owned_.get()), previous_(detail::current_tape) {
  detail::current_tape = tape_;
  previous_thread_ = tape_->thread_.exchange(thread_token(), std::memory_order_relaxed);
}

TapeScope::TapeScope(Tape& tape) : tape_(&tape), previous_(detail::current_tape) {
  detail::current_tape = tape_;
  previous_thread_ = tape_->thread_.exchange(thread_token(), std::memory_order_relaxed);
}

TapeScope::~TapeScope() {
  detail::current_tape = previous_;
  tape_->thread_.store(previous_thread_, std::memory_order_relaxed);
  tape_->clear();
}

// ---- Var -------------------------------------------------------------------------------------------

Var::Var(double value) : leaf_(new detail::VarLeaf) { leaf_->value = value; }

void Var::release() noexcept {
  // A leaf still registered on a tape (pins > 0) is freed by that tape's clear().
  if (leaf_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1 && leaf_->pins == 0) delete leaf_;
}

namespace {
Tape& live_tape_of(Tape* tape, std::uint32_t epoch, std::string_view what) {
  Tape* t = Tape::find_live(tape, epoch);
  if (!t) throw std::logic_error(fmt::format("{}: stale handle: its tape was cleared or destroyed (epoch {})", what, epoch));
  return *t;
}
}  // namespace

double Var::value() const {
  if (leaf_) return leaf_->value;
  return live_tape_of(tape_, epoch_, "Var::value").scalar_value(index_);
}

double Var::grad() const {
  if (leaf_) return leaf_->grad;
  return live_tape_of(tape_, epoch_, "Var::grad").scalar_grad(index_);
}

void Var::set_value(double v) {
  if (!leaf_) throw std::logic_error("Var::set_value: not a leaf (op results are computed, not set)");
  leaf_->value = v;
}


Var& Var::register_hook(std::function<double(double)> fn) {
  if (leaf_)
    leaf_->hooks.push_back(std::move(fn));
  else
    live_tape_of(tape_, epoch_, "Var::register_hook").add_scalar_hook(index_, std::move(fn));
  return *this;
}

Var& Var::label(std::string name) {
  if (leaf_)
    leaf_->label = std::move(name);
  else
    live_tape_of(tape_, epoch_, "Var::label").set_scalar_label(index_, std::move(name));
  return *this;
}

std::string Var::label() const {
  if (leaf_) return leaf_->label;
  return live_tape_of(tape_, epoch_, "Var::label").scalar_label(index_);
}

// ---- Tensor ----------------------------------------------------------------------------------------

namespace detail {
namespace {
constinit thread_local AUTODIFF_TLS bool leaf_pool_gone = false;
struct LeafPool {
  std::vector<TensorLeaf*> free;
  ~LeafPool() {
    for (TensorLeaf* l : free) delete l;
    leaf_pool_gone = true;
  }
};
LeafPool& leaf_pool() {
  thread_local LeafPool p;
  return p;
}
}  // namespace

TensorLeaf* new_tensor_leaf() {
  if (!leaf_pool_gone) {
    LeafPool& p = leaf_pool();
    if (!p.free.empty()) {
      TensorLeaf* l = p.free.back();
      p.free.pop_back();
      return l;
    }
  }
  return new TensorLeaf;
}

void free_tensor_leaf(TensorLeaf* leaf) noexcept {
  if (leaf_pool_gone || leaf_pool().free.size() >= 4096) {
    delete leaf;
    return;
  }
  leaf->value = Array();
  leaf->grad = Array();
  leaf->requires_grad = false;
  leaf->reg.store(0, std::memory_order_relaxed);
  leaf->label.clear();
  leaf->hooks.clear();
  leaf->refs.store(1, std::memory_order_relaxed);
  leaf_pool().free.push_back(leaf);
}
}  // namespace detail

Tensor::Tensor(Array value, bool requires_grad) : leaf_(detail::new_tensor_leaf()) {
  leaf_->value = std::move(value);
  leaf_->requires_grad = requires_grad;
}

void Tensor::release() noexcept {
  if (leaf_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) detail::free_tensor_leaf(leaf_);
}

Tensor& Tensor::operator=(const Tensor& o) noexcept {
  if (this != &o) {
    if (o.leaf_) o.leaf_->refs.fetch_add(1, std::memory_order_relaxed);
    if (leaf_) release();
    tape_ = o.tape_;
    epoch_ = o.epoch_;
    index_ = o.index_;
    leaf_ = o.leaf_;
  }
  return *this;
}

Tensor& Tensor::operator=(Tensor&& o) noexcept {
  if (this != &o) {
    if (leaf_) release();
    tape_ = o.tape_;
    epoch_ = o.epoch_;
    index_ = o.index_;
    leaf_ = o.leaf_;
    o.leaf_ = nullptr;
    o.tape_ = nullptr;
  }
  return *this;
}

const Array& Tensor::value() const {
  if (leaf_) return leaf_->value;
  if (!tape_) throw std::logic_error("Tensor::value: undefined tensor");
  return live_tape_of(tape_, epoch_, "Tensor::value").nodes_[index_].value;
}

Tensor Tensor::grad() const {
  if (leaf_) {
    if (!leaf_->grad.defined()) return Tensor(Array::zeros(leaf_->value.shape(), leaf_->value.dtype()));
    return Tensor(leaf_->grad, false);
  }
  Tape& t = live_tape_of(tape_, epoch_, "Tensor::grad");
  const detail::TensorNode& n = t.nodes_[index_];
  if (n.grad.defined()) return n.grad;
  return Tensor(Array::zeros(n.value.shape(), n.value.dtype()));
}

Array& Tensor::leaf_value() {
  if (!leaf_) throw std::logic_error("Tensor::leaf_value: not a leaf (op results are computed, not set)");
  return leaf_->value;
}

Array& Tensor::leaf_grad() {
  if (!leaf_) throw std::logic_error("Tensor::leaf_grad: not a leaf");
  if (!leaf_->grad.defined()) leaf_->grad = Array::zeros(leaf_->value.shape(), leaf_->value.dtype());
  return leaf_->grad;
}

void Tensor::zero_grad() {
  // Releases the buffer (PyTorch's set_to_none): grad() reads zeros and the next backward moves its result in.
  if (leaf_) leaf_->grad = Array();
}

Tensor& Tensor::register_hook(std::function<Tensor(const Tensor&)> fn) {
  if (leaf_) {
    leaf_->hooks.push_back(std::move(fn));
    // A leaf already recorded on the current tape runs its hooks from this step on.
    Tape& t = Tape::current();
    const std::uint64_t r = leaf_->reg.load();
    if ((r >> 32) == t.epoch_) t.nodes_[static_cast<std::uint32_t>(r)].hooked = true;
  } else {
    live_tape_of(tape_, epoch_, "Tensor::register_hook").add_hook(index_, std::move(fn));
  }
  return *this;
}

Tensor& Tensor::label(std::string name) {
  if (leaf_)
    leaf_->label = std::move(name);
  else
    live_tape_of(tape_, epoch_, "Tensor::label").set_node_label(index_, std::move(name));
  return *this;
}

std::string Tensor::label() const {
  if (leaf_) return leaf_->label;
  if (!tape_) return {};
  return live_tape_of(tape_, epoch_, "Tensor::label").node_label(index_);
}

Var Tensor::item(std::int64_t flat) const {
  const std::int64_t n = value().numel();
  if (flat < 0 || flat >= n)
    throw std::invalid_argument(fmt::format("item: index {} out of range for shape {}", flat, shape().str()));
  return Tape::current().link(*this, flat, 1, "item")[0];
}

std::vector<Var> Tensor::unstack() const {
  return Tape::current().link(*this, 0, static_cast<std::uint32_t>(value().numel()), "unstack");
}

std::vector<double> Tensor::to_vector() const {
  const Array& v = value();
  std::vector<double> out(static_cast<std::size_t>(v.numel()));
  for (std::int64_t i = 0; i < v.numel(); ++i) out[static_cast<std::size_t>(i)] = v.at(i);
  return out;
}

}  // namespace autodiff
