// The text of gradcheck, gradgradcheck and check_formula reports: titles, multi-indices, what the columns are, an
// empty claim list, and a claim in the transposed shape. Each check fails if the report loses the words it tests.
#define BOOST_TEST_MODULE report_test
#include <boost/test/unit_test.hpp>

#include "autodiff/autodiff.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <vector>

using autodiff::Array;
using autodiff::Dtype;
using autodiff::Shape;
using autodiff::Tensor;

namespace {

Tensor f64(std::vector<double> v, const Shape& s) { return autodiff::tensor(std::move(v), s, Dtype::f64); }

Array array(const std::vector<double>& v, const Shape& s) {
  Array a(s, Dtype::f64);
  for (std::size_t i = 0; i < v.size(); ++i) a.set(static_cast<std::int64_t>(i), v[i]);
  return a;
}

bool contains(const std::string& s, const std::string& word) { return s.find(word) != std::string::npos; }
bool starts_with(const std::string& s, const std::string& word) { return s.rfind(word, 0) == 0; }

/// y = x elementwise, with a backward that is wrong (3x too large) at one flat index only.
Tensor identity_wrong_at(const Tensor& x, std::int64_t bad) {
  return autodiff::make_op("identity_wrong_at", x.value().clone(), {x},
                           [bad](const Tensor& grad, const Tensor&, autodiff::BackwardContext& dx) {
                             Array scale = Array::full(grad.shape(), 1.0, grad.dtype());
                             scale.set(bad, 3.0);
                             dx[0] += grad * Tensor(scale);
                           });
}

const Tensor x23 = f64({0.1, -0.2, 0.3, -0.4, 0.5, -0.6}, Shape{2, 3});

}  // namespace

BOOST_AUTO_TEST_CASE(gradgradcheck_has_its_own_title) {
  const autodiff::TensorFunction f = [](const std::vector<Tensor>& in) { return autodiff::sum(autodiff::sigmoid(in[0])); };
  const auto first = autodiff::gradcheck(f, {x23});
  const auto second = autodiff::gradgradcheck(f, {x23});
  const std::string t1 = fmt::format("{}", first), t2 = fmt::format("{}", second);
  BOOST_TEST_MESSAGE(t1 << "\n" << t2);
  BOOST_TEST(first.order == 1);
  BOOST_TEST(second.order == 2);
  BOOST_TEST(starts_with(t1, "gradcheck: PASS"), t1);
  BOOST_TEST(starts_with(t2, "gradgradcheck: PASS"), t2);
  BOOST_TEST(contains(t2, "second derivatives through g = sum_i v_i . df/dx_i"), t2);
}

BOOST_AUTO_TEST_CASE(gradcheck_names_the_worst_element_by_row_and_column) {
  // Flat index 5 of a [2,3] input is row 1, column 2.
  const auto r = autodiff::gradcheck([](const std::vector<Tensor>& in) { return autodiff::sum(identity_wrong_at(in[0], 5)); },
                                     {x23});
  const std::string text = fmt::format("{}", r);
  BOOST_TEST_MESSAGE(text);
  BOOST_TEST(!r.ok);
  BOOST_TEST(r.inputs.at(0).worst_index == 5);
  BOOST_TEST(contains(text, "worst [1,2]"), text);
  BOOST_TEST(!contains(text, "worst [5]"), text);
  // The same index form as check_formula's tables.
  BOOST_TEST(autodiff::detail::index_string(5, Shape{2, 3}) == "[1,2]");
  BOOST_TEST(autodiff::detail::index_string(3, Shape{4}) == "[3]");
  BOOST_TEST(autodiff::detail::index_string(0, Shape{}) == "[]");
}

BOOST_AUTO_TEST_CASE(a_projected_output_is_labelled_as_one) {
  // Non-scalar output: the columns are d/dx of sum(f(x) * r), and the report says so.
  const auto projected = autodiff::gradcheck([](const std::vector<Tensor>& in) { return autodiff::sigmoid(in[0]); }, {x23});
  const std::string p = fmt::format("{}", projected);
  BOOST_TEST_MESSAGE(p);
  BOOST_TEST(projected.projected);
  BOOST_TEST(projected.output == (Shape{2, 3}));
  BOOST_TEST(contains(p, "f's output [2,3] is checked through s = sum(f(x) * r), r fixed random"), p);
  BOOST_TEST(contains(p, "not one output's gradient"), p);
  BOOST_TEST(contains(p, "backward "), p);
  BOOST_TEST(contains(p, "finite diff "), p);
  BOOST_TEST(!contains(p, "analytic"), p);
  // A scalar output is checked as it is, and the report has no projection line.
  const auto plain = autodiff::gradcheck([](const std::vector<Tensor>& in) { return autodiff::sum(autodiff::sigmoid(in[0])); }, {x23});
  const std::string s = fmt::format("{}", plain);
  BOOST_TEST(!plain.projected);
  BOOST_TEST(!contains(s, "sum(f(x) * r)"), s);
}

BOOST_AUTO_TEST_CASE(check_formula_without_claims_checks_nothing_and_fails) {
  const auto r = autodiff::check_formula([](autodiff::Probe& p) { return autodiff::sum(p.input("A", f64({1, 2}, Shape{2}))); },
                                         [](const autodiff::Probe&) { return autodiff::Claims{}; });
  const std::string text = fmt::format("{}", r);
  BOOST_TEST_MESSAGE(text);
  BOOST_TEST(!r.ok);
  BOOST_TEST(r.claims.empty());
  BOOST_TEST(contains(text, "NOTHING CHECKED"), text);
  BOOST_TEST(!contains(text, "match"), text);
}

BOOST_AUTO_TEST_CASE(check_formula_passing_verdict_counts_claims) {
  const auto r = autodiff::check_formula(
      [](autodiff::Probe& p) { return autodiff::sum(p.input("A", f64({1, 2}, Shape{2})) * 3.0); },
      [](const autodiff::Probe&) { return autodiff::Claims{{"A", array({3, 3}, Shape{2})}}; });
  BOOST_TEST(r.ok);
  BOOST_TEST(contains(fmt::format("{}", r), "verdict: all claimed gradients match (1 claim)"), fmt::format("{}", r));
}

BOOST_AUTO_TEST_CASE(check_formula_reports_a_transposed_claim_as_a_shape_mismatch) {
  // cost = sum(A * C) with A [2,3], so dcost/dA = C; the claims are C^T (right values, transposed) and a wrong [3,2].
  const std::vector<double> c = {1, 2, 3, 4, 5, 6};
  auto cost = [&](autodiff::Probe& p) {
    return autodiff::sum(p.input("A", f64({0.5, 0.5, 0.5, 0.5, 0.5, 0.5}, Shape{2, 3})) * f64(c, Shape{2, 3}));
  };
  const auto right = autodiff::check_formula(cost, [](const autodiff::Probe&) {
    return autodiff::Claims{{"A", array({1, 4, 2, 5, 3, 6}, Shape{3, 2})}};
  });
  const std::string t = fmt::format("{}", right);
  BOOST_TEST_MESSAGE(t);
  BOOST_TEST(!right.ok);
  BOOST_TEST_REQUIRE(right.claims.size() == 1u);
  BOOST_TEST(!right.claims[0].shape_ok);
  BOOST_TEST(right.claims[0].claimed == (Shape{3, 2}));
  BOOST_TEST(right.claims[0].shape == (Shape{2, 3}));
  BOOST_TEST(contains(t, "WRONG SHAPE: your claim is [3,2], the gradient is [2,3]"), t);
  BOOST_TEST(contains(t, "transposed it matches the engine: return it transposed"), t);
  BOOST_TEST(!contains(t, "elements differ"), t);  // once "6 of 6 elements differ, max rel error 0"

  const auto wrong = autodiff::check_formula(cost, [](const autodiff::Probe&) {
    return autodiff::Claims{{"A", array({1, 4, 2, 5, 3, 7}, Shape{3, 2})}};
  });
  const std::string w = fmt::format("{}", wrong);
  BOOST_TEST(contains(w, "transposed, 1 of 6 elements still differ"), w);

  const auto flat = autodiff::check_formula(cost, [&](const autodiff::Probe&) { return autodiff::Claims{{"A", array(c, Shape{6})}}; });
  BOOST_TEST(contains(fmt::format("{}", flat), "reshape yours to [2,3]"), fmt::format("{}", flat));
}

BOOST_AUTO_TEST_CASE(check_formula_tables_use_multi_indices) {
  // A wrong element at [1,0] of a [2,2] claim.
  const auto r = autodiff::check_formula(
      [](autodiff::Probe& p) { return autodiff::sum(p.input("A", f64({1, 2, 3, 4}, Shape{2, 2}))); },
      [](const autodiff::Probe&) { return autodiff::Claims{{"A", array({1, 1, 7, 1}, Shape{2, 2})}}; });
  const std::string text = fmt::format("{}", r);
  BOOST_TEST_MESSAGE(text);
  BOOST_TEST(contains(text, "      [1,0] "), text);
}
