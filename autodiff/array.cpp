// Array storage, the per-thread buffer pool that keeps training steps free of page faults, and the tape's kernels.
#include "autodiff/array.hpp"

#include <fmt/format.h>

#include <sys/sysinfo.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <vector>

namespace autodiff {

std::string_view dtype_name(Dtype d) {
  switch (d) {
    case Dtype::f32: return "float32";
    case Dtype::f64: return "float64";
    case Dtype::i64: return "int64";
    case Dtype::b8: break;
  }
  return "bool";
}

namespace detail {
void throw_not_float(Dtype d) {
  throw std::logic_error(fmt::format("float kernel called on a {} array (the op should have refused it)", dtype_name(d)));
}
}  // namespace detail

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

// The pool through a constant-initialised initial-exec pointer: a function-local thread_local alone costs a
// __tls_get_addr call and a guard check on every buffer.
constinit thread_local __attribute__((tls_model("initial-exec"))) Pool* pool_cache = nullptr;
Pool& pool() {
  if (Pool* p = pool_cache) [[likely]]
    return *p;
  thread_local Pool p;
  pool_cache = &p;
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

void Buffer::destroy(Buffer* b) noexcept {
  if (pool_gone) {
    b->~Buffer();
    std::free(b);
    return;
  }
  Pool& p = pool();
  const std::size_t bytes = std::size_t{64} << b->size_class;
  // Keep at most 1 GiB cached per thread; beyond that give memory back.
  if (p.cached + bytes > (std::size_t{1} << 30)) {
    b->~Buffer();
    std::free(b);
    return;
  }
  p.cached += bytes;
  p.free[b->size_class].push_back(b);
}

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
  buf_ = detail::Ref<detail::Buffer>::adopt(detail::acquire_buffer(bytes));
  if (!buf_) [[unlikely]]
    throw_out_of_memory(shape, dtype, false);
}

void Array::throw_access(Dtype want) const {
  if (!buf_) throw std::logic_error("Array::data: undefined array (no storage)");
  throw std::invalid_argument(fmt::format("Array::data: element type {} requested from a {} array {}", dtype_name(want),
                                          dtype_name(dtype_), shape_.str()));
}

void Array::throw_index(std::int64_t flat) const {
  if (!buf_) throw std::out_of_range(fmt::format("Array: index {} out of range for an undefined array (size 0)", flat));
  throw std::out_of_range(fmt::format("Array: index {} out of range for {} elements (shape {})", flat, numel(), shape_.str()));
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

namespace {
// v as a T: bool is v != 0, int64 must be finite and in range (a NaN cast to an integer is undefined behaviour).
template <class T>
T convert(double v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v != 0.0;
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    if (!(v >= -0x1p63 && v < 0x1p63))
      throw std::invalid_argument(fmt::format("Array: cannot convert {} to int64 (not finite or out of range)", v));
    return static_cast<std::int64_t>(v);
  } else {
    return static_cast<T>(v);
  }
}
}  // namespace

void Array::fill(double v) {
  dispatch_all(dtype_, [&]<class T>(T) { std::fill_n(data<T>(), numel(), convert<T>(v)); });
}

double Array::at(std::int64_t flat) const {
  if (!buf_ || flat < 0 || flat >= numel()) [[unlikely]]
    throw_index(flat);
  return dispatch_all(dtype_, [&]<class T>(T) { return static_cast<double>(data<T>()[flat]); });
}

void Array::set(std::int64_t flat, double v) {
  if (!buf_ || flat < 0 || flat >= numel()) [[unlikely]]
    throw_index(flat);
  dispatch_all(dtype_, [&]<class T>(T) { data<T>()[flat] = convert<T>(v); });
}

Array Array::clone() const {
  if (!buf_) return {};
  Array a(shape_, dtype_);
  std::memcpy(a.buf_->data(), buf_->data(), static_cast<std::size_t>(numel()) * dtype_size(dtype_));
  return a;
}

Array Array::reshaped(const Shape& shape) const {
  if (shape.numel() != numel())
    throw std::invalid_argument(fmt::format("Array::reshaped: element counts differ (from {} to {})", shape_.str(), shape.str()));
  Array a = *this;
  a.shape_ = shape;
  return a;
}

Array Array::to(Dtype dtype) const {
  if (dtype == dtype_ || !buf_) return *this;
  Array a(shape_, dtype);
  dispatch_all(dtype_, [&]<class S>(S) {
    dispatch_all(dtype, [&]<class D>(D) {
      const S* s = data<S>();
      D* d = a.data<D>();
      for (std::int64_t i = 0; i < numel(); ++i) {
        if constexpr (std::is_same_v<D, std::int64_t> && std::is_floating_point_v<S>)
          d[i] = convert<D>(static_cast<double>(s[i]));
        else if constexpr (std::is_same_v<D, bool>)
          d[i] = s[i] != S{};
        else
          d[i] = static_cast<D>(s[i]);
      }
    });
  });
  return a;
}

void add_inplace(Array& dst, const Array& src) {
  if (!(dst.shape() == src.shape()) || dst.dtype() != src.dtype() || !is_float(dst.dtype()))
    throw std::invalid_argument(fmt::format("add_inplace: arrays differ (dst {} {}, src {} {})", dst.shape().str(),
                                            dtype_name(dst.dtype()), src.shape().str(), dtype_name(src.dtype())));
  dispatch(dst.dtype(), [&]<class T>(T) {
    T* d = dst.data<T>();
    const T* s = src.data<T>();
    const std::int64_t n = dst.numel();
    for (std::int64_t i = 0; i < n; ++i) d[i] += s[i];
  });
}

Array reduce_to(const Array& a, const Shape& shape, std::string_view op) {
  if (!broadcasts_to(shape, a.shape()))
    throw std::invalid_argument(fmt::format("{}: {} does not reduce to {}", op, a.shape().str(), shape.str()));
  // Integers and masks sum into int64 (counting), floats into their own type.
  Array out = Array::zeros(shape, is_float(a.dtype()) ? a.dtype() : Dtype::i64);
  dispatch_all(a.dtype(), [&]<class S>(S) {
    using T = std::conditional_t<std::is_floating_point_v<S>, S, std::int64_t>;
    const S* pa = a.data<S>();
    T* po = out.data<T>();
    const std::int64_t m = shape.numel(), n = a.numel();
    // The target aligned to a's rank (leading 1s), and how it relates to a: kept trailing dims and reduced leading
    // ones (a bias [E] of [B,T,E]: sum of rows), or kept leading dims and reduced trailing ones ([B,T,1] of [B,T,E]:
    // sum within each row). Anything else takes the general broadcast walk.
    const int rank = a.rank(), pad = rank - shape.rank();
    const auto target = [&](int i) { return i < pad ? std::int64_t{1} : shape[i - pad]; };
    int first_kept = 0, last_kept = rank;
    while (first_kept < rank && target(first_kept) == 1) ++first_kept;
    while (last_kept > 0 && target(last_kept - 1) == 1) --last_kept;
    bool rows = true, within = true;
    for (int i = first_kept; i < rank; ++i) rows = rows && target(i) == a.shape()[i];
    for (int i = 0; i < last_kept; ++i) within = within && target(i) == a.shape()[i];
    if (m == 1 || (within && m > 0)) {
      // Each output sums a contiguous block of n / m: floats in double (float sums over a batch lose digits
      // otherwise), four partial sums so the adds overlap instead of waiting on each other.
      using Acc = std::conditional_t<std::is_floating_point_v<S>, double, std::int64_t>;
      const std::int64_t block = n / m;
      for (std::int64_t o = 0; o < m; ++o) {
        const S* p = pa + o * block;
        Acc s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        std::int64_t i = 0;
        for (; i + 4 <= block; i += 4) {
          s0 += p[i];
          s1 += p[i + 1];
          s2 += p[i + 2];
          s3 += p[i + 3];
        }
        for (; i < block; ++i) s0 += p[i];
        po[o] = static_cast<T>((s0 + s1) + (s2 + s3));
      }
    } else if (rows) {
      for (std::int64_t r = 0; r < n; r += m)  // [.., m] -> [m] (or [1,m]): sum the rows
        for (std::int64_t j = 0; j < m; ++j) po[j] += pa[r + j];
    } else {
      detail::for_each_broadcast(a.shape(), a.shape().strides(), detail::broadcast_strides(shape, a.shape()),
                                 [&](std::int64_t, std::int64_t ia, std::int64_t io) { po[io] += pa[ia]; });
    }
  });
  return out;
}

Array broadcast_array(const Array& a, const Shape& shape, std::string_view op) {
  if (!broadcasts_to(a.shape(), shape))
    throw std::invalid_argument(fmt::format("{}: {} does not broadcast to {}", op, a.shape().str(), shape.str()));
  Array out(shape, a.dtype());
  dispatch_all(a.dtype(), [&]<class T>(T) {
    const T* pa = a.data<T>();
    T* po = out.data<T>();
    if (a.numel() == 1) {
      std::fill_n(po, out.numel(), pa[0]);
      return;
    }
    detail::for_each_broadcast(shape, detail::broadcast_strides(a.shape(), shape), detail::Strides{},
                               [&](std::int64_t o, std::int64_t ia, std::int64_t) { po[o] = pa[ia]; });
  });
  return out;
}

bool all_finite(const Array& a) {
  if (!a.defined() || !is_float(a.dtype())) return true;
  return dispatch(a.dtype(), [&]<class T>(T) {
    const T* p = a.data<T>();
    for (std::int64_t i = 0; i < a.numel(); ++i)
      if (!std::isfinite(p[i])) return false;
    return true;
  });
}

}  // namespace autodiff
