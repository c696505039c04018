// Tensor: the differentiable n-D handle (float or double). Every tensor owns its value; op results also name the
// tape record that made them, until that tape is cleared or released.
#pragma once

#include "autodiff/array.hpp"
#include "autodiff/detail/ref.hpp"
#include "autodiff/hooks.hpp"
#include "autodiff/site.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace autodiff {

class Tape;
class Var;
class Tensor;

namespace detail {
struct TensorExtras {
  std::string label;
  std::shared_ptr<HookList<Tensor>> hooks;
};

/// What a Tensor handle points to. Pooled per thread.
struct TensorImpl {
  std::atomic<int> refs{1};
  Array value;
  Ref<TensorImpl> grad;  // leaf: accumulated gradient; op result: from the latest backward that walked it
  Tape* tape = nullptr;        // op result: the tape that recorded it,
  std::uint64_t epoch = 0;     //   that tape's epoch at the time
  std::uint32_t rec = 0;       //   and its record there
  bool requires_grad = false;  // leaves: a trainable parameter; op results: always true
  std::atomic<std::uint64_t> reg{0};  // leaf: hint to its registration on the last tape that used it (TapeStore::hint)
  SpinLock grad_lock;                 // leaf: its grad may be delivered by several threads' tapes at once
  std::unique_ptr<TensorExtras> extras;
  static void destroy(TensorImpl* impl) noexcept;
};
/// A fresh impl (refs 1) from this thread's pool.
TensorImpl* new_tensor_impl();
}  // namespace detail

/// A differentiable n-D array. Parameters and inputs are leaves; results of ops are recorded on the current tape.
/// With no tape history (constants, or results computed under NoGrad) a Tensor just holds its value.
/// A Tensor keeps its value (and the gradient of the latest backward) after its tape is cleared; it can then no
/// longer take part in recorded ops (use detach() for its value as a constant).
class Tensor {
 public:
  Tensor() = default;
  /// A leaf holding `value`; its grad accumulates across backward calls when requires_grad is true.
  explicit Tensor(Array value, bool requires_grad = false);
  /// Leaf that requires grad (a trainable parameter).
  static Tensor parameter(Array value) { return Tensor(std::move(value), true); }

  bool defined() const { return static_cast<bool>(impl_); }
  /// True for leaves and constants: tensors with no recorded history.
  bool is_leaf() const { return impl_ && !impl_->tape; }
  /// True for parameters and for op results.
  bool requires_grad() const { return impl_ && impl_->requires_grad; }

  /// @throws std::logic_error on an undefined tensor.
  const Array& value() const {
    if (!impl_) [[unlikely]]
      throw_undefined("Tensor::value");
    return impl_->value;
  }
  const Shape& shape() const { return value().shape(); }
  Dtype dtype() const { return value().dtype(); }
  std::int64_t numel() const { return value().numel(); }
  int rank() const { return value().rank(); }

  /// Leaf: accumulated gradient. Op result: its gradient from the latest backward that walked it, itself
  /// differentiable when that backward ran with create_graph. Undefined (defined() is false) when there is none,
  /// as PyTorch's None: before any backward, after zero_grad, or when no gradient reached it.
  Tensor grad() const;
  /// True when grad() is defined.
  bool has_grad() const { return impl_ && impl_->grad; }
  /// A leaf's value and grad storage, for optimizers and loaders. Changing the value in place after it was
  /// recorded makes backward through that record throw. @throws std::logic_error on an op result.
  Array& leaf_value();
  /// The leaf's gradient storage (zeros are created when it has none). @throws std::logic_error on an op result.
  Array& leaf_grad();
  /// Drops a leaf's grad (grad() is then undefined); the next backward moves its result in without a copy.
  void zero_grad();

  /// The value of a one-element tensor, as a double (PyTorch's item()).
  /// @throws std::invalid_argument naming the shape when it has more than one element.
  double item() const;
  template <class T>
  T item() const {
    return static_cast<T>(item());
  }
  /// Plain value of one element. @throws std::out_of_range naming the index and the size.
  double at(std::int64_t flat) const { return value().at(flat); }
  std::vector<double> to_vector() const;
  /// Element `flat` as a differentiable scalar Var (an op recorded on the current tape).
  /// @throws std::out_of_range naming the index and the size.
  Var var(std::int64_t flat = 0) const;
  /// Every element as a Var, in one tape entry (cheaper than numel() calls to var()).
  std::vector<Var> vars() const;

  /// A user label shown by errors, DOT export and anomaly reports.
  Tensor& label(std::string name);
  std::string label() const;
  /// Calls fn(grad) when this node's gradient is complete during backward (before it flows on, or into a leaf's
  /// grad); a defined return value replaces the gradient. The hook stays while the returned handle lives.
  HookHandle register_hook(std::function<Tensor(const Tensor&)> fn);
  /// A constant Tensor sharing this value, with no history.
  Tensor detach() const { return Tensor(value(), false); }
  /// Converted to another dtype: an op, differentiable between float types (always a new node).
  Tensor to(Dtype dtype, Site site = Site::current()) const;
  /// True when both handles name the same tensor.
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }

  /// For the engine and extensions.
  detail::TensorImpl* impl() const { return impl_.get(); }
  explicit Tensor(detail::Ref<detail::TensorImpl> impl) : impl_(std::move(impl)) {}

 private:
  [[noreturn]] static void throw_undefined(const char* what);
  detail::Ref<detail::TensorImpl> impl_;
};

/// Constant tensor from values (row-major) with the given shape.
/// @throws std::invalid_argument when the count of values differs from the shape's element count.
Tensor tensor(std::vector<double> values, const Shape& shape, Dtype dtype = Dtype::f32, bool requires_grad = false);
/// 1-D constant tensor.
Tensor tensor(std::initializer_list<double> values, Dtype dtype = Dtype::f32, bool requires_grad = false);
Tensor zeros(const Shape& shape, Dtype dtype = Dtype::f32, bool requires_grad = false);
Tensor ones(const Shape& shape, Dtype dtype = Dtype::f32, bool requires_grad = false);
Tensor full(const Shape& shape, double value, Dtype dtype = Dtype::f32, bool requires_grad = false);
/// Uniform in [lo, hi) from the generator's 64-bit words (identical on every standard library).
Tensor uniform(const Shape& shape, double lo, double hi, std::mt19937_64& gen, Dtype dtype = Dtype::f32,
               bool requires_grad = false);
/// Normal(mean, stddev) by Box-Muller from the generator's 64-bit words.
Tensor normal(const Shape& shape, double mean, double stddev, std::mt19937_64& gen, Dtype dtype = Dtype::f32,
              bool requires_grad = false);
/// Uniform double in [0,1) from one 64-bit word.
double uniform01(std::mt19937_64& gen);
/// Uniform in [0, 1) (torch.rand with a generator).
Tensor rand(const Shape& shape, std::mt19937_64& gen, Dtype dtype = Dtype::f32, bool requires_grad = false);
/// Standard normal (torch.randn with a generator).
Tensor randn(const Shape& shape, std::mt19937_64& gen, Dtype dtype = Dtype::f32, bool requires_grad = false);
/// An int64 tensor from exact integer values (indices and labels).
/// @throws std::invalid_argument when the count of values differs from the shape's element count.
Tensor tensor_i64(std::vector<std::int64_t> values, const Shape& shape);
/// 1-D int64 tensor.
Tensor tensor_i64(std::initializer_list<std::int64_t> values);
/// start, start + step, ... below end (above end for a negative step), as torch.arange.
/// @throws std::invalid_argument for a zero or non-finite step, or a count beyond 2^31.
Tensor arange(double start, double end, double step = 1.0, Dtype dtype = Dtype::i64);
/// `steps` values evenly spaced from start to end, both included (torch.linspace).
Tensor linspace(double start, double end, std::int64_t steps, Dtype dtype = Dtype::f32);
/// n x m identity (m = n when negative).
Tensor eye(std::int64_t n, std::int64_t m = -1, Dtype dtype = Dtype::f32);
/// Constants with x's shape and dtype.
Tensor zeros_like(const Tensor& x);
Tensor ones_like(const Tensor& x);
Tensor full_like(const Tensor& x, double value);

}  // namespace autodiff
