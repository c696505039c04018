// Array: plain n-D row-major storage in float or double, on pooled buffers that are reused across steps.
#pragma once

#include "autodiff/shape.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <string>
#include <string_view>

namespace autodiff {

enum class Dtype : std::uint8_t { f32, f64 };

std::string_view dtype_name(Dtype d);
inline std::size_t dtype_size(Dtype d) { return d == Dtype::f32 ? 4 : 8; }

template <class T>
constexpr Dtype dtype_of();
template <>
constexpr Dtype dtype_of<float>() { return Dtype::f32; }
template <>
constexpr Dtype dtype_of<double>() { return Dtype::f64; }

/// Calls fn(T{}) with T = float or double according to `d`.
template <class Fn>
decltype(auto) dispatch(Dtype d, Fn&& fn) {
  if (d == Dtype::f32) return fn(float{});
  return fn(double{});
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
  std::byte* data() { return reinterpret_cast<std::byte*>(this) + 64; }
};
/// A buffer of at least `bytes`, or nullptr when that much memory cannot be had.
Buffer* acquire_buffer(std::size_t bytes);
void release_buffer(Buffer* b);
/// Bytes currently cached in this thread's free lists, and allocations that missed the pool.
std::size_t pool_cached_bytes();
std::size_t pool_misses();
}  // namespace detail

/// A plain n-D array. Copies share storage (like a shared pointer); clone() copies the data.
class Array {
 public:
  Array() = default;
  /// Uninitialised storage. @throws OutOfMemory naming shape, dtype and bytes when it cannot be allocated.
  Array(const Shape& shape, Dtype dtype);
  Array(const Array& o);
  Array(Array&& o) noexcept;
  Array& operator=(const Array& o);
  Array& operator=(Array&& o) noexcept;
  ~Array();

  static Array zeros(const Shape& shape, Dtype dtype);
  static Array full(const Shape& shape, double value, Dtype dtype);

  bool defined() const { return buf_ != nullptr; }
  const Shape& shape() const { return shape_; }
  Dtype dtype() const { return dtype_; }
  std::int64_t numel() const { return shape_.numel(); }
  int rank() const { return shape_.rank(); }

  template <class T>
  T* data() { return reinterpret_cast<T*>(buf_->data()); }
  template <class T>
  const T* data() const { return reinterpret_cast<const T*>(buf_->data()); }

  /// Element at a flat row-major index, converted to double.
  double at(std::int64_t flat) const;
  void set(std::int64_t flat, double v);

  Array clone() const;
  /// Same storage seen with another shape of equal numel.
  Array reshaped(const Shape& shape) const;
  /// Converted copy (or this array when the dtype already matches).
  Array to(Dtype dtype) const;
  /// True when no other Array shares this storage.
  bool unique() const { return buf_ && buf_->refs.load(std::memory_order_relaxed) == 1; }
  void fill(double v);

 private:
  Shape shape_;
  Dtype dtype_ = Dtype::f32;
  detail::Buffer* buf_ = nullptr;
};

}  // namespace autodiff
