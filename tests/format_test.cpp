// Printing: fmt's "{}" output of Tensor, Var and Array, format specs applied to the elements, PyTorch-style
// summaries of large arrays, and operator<<. Every expected string is written out in full.
#define BOOST_TEST_MODULE format_test
#include <boost/test/unit_test.hpp>

#include "autodiff/autodiff.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

using autodiff::Array;
using autodiff::Dtype;
using autodiff::Shape;
using autodiff::Tensor;
using autodiff::Var;

namespace {

Tensor f64(std::vector<double> v, const Shape& s) { return autodiff::tensor(std::move(v), s, Dtype::f64); }

/// 0, 1, 2, ... in the given shape.
Tensor iota(const Shape& s) {
  std::vector<double> v(static_cast<std::size_t>(s.numel()));
  std::iota(v.begin(), v.end(), 0.0);
  return f64(std::move(v), s);
}

template <class T>
std::string streamed(const T& x) {
  std::ostringstream os;
  os << x;
  return os.str();
}

}  // namespace

BOOST_AUTO_TEST_CASE(no_spec_prints_as_before) {
  const Tensor t = f64({1.5, -2.25, 3, 4, 5, 1e-7}, Shape{2, 3});
  BOOST_TEST(fmt::format("{}", t) == "Tensor([[1.5, -2.25, 3], [4, 5, 1e-07]], shape=[2,3], dtype=float64)");
  BOOST_TEST(fmt::format("{}", t.value()) == "[[1.5, -2.25, 3], [4, 5, 1e-07]]");
  BOOST_TEST(fmt::format("{}", autodiff::scalar(1.0 / 3.0, Dtype::f64)) == "Tensor(0.333333, shape=[], dtype=float64)");
  BOOST_TEST(fmt::format("{}", Tensor()) == "Tensor(undefined)");
  BOOST_TEST(fmt::format("{}", Var(2.5)) == "Var(value=2.5, grad=0)");
  Var y;
  {
    autodiff::TapeScope scope;
    y = Var(2.0) * 3.0;
    autodiff::backward(y);
    BOOST_TEST(fmt::format("{}", y) == "Var(value=6, grad=1)");
  }
  BOOST_TEST(fmt::format("{}", y) == "Var(value=6, grad=released)");  // its graph is gone, its value is not
  BOOST_TEST(fmt::format("{}", autodiff::zeros(Shape{0, 2})) == "Tensor([], shape=[0,2], dtype=float32)");
}

BOOST_AUTO_TEST_CASE(spec_applies_to_each_element) {
  const Tensor t = f64({1.5, -2.25, 3, 4}, Shape{2, 2});
  BOOST_TEST(fmt::format("{:.3f}", t) == "Tensor([[1.500, -2.250], [3.000, 4.000]], shape=[2,2], dtype=float64)");
  BOOST_TEST(fmt::format("{:e}", t) ==
             "Tensor([[1.500000e+00, -2.250000e+00], [3.000000e+00, 4.000000e+00]], shape=[2,2], dtype=float64)");
  BOOST_TEST(fmt::format("{:>8.2f}", t) ==
             "Tensor([[    1.50,    -2.25], [    3.00,     4.00]], shape=[2,2], dtype=float64)");
  // "{:.3}" once cut the whole text to "Ten"; now it is a precision for the elements.
  BOOST_TEST(fmt::format("{:.3}", f64({3.14159, 2.71828}, Shape{2})) == "Tensor([3.14, 2.72], shape=[2], dtype=float64)");
  // Dynamic width and precision come from the outer argument list.
  BOOST_TEST(fmt::format("{:{}.{}f}", t, 6, 1) ==
             "Tensor([[   1.5,   -2.2], [   3.0,    4.0]], shape=[2,2], dtype=float64)");
  BOOST_TEST(fmt::format("{:+.1f}", t.value()) == "[[+1.5, -2.2], [+3.0, +4.0]]");
  BOOST_TEST(fmt::format("{:.2f}", Var(2.5)) == "Var(value=2.50, grad=0.00)");
  BOOST_TEST(fmt::format("{:08.3f}", autodiff::tensor({0.5}, Dtype::f32)) == "Tensor([0000.500], shape=[1], dtype=float32)");
}

BOOST_AUTO_TEST_CASE(a_spec_that_is_not_for_numbers_is_rejected) {
  // Literal format strings are checked at compile time; fmt::runtime defers the same check to a format_error.
  const Tensor t = f64({1, 2}, Shape{2});
  BOOST_CHECK_THROW((void)fmt::format(fmt::runtime("{:d}"), t), fmt::format_error);
  BOOST_CHECK_THROW((void)fmt::format(fmt::runtime("{:s}"), Var(1.0)), fmt::format_error);
  BOOST_CHECK_NO_THROW((void)fmt::format(fmt::runtime("{:g}"), t));
}

BOOST_AUTO_TEST_CASE(up_to_1000_elements_print_in_full) {
  const std::string ten = fmt::format("{}", iota(Shape{1, 10}));
  BOOST_TEST(ten == "Tensor([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]], shape=[1,10], dtype=float64)");
  const std::string thousand = fmt::format("{}", iota(Shape{1000}).value());
  BOOST_TEST(thousand.find("...") == std::string::npos);
  BOOST_TEST(thousand.find(", 500, 501, ") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(more_than_1000_elements_show_3_at_each_end_of_every_long_axis) {
  BOOST_TEST(fmt::format("{}", iota(Shape{1001}).value()) == "[0, 1, 2, ..., 998, 999, 1000]");
  // [40,30]: both axes are longer than 6, so rows and columns are cut.
  BOOST_TEST(fmt::format("{}", iota(Shape{40, 30}).value()) ==
             "[[0, 1, 2, ..., 27, 28, 29], [30, 31, 32, ..., 57, 58, 59], [60, 61, 62, ..., 87, 88, 89], ..., "
             "[1110, 1111, 1112, ..., 1137, 1138, 1139], [1140, 1141, 1142, ..., 1167, 1168, 1169], "
             "[1170, 1171, 1172, ..., 1197, 1198, 1199]]");
  // An axis of 6 or fewer is never cut, even in a summarised array.
  BOOST_TEST(fmt::format("{}", iota(Shape{2, 600}).value()) == "[[0, 1, 2, ..., 597, 598, 599], [600, 601, 602, ..., 1197, 1198, 1199]]");
  BOOST_TEST(fmt::format("{:.1f}", iota(Shape{3, 2, 200})) ==
             "Tensor([[[0.0, 1.0, 2.0, ..., 197.0, 198.0, 199.0], [200.0, 201.0, 202.0, ..., 397.0, 398.0, 399.0]], "
             "[[400.0, 401.0, 402.0, ..., 597.0, 598.0, 599.0], [600.0, 601.0, 602.0, ..., 797.0, 798.0, 799.0]], "
             "[[800.0, 801.0, 802.0, ..., 997.0, 998.0, 999.0], [1000.0, 1001.0, 1002.0, ..., 1197.0, 1198.0, 1199.0]]], "
             "shape=[3,2,200], dtype=float64)");
}

BOOST_AUTO_TEST_CASE(operator_shift_prints_what_fmt_prints) {
  const Tensor t = f64({1.5, -2.25, 3, 4}, Shape{2, 2});
  BOOST_TEST(streamed(t) == "Tensor([[1.5, -2.25], [3, 4]], shape=[2,2], dtype=float64)");
  BOOST_TEST(streamed(t.value()) == "[[1.5, -2.25], [3, 4]]");
  BOOST_TEST(streamed(Var(-0.125)) == "Var(value=-0.125, grad=0)");
  BOOST_TEST(streamed(t.shape()) == "[2,2]");
  BOOST_TEST(streamed(t.dtype()) == "float64");
  BOOST_TEST(streamed(iota(Shape{1001})) == fmt::format("{}", iota(Shape{1001})));
  BOOST_TEST(streamed(Tensor()) == "Tensor(undefined)");
}

// Text from a command line or a file is quoted for messages on one line: control bytes, quotes and backslashes are
// escaped, everything else (UTF-8 included) is kept.
BOOST_AUTO_TEST_CASE(quote_escapes_what_would_break_a_one_line_message) {
  using autodiff::quote;
  BOOST_TEST(quote("") == "''");
  BOOST_TEST(quote("conv8") == "'conv8'");
  BOOST_TEST(quote("a\nb\tc\rd") == "'a\\nb\\tc\\rd'");
  BOOST_TEST(quote("it's") == "'it\\'s'");
  BOOST_TEST(quote("C:\\x") == "'C:\\\\x'");
  BOOST_TEST(quote(std::string("\x00\x1b\x7f", 3)) == "'\\x00\\x1b\\x7f'");
  BOOST_TEST(quote("caf\xc3\xa9") == "'caf\xc3\xa9'");
}
