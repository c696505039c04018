// Where an op was called from (Site), operands that carry it (Here), and op names that cannot dangle (OpName).
#pragma once

#include <string>
#include <string_view>

namespace autodiff {

/// Where an op was called from; every op takes one as a defaulted last argument.
/// Like std::source_location, but built on the __builtin_FILE/__builtin_LINE that GCC and clang 14 both have
/// (clang 14 cannot compile libstdc++'s <source_location>, and the fuzzers are built with clang).
/// It has no public constructor, so a braced list such as `sum(x, {0, 1})` can never bind to it.
class Site {
 public:
  static constexpr Site current(const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) noexcept {
    return Site(Tag{}, file, line);
  }
  /// A site for nodes recorded without one ("?" and line 0).
  static constexpr Site unknown() noexcept { return Site(Tag{}, "?", 0); }
  [[nodiscard]] constexpr const char* file_name() const noexcept { return file_; }
  [[nodiscard]] constexpr unsigned line() const noexcept { return line_; }

 private:
  struct Tag {};
  constexpr Site(Tag, const char* file, unsigned line) noexcept : file_(file ? file : "?"), line_(line) {}
  const char* file_;
  unsigned line_;
};

/// An operand that remembers the caller's source line (operators cannot take default arguments, conversions can).
template <class T>
struct Here {
  Here(const T& v, Site s = Site::current()) : value(v), site(s) {}  // NOLINT: implicit on purpose
  const T& value;
  Site site;
};

/// The name of an op, as shown in errors, graphs and anomaly reports. A string literal is used as it is
/// (consteval: a pointer that is not a compile-time constant does not compile, so it cannot dangle); a std::string
/// or std::string_view is interned once in a process-wide table, so the name outlives the string it came from.
class OpName {
 public:
  consteval OpName(const char* literal) : name_(literal) {}  // NOLINT: implicit on purpose
  OpName(const std::string& name);                           // NOLINT: interned
  OpName(std::string_view name);                             // NOLINT: interned
  [[nodiscard]] const char* c_str() const noexcept { return name_; }
  [[nodiscard]] std::string_view view() const noexcept { return name_; }
  friend bool operator==(OpName a, OpName b) noexcept { return a.view() == b.view(); }

 private:
  const char* name_;
};

}  // namespace autodiff
