// Var members, and the pool of Var leaves (type-stable: a leaf's memory is reused for leaves only, never freed).
#include "autodiff/tape.hpp"

#include <fmt/format.h>

#include <mutex>
#include <vector>

namespace autodiff {

namespace detail {
namespace {

constexpr std::size_t leaf_chunk = 256;

struct GlobalLeaves {
  std::mutex mutex;
  std::vector<std::unique_ptr<VarLeaf[]>> chunks;  // kept to the end, so the leaves stay reachable
  std::vector<VarLeaf*> free;
};
GlobalLeaves& global_leaves() {
  static auto* g = new GlobalLeaves;  // never destroyed: tapes on other threads may still read leaves at exit
  return *g;
}

constinit thread_local AUTODIFF_TLS bool leaf_cache_gone = false;
struct LeafCache {
  std::vector<VarLeaf*> free;
  ~LeafCache() {
    leaf_cache_gone = true;
    GlobalLeaves& g = global_leaves();
    std::lock_guard lock(g.mutex);
    g.free.insert(g.free.end(), free.begin(), free.end());
  }
};
constinit thread_local AUTODIFF_TLS LeafCache* leaf_cache_ptr = nullptr;  // see pool() in array.cpp
LeafCache& leaf_cache() {
  if (LeafCache* c = leaf_cache_ptr) [[likely]]
    return *c;
  thread_local LeafCache c;
  leaf_cache_ptr = &c;
  return c;
}

VarLeaf* take_leaf() {
  if (!leaf_cache_gone) {
    LeafCache& c = leaf_cache();
    if (!c.free.empty()) {
      VarLeaf* l = c.free.back();
      c.free.pop_back();
      return l;
    }
  }
  GlobalLeaves& g = global_leaves();
  std::lock_guard lock(g.mutex);
  if (g.free.empty()) {
    g.chunks.push_back(std::make_unique<VarLeaf[]>(leaf_chunk));
    for (std::size_t i = leaf_chunk; i-- > 0;) g.free.push_back(&g.chunks.back()[i]);
  }
  VarLeaf* l = g.free.back();
  g.free.pop_back();
  return l;
}

}  // namespace

VarLeaf* new_var_leaf() {
  VarLeaf* l = take_leaf();
  l->refs.store(1, std::memory_order_relaxed);
  l->value = 0.0;
  l->grad = 0.0;
  l->gen.fetch_add(1, std::memory_order_relaxed);  // a tape holding the previous leaf here now sees it gone
  l->reg.store(0, std::memory_order_relaxed);
  return l;
}

void VarLeaf::destroy(VarLeaf* leaf) noexcept {
  leaf->extras.reset();
  leaf->gen.fetch_add(1, std::memory_order_relaxed);
  if (!leaf_cache_gone) {
    LeafCache& c = leaf_cache();
    if (c.free.size() < 4096) {
      c.free.push_back(leaf);
      return;
    }
  }
  GlobalLeaves& g = global_leaves();
  std::lock_guard lock(g.mutex);
  g.free.push_back(leaf);
}

namespace {
TapeStore& live(const NodeRef& n, std::string_view what) {
  Tape* t = Tape::find_live(n.tape, n.epoch);
  if (!t) {
    if (!n.tape) throw std::logic_error(fmt::format("{}: empty handle (a moved-from Var)", what));
    throw std::logic_error(stale_message(what, n.tape, n.epoch));
  }
  return store(*t);
}
}  // namespace
}  // namespace detail

Var::Var(double value) : leaf_(detail::Ref<detail::VarLeaf>::adopt(detail::new_var_leaf())) { leaf_->value = value; }

double Var::empty_value() { throw std::logic_error("Var::value: empty handle (a moved-from Var)"); }

double Var::node_grad() const { return detail::live(node_, "Var::grad").scalar_grad(node_.index); }

void Var::set_value(double v) {
  if (!leaf_) throw std::logic_error("Var::set_value: not a leaf (op results are computed, not set)");
  leaf_->value = v;
  leaf_->version.fetch_add(1, std::memory_order_relaxed);
}


Var& Var::label(std::string name) {
  if (leaf_) {
    if (!leaf_->extras) leaf_->extras = std::make_unique<detail::VarExtras>();
    leaf_->extras->label = std::move(name);
  } else {
    detail::live(node_, "Var::label").set_scalar_label(node_.index, std::move(name));
  }
  return *this;
}

std::string Var::label() const {
  if (leaf_) return leaf_->extras ? leaf_->extras->label : std::string();
  return detail::live(node_, "Var::label").scalar_label(node_.index);
}

HookHandle Var::register_hook(std::function<double(double)> fn) {
  share();  // a node grown by += after this would hand the hook a different node's gradient
  std::shared_ptr<detail::HookList<double>>* list;
  if (leaf_) {
    if (!leaf_->extras) leaf_->extras = std::make_unique<detail::VarExtras>();
    list = &leaf_->extras->hooks;
  } else {
    list = &detail::live(node_, "Var::register_hook").scalar_hooks(node_.index);
  }
  if (!*list) *list = std::make_shared<detail::HookList<double>>();
  const std::uint64_t id = (*list)->add([fn = std::move(fn)](const double& g) { return fn(g); });
  return HookHandle(*list, id);
}

}  // namespace autodiff
