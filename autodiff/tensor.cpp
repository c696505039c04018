// Tensor members, and the per-thread pool of tensor nodes (eager backward makes one per intermediate gradient).
#include "autodiff/tape.hpp"

#include <fmt/format.h>

#include <mutex>
#include <vector>

namespace autodiff {

namespace detail {
namespace {
constinit thread_local AUTODIFF_TLS bool impl_pool_gone = false;
struct ImplPool {
  std::vector<TensorImpl*> free;
  ~ImplPool() {
    impl_pool_gone = true;
    for (TensorImpl* p : free) delete p;
  }
};
constinit thread_local AUTODIFF_TLS ImplPool* impl_pool_cache = nullptr;  // see pool() in array.cpp
ImplPool& impl_pool() {
  if (ImplPool* p = impl_pool_cache) [[likely]]
    return *p;
  thread_local ImplPool p;
  impl_pool_cache = &p;
  return p;
}
}  // namespace

TensorImpl* new_tensor_impl() {
  if (!impl_pool_gone) {
    ImplPool& p = impl_pool();
    if (!p.free.empty()) {
      TensorImpl* t = p.free.back();
      p.free.pop_back();
      t->refs.store(1, std::memory_order_relaxed);
      return t;
    }
  }
  return new TensorImpl;
}

void TensorImpl::destroy(TensorImpl* impl) noexcept {
  if (impl_pool_gone || impl_pool().free.size() >= 4096) {
    delete impl;
    return;
  }
  impl->value = Array();
  impl->grad.reset();
  impl->tape = nullptr;
  impl->epoch = 0;
  impl->rec = 0;
  impl->requires_grad = false;
  impl->reg.store(0, std::memory_order_relaxed);
  impl->extras.reset();
  impl_pool().free.push_back(impl);
}
}  // namespace detail

void Tensor::throw_undefined(const char* what) {
  throw std::logic_error(fmt::format("{}: undefined tensor (default-constructed or moved-from)", what));
}

Tensor::Tensor(Array value, bool requires_grad) : impl_(detail::Ref<detail::TensorImpl>::adopt(detail::new_tensor_impl())) {
  if (requires_grad && !is_float(value.dtype()))
    throw std::invalid_argument(fmt::format("Tensor: a {} tensor cannot require grad (only float32 and float64 can)",
                                            dtype_name(value.dtype())));
  impl_->value = std::move(value);
  impl_->requires_grad = requires_grad;
}

Tensor Tensor::grad() const {
  if (!impl_) throw_undefined("Tensor::grad");
  if (!impl_->tape) {
    std::lock_guard lock(impl_->grad_lock);
    return Tensor(impl_->grad);
  }
  return Tensor(impl_->grad);
}

Array& Tensor::leaf_value() {
  if (!impl_) throw_undefined("Tensor::leaf_value");
  if (impl_->tape) throw std::logic_error("Tensor::leaf_value: not a leaf (op results are computed, not set)");
  return impl_->value;
}

Array& Tensor::leaf_grad() {
  if (!impl_) throw_undefined("Tensor::leaf_grad");
  if (impl_->tape) throw std::logic_error("Tensor::leaf_grad: not a leaf");
  std::lock_guard lock(impl_->grad_lock);
  if (!impl_->grad) {
    detail::TensorImpl* g = detail::new_tensor_impl();
    g->value = Array::zeros(impl_->value.shape(), impl_->value.dtype());
    impl_->grad = detail::Ref<detail::TensorImpl>::adopt(g);
  }
  return impl_->grad->value;
}

void Tensor::zero_grad() {
  if (!impl_) return;
  std::lock_guard lock(impl_->grad_lock);
  impl_->grad.reset();
}

double Tensor::item() const {
  const Array& v = value();
  if (v.numel() != 1)
    throw std::invalid_argument(fmt::format("Tensor::item: {} has {} elements; item() reads a one-element tensor (use at(i) "
                                            "for element i)",
                                            v.shape().str(), v.numel()));
  return v.at(0);
}

std::vector<double> Tensor::to_vector() const {
  const Array& v = value();
  std::vector<double> out(static_cast<std::size_t>(v.numel()));
  dispatch_all(v.dtype(), [&]<class T>(T) {
    const T* p = v.data<T>();
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(p[i]);
  });
  return out;
}

Tensor& Tensor::label(std::string name) {
  if (!impl_) throw_undefined("Tensor::label");
  if (!impl_->extras) impl_->extras = std::make_unique<detail::TensorExtras>();
  impl_->extras->label = std::move(name);
  return *this;
}

std::string Tensor::label() const {
  return impl_ && impl_->extras ? impl_->extras->label : std::string();
}

HookHandle Tensor::register_hook(std::function<Tensor(const Tensor&)> fn) {
  if (!impl_) throw_undefined("Tensor::register_hook");
  if (!impl_->extras) impl_->extras = std::make_unique<detail::TensorExtras>();
  auto& list = impl_->extras->hooks;
  if (!list) list = std::make_shared<detail::HookList<Tensor>>();
  const std::uint64_t id = list->add(std::move(fn));
  return HookHandle(list, id);
}

}  // namespace autodiff
