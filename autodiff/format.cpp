// Text rendering of arrays, tensors and Vars for the fmt formatters and operator<<.
#include "autodiff/format.hpp"

#include <algorithm>
#include <ostream>
#include <stdexcept>

namespace autodiff {

namespace detail {

namespace {

void append(fmt::memory_buffer& out, std::string_view s) { out.append(s.data(), s.data() + s.size()); }

void render(fmt::memory_buffer& out, const Array& a, int axis, std::int64_t offset, std::int64_t edge, bool summarise,
            const ElementWriter& element) {
  const Shape& s = a.shape();
  if (s.rank() == 0) {
    element(out, a.at(0));
    return;
  }
  const auto strides = s.strides();
  const std::int64_t n = s[axis];
  out.push_back('[');
  for (std::int64_t i = 0; i < n; ++i) {
    if (i) append(out, ", ");
    if (summarise && n > 2 * edge && i == edge) {
      append(out, "...");
      i = n - edge - 1;  // the loop's ++i lands on the first of the last `edge` entries
      continue;
    }
    const std::int64_t off = offset + i * strides[static_cast<std::size_t>(axis)];
    if (axis + 1 == s.rank())
      element(out, a.at(off));
    else
      render(out, a, axis + 1, off, edge, summarise, element);
  }
  out.push_back(']');
}

void write_default(fmt::memory_buffer& out, double v) { fmt::format_to(fmt::appender(out), "{:.6g}", v); }

auto flush(const fmt::memory_buffer& buf, fmt::format_context& ctx) { return std::copy(buf.begin(), buf.end(), ctx.out()); }

}  // namespace

void format_array_to(fmt::memory_buffer& out, const Array& a, const ElementWriter& element, const PrintOptions& opt) {
  if (!a.defined()) {
    append(out, "undefined");
    return;
  }
  render(out, a, 0, 0, std::max<std::int64_t>(opt.edgeitems, 0), a.numel() > opt.threshold, element);
}

std::string format_array(const Array& a, const PrintOptions& opt) {
  fmt::memory_buffer out;
  format_array_to(out, a, write_default, opt);
  return fmt::to_string(out);
}

std::string format_array(const Array& a, std::int64_t threshold) { return format_array(a, PrintOptions{.threshold = threshold}); }

ElementWriter ElementFormat::writer(fmt::format_context& ctx) const {
  if (!has_spec_) return write_default;
  // A context writing into the caller's buffer, with the outer arguments, so dynamic widths ("{:{}}") resolve.
  return [this, &ctx](fmt::memory_buffer& out, double v) {
    fmt::format_context element(fmt::appender(out), ctx.args(), ctx.locale());
    spec_.format(v, element);
  };
}

}  // namespace detail

std::string quote(std::string_view s) {
  std::string out = "'";
  out.reserve(s.size() + 2);
  for (const char c : s) {
    const auto b = static_cast<unsigned char>(c);
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '\'': out += "\\'"; break;
      case '\\': out += "\\\\"; break;
      default:
        if (b < 0x20 || b == 0x7f)
          out += fmt::format("\\x{:02x}", b);
        else
          out += c;
    }
  }
  out += '\'';
  return out;
}

std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << s.str(); }
std::ostream& operator<<(std::ostream& os, Dtype d) { return os << dtype_name(d); }
std::ostream& operator<<(std::ostream& os, const Array& a) { return os << fmt::format("{}", a); }
std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << fmt::format("{}", t); }
std::ostream& operator<<(std::ostream& os, const Var& v) { return os << fmt::format("{}", v); }

}  // namespace autodiff

auto fmt::formatter<autodiff::Array>::format(const autodiff::Array& a, format_context& ctx) const -> decltype(ctx.out()) {
  fmt::memory_buffer buf;
  autodiff::detail::format_array_to(buf, a, writer(ctx));
  return autodiff::detail::flush(buf, ctx);
}

auto fmt::formatter<autodiff::Tensor>::format(const autodiff::Tensor& t, format_context& ctx) const -> decltype(ctx.out()) {
  if (!t.defined()) return fmt::format_to(ctx.out(), "Tensor(undefined)");
  fmt::memory_buffer buf;
  autodiff::detail::append(buf, "Tensor(");
  autodiff::detail::format_array_to(buf, t.value(), writer(ctx));
  fmt::format_to(fmt::appender(buf), ", shape={}, dtype={})", t.shape().str(), autodiff::dtype_name(t.dtype()));
  return autodiff::detail::flush(buf, ctx);
}

auto fmt::formatter<autodiff::Var>::format(const autodiff::Var& v, format_context& ctx) const -> decltype(ctx.out()) {
  const autodiff::detail::ElementWriter element = writer(ctx);
  fmt::memory_buffer buf;
  autodiff::detail::append(buf, "Var(value=");
  element(buf, v.value());
  autodiff::detail::append(buf, ", grad=");
  // An op node whose graph was released keeps its value but not its grad: print that rather than fail.
  try {
    const double g = v.grad();
    element(buf, g);
  } catch (const std::logic_error&) {
    autodiff::detail::append(buf, "released");
  }
  buf.push_back(')');
  return autodiff::detail::flush(buf, ctx);
}
