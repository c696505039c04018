// Array storage and the per-thread buffer pool that keeps training steps free of page faults.
#include "autodiff/array.hpp"

#include <fmt/format.h>

#include <sys/sysinfo.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <vector>

namespace autodiff {

std::string_view dtype_name(Dtype d) { return d == Dtype::f32 ? "float32" : "float64"; }

namespace detail {
namespace {

constexpr std::size_t header_bytes = 64;
constexpr std::uint32_t num_classes = 48;

// Size classes are powers of two from 64 bytes; freed buffers wait in a per-thread list for reuse.
constinit thread_local __attribute__((tls_model("initial-exec"))) bool pool_gone = false;

struct Pool {
  std::vector<Buffer*> free[num_classes];
  std::size_t cached = 0;
  std::size_t misses = 0;
  ~Pool() {
    for (auto& list : free)
      for (Buffer* b : list) std::free(b);
    // Thread-local tapes and tensors may die after the pool: from here on buffers go straight to malloc.
    pool_gone = true;
  }
};

Pool& pool() {
  thread_local Pool p;
  return p;
}

std::uint32_t class_of(std::size_t bytes) {
  std::uint32_t c = 0;
  while ((std::size_t{64} << c) < bytes) ++c;
  return c;
}

// Largest buffer the size classes hold (8 PiB).
constexpr std::size_t max_bytes = std::size_t{64} << (num_classes - 1);

// RAM + swap: a request above it cannot succeed, so it fails before reaching malloc (under ASan a huge malloc
// aborts the process unless allocator_may_return_null=1).
std::size_t memory_limit() {
  static const std::size_t limit = [] {
    struct sysinfo si {};
    if (::sysinfo(&si) != 0) return max_bytes;
    return static_cast<std::size_t>(si.totalram + si.totalswap) * si.mem_unit;
  }();
  return limit;
}

Buffer* new_buffer(std::uint32_t c) {
  const std::size_t bytes = std::size_t{64} << c;
  if (bytes > memory_limit()) return nullptr;
  void* mem = std::aligned_alloc(64, header_bytes + bytes);
  if (!mem) return nullptr;
  auto* b = new (mem) Buffer;
  b->size_class = c;
  return b;
}

}  // namespace

Buffer* acquire_buffer(std::size_t bytes) {
  if (bytes > max_bytes) [[unlikely]]
    return nullptr;
  const std::uint32_t c = class_of(std::max<std::size_t>(bytes, 1));
  if (pool_gone) return new_buffer(c);
  Pool& p = pool();
  if (!p.free[c].empty()) {
    Buffer* b = p.free[c].back();
    p.free[c].pop_back();
    p.cached -= std::size_t{64} << c;
    b->refs.store(1, std::memory_order_relaxed);
    return b;
  }
  ++p.misses;
  return new_buffer(c);
}

void release_buffer(Buffer* b) {
  if (b->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  if (pool_gone) {
    std::free(b);
    return;
  }
  Pool& p = pool();
  const std::size_t bytes = std::size_t{64} << b->size_class;
  // Keep at most 1 GiB cached per thread; beyond that give memory back.
  if (p.cached + bytes > (std::size_t{1} << 30)) {
    std::free(b);
    return;
  }
  p.cached += bytes;
  p.free[b->size_class].push_back(b);
}

std::size_t pool_cached_bytes() { return pool().cached; }
std::size_t pool_misses() { return pool().misses; }

}  // namespace detail

namespace {
std::string human_bytes(double b) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  for (; b >= 1024 && u < 6; ++u) b /= 1024;
  return fmt::format("{:.3g} {}", b, units[u]);
}

[[noreturn]] void throw_out_of_memory(const Shape& shape, Dtype dtype, bool overflow) {
  const std::size_t es = dtype_size(dtype);
  if (overflow)
    throw OutOfMemory(fmt::format("Array: cannot allocate {} {}: the byte count overflows ({} elements x {} bytes)",
                                  shape.str(), dtype_name(dtype), shape.numel(), es));
  const std::size_t bytes = static_cast<std::size_t>(shape.numel()) * es;
  // The pool hands out power-of-two buffers, and that size is what must fit.
  const std::size_t buffer = bytes > detail::max_bytes ? bytes : std::size_t{64} << detail::class_of(std::max<std::size_t>(bytes, 1));
  const std::size_t limit = detail::memory_limit();
  throw OutOfMemory(fmt::format(
      "Array: cannot allocate {} {} ({} bytes, {}{}): {}", shape.str(), dtype_name(dtype), bytes,
      human_bytes(static_cast<double>(bytes)),
      buffer == bytes ? std::string() : fmt::format(", in a {} pool buffer", human_bytes(static_cast<double>(buffer))),
      buffer > limit ? fmt::format("more than this machine's RAM + swap ({})", human_bytes(static_cast<double>(limit)))
                     : std::string("out of memory")));
}
}  // namespace

Array::Array(const Shape& shape, Dtype dtype) : shape_(shape), dtype_(dtype) {
  std::size_t bytes = 0;
  if (__builtin_mul_overflow(static_cast<std::size_t>(shape.numel()), dtype_size(dtype), &bytes)) [[unlikely]]
    throw_out_of_memory(shape, dtype, true);
  buf_ = detail::acquire_buffer(bytes);
  if (!buf_) [[unlikely]]
    throw_out_of_memory(shape, dtype, false);
}

Array::Array(const Array& o) : shape_(o.shape_), dtype_(o.dtype_), buf_(o.buf_) {
  if (buf_) buf_->refs.fetch_add(1, std::memory_order_relaxed);
}

Array::Array(Array&& o) noexcept : shape_(o.shape_), dtype_(o.dtype_), buf_(o.buf_) { o.buf_ = nullptr; }

Array& Array::operator=(const Array& o) {
  if (this != &o) {
    if (o.buf_) o.buf_->refs.fetch_add(1, std::memory_order_relaxed);
    if (buf_) detail::release_buffer(buf_);
    shape_ = o.shape_;
    dtype_ = o.dtype_;
    buf_ = o.buf_;
  }
  return *this;
}

Array& Array::operator=(Array&& o) noexcept {
  if (this != &o) {
    if (buf_) detail::release_buffer(buf_);
    shape_ = o.shape_;
    dtype_ = o.dtype_;
    buf_ = o.buf_;
    o.buf_ = nullptr;
  }
  return *this;
}

Array::~Array() {
  if (buf_) detail::release_buffer(buf_);
}

Array Array::zeros(const Shape& shape, Dtype dtype) {
  Array a(shape, dtype);
  std::memset(a.buf_->data(), 0, static_cast<std::size_t>(a.numel()) * dtype_size(dtype));
  return a;
}

Array Array::full(const Shape& shape, double value, Dtype dtype) {
  Array a(shape, dtype);
  a.fill(value);
  return a;
}

void Array::fill(double v) {
  dispatch(dtype_, [&]<class T>(T) { std::fill_n(data<T>(), numel(), static_cast<T>(v)); });
}

double Array::at(std::int64_t flat) const {
  return dispatch(dtype_, [&]<class T>(T) { return static_cast<double>(data<T>()[flat]); });
}

void Array::set(std::int64_t flat, double v) {
  dispatch(dtype_, [&]<class T>(T) { data<T>()[flat] = static_cast<T>(v); });
}

Array Array::clone() const {
  if (!buf_) return {};
  Array a(shape_, dtype_);
  std::memcpy(a.buf_->data(), buf_->data(), static_cast<std::size_t>(numel()) * dtype_size(dtype_));
  return a;
}

Array Array::reshaped(const Shape& shape) const {
  Array a = *this;
  a.shape_ = shape;
  return a;
}

Array Array::to(Dtype dtype) const {
  if (dtype == dtype_) return *this;
  Array a(shape_, dtype);
  dispatch(dtype_, [&]<class S>(S) {
    dispatch(dtype, [&]<class D>(D) {
      const S* s = data<S>();
      D* d = a.data<D>();
      for (std::int64_t i = 0; i < numel(); ++i) d[i] = static_cast<D>(s[i]);
    });
  });
  return a;
}

}  // namespace autodiff
