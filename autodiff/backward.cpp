// Reverse-mode propagation: backward and gradient over one walk of the node stream, and BackwardContext.
#include "autodiff/check.hpp"
#include "autodiff/detail/anomaly.hpp"
#include "autodiff/detail/walk.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/tape.hpp"

#include <fmt/format.h>

#include <atomic>
#include <cmath>
#include <mutex>
#include <stdexcept>

namespace autodiff {

namespace detail {

void check_op_arguments(OpName op, const Array& value, std::span<const Tensor> inputs) {
  if (!value.defined()) throw std::logic_error(fmt::format("make_op: op '{}' was given an undefined value", op.view()));
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (!inputs[i].defined())
      throw std::logic_error(fmt::format("make_op: op '{}' was given an undefined tensor as input {}", op.view(), i));
}

namespace {

Ref<TensorImpl> constant(Array a) {
  TensorImpl* p = new_tensor_impl();
  p->value = std::move(a);
  return Ref<TensorImpl>::adopt(p);
}

Ref<TensorImpl> ref_of(const Tensor& t) {
  TensorImpl* p = t.impl();
  p->refs.fetch_add(1, std::memory_order_relaxed);
  return Ref<TensorImpl>::adopt(p);
}

// True when the tape alone holds g and its storage, so it may be added to in place.
bool owned(const Ref<TensorImpl>& g) { return g.unique() && !g->tape && g->value.unique(); }

/// Adds g to the gradient of record k (reducing a broadcast gradient to the record's shape).
void accumulate(TapeStore& s, std::uint32_t k, Tensor g, bool create_graph) {
  const Shape& want = s.record(k).out->value.shape();
  if (!(g.shape() == want)) g = create_graph ? sum_to(g, want) : Tensor(reduce_to(g.value(), want, "backward"));
  Ref<TensorImpl>& slot = s.record_grad_slot(k);
  if (!slot) {
    if (anomaly_on && !all_finite(g.value())) [[unlikely]]
      grad_anomaly(s, k, Array(), g.value());
    slot = ref_of(g);
    return;
  }
  const Array before = anomaly_on ? slot->value.clone() : Array();
  if (create_graph) {
    Tensor sum = add(Tensor(slot), g);
    slot = ref_of(sum);
  } else if (owned(slot)) {
    add_inplace(slot->value, g.value());
  } else {
    Array sum = slot->value.clone();
    add_inplace(sum, g.value());
    slot = constant(std::move(sum));
  }
  if (anomaly_on && !all_finite(slot->value)) [[unlikely]]
    grad_anomaly(s, k, before, g.value());
}

void apply_tensor_hooks(TapeStore& s, std::uint32_t k) {
  const Record& r = s.record(k);
  if (!r.out->extras || !r.out->extras->hooks || r.out->extras->hooks->fns.empty()) return;
  Ref<TensorImpl>& slot = s.record_grad_slot(k);
  if (!slot) return;
  // A copy: a hook may remove itself.
  const auto fns = r.out->extras->hooks->fns;
  for (const auto& [id, fn] : fns) {
    Tensor out = fn(Tensor(slot));
    if (!out.defined()) continue;
    check_same_shape("hook", "returned gradient", out.shape(), r.out->value.shape());
    slot = ref_of(out);
  }
}

[[noreturn]] void throw_modified(const TapeStore& s, std::uint32_t k, const Input& in, std::size_t i) {
  const std::string label = in.tensor->extras ? in.tensor->extras->label : std::string();
  const bool leaf = !in.tensor->tape;
  throw std::logic_error(fmt::format(
      "backward: {}{} {} was modified in place after {} #{} used it as input {} (created at {}:{}; version {} then, {} "
      "now); run the forward again after changing it",
      leaf ? "leaf" : "tensor", label.empty() ? "" : fmt::format(" '{}'", label), in.tensor->value.shape().str(),
      s.record(k).name.view(), k, i, s.record(k).site.file_name(), s.record(k).site.line(), in.version,
      in.tensor->value.version()));
}

// Refuses to differentiate record k when a value it saved changed after it was recorded (PyTorch's version counter).
void check_record_versions(const TapeStore& s, std::uint32_t k) {
  const Record& r = s.record(k);
  const auto ins = s.inputs_of(k);
  for (std::size_t i = 0; i < r.num_tensors; ++i) {
    const Input& in = ins[i];
    if (in.tensor->value.storage() != in.storage || in.tensor->value.version() != in.version) throw_modified(s, k, in, i);
  }
  if (r.out && (r.out->value.storage() != r.storage || r.out->value.version() != r.version))
    throw std::logic_error(fmt::format("backward: the result of {} was modified in place after it was recorded; run the "
                                       "forward again",
                                       describe_record(s, k)));
}

[[noreturn]] void throw_var_leaf_changed(std::size_t k, const VarSlot& v, const VarLeaf* leaf) {
  const std::string label = leaf->extras ? leaf->extras->label : std::string();
  throw std::logic_error(fmt::format(
      "backward: Var leaf{} was changed by set_value after it was recorded (leaf #{} of the tape, value {} then, {} "
      "now); run the forward again after changing it",
      label.empty() ? "" : fmt::format(" '{}'", label), k, v.value, leaf->value));
}

struct Walker {
  TapeStore& s;
  bool create_graph;
  bool slow;

  void scalars(std::uint32_t hi, std::uint32_t lo) {
    double* grads = s.grads();
    if (!slow) {
      double* leaf_grads = s.leaf_grads();
      const std::uint32_t* pend = s.pend_data();
      const std::uint32_t* pin = s.pin_data();
      const double* pd = s.pd_data();
      for (std::int64_t i = hi; i >= lo; --i) {
        const double g = grads[i];
        if (g == 0.0) continue;
        const std::uint32_t e = pend[i];
        for (std::uint32_t p = i ? pend[i - 1] : 0; p < e; ++p) {
          const std::uint32_t j = pin[p];
          (j & leaf_bit ? leaf_grads[j ^ leaf_bit] : grads[j]) += g * pd[p];
        }
      }
      return;
    }
    for (std::int64_t i = hi; i >= lo; --i) {
      const auto u = static_cast<std::uint32_t>(i);
      if (const HookList<double>* hooks = s.find_scalar_hooks(u)) {
        const auto fns = hooks->fns;
        for (const auto& [id, fn] : fns) grads[u] = fn(grads[u]);
      }
      const double g = grads[u];
      if (g == 0.0) continue;
      const auto in = s.scalar_inputs(u);
      const auto pd = s.scalar_partials(u);
      if (create_graph && !in.empty())
        throw std::logic_error("backward: create_graph does not flow through scalar Var nodes (they record numeric "
                               "partials); build the function from tensors for higher-order derivatives");
      for (std::size_t p = 0; p < in.size(); ++p) {
        double& target = s.grad_at(in[p]);
        const double before = target;
        target += g * pd[p];
        if (anomaly_on && !std::isfinite(target)) scalar_grad_anomaly(s, u, in[p], before, g, pd[p]);
      }
    }
  }

  void record(std::uint32_t k) {
    s.running = k;
    const Record& r = s.record(k);
    if (r.out) apply_tensor_hooks(s, k);
    if (r.is_leaf || !r.backward.call) return;
    if (r.out) {
      if (!r.out->grad) return;
    } else {
      const double* g = s.grads() + r.pos;
      bool any = false;
      for (std::uint32_t j = 0; j < r.count; ++j) any = any || g[j] != 0.0;
      if (!any) return;
      if (create_graph) throw std::logic_error("backward: create_graph does not flow through scalar Var nodes (Tensor::var)");
    }
    check_record_versions(s, k);
    BackwardContext ctx(s, k, create_graph);
    r.backward.call(r.backward.self, ctx);
  }
};

void deliver_to_leaves(TapeStore& s, std::int64_t k_top) {
  const double* leaf_grads = s.leaf_grads();
  // Checked while delivering, one touch per leaf: when this throws, leaf grads are unspecified (as in PyTorch).
  // Atomic: tapes on several threads may share a leaf. A leaf's hooks run on its complete gradient, here.
  const std::vector<VarSlot>& leaves = s.var_leaves();
  for (std::size_t k = 0; k < leaves.size(); ++k) {
    double g = leaf_grads[k];
    if (g == 0.0) continue;
    const VarSlot& v = leaves[k];
    VarLeaf* leaf = v.leaf;
    if (leaf->gen.load(std::memory_order_relaxed) != v.gen) continue;  // died since: nobody can read its grad
    if (leaf->version.load(std::memory_order_relaxed) != v.version) [[unlikely]]
      throw_var_leaf_changed(k, v, leaf);
    if (leaf->extras && leaf->extras->hooks) [[unlikely]] {
      const auto fns = leaf->extras->hooks->fns;
      for (const auto& [id, fn] : fns) g = fn(g);
    }
    std::atomic_ref<double>(leaf->grad).fetch_add(g, std::memory_order_relaxed);
  }
  for (std::int64_t k = 0; k <= k_top; ++k) {
    Record& r = s.record(static_cast<std::size_t>(k));
    if (!r.is_leaf || !r.grad) continue;
    TensorImpl* leaf = r.out.get();
    std::lock_guard lock(leaf->grad_lock);
    if (leaf->grad) {
      add_inplace(leaf->grad->value, r.grad->value);
    } else if (owned(r.grad)) {
      leaf->grad = r.grad;  // first gradient since zero_grad: take the buffer, no copy
    } else {
      leaf->grad = constant(r.grad->value.clone());
    }
  }
}

struct Root {
  TapeStore* s;
  std::uint32_t pos;
};

[[noreturn]] void throw_thread(std::string_view op, std::uint64_t epoch) {
  throw std::invalid_argument(fmt::format(
      "{}: root was recorded on a tape that another thread is using (tape epoch {}); run backward on the thread that "
      "recorded it",
      op, epoch));
}

Tensor seed_for(std::string_view op, const Tensor& root, const Tensor& seed) {
  if (seed.defined()) {
    check_same_shape(op, "seed", seed.shape(), root.shape());
    return seed.dtype() == root.dtype() ? seed : Tensor(seed.value().to(root.dtype()));
  }
  if (root.numel() != 1)
    throw std::invalid_argument(fmt::format(
        "{}: root {} has {} elements; pass a seed gradient of the same shape for a non-scalar root ({{.seed = ...}})", op,
        root.shape().str(), root.numel()));
  return Tensor(Array::full(root.shape(), 1.0, root.dtype()));
}

/// Runs the reverse pass from position `root` of s. Returns the last record the walk covered.
std::int64_t run(TapeStore& s, std::uint32_t root, const Tensor& seed, const BackwardOptions& opt, bool to_leaves) {
  const std::uint32_t top = walk_top(s, root);
  const std::int64_t k_top = s.record_at_or_below(top);
  s.reset_scalar_grads(top + 1);
  for (std::int64_t k = 0; k <= k_top; ++k) s.record_grad_slot(static_cast<std::size_t>(k)).reset();
  if (seed.defined())
    s.record_grad_slot(static_cast<std::size_t>(k_top)) = ref_of(seed);
  else
    s.grads()[root] = 1.0;

  const bool was_disabled = grad_disabled;
  grad_disabled = !opt.create_graph;
  const TapeStore* was_in = in_backward;
  in_backward = &s;
  struct Restore {
    bool disabled;
    const TapeStore* in;
    TapeStore& s;
    ~Restore() {
      grad_disabled = disabled;
      in_backward = in;
      s.running = no_record;
    }
  } restore{was_disabled, was_in, s};

  s.running = no_record;
  Walker w{s, opt.create_graph, anomaly_on || s.has_scalar_hooks() || opt.create_graph};
  reverse_walk(s, top, [&](std::uint32_t hi, std::uint32_t lo) { w.scalars(hi, lo); }, [&](std::uint32_t k) { w.record(k); });
  if (to_leaves) deliver_to_leaves(s, k_top);
  if (!opt.retain_graph.value_or(opt.create_graph)) s.release_later();
  return k_top;
}

TapeStore& live_store(std::string_view op, const Tape* tape, std::uint64_t epoch, bool leaf) {
  Tape* t = Tape::find_live(tape, epoch);
  if (!t) {
    if (leaf || !tape)
      throw std::logic_error(fmt::format("{}: root is a leaf or a constant; nothing was recorded to differentiate", op));
    throw std::logic_error(stale_message(op, tape, epoch));
  }
  if (!used_by_this_thread(*t)) throw_thread(op, epoch);
  return store(*t);
}

}  // namespace

}  // namespace detail

void backward(const Var& root, const BackwardOptions& opt) {
  if (opt.seed.defined()) throw std::invalid_argument("backward: a seed is for tensor roots (a Var root is seeded with 1)");
  detail::TapeStore& s = detail::live_store("backward", root.tape(), root.epoch(), root.is_leaf());
  if (opt.create_graph) throw std::logic_error("backward: create_graph does not flow through scalar Var nodes");
  detail::run(s, root.index(), Tensor(), opt, true);
}

void backward(const Tensor& root, const BackwardOptions& opt) {
  if (!root.defined()) throw std::logic_error("backward: root is an undefined tensor");
  const detail::TensorImpl* p = root.impl();
  detail::TapeStore& s = detail::live_store("backward", p->tape, p->epoch, !p->tape);
  const Tensor seed = detail::seed_for("backward", root, opt.seed);
  detail::run(s, s.record(p->rec).pos, seed, opt, true);
}

std::vector<Tensor> gradient(const Tensor& root, const std::vector<Tensor>& inputs, const BackwardOptions& opt) {
  if (!root.defined()) throw std::logic_error("gradient: root is an undefined tensor");
  const detail::TensorImpl* p = root.impl();
  detail::TapeStore& s = detail::live_store("gradient", p->tape, p->epoch, !p->tape);
  for (const Tensor& in : inputs) {
    if (!in.defined()) throw std::invalid_argument("gradient: an input is an undefined tensor");
    const detail::TensorImpl* q = in.impl();
    if (q->tape && q->epoch != s.epoch()) detail::throw_bad_operand(s, q->tape, q->epoch, "gradient");
  }
  const Tensor seed = detail::seed_for("gradient", root, opt.seed);
  const std::int64_t k_top = detail::run(s, s.record(p->rec).pos, seed, opt, false);
  std::vector<Tensor> out;
  for (const Tensor& in : inputs) {
    const detail::TensorImpl* q = in.impl();
    Tensor g;
    auto add_grad = [&](const detail::Ref<detail::TensorImpl>& more) {
      if (!more) return;
      if (!g.defined()) {
        g = Tensor(more);
      } else if (opt.create_graph) {
        g = add(g, Tensor(more));
      } else {
        Array sum = g.value().clone();
        add_inplace(sum, more->value);
        g = Tensor(std::move(sum));
      }
    };
    if (q->tape) {
      if (static_cast<std::int64_t>(q->rec) <= k_top) add_grad(s.record(q->rec).out->grad);
    } else {
      // A leaf may hold several registrations on this tape (it was used again after its hint moved on).
      for (std::int64_t k = 0; k <= k_top; ++k) {
        const detail::Record& r = s.record(static_cast<std::size_t>(k));
        if (r.is_leaf && r.out.get() == q) add_grad(r.grad);
      }
    }
    out.push_back(g.defined() ? g : Tensor(Array::zeros(in.shape(), in.dtype())));
  }
  return out;
}

BackwardContext::Slot BackwardContext::operator[](std::size_t i) {
  const detail::Record& r = store_.record(rec_);
  if (i >= r.num_tensors)
    throw std::logic_error(fmt::format("{}: backward used dx[{}] but the op has {} tensor input{}", r.name.view(), i,
                                       r.num_tensors, r.num_tensors == 1 ? "" : "s"));
  return Slot(this, static_cast<std::uint32_t>(i));
}

BackwardContext::VarSlot BackwardContext::var(std::size_t i) {
  const detail::Record& r = store_.record(rec_);
  if (i >= r.num_vars)
    throw std::logic_error(fmt::format("{}: backward used dx.var({}) but the op has {} Var input{}", r.name.view(), i,
                                       r.num_vars, r.num_vars == 1 ? "" : "s"));
  return VarSlot(this, static_cast<std::uint32_t>(i));
}

bool BackwardContext::Slot::wanted() const {
  const detail::TapeStore& s = ctx_->store_;
  return s.input(s.record(ctx_->rec_).first_input + i_).rec != detail::no_record;
}

void BackwardContext::Slot::operator+=(const Tensor& g) {
  detail::TapeStore& s = ctx_->store_;
  const detail::Record& r = s.record(ctx_->rec_);
  const detail::Input& in = s.input(r.first_input + i_);
  const Array& x = in.tensor->value;
  if (!g.defined())
    throw std::logic_error(fmt::format("{}: backward added an undefined gradient to dx[{}]", r.name.view(), i_));
  if (g.dtype() != x.dtype())
    throw std::logic_error(fmt::format("{}: backward added a {} gradient to dx[{}], a {} input", r.name.view(),
                                       dtype_name(g.dtype()), i_, dtype_name(x.dtype())));
  if (!(g.shape() == x.shape()) && !broadcasts_to(x.shape(), g.shape()))
    throw std::logic_error(fmt::format("{}: backward added a gradient of shape {} to dx[{}], an input of shape {}",
                                       r.name.view(), g.shape().str(), i_, x.shape().str()));
  if (in.rec == detail::no_record) return;
  detail::accumulate(s, in.rec, g, ctx_->create_graph_);
}

void BackwardContext::add_elements(std::size_t i, std::int64_t flat, std::span<const double> g) {
  const detail::Record& r = store_.record(rec_);
  const detail::Input& in = store_.input(r.first_input + (*this)[i].i_);
  if (in.rec == detail::no_record) return;
  detail::Ref<detail::TensorImpl>& slot = store_.record_grad_slot(in.rec);
  const Array& x = in.tensor->value;
  if (!slot)
    slot = detail::constant(Array::zeros(x.shape(), x.dtype()));
  else if (!detail::owned(slot))
    slot = detail::constant(slot->value.clone());
  Array& a = slot->value;
  for (std::size_t j = 0; j < g.size(); ++j)
    if (g[j] != 0.0) a.set(flat + static_cast<std::int64_t>(j), a.at(flat + static_cast<std::int64_t>(j)) + g[j]);
}

void BackwardContext::VarSlot::operator+=(double g) {
  detail::TapeStore& s = ctx_->store_;
  const detail::Record& r = s.record(ctx_->rec_);
  if (ctx_->create_graph_) throw std::logic_error(fmt::format("{}: create_graph does not flow into scalar Var nodes", r.name.view()));
  const std::uint32_t pos = s.input(r.first_input + r.num_tensors + i_).pos;
  double& target = s.grad_at(pos);
  const double before = target;
  target += g;
  if (detail::anomaly_on && !std::isfinite(target)) detail::scalar_grad_anomaly(s, pos, pos, before, g, 1.0);
}

}  // namespace autodiff
