// One generic finite-difference check for every op: a table {name, fn, input domain} looped in BOOST_TEST_CONTEXT.
#define BOOST_TEST_MODULE ops_gradcheck_test
#include <boost/test/unit_test.hpp>

#include "op_table.hpp"

#include "autodiff/autodiff.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

using namespace autodiff;
namespace tt = boost::test_tools;

using namespace optable;

namespace {

const Shape S34{3, 4};

std::vector<TensorRow> tensor_table() {
  const auto [min_a, min_b] = apart(12, 1);
  const auto [max_a, max_b] = apart(12, 2);
  const std::vector<double> d34 = distinct(12, 3);
  GradcheckOptions near_overflow;
  near_overflow.rtol = 1e-6;  // exp(700) is 1e304: only a relative tolerance means anything there
  near_overflow.atol = 0.0;

  using V = const std::vector<Tensor>&;
  return {
      // arithmetic and broadcasting
      {"add", [](V x) { return x[0] + x[1]; }, {range(S34, -1, 1), range(S34, -1, 1)}},
      {"add [32,10]+[10]", [](V x) { return add(x[0], x[1]); }, {range({32, 10}, -1, 1), range({10}, -1, 1)}},
      {"add [3]+[] (0-d)", [](V x) { return add(x[0], x[1]); }, {range({3}, -1, 1), range({}, -1, 1)}},
      {"add []+[2,3]", [](V x) { return add(x[0], x[1]); }, {range({}, -1, 1), range({2, 3}, -1, 1)}},
      {"sub [3,1]-[4]", [](V x) { return x[0] - x[1]; }, {range({3, 1}, -1, 1), range({4}, -1, 1)}},
      {"mul [4,1]*[1,5]", [](V x) { return mul(x[0], x[1]); }, {range({4, 1}, -1, 1), range({1, 5}, -1, 1)}},
      {"mul same input twice", [](V x) { return x[0] * x[0]; }, {range(S34, -1, 1)}},
      {"div [2,3]/[2,1]", [](V x) { return x[0] / x[1]; }, {range({2, 3}, -1, 1), away({2, 1}, 0.5, 2.0)}},
      {"div same shape", [](V x) { return div(x[0], x[1]); }, {range(S34, -1, 1), away(S34, 0.5, 2.0)}},
      {"neg", [](V x) { return -x[0]; }, {range(S34, -1, 1)}},
      {"tensor + double", [](V x) { return x[0] + 2.5; }, {range(S34, -1, 1)}},
      {"double + tensor", [](V x) { return 2.5 + x[0]; }, {range(S34, -1, 1)}},
      {"tensor - double", [](V x) { return x[0] - 2.5; }, {range(S34, -1, 1)}},
      {"double - tensor", [](V x) { return 2.5 - x[0]; }, {range(S34, -1, 1)}},
      {"tensor * double", [](V x) { return x[0] * -1.5; }, {range(S34, -1, 1)}},
      {"double * tensor", [](V x) { return -1.5 * x[0]; }, {range(S34, -1, 1)}},
      {"tensor / double", [](V x) { return x[0] / 4.0; }, {range(S34, -1, 1)}},
      {"double / tensor", [](V x) { return 3.0 / x[0]; }, {away(S34, 0.5, 2.0)}},
      {"broadcast_to [3,1]->[2,3,4]", [](V x) { return broadcast_to(x[0], Shape{2, 3, 4}); }, {range({3, 1}, -1, 1)}},
      {"sum_to [2,3,4]->[3,1]", [](V x) { return sum_to(x[0], Shape{3, 1}); }, {range({2, 3, 4}, -1, 1)}},
      {"sum_to [5,4]->[4]", [](V x) { return sum_to(x[0], Shape{4}); }, {range({5, 4}, -1, 1)}},
      // elementwise
      {"exp", [](V x) { return exp(x[0]); }, {range(S34, -2, 2)}},
      {"exp near 700", [](V x) { return exp(x[0]); }, {range({4}, 695, 705)}, near_overflow},
      {"log", [](V x) { return log(x[0]); }, {range(S34, 0.3, 3)}},
      {"sqrt", [](V x) { return sqrt(x[0]); }, {range(S34, 0.3, 3)}},
      {"sin", [](V x) { return sin(x[0]); }, {range(S34, -3, 3)}},
      {"cos", [](V x) { return cos(x[0]); }, {range(S34, -3, 3)}},
      {"tanh", [](V x) { return tanh(x[0]); }, {range(S34, -3, 3)}},
      {"sigmoid", [](V x) { return sigmoid(x[0]); }, {range(S34, -4, 4)}},
      {"sigmoid at +-40", [](V x) { return sigmoid(x[0]); }, {given({4}, {-40.0, 40.0, -39.5, 40.5})}},
      {"sigmoid_backward", [](V x) { return sigmoid_backward(x[0], x[1]); }, {range(S34, -1, 1), range(S34, 0.05, 0.95)}},
      {"relu", [](V x) { return relu(x[0]); }, {away(S34, 0.1, 2.0)}},
      {"abs", [](V x) { return abs(x[0]); }, {away(S34, 0.1, 2.0)}},
      {"pow x^3", [](V x) { return pow(x[0], 3.0); }, {range(S34, -2, 2)}},
      {"pow x^-1.5", [](V x) { return pow(x[0], -1.5); }, {range(S34, 0.5, 2)}},
      {"pow x^0.5", [](V x) { return pow(x[0], 0.5); }, {range(S34, 0.5, 2)}},
      {"pow x^1", [](V x) { return pow(x[0], 1.0); }, {range(S34, -2, 2)}},
      {"pow x^y (tensor exponent)", [](V x) { return pow(x[0], x[1]); }, {range(S34, 0.5, 2), range(S34, -1.5, 1.5)}},
      {"pow [2,3]^[3]", [](V x) { return pow(x[0], x[1]); }, {range({2, 3}, 0.5, 2), range({3}, -1.5, 1.5)}},
      {"minimum", [](V x) { return minimum(x[0], x[1]); }, {given(S34, min_a), given(S34, min_b)}},
      {"maximum", [](V x) { return maximum(x[0], x[1]); }, {given(S34, max_a), given(S34, max_b)}},
      // reductions
      {"sum", [](V x) { return sum(x[0]); }, {range(S34, -1, 1)}},
      {"sum axis 0", [](V x) { return sum(x[0], 0); }, {range(S34, -1, 1)}},
      {"sum axis 0 keepdim", [](V x) { return sum(x[0], 0, true); }, {range(S34, -1, 1)}},
      {"sum axis 1", [](V x) { return sum(x[0], 1); }, {range(S34, -1, 1)}},
      {"sum axis 1 keepdim", [](V x) { return sum(x[0], 1, true); }, {range(S34, -1, 1)}},
      {"sum axis -1 of [2,3,4]", [](V x) { return sum(x[0], -1); }, {range({2, 3, 4}, -1, 1)}},
      {"mean", [](V x) { return mean(x[0]); }, {range(S34, -1, 1)}},
      {"mean axis 0", [](V x) { return mean(x[0], 0); }, {range(S34, -1, 1)}},
      {"mean axis 0 keepdim", [](V x) { return mean(x[0], 0, true); }, {range(S34, -1, 1)}},
      {"mean axis 1", [](V x) { return mean(x[0], 1); }, {range(S34, -1, 1)}},
      {"mean axis 1 keepdim", [](V x) { return mean(x[0], 1, true); }, {range(S34, -1, 1)}},
      {"max axis 0", [](V x) { return max(x[0], 0).values; }, {given(S34, d34)}},
      {"max axis 0 keepdim", [](V x) { return max(x[0], 0, true).values; }, {given(S34, d34)}},
      {"max axis 1", [](V x) { return max(x[0], 1).values; }, {given(S34, d34)}},
      {"max axis 1 keepdim", [](V x) { return max(x[0], 1, true).values; }, {given(S34, d34)}},
      {"logsumexp axis 0", [](V x) { return logsumexp(x[0], 0); }, {range(S34, -3, 3)}},
      {"logsumexp axis 1 keepdim", [](V x) { return logsumexp(x[0], 1, true); }, {range(S34, -3, 3)}},
      {"logsumexp of large values", [](V x) { return logsumexp(x[0], 1); }, {range(S34, 500, 505)}},
      {"log_softmax axis 1", [](V x) { return log_softmax(x[0], 1); }, {range(S34, -3, 3)}},
      {"log_softmax axis 0", [](V x) { return log_softmax(x[0], 0); }, {range(S34, -3, 3)}},
      // linear algebra
      {"matmul", [](V x) { return matmul(x[0], x[1]); }, {range({3, 4}, -1, 1), range({4, 5}, -1, 1)}},
      {"matmul A B", [](V x) { return matmul(x[0], x[1], false, false); }, {range({3, 4}, -1, 1), range({4, 5}, -1, 1)}},
      {"matmul A^T B", [](V x) { return matmul(x[0], x[1], true, false); }, {range({4, 3}, -1, 1), range({4, 5}, -1, 1)}},
      {"matmul A B^T", [](V x) { return matmul(x[0], x[1], false, true); }, {range({3, 4}, -1, 1), range({5, 4}, -1, 1)}},
      {"matmul A^T B^T", [](V x) { return matmul(x[0], x[1], true, true); }, {range({4, 3}, -1, 1), range({5, 4}, -1, 1)}},
      {"matmul same input twice", [](V x) { return matmul(x[0], x[0], false, true); }, {range({3, 4}, -1, 1)}},
      // Degenerate shapes take their own paths: a row vector (gemv) and an outer product (k = 1).
      {"matmul row vector", [](V x) { return matmul(x[0], x[1]); }, {range({1, 4}, -1, 1), range({4, 5}, -1, 1)}},
      {"matmul row vector B^T", [](V x) { return matmul(x[0], x[1], false, true); }, {range({1, 4}, -1, 1), range({5, 4}, -1, 1)}},
      {"matmul row vector A^T", [](V x) { return matmul(x[0], x[1], true, false); }, {range({4, 1}, -1, 1), range({4, 5}, -1, 1)}},
      {"matmul outer product", [](V x) { return matmul(x[0], x[1]); }, {range({3, 1}, -1, 1), range({1, 5}, -1, 1)}},
      {"matmul outer product A^T", [](V x) { return matmul(x[0], x[1], true, false); }, {range({1, 3}, -1, 1), range({1, 5}, -1, 1)}},
      {"transpose", [](V x) { return transpose(x[0]); }, {range({3, 5}, -1, 1)}},
      // shape
      {"reshape [2,6]->[3,-1]", [](V x) { return reshape(x[0], {3, -1}); }, {range({2, 6}, -1, 1)}},
      {"reshape [2,6]->[-1,2,1]", [](V x) { return reshape(x[0], {-1, 2, 1}); }, {range({2, 6}, -1, 1)}},
      {"reshape [2,6]->[4,3]", [](V x) { return reshape(x[0], Shape{4, 3}); }, {range({2, 6}, -1, 1)}},
      {"reshape [1]->[]", [](V x) { return reshape(x[0], Shape{}) * x[0]; }, {range({1}, -1, 1)}},
      {"rows repeated indices", [](V x) { return rows(x[0], {2, 0, 2, 3, 2}); }, {range({4, 3}, -1, 1)}},
      {"index_add_rows repeated", [](V x) { return index_add_rows(x[0], {1, 3, 1}, 4); }, {range({3, 2}, -1, 1)}},
      {"item and stack mixing scalars and tensors",
       [](V x) {
         const Var c = 1.5;  // a scalar leaf that is not an input
         Var a = x[0].var(1) * x[1].var(2);
         Var b = sin(x[0].var(4)) + c;
         Tensor s = stack({a, b, c * a, x[1].var(0)}, Shape{2, 2});
         return matmul(s, reshape(x[0], Shape{2, 3})) + reshape(x[1], Shape{1, 3});
       },
       {range({2, 3}, -1, 1), range({3}, -1, 1)}},
      {"unstack then stack",
       [](V x) {
         std::vector<Var> v = x[0].vars();
         std::vector<Var> w;
         for (std::size_t i = 0; i < v.size(); ++i) w.push_back(v[i] * v[(i + 1) % v.size()] + tanh(v[i]));
         return stack(w, Shape{2, 3});
       },
       {range({2, 3}, -1, 1)}},
      // a composite: one layer with a classification loss
      {"linear + tanh + log_softmax",
       [](V x) { return mean(log_softmax(tanh(matmul(x[0], x[1]) + x[2]), 1) * x[3]); },
       {range({5, 4}, -1, 1), range({4, 3}, -1, 1), range({3}, -0.5, 0.5), range({5, 3}, 0, 1)}},
  };
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_tensor_op_matches_finite_differences) {
  const std::vector<TensorRow> table = tensor_table();
  BOOST_TEST(table.size() >= 70u);
  check_first_order(table);
}

BOOST_AUTO_TEST_CASE(reshape_infers_minus_one) {
  TapeScope scope;
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, Shape{2, 3}, Dtype::f64, true);
  Tensor y = reshape(x, {3, -1});
  BOOST_TEST(y.shape() == (Shape{3, 2}));
  BOOST_TEST(y.at(5) == 6.0);
  backward(sum(y * y));
  const std::vector<double> want{2, 4, 6, 8, 10, 12};
  BOOST_TEST(x.grad().to_vector() == want, tt::per_element());
}

BOOST_AUTO_TEST_CASE(sigmoid_at_plus_minus_40_is_finite_and_exact) {
  TapeScope scope;
  const std::vector<double> xs{-40.0, 40.0, -39.5, 40.5};
  Tensor x = tensor(xs, Shape{4}, Dtype::f64, true);
  Tensor y = sigmoid(x);
  backward(sum(y));
  const std::vector<double> g = x.grad().to_vector();
  for (std::size_t i = 0; i < xs.size(); ++i) {
    BOOST_TEST_CONTEXT("x = " << xs[i]) {
      const double e = std::exp(-std::fabs(xs[i]));
      const double want = e / ((1.0 + e) * (1.0 + e));  // sigmoid'(x), symmetric in x
      BOOST_TEST(std::isfinite(g[i]));
      BOOST_TEST(std::fabs(g[i] - want) <= 1e-17);
      BOOST_TEST(std::isfinite(y.at(static_cast<std::int64_t>(i))));
    }
  }
  // On the negative side the engine keeps full relative precision (no 1 - y cancellation).
  BOOST_TEST(g[0] == std::exp(-40.0) / ((1.0 + std::exp(-40.0)) * (1.0 + std::exp(-40.0))), tt::tolerance(1e-14));
  BOOST_TEST(y.at(0) == std::exp(-40.0) / (1.0 + std::exp(-40.0)), tt::tolerance(1e-14));
  // And gradcheck agrees on the same points.
  const GradcheckReport r = gradcheck([](const std::vector<Tensor>& v) { return sigmoid(v[0]); }, {x.detach()});
  BOOST_TEST(r.ok, fmt::format("{}", r));
  BOOST_TEST(r.max_abs_error <= 1e-12);
}

// ---- the scalar Var table ------------------------------------------------------------------------------

namespace {

struct ScalarRow {
  std::string name;
  ScalarFunction fn;
  std::vector<std::pair<double, double>> domain;  // [lo, hi) per input
};

std::vector<ScalarRow> scalar_table() {
  using V = const std::vector<Var>&;
  const std::pair<double, double> any{-2.0, 2.0}, pos{0.3, 3.0}, neg{-3.0, -0.3};
  return {
      {"a + b", [](V x) { return x[0] + x[1]; }, {any, any}},
      {"a - b", [](V x) { return x[0] - x[1]; }, {any, any}},
      {"a * b", [](V x) { return x[0] * x[1]; }, {any, any}},
      {"a / b", [](V x) { return x[0] / x[1]; }, {any, pos}},
      {"a / b (b < 0)", [](V x) { return x[0] / x[1]; }, {any, neg}},
      {"-a", [](V x) { return -x[0]; }, {any}},
      {"a + 2.5", [](V x) { return x[0] + 2.5; }, {any}},
      {"2.5 + a", [](V x) { return 2.5 + x[0]; }, {any}},
      {"a - 2.5", [](V x) { return x[0] - 2.5; }, {any}},
      {"2.5 - a", [](V x) { return 2.5 - x[0]; }, {any}},
      {"a * 2.5", [](V x) { return x[0] * 2.5; }, {any}},
      {"2.5 * a", [](V x) { return 2.5 * x[0]; }, {any}},
      {"a / 2.5", [](V x) { return x[0] / 2.5; }, {any}},
      {"2.5 / a", [](V x) { return 2.5 / x[0]; }, {pos}},
      {"a += b; a -= 0.5; a *= b; a /= 1.5",
       [](V x) {
         Var a = x[0];
         a += x[1];
         a -= 0.5;
         a *= x[1];
         a /= 1.5;
         a += 2.0;
         a -= x[0];
         a *= 3.0;
         a /= x[1];
         return a;
       },
       {any, pos}},
      {"a * a (used twice)", [](V x) { return x[0] * x[0]; }, {any}},
      {"exp", [](V x) { return exp(x[0]); }, {any}},
      {"exp near 700", [](V x) { return exp(x[0] - 700.0) * 1e-3; }, {{699.0, 701.0}}},
      {"log", [](V x) { return log(x[0]); }, {pos}},
      {"sqrt", [](V x) { return sqrt(x[0]); }, {pos}},
      {"sin", [](V x) { return sin(x[0]); }, {{-3.0, 3.0}}},
      {"cos", [](V x) { return cos(x[0]); }, {{-3.0, 3.0}}},
      {"tanh", [](V x) { return tanh(x[0]); }, {{-3.0, 3.0}}},
      {"sigmoid", [](V x) { return sigmoid(x[0]); }, {{-4.0, 4.0}}},
      {"sigmoid at -40", [](V x) { return sigmoid(x[0]); }, {{-40.5, -39.5}}},
      {"sigmoid at +40", [](V x) { return sigmoid(x[0]); }, {{39.5, 40.5}}},
      {"relu (x > 0)", [](V x) { return relu(x[0]); }, {pos}},
      {"relu (x < 0)", [](V x) { return relu(x[0]) + x[0]; }, {neg}},
      {"abs (x > 0)", [](V x) { return abs(x[0]); }, {pos}},
      {"abs (x < 0)", [](V x) { return abs(x[0]); }, {neg}},
      {"pow(a, 3)", [](V x) { return pow(x[0], 3.0); }, {any}},
      {"pow(a, -1.5)", [](V x) { return pow(x[0], -1.5); }, {pos}},
      {"pow(a, 0)", [](V x) { return pow(x[0], 0.0) + x[0]; }, {pos}},
      {"pow(a, b)", [](V x) { return pow(x[0], x[1]); }, {pos, any}},
      {"pow(2.0, b)", [](V x) { return pow(2.0, x[0]); }, {any}},
      {"min (a chosen)", [](V x) { return min(x[0], x[1]); }, {{0.0, 1.0}, {2.0, 3.0}}},
      {"min (b chosen)", [](V x) { return min(x[0], x[1]); }, {{2.0, 3.0}, {0.0, 1.0}}},
      {"max (a chosen)", [](V x) { return max(x[0], x[1]); }, {{2.0, 3.0}, {0.0, 1.0}}},
      {"max (b chosen)", [](V x) { return max(x[0], x[1]); }, {{0.0, 1.0}, {2.0, 3.0}}},
      {"neuron tanh(w1 x1 + w2 x2 + b)",
       [](V x) { return tanh(x[0] * x[1] + x[2] * x[3] + x[4]); },
       {any, any, any, any, {-0.5, 0.5}}},
  };
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_scalar_op_matches_finite_differences) {
  const std::vector<ScalarRow> table = scalar_table();
  for (const ScalarRow& row : table) {
    BOOST_TEST_CONTEXT(row.name) {
      std::mt19937_64 gen(seed_of(row.name));
      std::vector<double> x;
      for (const auto& [lo, hi] : row.domain) x.push_back(lo + (hi - lo) * uniform01(gen));
      const GradcheckReport r = gradcheck(row.fn, x);
      BOOST_TEST(r.ok, fmt::format("{}", r));
      BOOST_TEST(r.inputs.size() == 1u);
      BOOST_TEST(r.inputs[0].shape == Shape{static_cast<std::int64_t>(x.size())});
      BOOST_TEST(std::isfinite(r.inputs[0].analytic));
    }
  }
}

// ---- second order ----------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(second_order_matches_finite_differences) {
  using V = const std::vector<Tensor>&;
  const std::vector<TensorRow> table{
      {"exp", [](V x) { return exp(x[0]); }, {range({2, 3}, -1, 1)}},
      {"sin", [](V x) { return sin(x[0]); }, {range({2, 3}, -3, 3)}},
      {"cos", [](V x) { return cos(x[0]); }, {range({2, 3}, -3, 3)}},
      {"tanh", [](V x) { return tanh(x[0]); }, {range({2, 3}, -2, 2)}},
      {"sigmoid", [](V x) { return sigmoid(x[0]); }, {range({2, 3}, -3, 3)}},
      {"log", [](V x) { return log(x[0]); }, {range({2, 3}, 0.5, 2)}},
      {"mul", [](V x) { return x[0] * x[1]; }, {range({2, 3}, -1, 1), range({3}, -1, 1)}},
      {"div", [](V x) { return x[0] / x[1]; }, {range({2, 3}, -1, 1), away({2, 3}, 0.5, 2)}},
      {"matmul", [](V x) { return matmul(x[0], x[1]); }, {range({2, 3}, -1, 1), range({3, 4}, -1, 1)}},
      {"matmul A^T B^T", [](V x) { return matmul(x[0], x[1], true, true); }, {range({3, 2}, -1, 1), range({4, 3}, -1, 1)}},
      {"pow x^3", [](V x) { return pow(x[0], 3.0); }, {range({2, 3}, -2, 2)}},
      {"pow x^y", [](V x) { return pow(x[0], x[1]); }, {range({2, 3}, 0.5, 2), range({2, 3}, -1.5, 1.5)}},
      {"logsumexp", [](V x) { return logsumexp(x[0], 1); }, {range({2, 3}, -2, 2)}},
      {"mlp layer", [](V x) { return sum(sigmoid(matmul(x[0], x[1]) + x[2])); },
       {range({2, 3}, -1, 1), range({3, 2}, -1, 1), range({2}, -1, 1)}},
  };
  check_second_order(table);
}

BOOST_AUTO_TEST_CASE(hessian_vector_product_of_sum_of_cubes) {
  TapeScope scope;
  Tensor x = tensor({1.0, 2.0, 3.0}, Shape{3}, Dtype::f64, true);
  std::vector<Tensor> g = gradient(sum(pow(x, 3.0)), {x}, {.create_graph = true});  // 3 x^2
  const std::vector<double> g_want{3.0, 12.0, 27.0};
  BOOST_TEST(g[0].to_vector() == g_want, tt::tolerance(1e-14) << tt::per_element());
  std::vector<Tensor> hv = gradient(sum(g[0]), {x});  // H 1 = 6 x
  const std::vector<double> want{6.0, 12.0, 18.0};
  BOOST_TEST(hv[0].to_vector() == want, tt::tolerance(1e-14) << tt::per_element());
}

// ---- the checker can fail ------------------------------------------------------------------------------------

namespace {

Array squared(const Array& v) {
  Array out = v.clone();
  for (std::int64_t i = 0; i < out.numel(); ++i) out.set(i, v.at(i) * v.at(i));
  return out;
}

/// x^2 with a backward that is `factor` times the true one.
Tensor scaled_square(const Tensor& x, double factor) {
  return make_op("scaled_square", squared(x.value()), {x}, [x, factor](const Tensor& grad, const Tensor&, BackwardContext& dx) {
    dx[0] += grad * x * (2.0 * factor);
  });
}

/// x^2 with a first derivative that is right but not differentiable: 2x is taken as a constant.
Tensor square_constant_backward(const Tensor& x) {
  return make_op("square_constant_backward", squared(x.value()), {x},
                 [x](const Tensor& grad, const Tensor&, BackwardContext& dx) { dx[0] += grad * (x.detach() * 2.0); });
}

}  // namespace

BOOST_AUTO_TEST_CASE(gradcheck_catches_a_wrong_backward) {
  std::mt19937_64 gen(42);
  const Tensor x = uniform(Shape{3, 2}, 0.5, 1.5, gen, Dtype::f64);

  const GradcheckReport right = gradcheck([](const std::vector<Tensor>& v) { return scaled_square(v[0], 1.0); }, {x});
  BOOST_TEST(right.ok, fmt::format("{}", right));

  const GradcheckReport wrong = gradcheck([](const std::vector<Tensor>& v) { return scaled_square(v[0], 0.5); }, {x});
  BOOST_TEST(!wrong.ok);
  BOOST_TEST(!static_cast<bool>(wrong));
  BOOST_TEST(!wrong.inputs[0].ok);
  BOOST_TEST(wrong.max_abs_error > 0.1);
  // The worst element's analytic value is half its numeric one.
  BOOST_TEST(wrong.inputs[0].analytic == 0.5 * wrong.inputs[0].numeric, tt::tolerance(1e-6));
  const std::string text = fmt::format("{}", wrong);
  BOOST_TEST(text.find("FAIL") != std::string::npos);
  BOOST_TEST(text.find("[3,2]") != std::string::npos);

  // Second order: the first derivative is right, so gradcheck passes and only gradgradcheck fails.
  const TensorFunction f = [](const std::vector<Tensor>& v) { return square_constant_backward(v[0]); };
  BOOST_TEST(gradcheck(f, {x}).ok);
  const GradcheckReport second = gradgradcheck(f, {x});
  BOOST_TEST(!second.ok);
  // The correct op passes the same second-order check.
  BOOST_TEST(gradgradcheck([](const std::vector<Tensor>& v) { return scaled_square(v[0], 1.0); }, {x}).ok);
}

BOOST_AUTO_TEST_CASE(scalar_gradcheck_catches_a_wrong_partial) {
  // A custom scalar op recorded with make_scalar_op: x^2 with partial x (should be 2x).
  const ScalarFunction bad = [](const std::vector<Var>& v) {
    const double x = v[0].value();
    return make_scalar_op("square", x * x, {v[0]}, {x});
  };
  const ScalarFunction good = [](const std::vector<Var>& v) {
    const double x = v[0].value();
    return make_scalar_op("square", x * x, {v[0]}, {2.0 * x});
  };
  const GradcheckReport r = gradcheck(bad, {1.25});
  BOOST_TEST(!r.ok);
  BOOST_TEST(r.inputs[0].analytic == 1.25);
  BOOST_TEST(r.inputs[0].numeric == 2.5, tt::tolerance(1e-8));
  BOOST_TEST(gradcheck(good, {1.25}).ok);
}
