// Whether this test binary was built with AddressSanitizer (gcc defines __SANITIZE_ADDRESS__, clang has a feature).
#pragma once

namespace testing {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool asan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool asan = true;
#else
inline constexpr bool asan = false;
#endif
#else
inline constexpr bool asan = false;
#endif

}  // namespace testing
