// The user's toolbox: check_formula, gradcheck of custom ops, anomaly mode, DOT export, hooks, NoGrad, detach, hvp,
// hessian and gradgradcheck. Every check here can fail: each catches an injected error or pins a known value.
#define BOOST_TEST_MODULE toolbox_test
#include <boost/test/unit_test.hpp>

#include "autodiff/autodiff.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <unistd.h>

using autodiff::Array;
using autodiff::Dtype;
using autodiff::Shape;
using autodiff::Tensor;
using autodiff::Var;

namespace {

Tensor f64(std::vector<double> v, const Shape& s, bool requires_grad = false) {
  return autodiff::tensor(std::move(v), s, Dtype::f64, requires_grad);
}

Array array(const std::vector<double>& v, const Shape& s) {
  Array a(s, Dtype::f64);
  for (std::size_t i = 0; i < v.size(); ++i) a.set(static_cast<std::int64_t>(i), v[i]);
  return a;
}

std::vector<double> values(const Array& a) {
  std::vector<double> v(static_cast<std::size_t>(a.numel()));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = a.at(static_cast<std::int64_t>(i));
  return v;
}

bool contains(const std::string& s, const std::string& word) { return s.find(word) != std::string::npos; }

/// "toolbox_test.cpp:<line>", the way anomaly reports name a creation site.
std::string here(int line) { return fmt::format("toolbox_test.cpp:{}", line); }

/// The message of the AnomalyError that f throws ("" when it throws none).
std::string anomaly_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const autodiff::AnomalyError& e) {
    BOOST_TEST_MESSAGE("anomaly: " << e.what());
    return e.what();
  }
  return "";
}

bool has_dot() { return std::system("command -v dot >/dev/null 2>&1") == 0; }

/// softplus as a user would add it, with a choice of backward: right, wrong, or right but not differentiable.
enum class Backward { right, wrong, constant };
Tensor softplus(const Tensor& x, Backward how) {
  Array y(x.shape(), x.dtype());
  for (std::int64_t i = 0; i < x.numel(); ++i) y.set(i, std::max(x.at(i), 0.0) + std::log1p(std::exp(-std::fabs(x.at(i)))));
  return autodiff::make_op("softplus", std::move(y), {x}, [x, how](const Tensor& grad, const Tensor&, autodiff::BackwardContext& dx) {
    if (how == Backward::right) dx[0] += grad * autodiff::sigmoid(x);
    if (how == Backward::wrong) dx[0] += grad * autodiff::sigmoid(-x);  // the sign slip of a hurried derivation
    if (how == Backward::constant) {
      // Numerically right, but sigmoid(x) enters as a constant, so the backward itself has no gradient.
      Array s(x.shape(), x.dtype());
      for (std::int64_t i = 0; i < x.numel(); ++i) s.set(i, 1.0 / (1.0 + std::exp(-x.at(i))));
      dx[0] += grad * Tensor(s);
    }
  });
}

}  // namespace

// ---- check_formula -----------------------------------------------------------------------------------------------

// c = sum(sigmoid(x W)) with a square W: dW_kj = x_k s'(z_j).
BOOST_AUTO_TEST_SUITE(formula)

const std::vector<double> x_val = {0.3, -1.2, 0.7};
const std::vector<double> w_val = {0.5, -0.4, 0.9, 1.1, 0.2, -0.6, -0.3, 0.8, 0.4};

Tensor layer_cost(autodiff::Probe& p) {
  const Tensor x = f64(x_val, Shape{1, 3});
  const Tensor W = p.input("W", f64(w_val, Shape{3, 3}));
  const Tensor z = p.at("delta", autodiff::matmul(x, W));  // [1,3] x [3,3] -> [1,3]
  return autodiff::sum(autodiff::sigmoid(z));
}

enum class Bug { none, factor_2, transposed };

autodiff::Claims layer_formula(const autodiff::Probe& p, Bug bug) {
  const std::vector<double> z = values(p.value("delta"));
  std::vector<double> delta(3), dW(9);
  for (std::size_t j = 0; j < 3; ++j) {
    const double s = 1.0 / (1.0 + std::exp(-z[j]));
    delta[j] = (bug == Bug::factor_2 ? 2.0 : 1.0) * s * (1.0 - s);
  }
  for (std::size_t k = 0; k < 3; ++k)
    for (std::size_t j = 0; j < 3; ++j) (bug == Bug::transposed ? dW[j * 3 + k] : dW[k * 3 + j]) = x_val[k] * delta[j];
  return {{"delta", array(delta, Shape{1, 3})}, {"W", array(dW, Shape{3, 3})}};
}

autodiff::FormulaReport run(Bug bug) {
  const auto r = autodiff::check_formula(layer_cost, [bug](const autodiff::Probe& p) { return layer_formula(p, bug); });
  BOOST_TEST_MESSAGE(fmt::format("{}", r));
  return r;
}

BOOST_AUTO_TEST_CASE(correct_formula_passes) {
  const auto r = run(Bug::none);
  BOOST_TEST(r.ok);
  BOOST_TEST_REQUIRE(r.claims.size() == 2u);
  for (const auto& c : r.claims) {
    BOOST_TEST_CONTEXT(c.name) {
      BOOST_TEST(c.ok);
      BOOST_TEST(c.engine_matches_fd);
      BOOST_TEST(c.mismatched == 0);
      BOOST_TEST(c.hint.empty());
      BOOST_TEST(c.max_rel_error < 1e-12);
    }
  }
  BOOST_TEST(contains(fmt::format("{}", r), "verdict: all claimed gradients match"));
}

BOOST_AUTO_TEST_CASE(factor_2_is_caught_with_a_hint) {
  const auto r = run(Bug::factor_2);
  BOOST_TEST(!r.ok);
  BOOST_TEST(!static_cast<bool>(r));
  for (const auto& c : r.claims) {
    BOOST_TEST_CONTEXT(c.name << ": " << c.hint) {
      BOOST_TEST(!c.ok);
      BOOST_TEST(c.engine_matches_fd);  // the engine is right; the formula is not
      BOOST_TEST(c.mismatched == c.shape.numel());
      BOOST_TEST(contains(c.hint, "constant factor"));
      BOOST_TEST((contains(c.hint, "2.000") || contains(c.hint, "0.500")));
      BOOST_TEST(c.max_rel_error == 1.0, boost::test_tools::tolerance(1e-9));
      BOOST_TEST_REQUIRE(!c.worst.empty());
      BOOST_TEST(c.worst[0].theirs == 2.0 * c.worst[0].engine, boost::test_tools::tolerance(1e-12));
      BOOST_TEST(c.worst[0].numeric == c.worst[0].engine, boost::test_tools::tolerance(1e-6));
    }
  }
  const std::string text = fmt::format("{}", r);
  BOOST_TEST(contains(text, "hint: off by a constant factor 2.000"));
  BOOST_TEST(contains(text, "verdict: MISMATCH"));
}

BOOST_AUTO_TEST_CASE(transposed_square_weight_gradient_is_caught) {
  const auto r = run(Bug::transposed);
  BOOST_TEST(!r.ok);
  BOOST_TEST_REQUIRE(r.claims.size() == 2u);
  BOOST_TEST(r.claims[0].ok);  // delta is right
  const auto& w = r.claims[1];
  BOOST_TEST(w.name == "W");
  BOOST_TEST(!w.ok);
  BOOST_TEST(contains(w.hint, "transpose"), w.hint);
  BOOST_TEST(w.mismatched == 6);  // the diagonal agrees with its own transpose
}

BOOST_AUTO_TEST_CASE(wrong_shape_and_unknown_names) {
  // A claim in the transposed shape of a non-square target is reported, not thrown.
  const auto r = autodiff::check_formula(
      [](autodiff::Probe& p) { return autodiff::sum(p.input("A", f64({1, 2, 3, 4, 5, 6}, Shape{2, 3}))); },
      [](const autodiff::Probe&) { return autodiff::Claims{{"A", Array::full(Shape{3, 2}, 1.0, Dtype::f64)}}; });
  BOOST_TEST(!r.ok);
  BOOST_TEST(contains(r.claims.at(0).hint, "transpose"), r.claims.at(0).hint);
  BOOST_CHECK_THROW(autodiff::check_formula([](autodiff::Probe& p) { return autodiff::sum(p.input("A", f64({1}, Shape{1}))); },
                                            [](const autodiff::Probe&) {
                                              return autodiff::Claims{{"B", Array::full(Shape{1}, 1.0, Dtype::f64)}};
                                            }),
                    std::invalid_argument);
  BOOST_CHECK_THROW(autodiff::check_formula([](autodiff::Probe& p) { return autodiff::sum(p.input("A", f64({1}, Shape{1}))); },
                                            [](const autodiff::Probe& p) {
                                              (void)p.value("nothing");
                                              return autodiff::Claims{};
                                            }),
                    std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()

// ---- gradcheck of a custom op -----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(gradcheck_passes_a_right_custom_op_and_reports_a_wrong_one) {
  const Tensor x = f64({-30.0, -2.0, -0.3, 0.4, 1.5, 30.0}, Shape{6});
  const auto right = autodiff::gradcheck([](const std::vector<Tensor>& in) { return softplus(in[0], Backward::right); }, {x});
  const auto wrong = autodiff::gradcheck([](const std::vector<Tensor>& in) { return softplus(in[0], Backward::wrong); }, {x});
  BOOST_TEST(right.ok, fmt::format("{}", right));
  BOOST_TEST(!wrong.ok, fmt::format("{}", wrong));
  BOOST_TEST(!static_cast<bool>(wrong));
  BOOST_TEST(wrong.max_abs_error > 0.1);
  BOOST_TEST(contains(fmt::format("{}", wrong), "FAIL"));
  // Through a model: the wrong op inside a composite is still found.
  const Tensor W = f64({0.5, -1.0, 0.25, 2.0, -0.5, 1.5}, Shape{2, 3});
  const auto model = [](Backward how) {
    return [how](const std::vector<Tensor>& in) { return autodiff::sum(softplus(autodiff::matmul(in[0], in[1]), how)); };
  };
  const Tensor a = f64({0.3, -0.7, 1.1, 0.2}, Shape{2, 2});
  BOOST_TEST(autodiff::gradcheck(model(Backward::right), {a, W}).ok);
  BOOST_TEST(!autodiff::gradcheck(model(Backward::wrong), {a, W}).ok);
}

BOOST_AUTO_TEST_CASE(gradgradcheck_needs_a_differentiable_backward) {
  const Tensor x = f64({-2.0, -0.3, 0.4, 1.5}, Shape{4});
  const auto first = autodiff::gradcheck([](const std::vector<Tensor>& in) { return softplus(in[0], Backward::constant); }, {x});
  BOOST_TEST(first.ok, fmt::format("{}", first));  // the first derivative is right ...
  const auto second =
      autodiff::gradgradcheck([](const std::vector<Tensor>& in) { return softplus(in[0], Backward::constant); }, {x});
  BOOST_TEST(!second.ok, fmt::format("{}", second));  // ... but its backward has no gradient
  const auto good = autodiff::gradgradcheck([](const std::vector<Tensor>& in) { return softplus(in[0], Backward::right); }, {x});
  BOOST_TEST(good.ok, fmt::format("{}", good));
}

BOOST_AUTO_TEST_CASE(gradcheck_of_scalar_functions) {
  const auto right = autodiff::gradcheck([](const std::vector<Var>& v) { return v[0] * sin(v[1]) + exp(v[0] / v[1]); },
                                         std::vector<double>{0.7, 1.3});
  BOOST_TEST(right.ok, fmt::format("{}", right));
}

// ---- anomaly mode --------------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(anomaly_forward_nan_names_op_and_line) {
  int line = 0;
  const std::string msg = anomaly_message([&] {
    autodiff::AnomalyMode anomaly;
    autodiff::TapeScope scope;
    const Tensor x = f64({1.0, -1.0}, Shape{2}, true);
    line = __LINE__ + 1;
    const Tensor y = autodiff::log(x);
  });
  BOOST_TEST(contains(msg, "log"), msg);
  BOOST_TEST(contains(msg, here(line)), msg);
  BOOST_TEST(contains(msg, "[2]"), msg);  // the input's shape
}

BOOST_AUTO_TEST_CASE(anomaly_forward_nan_in_scalar_ops) {
  int line = 0;
  const std::string msg = anomaly_message([&] {
    autodiff::AnomalyMode anomaly;
    autodiff::TapeScope scope;
    Var x = -2.0;
    Var y = x * 3.0;
    line = __LINE__ + 1;
    Var z = sqrt(y);
  });
  BOOST_TEST(contains(msg, "sqrt"), msg);
  BOOST_TEST(contains(msg, here(line)), msg);
}

BOOST_AUTO_TEST_CASE(anomaly_backward_inf_from_sqrt_at_zero) {
  // sqrt(0) = 0 is finite; its partial 0.5 / sqrt(0) is inf, so the problem shows only in backward.
  int line = 0;
  const std::string msg = anomaly_message([&] {
    autodiff::AnomalyMode anomaly;
    autodiff::TapeScope scope;
    const Tensor x = f64({0.0, 4.0}, Shape{2}, true);
    line = __LINE__ + 1;
    const Tensor y = autodiff::sqrt(x);
    autodiff::backward(autodiff::sum(y * 3.0));
  });
  BOOST_TEST(contains(msg, "sqrt"), msg);
  BOOST_TEST(contains(msg, here(line)), msg);
  BOOST_TEST(contains(msg, "backward"), msg);

  int vline = 0;
  const std::string vmsg = anomaly_message([&] {
    autodiff::AnomalyMode anomaly;
    autodiff::TapeScope scope;
    Var v = 0.0;
    v.label("v");
    vline = __LINE__ + 1;
    Var y = sqrt(v);
    autodiff::backward(y * 3.0);
  });
  BOOST_TEST(contains(vmsg, "sqrt"), vmsg);
  BOOST_TEST(contains(vmsg, here(vline)), vmsg);
  BOOST_TEST(contains(vmsg, "'v'"), vmsg);
}

BOOST_AUTO_TEST_CASE(anomaly_catches_overflow_created_by_accumulation) {
  // Each path's gradient is 1e308 (finite); only their sum overflows.
  int line = 0;
  const std::string msg = anomaly_message([&] {
    autodiff::AnomalyMode anomaly;
    autodiff::TapeScope scope;
    Tensor x = f64({1e-300}, Shape{1}, true);
    x.label("x");
    line = __LINE__ + 1;
    const Tensor y = x * 1e308 + x * 1e308;
    autodiff::backward(y);
  });
  BOOST_TEST(contains(msg, "'x'"), msg);
  BOOST_TEST(contains(msg, "summed"), msg);
  BOOST_TEST(contains(msg, "mul"), msg);
  BOOST_TEST(contains(msg, here(line)), msg);

  int vline = 0;
  const std::string vmsg = anomaly_message([&] {
    autodiff::AnomalyMode anomaly;
    autodiff::TapeScope scope;
    Var x = 1e-300;
    x.label("x");
    vline = __LINE__ + 1;
    Var y = x * 1e308 + x * 1e308;
    autodiff::backward(y);
  });
  BOOST_TEST(contains(vmsg, "'x'"), vmsg);
  BOOST_TEST(contains(vmsg, "summed"), vmsg);
  BOOST_TEST(contains(vmsg, "mul"), vmsg);
  BOOST_TEST(contains(vmsg, here(vline)), vmsg);

  // An interior node (not a leaf) whose two incoming gradients overflow when summed.
  int iline = 0;
  const std::string imsg = anomaly_message([&] {
    autodiff::AnomalyMode anomaly;
    autodiff::TapeScope scope;
    const Tensor x = f64({1e-300}, Shape{1}, true);
    Tensor h = x * 1.0;
    h.label("h");
    iline = __LINE__ + 1;
    const Tensor y = h * 1e308 + h * 1e308;
    autodiff::backward(y);
  });
  BOOST_TEST(contains(imsg, "'h'"), imsg);
  BOOST_TEST(contains(imsg, "summed"), imsg);
  BOOST_TEST(contains(imsg, here(iline)), imsg);
}

BOOST_AUTO_TEST_CASE(anomaly_mode_off_does_not_throw) {
  autodiff::TapeScope scope;
  {
    const Tensor x = f64({1.0, -1.0}, Shape{2}, true);
    Tensor y;
    BOOST_CHECK_NO_THROW(y = autodiff::log(x));
    BOOST_TEST(std::isnan(y.at(1)));
  }
  {
    const Tensor x = f64({0.0, 4.0}, Shape{2}, true);
    BOOST_CHECK_NO_THROW(autodiff::backward(autodiff::sum(autodiff::sqrt(x) * 3.0)));
    BOOST_TEST(std::isinf(x.grad().at(0)));
    BOOST_TEST(x.grad().at(1) == 0.75, boost::test_tools::tolerance(1e-15));
  }
  {
    const Tensor x = f64({1e-300}, Shape{1}, true);
    BOOST_CHECK_NO_THROW(autodiff::backward(x * 1e308 + x * 1e308));
    BOOST_TEST(std::isinf(x.grad().at(0)));
  }
  {
    Var x = 1e-300;
    BOOST_CHECK_NO_THROW(autodiff::backward(x * 1e308 + x * 1e308));
    BOOST_TEST(std::isinf(x.grad()));
  }
}

BOOST_AUTO_TEST_CASE(anomaly_mode_is_scoped) {
  {
    autodiff::AnomalyMode outer;
    {
      autodiff::AnomalyMode inner;
    }
    autodiff::TapeScope scope;  // still on after the inner guard ends
    BOOST_CHECK_THROW(autodiff::log(f64({-1.0}, Shape{1}, true)), autodiff::AnomalyError);
  }
  autodiff::TapeScope scope;  // off after the outer guard ends
  BOOST_CHECK_NO_THROW(autodiff::log(f64({-1.0}, Shape{1}, true)));
  // A finite computation under anomaly mode gives the same result as without it.
  const auto grad_of = [](bool anomaly) {
    autodiff::TapeScope s;
    const Tensor x = f64({0.5, 1.5, -2.0}, Shape{3}, true);
    if (anomaly) {
      autodiff::AnomalyMode on;
      autodiff::backward(autodiff::sum(autodiff::tanh(x) * autodiff::exp(x)));
    } else {
      autodiff::backward(autodiff::sum(autodiff::tanh(x) * autodiff::exp(x)));
    }
    return x.grad().to_vector();
  };
  BOOST_TEST(grad_of(true) == grad_of(false), boost::test_tools::per_element());
}

// ---- DOT export ------------------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(to_dot_shows_labels_ops_and_edges_and_parses) {
  autodiff::TapeScope scope;
  Tensor W = f64({0.5, -1.0, 0.25, 2.0, -0.5, 1.5}, Shape{2, 3}, true);
  W.label("W1");
  Tensor b = f64({0.1, 0.2, 0.3}, Shape{3}, true);
  b.label("b1");
  const Tensor x = f64({0.3, -0.7}, Shape{1, 2});
  Tensor z = autodiff::matmul(x, W) + b;
  z.label("z1");
  Tensor a = autodiff::sigmoid(z);
  a.label("a1");
  const Tensor c = autodiff::sum(a);
  autodiff::backward(c);
  const std::string dot = autodiff::to_dot(c);
  BOOST_TEST_MESSAGE(dot);
  for (const char* word : {"digraph", "W1", "b1", "z1", "a1", "matmul", "add", "sigmoid", "sum", "->", "grad", "[2,3]"})
    BOOST_TEST(contains(dot, word), word);
  // One edge per input: matmul has x and W1, add has matmul and b1, then sigmoid and sum: 6 edges.
  std::size_t edges = 0;
  for (std::size_t p = dot.find("->"); p != std::string::npos; p = dot.find("->", p + 2)) ++edges;
  BOOST_TEST(edges == 6u);
  // Values and grads can be left out.
  autodiff::DotOptions bare_options;
  bare_options.values = false;
  bare_options.grads = false;
  const std::string bare = autodiff::to_dot(c, bare_options);
  BOOST_TEST(!contains(bare, "grad"));
  BOOST_TEST(contains(bare, "W1"));

  Var p = 2.0, q = -3.0;
  p.label("p");
  q.label("q");
  {
    autodiff::OpByOp each_op;  // one node per op, as micrograd draws it
    Var r = p * q + tanh(p);
    r.label("r");
    autodiff::backward(r);
    const std::string sdot = autodiff::to_dot(r);
    for (const char* word : {"label=\"p\\nvalue", "label=\"q\\nvalue", "label=\"r\\nadd", "mul", "tanh", "->"})
      BOOST_TEST(contains(sdot, word), word);
  }
  // Without it the statement is one node, `expr`, with an edge from each distinct operand.
  Var r = p * q + tanh(p);
  r.label("r");
  autodiff::backward(r);
  const std::string sdot = autodiff::to_dot(r);
  BOOST_TEST(contains(sdot, "label=\"r\\nexpr"));
  BOOST_TEST(!contains(sdot, "tanh"));
  std::size_t scalar_edges = 0;
  for (std::size_t at = sdot.find("->"); at != std::string::npos; at = sdot.find("->", at + 2)) ++scalar_edges;
  BOOST_TEST(scalar_edges == 2u);

  if (!has_dot()) {
    BOOST_TEST_MESSAGE("graphviz dot not found: parse check skipped");
    return;
  }
  const auto dir = std::filesystem::temp_directory_path();
  const auto file = dir / fmt::format("toolbox_test_{}.dot", static_cast<long>(::getpid()));
  const auto sfile = dir / fmt::format("toolbox_test_{}_scalar.dot", static_cast<long>(::getpid()));
  autodiff::write_dot(file, dot);
  autodiff::write_dot(sfile, sdot);
  BOOST_TEST(std::system(fmt::format("dot -Tsvg '{}' -o /dev/null", file.string()).c_str()) == 0);
  BOOST_TEST(std::system(fmt::format("dot -Tsvg '{}' -o /dev/null", sfile.string()).c_str()) == 0);
  // And the check itself can fail: dot rejects broken text.
  autodiff::write_dot(file, "digraph { a -> ");
  BOOST_TEST(std::system(fmt::format("dot -Tsvg '{}' -o /dev/null 2>/dev/null", file.string()).c_str()) != 0);
  std::filesystem::remove(file);
  std::filesystem::remove(sfile);
}

BOOST_AUTO_TEST_CASE(to_dot_errors) {
  const Tensor leaf = f64({1.0}, Shape{1}, true);
  BOOST_CHECK_THROW(autodiff::to_dot(leaf), std::logic_error);
  BOOST_CHECK_THROW(autodiff::write_dot("/nonexistent-dir/x.dot", "digraph {}"), std::invalid_argument);
}

// ---- hooks, NoGrad, detach -----------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(tensor_hook_scaling_by_2_doubles_the_leaf_grad) {
  const auto grad_with_hook = [](bool hook) {
    autodiff::TapeScope scope;
    const Tensor x = f64({1.0, -2.0, 0.5}, Shape{3}, true);
    Tensor h = autodiff::tanh(x);
    autodiff::HookHandle handle;
    if (hook) handle = h.register_hook([](const Tensor& g) { return g * 2.0; });
    autodiff::backward(autodiff::sum(h * h));
    return x.grad().to_vector();
  };
  const std::vector<double> plain = grad_with_hook(false), hooked = grad_with_hook(true);
  BOOST_TEST_REQUIRE(plain.size() == 3u);
  for (std::size_t i = 0; i < 3; ++i) BOOST_TEST(hooked[i] == 2.0 * plain[i], boost::test_tools::tolerance(1e-15));

  // A hook on the leaf itself, and a hook that only observes (returns an undefined Tensor).
  autodiff::TapeScope scope;
  Tensor w = f64({3.0, 4.0}, Shape{2}, true);
  std::vector<double> seen;
  const autodiff::HookHandle observe = w.register_hook([&](const Tensor& g) {
    seen = g.to_vector();
    return Tensor();
  });
  autodiff::HookHandle twice = w.register_hook([](const Tensor& g) { return g * 2.0; });
  autodiff::backward(autodiff::sum(w * w));  // dw = 2 w = [6, 8]
  BOOST_TEST(seen == std::vector<double>({6.0, 8.0}), boost::test_tools::per_element());
  BOOST_TEST(w.grad().to_vector() == std::vector<double>({12.0, 16.0}), boost::test_tools::per_element());
  // Removed, the doubling hook no longer runs; a destroyed handle removes its hook too.
  twice.remove();
  w.zero_grad();
  autodiff::backward(autodiff::sum(w * w));
  BOOST_TEST(w.grad().to_vector() == std::vector<double>({6.0, 8.0}), boost::test_tools::per_element());
  {
    const autodiff::HookHandle scoped = w.register_hook([](const Tensor& g) { return g * 10.0; });
    w.zero_grad();
    autodiff::backward(autodiff::sum(w * w));
    BOOST_TEST(w.grad().to_vector() == std::vector<double>({60.0, 80.0}), boost::test_tools::per_element());
  }
  w.zero_grad();
  autodiff::backward(autodiff::sum(w * w));
  BOOST_TEST(w.grad().to_vector() == std::vector<double>({6.0, 8.0}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(var_hook_sees_the_right_grad) {
  autodiff::TapeScope scope;
  Var x = 3.0;
  Var y = x * x;  // dy/dx = 6
  double seen = 0;
  const autodiff::HookHandle observe = y.register_hook([&](double g) {
    seen = g;
    return g;
  });
  Var z = 5.0 * y + 1.0;  // dz/dy = 5
  autodiff::backward(z);
  BOOST_TEST(seen == 5.0);
  BOOST_TEST(x.grad() == 30.0);

  Var a = 2.0;
  autodiff::HookHandle flip = a.register_hook([](double g) { return -g; });  // a leaf hook that flips the sign
  Var b = a * 4.0;
  autodiff::backward(b);
  BOOST_TEST(a.grad() == -4.0);
  flip.remove();
  a.zero_grad();
  autodiff::backward(a * 4.0);
  BOOST_TEST(a.grad() == 4.0);
}

BOOST_AUTO_TEST_CASE(no_grad_makes_results_constant) {
  autodiff::TapeScope scope;
  const Tensor w = f64({1.0, 2.0}, Shape{2}, true);
  {
    autodiff::NoGrad off;
    BOOST_TEST(!autodiff::grad_enabled());
    const Tensor y = autodiff::exp(w) * 2.0;
    BOOST_TEST(!y.requires_grad());
    BOOST_TEST(y.at(1) == 2.0 * std::exp(2.0), boost::test_tools::tolerance(1e-15));
    BOOST_TEST(scope.tape().records() == 0u);  // nothing recorded
    {
      autodiff::NoGrad nested;
    }
    BOOST_TEST(!autodiff::grad_enabled());  // a nested guard restores the outer state
  }
  BOOST_TEST(autodiff::grad_enabled());
  const Tensor y = autodiff::exp(w);
  BOOST_TEST(y.requires_grad());
}

BOOST_AUTO_TEST_CASE(detach_stops_the_gradient) {
  autodiff::TapeScope scope;
  const Tensor w = f64({0.5, -2.0, 3.0}, Shape{3}, true);
  const Tensor c = w.detach();
  BOOST_TEST(!c.requires_grad());
  BOOST_TEST(c.to_vector() == w.to_vector(), boost::test_tools::per_element());
  autodiff::backward(autodiff::sum(c * w));  // d/dw sum(c * w) = c, not 2 w
  BOOST_TEST(w.grad().to_vector() == std::vector<double>({0.5, -2.0, 3.0}), boost::test_tools::per_element());

  const Tensor h = autodiff::tanh(w);
  const Tensor hd = h.detach();
  BOOST_TEST(!hd.requires_grad());
  BOOST_TEST(hd.to_vector() == h.to_vector(), boost::test_tools::per_element());

  Var v = 2.0;
  Var u = v * v;
  Var ud = u.detach();
  Var r = ud * v;  // dr/dv = u = 4, not 3 v^2 = 12
  autodiff::backward(r);
  BOOST_TEST(v.grad() == 4.0);
}

// ---- higher order --------------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(hvp_of_sum_of_cubes) {
  const autodiff::TensorFunction f = [](const std::vector<Tensor>& in) { return autodiff::sum(autodiff::pow(in[0], 3.0)); };
  // H = diag(6 x), so H * ones = 6 x.
  const auto hv = autodiff::hvp(f, {f64({1, 2, 3}, Shape{3})}, {f64({1, 1, 1}, Shape{3})});
  BOOST_TEST_REQUIRE(hv.size() == 1u);
  BOOST_TEST(hv[0].to_vector() == std::vector<double>({6, 12, 18}), boost::test_tools::per_element());
  const auto hv2 = autodiff::hvp(f, {f64({1, 2, 3}, Shape{3})}, {f64({0, 1, -1}, Shape{3})});
  BOOST_TEST(hv2[0].to_vector() == std::vector<double>({0, 12, -18}), boost::test_tools::per_element());
  BOOST_CHECK_THROW(autodiff::hvp(f, {f64({1, 2, 3}, Shape{3})}, {}), std::invalid_argument);
  BOOST_CHECK_THROW(autodiff::hvp(f, {f64({1, 2, 3}, Shape{3})}, {f64({1, 1}, Shape{2})}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(hessian_of_a_quadratic_is_its_symmetrised_matrix) {
  // f(x) = 0.5 x^T A x + b^T x with a non-symmetric A: the Hessian is (A + A^T) / 2.
  const std::vector<double> A = {4, 1, -2, 3, 5, 0.5, 0, -1, 6};
  const Tensor At = f64(A, Shape{3, 3}), bt = f64({1, -2, 0.5}, Shape{3});
  const auto f = [&](const Tensor& x) {
    const Tensor xr = autodiff::reshape(x, Shape{1, 3});
    const Tensor Ax = autodiff::matmul(xr, At, false, true);  // [1,3] x [3,3]^T -> [1,3] = (A x)^T
    return 0.5 * autodiff::sum(xr * Ax) + autodiff::sum(bt * x);
  };
  const Tensor H = autodiff::hessian(f, f64({0.3, -1.0, 2.0}, Shape{3}));
  BOOST_TEST((H.shape() == Shape{3, 3}));
  for (std::int64_t i = 0; i < 3; ++i)
    for (std::int64_t j = 0; j < 3; ++j)
      BOOST_TEST_CONTEXT("H[" << i << "," << j << "]") {
        const double want = 0.5 * (A[static_cast<std::size_t>(i * 3 + j)] + A[static_cast<std::size_t>(j * 3 + i)]);
        BOOST_TEST(H.at(i * 3 + j) == want, boost::test_tools::tolerance(1e-12));
      }
}

BOOST_AUTO_TEST_CASE(gradgradcheck_passes_for_compositions) {
  using F = autodiff::TensorFunction;
  const std::vector<std::pair<const char*, F>> cases = {
      {"tanh(exp(x))", [](const std::vector<Tensor>& in) { return autodiff::tanh(autodiff::exp(in[0])); }},
      {"sigmoid(x) * exp(-x)",
       [](const std::vector<Tensor>& in) { return autodiff::sigmoid(in[0]) * autodiff::exp(-in[0]); }},
      {"exp(tanh(x) * sigmoid(x))",
       [](const std::vector<Tensor>& in) { return autodiff::exp(autodiff::tanh(in[0]) * autodiff::sigmoid(in[0])); }},
      {"sum(sigmoid(x W) * tanh(x W))",
       [](const std::vector<Tensor>& in) {
         const Tensor z = autodiff::matmul(autodiff::reshape(in[0], Shape{2, 2}), in[1]);
         return autodiff::sum(autodiff::sigmoid(z) * autodiff::tanh(z));
       }},
  };
  const Tensor x = f64({-1.3, -0.2, 0.4, 1.7}, Shape{4});
  const Tensor W = f64({0.5, -1.0, 0.25, 2.0, -0.5, 1.5}, Shape{2, 3});
  for (const auto& [name, f] : cases) {
    BOOST_TEST_CONTEXT(name) {
      const bool two = std::string(name).find('W') != std::string::npos;
      const auto r = two ? autodiff::gradgradcheck(f, {x, W}) : autodiff::gradgradcheck(f, {x});
      BOOST_TEST(r.ok, fmt::format("{}", r));
      BOOST_TEST(autodiff::gradcheck(f, two ? std::vector<Tensor>{x, W} : std::vector<Tensor>{x}).ok);
    }
  }
}
