// fmt formatters for Shape, Dtype, Array, Tensor and Var (full specialisations, as fmt 9 needs).
#pragma once

#include "autodiff/tape.hpp"

#include <fmt/format.h>

#include <string>

namespace autodiff::detail {
/// "[[1, 2], [3, 4]]" with at most `limit` elements per row before "...".
std::string format_array(const Array& a, int limit = 8);
}  // namespace autodiff::detail

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

template <>
struct fmt::formatter<autodiff::Array> : fmt::formatter<std::string> {
  auto format(const autodiff::Array& a, format_context& ctx) const {
    return fmt::formatter<std::string>::format(autodiff::detail::format_array(a), ctx);
  }
};

template <>
struct fmt::formatter<autodiff::Tensor> : fmt::formatter<std::string> {
  auto format(const autodiff::Tensor& t, format_context& ctx) const {
    std::string s = t.defined() ? fmt::format("Tensor({}, shape={}, dtype={})", autodiff::detail::format_array(t.value()),
                                              t.shape().str(), autodiff::dtype_name(t.dtype()))
                                : std::string("Tensor(undefined)");
    return fmt::formatter<std::string>::format(s, ctx);
  }
};

template <>
struct fmt::formatter<autodiff::Var> : fmt::formatter<std::string> {
  auto format(const autodiff::Var& v, format_context& ctx) const {
    return fmt::formatter<std::string>::format(fmt::format("Var(value={:.6g}, grad={:.6g})", v.value(), v.grad()), ctx);
  }
};
