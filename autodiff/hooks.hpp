// Gradient hooks: lists of callbacks run when a node's gradient is complete, and the handle that removes one.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

namespace autodiff {

namespace detail {
/// Hooks of one node; G is double (Var) or Tensor. A hook's non-empty result replaces the gradient.
template <class G>
struct HookList {
  std::vector<std::pair<std::uint64_t, std::function<G(const G&)>>> fns;
  std::uint64_t next_id = 1;
  std::uint64_t add(std::function<G(const G&)> fn) {
    fns.emplace_back(next_id, std::move(fn));
    return next_id++;
  }
  void erase(std::uint64_t id) {
    for (auto it = fns.begin(); it != fns.end(); ++it)
      if (it->first == id) {
        fns.erase(it);
        return;
      }
  }
};
}  // namespace detail

/// Returned by register_hook: the hook stays registered while this handle lives (or until remove()); keep() leaves
/// it registered for good. A handle outliving its node is harmless.
class [[nodiscard]] HookHandle {
 public:
  HookHandle() = default;
  template <class G>
  HookHandle(const std::shared_ptr<detail::HookList<G>>& list, std::uint64_t id)
      : list_(list), id_(id), erase_([](void* l, std::uint64_t i) { static_cast<detail::HookList<G>*>(l)->erase(i); }) {}
  HookHandle(HookHandle&& o) noexcept : list_(std::move(o.list_)), id_(o.id_), erase_(o.erase_) { o.id_ = 0; }
  HookHandle& operator=(HookHandle&& o) noexcept {
    if (this != &o) {
      remove();
      list_ = std::move(o.list_);
      id_ = std::exchange(o.id_, 0);
      erase_ = o.erase_;
    }
    return *this;
  }
  HookHandle(const HookHandle&) = delete;
  HookHandle& operator=(const HookHandle&) = delete;
  ~HookHandle() { remove(); }

  /// Unregisters the hook (nothing happens if it is already gone).
  void remove() {
    if (auto l = list_.lock(); l && id_) erase_(l.get(), id_);
    id_ = 0;
    list_.reset();
  }
  /// Keeps the hook registered after this handle is destroyed.
  void keep() {
    id_ = 0;
    list_.reset();
  }

 private:
  std::weak_ptr<void> list_;
  std::uint64_t id_ = 0;
  void (*erase_)(void*, std::uint64_t) = nullptr;
};

}  // namespace autodiff
