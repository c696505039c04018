// Printing: fmt formatters (full specialisations, as fmt 9 needs) and operator<< for Shape, Dtype, Array, Tensor, Var.
//
// A format spec applies to every element, as for ranges: fmt::format("{:.3f}", t), "{:e}", "{:>8.2f}". Without a
// spec each element is printed as {:.6g}. Arrays of more than 1000 elements are summarised as PyTorch does: along
// each axis longer than 6, only the first 3 and the last 3 entries are shown, with "..." between.
#pragma once

#include "autodiff/tape.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>

namespace autodiff {

/// The same text as fmt's "{}" (elements as {:.6g}; large arrays summarised).
std::ostream& operator<<(std::ostream& os, const Shape& s);
std::ostream& operator<<(std::ostream& os, Dtype d);
std::ostream& operator<<(std::ostream& os, const Array& a);
std::ostream& operator<<(std::ostream& os, const Tensor& t);
std::ostream& operator<<(std::ostream& os, const Var& v);

/// `s` in single quotes for an error message, kept on one line: a control byte, DEL, a quote or a backslash is
/// written as an escape (\n, \t, \r, \', \\, \xNN), so text from a command line or a file cannot break the message.
std::string quote(std::string_view s);

namespace detail {

/// When an array is summarised (PyTorch's torch.set_printoptions defaults): more than `threshold` elements, then
/// `edgeitems` entries at each end of every axis longer than 2 * edgeitems.
struct PrintOptions {
  std::int64_t threshold = 1000;
  std::int64_t edgeitems = 3;
};

/// Writes one element.
using ElementWriter = std::function<void(fmt::memory_buffer& out, double value)>;

/// Appends `a` as nested lists, "[[1, 2], [3, 4]]", each element through `element`, summarised per `opt`.
void format_array_to(fmt::memory_buffer& out, const Array& a, const ElementWriter& element, const PrintOptions& opt = {});
/// The same with elements as {:.6g}.
std::string format_array(const Array& a, const PrintOptions& opt = {});
/// The same, summarised only above `threshold` elements.
std::string format_array(const Array& a, std::int64_t threshold);

/// The element part of a formatter: parses a spec for double ("{:.3f}"), checked at compile time like fmt's own.
class ElementFormat {
 public:
  constexpr auto parse(fmt::format_parse_context& ctx) -> decltype(ctx.begin()) {
    auto it = ctx.begin();
    has_spec_ = it != ctx.end() && *it != '}';
    return has_spec_ ? spec_.parse(ctx) : it;
  }

 protected:
  /// Writes each element with the parsed spec (or {:.6g} when there is none).
  ElementWriter writer(fmt::format_context& ctx) const;

 private:
  fmt::formatter<double> spec_;
  bool has_spec_ = false;
};

}  // namespace detail
}  // namespace autodiff

template <>
struct fmt::formatter<autodiff::Shape> : fmt::formatter<std::string> {
  auto format(const autodiff::Shape& s, format_context& ctx) const { return fmt::formatter<std::string>::format(s.str(), ctx); }
};

template <>
struct fmt::formatter<autodiff::Dtype> : fmt::formatter<std::string_view> {
  auto format(autodiff::Dtype d, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(autodiff::dtype_name(d), ctx);
  }
};

/// "[[1, 2], [3, 4]]"
template <>
struct fmt::formatter<autodiff::Array> : autodiff::detail::ElementFormat {
  auto format(const autodiff::Array& a, format_context& ctx) const -> decltype(ctx.out());
};

/// "Tensor([[1, 2], [3, 4]], shape=[2,2], dtype=float64)", or "Tensor(undefined)"
template <>
struct fmt::formatter<autodiff::Tensor> : autodiff::detail::ElementFormat {
  auto format(const autodiff::Tensor& t, format_context& ctx) const -> decltype(ctx.out());
};

/// "Var(value=24, grad=0)": the spec applies to both numbers ("grad=released" once its graph is gone).
template <>
struct fmt::formatter<autodiff::Var> : autodiff::detail::ElementFormat {
  auto format(const autodiff::Var& v, format_context& ctx) const -> decltype(ctx.out());
};
