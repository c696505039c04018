// Intrusive reference counting, written once for Array storage, Tensor nodes and Var leaves.
#pragma once

#include <atomic>
#include <utility>

namespace autodiff::detail {

/// A counted reference to a T that has `std::atomic<int> refs` and a static `destroy(T*) noexcept`, called when the
/// last reference goes. Copies count, moves steal and leave the source empty.
template <class T>
class Ref {
 public:
  Ref() noexcept = default;
  /// Adopts a reference already counted in p->refs (a fresh object starts at 1).
  static Ref adopt(T* p) noexcept {
    Ref r;
    r.p_ = p;
    return r;
  }
  Ref(const Ref& o) noexcept : p_(o.p_) {
    if (p_) p_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  Ref(Ref&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  Ref& operator=(const Ref& o) noexcept {
    Ref(o).swap(*this);
    return *this;
  }
  Ref& operator=(Ref&& o) noexcept {
    Ref(std::move(o)).swap(*this);
    return *this;
  }
  ~Ref() { reset(); }

  void reset() noexcept {
    if (T* p = std::exchange(p_, nullptr); p && p->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) T::destroy(p);
  }
  void swap(Ref& o) noexcept { std::swap(p_, o.p_); }
  T* get() const noexcept { return p_; }
  T* operator->() const noexcept { return p_; }
  T& operator*() const noexcept { return *p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }
  /// True when this is the only reference.
  bool unique() const noexcept { return p_ && p_->refs.load(std::memory_order_acquire) == 1; }
  friend bool operator==(const Ref& a, const Ref& b) noexcept { return a.p_ == b.p_; }

 private:
  T* p_ = nullptr;
};

/// A per-object lock for rare cross-thread updates (a leaf's gradient accumulated by two threads' tapes).
class SpinLock {
 public:
  void lock() noexcept {
    while (flag_.test_and_set(std::memory_order_acquire))
      while (flag_.test(std::memory_order_relaxed)) {
      }
  }
  void unlock() noexcept { flag_.clear(std::memory_order_release); }

 private:
  std::atomic_flag flag_;
};

}  // namespace autodiff::detail
