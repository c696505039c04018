// Statement-level recording of scalar Vars: an expression becomes one node with one partial per distinct operand.
// Its gradients are checked by finite differences and by hand; OpByOp and AnomalyMode record one node per op.
#define BOOST_TEST_MODULE scalar_statement_test
#include <boost/test/unit_test.hpp>

#include "autodiff/autodiff.hpp"
#include "tests/throws_with.hpp"

#include <cmath>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

using namespace autodiff;
namespace tt = boost::test_tools;

namespace {

// Every scalar op in one statement, with constants on either side.
Var every_op(const std::vector<Var>& v) {
  const Var &x = v[0], &y = v[1], &z = v[2];
  return x * x * sin(x) + exp(y / 3.0) - log(z) * sqrt(z) + tanh(x * y) / (1.0 + abs(y)) + sigmoid(z - x) * relu(y) +
         pow(x, 3.0) + pow(2.0, y) - cos(-x) + 2.0 - z + 4.0 / (z + 1.0) - (3.0 - x) * 0.5;
}

std::size_t count(const std::string& s, const std::string& word) {
  std::size_t n = 0;
  for (std::size_t at = s.find(word); at != std::string::npos; at = s.find(word, at + word.size())) ++n;
  return n;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_statement_of_every_op_passes_gradcheck) {
  for (const std::vector<double>& at : {std::vector<double>{0.7, 1.3, 2.1}, {-1.2, 0.4, 0.6}, {2.5, 2.0, 3.5}}) {
    const GradcheckReport r = gradcheck(every_op, at, {.eps = 1e-6, .atol = 1e-7, .rtol = 1e-6});
    BOOST_TEST(r.ok, fmt::format("{}", r));
  }
}

BOOST_AUTO_TEST_CASE(a_statement_is_one_node_and_sums_the_partials_of_a_repeated_operand) {
  Tape tape;
  TapeScope scope(tape);
  Var x = 0.8, s = 1.5;
  Var y = s + x * x * sin(x);
  // One node, whose inputs are s and x once each; the two leaves are in the tape's leaf table, not in the stream.
  BOOST_TEST(tape.size() == 1u);
  BOOST_TEST(detail::store(tape).var_leaves().size() == 2u);
  const auto& store = detail::store(tape);
  BOOST_TEST(std::string(op_name(store.scalar_op(y.index()))) == "expr");
  BOOST_TEST(store.scalar_inputs(y.index()).size() == 2u);
  backward(y);
  const double v = 0.8;
  BOOST_TEST(x.grad() == 2 * v * std::sin(v) + v * v * std::cos(v), tt::tolerance(1e-15));
  BOOST_TEST(s.grad() == 1.0);
  BOOST_TEST(y.value() == 1.5 + v * v * std::sin(v), tt::tolerance(1e-15));
  // Four ops (add, mul, mul, sin); one position of 21 bytes (value, grad, partial end, op code), two partials of
  // 12 bytes (position, value) and two leaf-table entries.
  BOOST_TEST(detail::store(tape).scalar_bytes_per_op() == (21 + 2 * 12 + 2 * sizeof(detail::VarSlot)) / 4.0);
}

BOOST_AUTO_TEST_CASE(a_single_op_keeps_its_op_code) {
  TapeScope scope;
  Var a = 2.0, b = 3.0;
  Var c = a * b;
  BOOST_TEST(std::string(op_name(detail::store(scope.tape()).scalar_op(c.index()))) == "mul");
}

BOOST_AUTO_TEST_CASE(op_by_op_records_one_node_per_op_with_the_same_gradients) {
  const std::vector<double> at{0.7, 1.3, 2.1};
  std::vector<double> fused, each;
  std::size_t fused_nodes = 0, each_nodes = 0;
  for (bool by_op : {false, true}) {
    Tape tape;
    TapeScope scope(tape);
    std::vector<Var> v(at.begin(), at.end());
    std::optional<OpByOp> mode;
    if (by_op) mode.emplace();
    Var f = every_op(v);
    backward(f);
    (by_op ? each_nodes : fused_nodes) = tape.size();
    for (const Var& x : v) (by_op ? each : fused).push_back(x.grad());
  }
  BOOST_TEST(fused_nodes == 1u);  // the statement (the three leaves are in the leaf table)
  // 25 ops inside the twelve terms (x * x * sin(x) is 3, exp(y / 3.0) 2, ...) and 11 joining them.
  BOOST_TEST(each_nodes == 36u);
  for (std::size_t i = 0; i < at.size(); ++i) BOOST_TEST(fused[i] == each[i], tt::tolerance(1e-14));
}

BOOST_AUTO_TEST_CASE(anomaly_mode_names_the_op_inside_a_statement_and_its_line) {
  TapeScope scope;
  AnomalyMode anomaly;
  Var x = 2.0, y = -1.0;
  int line = 0;
  std::string msg;
  try {
    line = __LINE__ + 1;
    Var z = x * 3.0 + sqrt(y) * x;
  } catch (const AnomalyError& e) {
    msg = e.what();
  }
  BOOST_TEST(msg.find("sqrt produced") != std::string::npos, msg);
  BOOST_TEST(msg.find("scalar_statement_test.cpp:" + std::to_string(line)) != std::string::npos, msg);
}

BOOST_AUTO_TEST_CASE(an_expression_keeps_numbers_not_references) {
  // The expression outlives the Vars it read (t is gone when e is recorded): it holds their values and positions.
  TapeScope scope;
  Var x = 1.5;
  auto e = [&] {
    Var t = x * 2.0;
    return t * t + 1.0;
  }();
  BOOST_TEST(e.value() == 10.0);
  Var y = e;
  backward(y);
  BOOST_TEST(y.value() == 10.0);
  BOOST_TEST(x.grad() == 12.0);  // d/dx (2x)^2 = 8x
}

BOOST_AUTO_TEST_CASE(an_expression_from_an_earlier_graph_is_refused) {
  Tape tape;
  TapeScope scope(tape);
  Var a = 2.0, b = 3.0;
  auto e = a * b;
  tape.clear();
  BOOST_TEST(throws_with<std::logic_error>([&] { Var y = e; }, {"Var expression", "earlier graph", "Var y = a * b;"}));
  // Read under NoGrad and recorded with gradients on: refused the same way.
  auto f = [&] {
    NoGrad no_grad;
    return a * b;
  }();
  BOOST_TEST(throws_with<std::logic_error>([&] { Var y = f; }, {"Var expression", "NoGrad"}));
  // Recorded under NoGrad: a constant.
  NoGrad no_grad;
  Var c = a * b + 1.0;
  BOOST_TEST(c.is_leaf());
  BOOST_TEST(c.value() == 7.0);
}

BOOST_AUTO_TEST_CASE(compound_assignment_is_one_statement) {
  Tape tape;
  TapeScope scope(tape);
  Var z = 1.0, w = 0.5, u = 2.0;
  z += w * 4.0;     // z = 1 + 2 = 3
  z -= u * w;       // 3 - 1 = 2
  z *= u + 1.0;     // 2 * 3 = 6
  z /= w;           // 12
  z += 1.0;         // 13
  z -= u;           // 11
  BOOST_TEST(z.value() == 11.0);
  backward(z);
  // z = ((1 + 4w - u w)(u + 1) / w + 1 - u; dz/dw = (4 - u)(u + 1)/w - (1 + 4w - u w)(u + 1)/w^2, dz/du = ...
  const double wv = 0.5, uv = 2.0, p = 1 + 4 * wv - uv * wv;
  BOOST_TEST(w.grad() == (4 - uv) * (uv + 1) / wv - p * (uv + 1) / (wv * wv), tt::tolerance(1e-14));
  BOOST_TEST(u.grad() == (-wv * (uv + 1) + p) / wv - 1, tt::tolerance(1e-14));
  const std::string dot = to_dot(z);
  BOOST_TEST(count(dot, "->") >= 2u);
}

// ---- z += ...: a running sum grows one node ---------------------------------------------------------------------

namespace {
std::size_t op_nodes(const Tape& tape) {
  const auto& s = detail::store(tape);
  std::size_t n = 0;
  for (std::uint32_t i = 0; i < s.positions(); ++i) n += s.scalar_op(i) != ScalarOp::leaf && s.scalar_op(i) != ScalarOp::record;
  return n;
}
}  // namespace

BOOST_AUTO_TEST_CASE(a_running_sum_is_one_node_with_the_right_gradients) {
  Tape tape;
  TapeScope scope(tape);
  std::vector<Var> w;
  std::vector<double> x;
  for (int k = 0; k < 50; ++k) {
    w.emplace_back(0.01 * k - 0.2);
    x.push_back(std::sin(k));
  }
  Var b = 0.3;
  Var z = b;
  for (int k = 0; k < 50; ++k) z += w[k] * x[k];
  z -= w[3];  // a Var term, subtracted
  z += 0.5;
  BOOST_TEST(op_nodes(tape) == 1u);
  double want = 0.3 + 0.5 - w[3].value();
  for (int k = 0; k < 50; ++k) want += w[k].value() * x[k];
  BOOST_TEST(z.value() == want, tt::tolerance(1e-14));
  Var c = sigmoid(z);
  backward(c);
  const double s = c.value() * (1 - c.value());
  BOOST_TEST(b.grad() == s, tt::tolerance(1e-15));
  for (int k = 0; k < 50; ++k) BOOST_TEST(w[k].grad() == s * (x[k] - (k == 3 ? 1.0 : 0.0)), tt::tolerance(1e-14));
}

BOOST_AUTO_TEST_CASE(sum_of_x_squared_sin_x_is_one_node) {
  Tape tape;
  TapeScope scope(tape);
  std::vector<Var> x;
  for (int i = 0; i < 100; ++i) x.emplace_back(0.04 * i - 2);
  Var s = x[0] * x[0] * sin(x[0]);
  for (int i = 1; i < 100; ++i) s += x[i] * x[i] * sin(x[i]);
  BOOST_TEST(op_nodes(tape) == 1u);
  backward(s);
  for (const Var& v : x) {
    const double a = v.value();
    BOOST_TEST(v.grad() == 2 * a * std::sin(a) + a * a * std::cos(a), tt::tolerance(1e-13));
  }
}

BOOST_AUTO_TEST_CASE(another_handle_keeps_the_node_it_names) {
  Tape tape;
  TapeScope scope(tape);
  Var a = 2.0, w = 3.0;
  // A copy: z0 keeps naming a * a, so z += w records a new node.
  Var z = a * a;
  const Var z0 = z;
  z += w;
  BOOST_TEST(z0.value() == 4.0);
  BOOST_TEST(z.value() == 7.0);
  backward(z0, {.retain_graph = true});
  BOOST_TEST(w.grad() == 0.0);
  BOOST_TEST(a.grad() == 4.0);
  a.zero_grad();
  // An expression that read z: it keeps z's value and node.
  Var y = a * 1.0;
  auto e = y * 2.0;
  y += w;
  Var f = e;
  backward(f, {.retain_graph = true});
  BOOST_TEST(f.value() == 4.0);
  BOOST_TEST(w.grad() == 0.0);
  BOOST_TEST(a.grad() == 2.0);
  // z += z doubles z.
  Var u = a * 1.0;
  u += u;
  BOOST_TEST(u.value() == 4.0);
  a.zero_grad();
  backward(u, {.retain_graph = true});
  BOOST_TEST(a.grad() == 2.0);
  // z += after a backward over z (retain_graph), then a second backward: the gradients of the sum.
  Var v = a * 1.0;
  backward(v, {.retain_graph = true});
  v += w;
  a.zero_grad();
  w.zero_grad();
  backward(v);
  BOOST_TEST(a.grad() == 1.0);
  BOOST_TEST(w.grad() == 1.0);
}

BOOST_AUTO_TEST_CASE(a_hook_sees_the_gradient_of_the_node_it_was_registered_on) {
  Tape tape;
  TapeScope scope(tape);
  Var a = 2.0, w = 3.0;
  Var z = a * 1.0;
  auto handle = z.register_hook([](double g) { return 10 * g; });
  z += w;  // a new node: the hook stays on a * 1
  backward(z);
  BOOST_TEST(a.grad() == 10.0);
  BOOST_TEST(w.grad() == 1.0);
}
