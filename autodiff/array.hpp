// Array: plain n-D row-major storage in float or double on pooled buffers reused across steps, and the few kernels
// the tape itself needs (in-place add, reduce-to-shape, broadcast, all-finite).
#pragma once

#include "autodiff/detail/ref.hpp"
#include "autodiff/shape.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>

namespace autodiff {

/// Element types. Only f32 and f64 carry gradients; i64 holds indices and labels, and b8 is the mask type that
/// comparisons return (one byte per element, 0 or 1).
enum class Dtype : std::uint8_t { f32, f64, i64, b8 };

/// "float32", "float64", "int64", "bool".
std::string_view dtype_name(Dtype d);
inline std::size_t dtype_size(Dtype d) { return d == Dtype::f32 ? 4 : d == Dtype::b8 ? 1 : 8; }
inline bool is_float(Dtype d) { return d == Dtype::f32 || d == Dtype::f64; }

template <class T>
constexpr Dtype dtype_of();
template <>
constexpr Dtype dtype_of<float>() { return Dtype::f32; }
template <>
constexpr Dtype dtype_of<double>() { return Dtype::f64; }
template <>
constexpr Dtype dtype_of<std::int64_t>() { return Dtype::i64; }
template <>
constexpr Dtype dtype_of<bool>() { return Dtype::b8; }

namespace detail {
[[noreturn]] void throw_not_float(Dtype d);
}

/// Calls fn(T{}) with T = float or double according to `d`: for the float kernels.
/// @throws std::logic_error for i64 or b8 (ops check their dtypes first, naming themselves).
template <class Fn>
decltype(auto) dispatch(Dtype d, Fn&& fn) {
  if (d == Dtype::f32) return fn(float{});
  if (d != Dtype::f64) [[unlikely]]
    detail::throw_not_float(d);
  return fn(double{});
}

/// Calls fn(T{}) with T = float, double, std::int64_t or bool according to `d`.
template <class Fn>
decltype(auto) dispatch_all(Dtype d, Fn&& fn) {
  switch (d) {
    case Dtype::f32: return fn(float{});
    case Dtype::f64: return fn(double{});
    case Dtype::i64: return fn(std::int64_t{});
    case Dtype::b8: break;
  }
  return fn(bool{});
}

/// Thrown when an array's storage cannot be allocated: more than RAM + swap, the allocator fails, or the byte count
/// overflows. The message names the shape, dtype and bytes requested. A std::bad_alloc, so existing handlers work.
class OutOfMemory : public std::bad_alloc {
 public:
  explicit OutOfMemory(std::string what) : what_(std::move(what)) {}
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  std::string what_;
};

namespace detail {
struct Buffer {
  std::atomic<int> refs{1};
  std::uint32_t size_class = 0;
  // Bumped by every mutable access, so the tape can tell that a value it saved was changed in place.
  std::atomic<std::uint64_t> version{0};
  std::byte* data() { return reinterpret_cast<std::byte*>(this) + 64; }
  static void destroy(Buffer* b) noexcept;
};
/// A buffer of at least `bytes`, or nullptr when that much memory cannot be had.
Buffer* acquire_buffer(std::size_t bytes);
/// Allocations that missed this thread's pool (for the allocation bench).
std::size_t pool_misses();
}  // namespace detail

/// A plain n-D array. Copies share storage (like a shared pointer); clone() copies the data.
class Array {
 public:
  Array() = default;
  /// Uninitialised storage. @throws OutOfMemory naming shape, dtype and bytes when it cannot be allocated.
  Array(const Shape& shape, Dtype dtype);

  static Array zeros(const Shape& shape, Dtype dtype);
  static Array full(const Shape& shape, double value, Dtype dtype);

  bool defined() const { return static_cast<bool>(buf_); }
  const Shape& shape() const { return shape_; }
  Dtype dtype() const { return dtype_; }
  std::int64_t numel() const { return shape_.numel(); }
  int rank() const { return shape_.rank(); }

  /// Raw element pointer (T is the element type, or std::byte / unsigned char for the bytes). The mutable form counts
  /// as a change (it bumps version()).
  /// @throws std::logic_error on an undefined array, std::invalid_argument when T is not the array's dtype.
  template <class T>
  T* data() {
    check_access<T>();
    buf_->version.store(buf_->version.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return reinterpret_cast<T*>(buf_->data());
  }
  template <class T>
  const T* data() const {
    check_access<T>();
    return reinterpret_cast<const T*>(buf_->data());
  }
  /// Bytes of storage the elements take.
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype_); }

  /// Element at a flat row-major index, converted to double. @throws std::out_of_range naming the index and size.
  double at(std::int64_t flat) const;
  /// Sets one element. @throws std::out_of_range naming the index and size.
  void set(std::int64_t flat, double v);
  void fill(double v);

  Array clone() const;
  /// Same storage seen with another shape of equal numel. @throws std::invalid_argument when the counts differ.
  Array reshaped(const Shape& shape) const;
  /// Converted copy (or this array when the dtype already matches). To bool: x != 0. To int64: truncation toward 0.
  /// @throws std::invalid_argument for a NaN, an infinity or a value out of int64's range converted to int64.
  Array to(Dtype dtype) const;
  /// True when no other Array shares this storage.
  bool unique() const { return buf_.unique(); }
  /// Changes to the storage so far (each mutable access counts one); shared by every Array on the same storage.
  std::uint64_t version() const { return buf_ ? buf_->version.load(std::memory_order_relaxed) : 0; }
  /// Identifies the storage (equal for Arrays that share it).
  const void* storage() const { return buf_.get(); }

 private:
  template <class T>
  void check_access() const {
    if constexpr (std::is_same_v<T, std::byte> || std::is_same_v<T, unsigned char>) {
      if (!buf_) [[unlikely]]
        throw_access(dtype_);
    } else if (!buf_ || dtype_of<T>() != dtype_) [[unlikely]] {
      throw_access(dtype_of<T>());
    }
  }
  [[noreturn]] void throw_access(Dtype want) const;
  [[noreturn]] void throw_index(std::int64_t flat) const;

  Shape shape_;
  Dtype dtype_ = Dtype::f32;
  detail::Ref<detail::Buffer> buf_;
};

/// dst += src elementwise (same shape and float dtype). @throws std::invalid_argument when they differ.
void add_inplace(Array& dst, const Array& src);
/// `a` summed over its broadcast axes down to `shape` (which must broadcast to a.shape()): the reduce-to-shape of
/// broadcasting. Floats keep their dtype; int64 and bool sum into int64. @throws std::invalid_argument naming `op`.
Array reduce_to(const Array& a, const Shape& shape, std::string_view op = "reduce_to");
/// `a` broadcast to `shape` (a copy). @throws std::invalid_argument naming `op` when it does not broadcast.
Array broadcast_array(const Array& a, const Shape& shape, std::string_view op = "broadcast_to");
/// True when every element is finite.
bool all_finite(const Array& a);

}  // namespace autodiff
