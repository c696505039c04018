// Recording into one tape's node stream: leaf registration, tensor records and their inputs, clearing.
#include "autodiff/detail/tape_store.hpp"

#include "autodiff/detail/anomaly.hpp"
#include "autodiff/tape.hpp"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

namespace autodiff::detail {

namespace {
constexpr std::size_t arena_block_bytes = 1 << 16;
}  // namespace

void RecordStore::clear() {
  for (std::size_t i = 0; i < size_; ++i) {
    Record& r = (*this)[i];
    if (r.backward.destroy) r.backward.destroy(r.backward.self);
    r = Record{};
  }
  size_ = 0;
}

TapeStore::TapeStore(Tape* tape) : tape_(tape), epoch_(fresh_epoch()) {}

TapeStore::~TapeStore() { clear("destroyed"); }

void TapeStore::clear(std::string_view reason) {
  records_.clear();
  inputs_.clear();
  val_.clear();
  pend_.clear();
  op_.clear();
  pin_.clear();
  pd_.clear();
  scalar_ops_ = 0;
  open_ = UINT32_MAX;
  grads_valid_ = 0;
  var_leaves_.clear();
  scalar_labels_.clear();
  custom_names_.clear();
  scalar_sites_.clear();
  scalar_hooks_.clear();
  arena_block_ = 0;
  arena_used_ = 0;
  running = no_record;
  prev_epoch_ = epoch_;
  prev_reason_ = reason;
  epoch_ = fresh_epoch();
  release_pending_ = false;
}

double TapeStore::scalar_bytes_per_op() const {
  const auto n = scalar_ops_;
  if (n == 0) return 0.0;
  const double bytes = static_cast<double>(val_.size() * (sizeof(double) * 2 + sizeof(std::uint32_t) + sizeof(ScalarOp)) +
                                           pin_.size() * (sizeof(std::uint32_t) + sizeof(double)) +
                                           var_leaves_.size() * sizeof(VarSlot));
  return bytes / static_cast<double>(n);
}

std::uint32_t TapeStore::next_position(std::uint32_t count) {
  open_ = UINT32_MAX;  // a tensor record may read the open node
  const auto pos = static_cast<std::uint32_t>(val_.size());
  for (std::uint32_t j = 0; j < count; ++j) {
    val_.push_back(0.0);
    pend_.push_back(static_cast<std::uint32_t>(pin_.size()));
    op_.push_back(ScalarOp::record);
  }
  return pos;
}

std::uint32_t TapeStore::register_leaf(VarLeaf* leaf) {
  if (var_leaves_.size() >= leaf_bit - 1) throw std::length_error("tape: more than 2^31 - 1 Var leaves registered (clear the tape between steps)");
  const auto k = static_cast<std::uint32_t>(var_leaves_.size());
  var_leaves_.push_back(VarSlot{leaf, leaf->gen.load(std::memory_order_relaxed), leaf->version.load(std::memory_order_relaxed), leaf->value});
  leaf->reg.store(hint(k), std::memory_order_relaxed);
  return k | leaf_bit;
}

const VarSlot* TapeStore::var_leaf_at(std::uint32_t i) const {
  if (!(i & leaf_bit) || (i ^ leaf_bit) >= var_leaves_.size()) return nullptr;
  return &var_leaves_[i ^ leaf_bit];
}

std::uint32_t TapeStore::register_tensor_leaf(TensorImpl* leaf) {
  const std::uint32_t pos = next_position(1);
  const auto k = static_cast<std::uint32_t>(records_.size());
  Record& r = records_.emplace_back();
  r.pos = pos;
  r.is_leaf = true;
  leaf->refs.fetch_add(1, std::memory_order_relaxed);
  r.out = Ref<TensorImpl>::adopt(leaf);
  r.storage = leaf->value.storage();
  r.version = leaf->value.version();
  leaf->reg.store(hint(k), std::memory_order_relaxed);
  return k;
}

Input TapeStore::resolve(const Tensor& t, OpName op) {
  TensorImpl* p = t.impl();
  Input in;
  in.storage = p->value.storage();
  in.version = p->value.version();
  if (p->tape) {
    if (p->epoch != epoch_) throw_bad_operand(*this, p->tape, p->epoch, op.view());
    in.rec = p->rec;
  } else if (p->requires_grad) {
    const std::size_t i = hinted_index(p->reg.load(std::memory_order_relaxed));
    if (i && i <= records_.size() && records_[i - 1].is_leaf && records_[i - 1].out.get() == p)
      in.rec = static_cast<std::uint32_t>(i - 1);
    else
      in.rec = register_tensor_leaf(p);
  }
  p->refs.fetch_add(1, std::memory_order_relaxed);
  in.tensor = Ref<TensorImpl>::adopt(p);
  return in;
}

std::uint32_t TapeStore::push_record(OpName op, Array value, std::span<const Tensor> inputs, std::span<const Var> vars,
                                     const Site& site) {
  const std::size_t first = inputs_.size();
  try {
    for (const Tensor& t : inputs) inputs_.push_back(resolve(t, op));
    for (const Var& v : vars) {
      Input in;
      in.pos = slot(v, op.view());
      inputs_.push_back(std::move(in));
    }
  } catch (...) {
    inputs_.resize(first);
    throw;
  }
  const std::uint32_t pos = next_position(1);
  const auto k = static_cast<std::uint32_t>(records_.size());
  Record& r = records_.emplace_back();
  r.name = op;
  r.pos = pos;
  r.first_input = static_cast<std::uint32_t>(first);
  r.num_tensors = static_cast<std::uint32_t>(inputs.size());
  r.num_vars = static_cast<std::uint32_t>(vars.size());
  r.site = site;
  TensorImpl* impl = new_tensor_impl();
  impl->value = std::move(value);
  impl->requires_grad = true;
  impl->tape = tape_;
  impl->epoch = epoch_;
  impl->rec = k;
  r.out = Ref<TensorImpl>::adopt(impl);
  r.storage = impl->value.storage();
  r.version = impl->value.version();
  return k;
}

std::uint32_t TapeStore::push_scalar_record(OpName op, const Tensor& input, std::int64_t flat, std::span<const double> values,
                                           const Site& site) {
  const std::size_t first = inputs_.size();
  inputs_.push_back(resolve(input, op));
  const auto count = static_cast<std::uint32_t>(values.size());
  const std::uint32_t pos = next_position(count);
  for (std::uint32_t j = 0; j < count; ++j) {
    val_[pos + j] = values[j];
    op_[pos + j] = ScalarOp::item;
  }
  const auto k = static_cast<std::uint32_t>(records_.size());
  Record& r = records_.emplace_back();
  r.name = op;
  r.pos = pos;
  r.count = count;
  r.flat = flat;
  r.first_input = static_cast<std::uint32_t>(first);
  r.num_tensors = 1;
  r.site = site;
  return k;
}

void* TapeStore::arena_alloc(std::size_t bytes, std::size_t align) {
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
      throw std::invalid_argument(
          fmt::format("make_op: backward closure of {} bytes is too large (at most {} bytes)", bytes, arena_block_bytes - align));
    arena_.push_back(std::make_unique<std::byte[]>(arena_block_bytes));
  }
}

std::int64_t TapeStore::record_at_or_below(std::uint32_t pos) const {
  std::size_t lo = 0, hi = records_.size();
  while (lo < hi) {
    const std::size_t mid = (lo + hi) / 2;
    if (records_[mid].pos <= pos)
      lo = mid + 1;
    else
      hi = mid;
  }
  return static_cast<std::int64_t>(lo) - 1;
}

std::string TapeStore::scalar_label(std::uint32_t i) const {
  if (const VarSlot* s = var_leaf_at(i)) {
    if (s->leaf->gen.load(std::memory_order_relaxed) != s->gen) return std::string();
    return s->leaf->extras ? s->leaf->extras->label : std::string();
  }
  auto it = scalar_labels_.find(i);
  return it == scalar_labels_.end() ? std::string() : it->second;
}

Var TapeStore::push_custom(OpName op, double value, std::span<const std::uint32_t> inputs, std::span<const double> partials,
                           const Site& site) {
  pin_.reserve_extra(inputs.size());
  pd_.reserve_extra(inputs.size());
  for (std::size_t j = 0; j < inputs.size(); ++j) {
    pin_.push_unchecked(inputs[j]);
    pd_.push_unchecked(partials[j]);
  }
  custom_names_.insert_or_assign(static_cast<std::uint32_t>(val_.size()), op);
  return push(value, ScalarOp::custom, site);
}

void throw_stale_expression(const TapeStore& t) {
  throw std::logic_error(fmt::format(
      "Var expression: its operands were read on an earlier graph, another thread's tape or under NoGrad, and the "
      "current tape (epoch {}) cannot record it; store an expression in a Var where it is written (Var y = a * b;, "
      "not auto y = a * b;)",
      t.epoch()));
}

std::string_view TapeStore::scalar_op_name(std::uint32_t i) const {
  if (i & leaf_bit) return op_name(ScalarOp::leaf);
  if (op_[i] == ScalarOp::custom)
    if (auto it = custom_names_.find(i); it != custom_names_.end()) return it->second.view();
  return op_name(op_[i]);
}

const HookList<double>* TapeStore::find_scalar_hooks(std::uint32_t i) const {
  auto it = scalar_hooks_.find(i);
  return it == scalar_hooks_.end() ? nullptr : it->second.get();
}

void TapeStore::note_scalar_site(double value, ScalarOp op, const Site& site) {
  const auto i = static_cast<std::uint32_t>(val_.size());
  scalar_sites_.insert_or_assign(i, site);
  if (!std::isfinite(value)) scalar_anomaly(op, value, i, site);
}

Site TapeStore::scalar_site(std::uint32_t i) const {
  auto it = scalar_sites_.find(i);
  return it == scalar_sites_.end() ? Site::unknown() : it->second;
}

void TapeStore::reset_scalar_grads(std::uint32_t hi) {
  if (grads_.size() < val_.size()) grads_.resize(val_.size());
  std::fill_n(grads_.begin(), hi, 0.0);
  leaf_grads_.assign(var_leaves_.size(), 0.0);
  grads_valid_ = std::max<std::size_t>(grads_valid_, hi);
}

void throw_bad_operand(const TapeStore& store, const Tape* owner, std::uint64_t epoch, std::string_view op) {
  if (!owner) throw std::logic_error(fmt::format("{}: empty handle (a moved-from Var or Tensor)", op));
  if (Tape::find_live(owner, epoch))
    throw std::invalid_argument(fmt::format(
        "{}: operand was recorded on another tape (mixing tapes; operand tape epoch {}, current tape epoch {})", op, epoch,
        store.epoch()));
  throw std::logic_error(stale_message(op, owner, epoch));
}

}  // namespace autodiff::detail
