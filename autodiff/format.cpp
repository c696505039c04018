// Text rendering of arrays for the fmt formatters.
#include "autodiff/format.hpp"

namespace autodiff::detail {

namespace {
void render(const Array& a, int axis, std::int64_t offset, int limit, std::string& out) {
  const Shape& s = a.shape();
  if (s.rank() == 0) {
    out += fmt::format("{:.6g}", a.at(0));
    return;
  }
  const auto strides = s.strides();
  out += '[';
  for (std::int64_t i = 0; i < s[axis]; ++i) {
    if (i) out += ", ";
    if (i == limit && s[axis] > limit + 1) {
      out += "...";
      i = s[axis] - 2;
      continue;
    }
    const std::int64_t off = offset + i * strides[static_cast<std::size_t>(axis)];
    if (axis + 1 == s.rank())
      out += fmt::format("{:.6g}", a.at(off));
    else
      render(a, axis + 1, off, limit, out);
  }
  out += ']';
}
}  // namespace

std::string format_array(const Array& a, int limit) {
  if (!a.defined()) return "undefined";
  std::string out;
  render(a, 0, 0, limit, out);
  return out;
}

}  // namespace autodiff::detail
