// 16-lane float vectors (GCC/Clang vector extensions) and exp on them, for the float fast paths of softmax, sigmoid
// and GELU. Functions that loop over them carry AUTODIFF_VECTOR_CLONES: one AVX-512, one AVX2 and one baseline
// version, picked at load time, so one binary runs well on either kind of machine.
#pragma once

#include <cstdint>
#include <cstring>

// ThreadSanitizer builds get one version: target_clones resolves through an ifunc, which the dynamic loader calls
// before the sanitizer runtime is initialised, and the instrumented resolver then crashes at program start.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define AUTODIFF_NO_CLONES 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define AUTODIFF_NO_CLONES 1
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(AUTODIFF_NO_CLONES)
#define AUTODIFF_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define AUTODIFF_VECTOR_CLONES
#endif

namespace autodiff::detail::vec {

using v16f = float __attribute__((vector_size(64)));
using v16i = std::int32_t __attribute__((vector_size(64)));
constexpr std::int64_t lanes = 16;

// Vectors go by reference: passed by value, their ABI would depend on whether AVX-512 is enabled (GCC notes it).
[[gnu::always_inline]] inline void load(v16f& v, const float* p) { std::memcpy(&v, p, sizeof v); }
[[gnu::always_inline]] inline void store(float* p, const v16f& v) { std::memcpy(p, &v, sizeof v); }
/// The first n (< 16) elements of p, zeros after.
[[gnu::always_inline]] inline void load_part(v16f& v, const float* p, std::int64_t n) {
  v = v16f{};
  std::memcpy(&v, p, static_cast<std::size_t>(n) * sizeof(float));
}
[[gnu::always_inline]] inline void store_part(float* p, const v16f& v, std::int64_t n) {
  std::memcpy(p, &v, static_cast<std::size_t>(n) * sizeof(float));
}
[[gnu::always_inline]] inline float lane_sum(const v16f& v) {
  float s = 0;
  for (int i = 0; i < lanes; ++i) s += v[i];
  return s;
}

/// x = exp(x) on 16 floats, within 1e-7 relative of std::exp (Cephes' polynomial after the reduction x = n ln2 + r);
/// exp(-inf) = 0, exp(inf) = inf, NaN stays NaN. 2^n is applied as two factors, so no exponent field overflows.
[[gnu::always_inline]] inline void vexp(v16f& x) {
  v16f xc = x < -104.0f ? v16f{} - 104.0f : x;
  xc = xc > 89.0f ? v16f{} + 89.0f : xc;
  v16f n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest
  v16f r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  v16f p = r * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  n = n == n ? n : v16f{};  // NaN: p is NaN already; keep the conversion defined
  const v16i k = __builtin_convertvector(n, v16i);
  const v16i k1 = ((k >> 1) + 127) << 23, k2 = ((k - (k >> 1)) + 127) << 23;
  v16f s1, s2;
  std::memcpy(&s1, &k1, sizeof s1);
  std::memcpy(&s2, &k2, sizeof s2);
  x = p * s1 * s2;
}

/// sigmoid(x) on 16 floats from one exp(-|x|): 1 / (1 + e) for x >= 0, e / (1 + e) below (no overflow in either tail;
/// NaN stays NaN). Within 2e-7 relative of the scalar formula with std::exp.
[[gnu::always_inline]] inline void vsigmoid(v16f& x) {
  v16f e = x < 0.0f ? x : -x;
  vexp(e);
  x = (x >= 0.0f ? v16f{} + 1.0f : e) / (1.0f + e);
}

/// y[i] = f(x[i]) over n floats, 16 at a time (the tail padded with zeros).
template <class F>
[[gnu::always_inline]] inline void apply(const float* x, float* y, std::int64_t n, F f) {
  v16f v;
  std::int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    load(v, x + i);
    f(v);
    store(y + i, v);
  }
  if (i < n) {
    load_part(v, x + i, n - i);
    f(v);
    store_part(y + i, v, n - i);
  }
}

/// out[i] = f(a[i], b[i]) over n floats, 16 at a time; f(out, a, b) writes its result to out.
template <class F>
[[gnu::always_inline]] inline void apply2(const float* a, const float* b, float* out, std::int64_t n, F f) {
  v16f va, vb, vo;
  std::int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    load(va, a + i);
    load(vb, b + i);
    f(vo, va, vb);
    store(out + i, vo);
  }
  if (i < n) {
    load_part(va, a + i, n - i);
    load_part(vb, b + i, n - i);
    f(vo, va, vb);
    store_part(out + i, vo, n - i);
  }
}

}  // namespace autodiff::detail::vec
