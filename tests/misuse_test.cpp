// Ordinary misuse gives exact results or a clear error, never a silently wrong gradient or a memory error: one test
// per way users were seen to go wrong (the micrograd habit, leaves edited in place, shared leaves, bad indices,
// custom ops, tape lifetime, braces, no-op ops), each checking the words of its error.
#define BOOST_TEST_MODULE misuse_test
#include <boost/test/unit_test.hpp>

#include "rss.hpp"
#include "sanitizers.hpp"

#include "throws_with.hpp"

#include "autodiff/autodiff.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <typeinfo>
#include <vector>

using namespace autodiff;
namespace tt = boost::test_tools;

namespace {

const auto logic = says<std::logic_error>;
const auto invalid = says<std::invalid_argument>;
const auto out_of_range = says<std::out_of_range>;

Tensor f64(std::vector<double> v, const Shape& s, bool requires_grad = false) {
  return tensor(std::move(v), s, Dtype::f64, requires_grad);
}

struct ChildResult {
  bool aborted = false;  // killed by SIGABRT (std::terminate)
  std::string err;       // what it wrote to stderr
};

/// Runs fn in a forked child with its stderr captured.
ChildResult in_child(const std::function<void()>& fn) {
  int fds[2];
  BOOST_REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    std::signal(SIGABRT, SIG_DFL);  // Boost.Test's handler would turn the abort into a failure and carry on
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    fn();
    ::_exit(0);
  }
  ::close(fds[1]);
  ChildResult r;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) r.err.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
  return r;
}

}  // namespace

// ---- the micrograd habit: a loop on the default tape, no scope, leaves updated in place ---------------------------

BOOST_AUTO_TEST_CASE(micrograd_loop_without_a_scope_gives_exact_gradients_and_flat_memory_var) {
  // minimise (3w - 1)^2: the exact gradient is 6 (3w - 1) at every step, and w reaches 1/3.
  Var w = 0.0;
  std::size_t size_at_100 = 0;
  for (int step = 0; step < 10000; ++step) {
    const double before = w.value();
    Var loss = pow(w * 3.0 - 1.0, 2.0);
    w.zero_grad();
    backward(loss);
    BOOST_TEST_REQUIRE(w.grad() == 6.0 * (3.0 * before - 1.0), tt::tolerance(1e-12));
    w.set_value(w.value() - 0.01 * w.grad());
    if (step == 100) size_at_100 = Tape::current().size();
  }
  BOOST_TEST(w.value() == 1.0 / 3.0, tt::tolerance(1e-9));
  BOOST_TEST(size_at_100 > 0u);
  BOOST_TEST(Tape::current().size() == size_at_100);  // one step's nodes, not 10,000 steps'
}

BOOST_AUTO_TEST_CASE(micrograd_loop_without_a_scope_gives_exact_gradients_and_flat_memory_tensor) {
  // minimise sum((x W - y)^2) for a 1x2 x and a 2x2 W; dL/dW = 2 x^T (x W - y), checked at every step.
  Tensor W = f64({0.5, -0.5, 0.25, 1.0}, Shape{2, 2}, true);
  const Tensor x = f64({1.0, 2.0}, Shape{1, 2});
  const Tensor y = f64({1.0, -1.0}, Shape{1, 2});
  std::size_t size_at_100 = 0, rss_at_1000 = 0;
  for (int step = 0; step < 10000; ++step) {
    const std::vector<double> w = W.to_vector();
    Tensor loss = sum(pow(matmul(x, W) - y, 2.0));
    W.zero_grad();
    backward(loss);
    const double r0 = 1.0 * w[0] + 2.0 * w[2] - 1.0, r1 = 1.0 * w[1] + 2.0 * w[3] + 1.0;
    const std::vector<double> want{2 * r0, 2 * r1, 4 * r0, 4 * r1};
    BOOST_TEST_REQUIRE(W.grad().to_vector() == want, tt::tolerance(1e-12) << tt::per_element());
    {
      NoGrad off;
      Array& v = W.leaf_value();
      const Array& g = W.grad().value();
      for (std::int64_t i = 0; i < 4; ++i) v.set(i, v.at(i) - 0.01 * g.at(i));
    }
    if (step == 100) size_at_100 = Tape::current().size();
    if (step == 1000) rss_at_1000 = rss::current_bytes();
  }
  BOOST_TEST(size_at_100 > 0u);
  BOOST_TEST(Tape::current().size() == size_at_100);
  if (!testing::asan) {  // ASan's quarantine grows RSS by design; LeakSanitizer covers leaks there
    const std::size_t grown = rss::current_bytes() - std::min(rss::current_bytes(), rss_at_1000);
    BOOST_TEST(grown < std::size_t{1} << 20, "RSS grew " << rss::mib(grown) << " MiB over 9,000 steps");
  }
  // The loss reached its minimum 0: x W = y.
  BOOST_TEST(sum(pow(matmul(x, W) - y, 2.0)).item() < 1e-12);
}

// ---- a leaf changed after it was recorded ----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(leaf_changed_between_forward_and_backward_makes_backward_throw) {
  TapeScope scope;
  Tensor x = f64({3.0, 1.0}, Shape{2}, true);
  x.label("x");
  Tensor y = sum(x * x);
  x.leaf_value().set(0, 10.0);
  BOOST_CHECK_EXCEPTION(backward(y), std::exception,
                        logic({"backward", "leaf 'x' [2]", "modified in place", "mul", "run the forward again"}));
  BOOST_TEST(!x.has_grad());  // nothing was delivered

  // The realistic form: two losses of one forward, with an optimizer step between the backward calls.
  Tensor w = f64({1.0, 2.0}, Shape{2}, true);
  w.label("w");
  Tensor h = w * 3.0;
  Tensor l1 = sum(h), l2 = sum(h * h);
  backward(l1);
  {
    NoGrad off;
    add_inplace(w.leaf_value(), Array::full(Shape{2}, -0.1, Dtype::f64));  // opt.step()
  }
  BOOST_CHECK_EXCEPTION(backward(l2), std::exception, logic({"backward", "leaf 'w'", "modified in place", "mul"}));

  // A Var leaf changed with set_value.
  Var v = 2.0;
  v.label("v");
  Var s = v * v;
  v.set_value(5.0);
  BOOST_CHECK_EXCEPTION(backward(s), std::exception, logic({"backward", "Var leaf 'v'", "set_value", "value 2 then, 5 now"}));
  BOOST_TEST(v.grad() == 0.0);
  // Recorded again after the change, it is exact.
  Var s2 = v * v;
  backward(s2);
  BOOST_TEST(v.grad() == 10.0);
}

// ---- a leaf shared by two threads' tapes -------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(leaf_shared_by_two_threads_gets_every_update, *boost::unit_test::label("threads")) {
  const int n = testing::asan ? 20000 : 100000;
  Var w = 1.5;
  Tensor p = f64({1.0, 2.0, 3.0}, Shape{3}, true);
  auto work = [&] {
    TapeScope scope;
    for (int i = 0; i < n; ++i) {
      backward(w * 2.0);   // dw = 2
      if (i % 10 == 0) backward(sum(p * 2.0));  // dp = 2 each
    }
  };
  std::thread a(work), b(work);
  a.join();
  b.join();
  BOOST_TEST(w.grad() == 2.0 * 2.0 * n);
  const double per = 2.0 * 2.0 * ((n + 9) / 10);
  BOOST_TEST(p.grad().to_vector() == std::vector<double>({per, per, per}), tt::per_element());
}

// An op node copied on two threads at once: copying is a read for the user, though it tells the node that `+=` may no
// longer grow it in place (an atomic flag, so ThreadSanitizer sees no race); the copies keep the value they named.
BOOST_AUTO_TEST_CASE(var_copied_on_two_threads_then_grown, *boost::unit_test::label("threads")) {
  TapeScope scope;
  Var a = 2.0, w = 3.0;
  Var z = a * 1.0;
  double seen[2] = {0, 0};
  auto copy = [&](int k) {
    for (int i = 0; i < 10000; ++i) {
      const Var c = z;
      seen[k] += c.value();
    }
  };
  std::thread t0(copy, 0), t1(copy, 1);
  t0.join();
  t1.join();
  BOOST_TEST(seen[0] == 20000.0);
  BOOST_TEST(seen[1] == 20000.0);
  const Var before = z;
  z += w;  // a new node: `before` still names a * 1
  BOOST_TEST(before.value() == 2.0);
  BOOST_TEST(z.value() == 5.0);
  backward(before);
  BOOST_TEST(a.grad() == 1.0);
  BOOST_TEST(w.grad() == 0.0);
}

// ---- epochs never wrap ---------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(epochs_are_64_bit_and_every_clear_makes_old_handles_stale) {
  static_assert(std::is_same_v<decltype(std::declval<Tape&>().epoch()), std::uint64_t>);
  static_assert(std::is_same_v<decltype(std::declval<Var&>().epoch()), std::uint64_t>);
  TapeScope scope;
  Var x = 1.0;
  Var y = x * 2.0;
  const std::uint64_t e = scope.tape().epoch();
  for (int i = 0; i < 1000; ++i) scope.tape().clear();
  BOOST_TEST(scope.tape().epoch() > e);
  Var z = x * 3.0;  // the same position as y on a later epoch
  BOOST_TEST(z.index() == y.index());
  BOOST_CHECK_EXCEPTION(y.grad(), std::exception, logic({"Var::grad", "stale handle"}));
  BOOST_CHECK_EXCEPTION(y + 1.0, std::exception, logic({"add", "stale handle"}));
}

// ---- indices in the public API -------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(every_public_index_is_checked) {
  const Tensor t = f64({1, 2, 3, 4, 5, 6}, Shape{2, 3});
  BOOST_CHECK_EXCEPTION(t.at(6), std::exception, out_of_range({"index 6", "6 elements", "[2,3]"}));
  BOOST_CHECK_EXCEPTION(t.at(-1), std::exception, out_of_range({"index -1"}));
  BOOST_CHECK_EXCEPTION(t.at(std::int64_t{1} << 40), std::exception, out_of_range({"index 1099511627776"}));
  Array a = Array::zeros(Shape{2}, Dtype::f32);
  BOOST_CHECK_EXCEPTION(a.set(3, 1.0), std::exception, out_of_range({"index 3", "2 elements"}));
  BOOST_CHECK_EXCEPTION(Array().at(0), std::exception, out_of_range({"index 0", "undefined array"}));
  BOOST_CHECK_EXCEPTION(a.data<double>(), std::exception, invalid({"Array::data", "float64", "float32"}));
  BOOST_CHECK_EXCEPTION(Array().data<float>(), std::exception, logic({"Array::data", "undefined"}));
  BOOST_CHECK_EXCEPTION(t.shape()[2], std::exception, out_of_range({"axis 2", "rank 2"}));
  BOOST_TEST(t.shape()[-1] == 3);
  BOOST_CHECK_EXCEPTION(t.var(6), std::exception, out_of_range({"Tensor::var", "index 6"}));
}

// ---- custom ops ----------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(custom_op_misuse_is_a_clear_error) {
  TapeScope scope;
  const Tensor x = f64({1.0, 2.0}, Shape{2}, true);
  auto op_writing = [&](std::size_t slot) {
    return make_op("myop", x.value().clone(), {x}, [slot](const Tensor& grad, const Tensor&, BackwardContext& dx) {
      dx[slot] += grad;
    });
  };
  BOOST_CHECK_EXCEPTION(backward(sum(op_writing(7))), std::exception, logic({"myop", "dx[7]", "1 tensor input"}));
  const Tensor v = make_op("myop", x.value().clone(), {x}, [](const Tensor& grad, const Tensor&, BackwardContext& dx) {
    dx.var(0) += grad.value().at(0);
  });
  BOOST_CHECK_EXCEPTION(backward(sum(v)), std::exception, logic({"myop", "dx.var(0)", "0 Var inputs"}));
  const Tensor wrong = make_op("myop", x.value().clone(), {x}, [](const Tensor&, const Tensor&, BackwardContext& dx) {
    dx[0] += Tensor(Array::zeros(Shape{3}, Dtype::f64));
  });
  BOOST_CHECK_EXCEPTION(backward(sum(wrong)), std::exception, logic({"myop", "shape [3]", "dx[0]", "shape [2]"}));
  const Tensor none = make_op("myop", x.value().clone(), {x}, [](const Tensor&, const Tensor&, BackwardContext& dx) {
    dx[0] += Tensor();
  });
  BOOST_CHECK_EXCEPTION(backward(sum(none)), std::exception, logic({"myop", "undefined gradient", "dx[0]"}));
  const auto nothing = [](const Tensor&, const Tensor&, BackwardContext&) {};
  BOOST_CHECK_EXCEPTION(make_op("myop", Array(), {x}, nothing), std::exception, logic({"make_op", "'myop'", "undefined value"}));
  BOOST_CHECK_EXCEPTION(make_op("myop", x.value(), {x, Tensor()}, nothing), std::exception,
                        logic({"make_op", "undefined tensor as input 1"}));

  // A name built at run time is interned: it outlives the string it came from.
  Tensor named;
  {
    std::string name = "scaled_" + std::to_string(42);
    named = make_op(name, x.value().clone(), {x}, [](const Tensor& grad, const Tensor&, BackwardContext& dx) { dx[0] += grad; });
    name.assign(name.size(), '#');
  }
  const std::string dot = to_dot(sum(named));
  BOOST_TEST(dot.find("scaled_42") != std::string::npos, dot);

  // Vars as inputs (the form stack uses), through a span.
  Var a = 2.0, b = 3.0;
  const std::vector<Var> vars{a, b};
  const Tensor ab = make_op("pair", Array::full(Shape{2}, 0.0, Dtype::f64), std::span<const Tensor>(), std::span<const Var>(vars),
                            [](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                              dx.var(0) += grad.value().at(0);
                              dx.var(1) += 2.0 * grad.value().at(1);
                            });
  backward(sum(ab));
  BOOST_TEST(a.grad() == 1.0);
  BOOST_TEST(b.grad() == 2.0);
  BOOST_CHECK_EXCEPTION(make_scalar_op("twice", 4.0, {a}, {2.0, 1.0}), std::exception,
                        invalid({"make_scalar_op", "'twice'", "1 inputs but 2 partials"}));
}

// ---- tape lifetime ---------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(tape_lifetime_misuse_terminates_with_a_message) {
  ChildResult r = in_child([] {
    auto* t = new Tape;
    auto* s = new TapeScope(*t);
    (void)s;
    delete t;  // still current
  });
  BOOST_TEST(r.aborted);
  BOOST_TEST(r.err.find("destroyed while it is the current tape") != std::string::npos, r.err);

  r = in_child([] {
    auto* outer = new TapeScope;
    TapeScope inner;
    delete outer;  // ends before the inner scope
  });
  BOOST_TEST(r.aborted);
  BOOST_TEST(r.err.find("TapeScope ended out of order") != std::string::npos, r.err);

  r = in_child([] {
    auto* t = new Tape;
    TapeScope outer(*t);
    TapeScope inner;
    // t is not current, but `outer` would restore it.
    delete t;
  });
  BOOST_TEST(r.aborted);
  BOOST_TEST(r.err.find("TapeScope(s) over it are active") != std::string::npos, r.err);
}

// ---- braces never bind to Site ---------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(braced_axes_reduce_those_axes) {
  static_assert(!std::is_constructible_v<Site, int, int>);
  static_assert(!std::is_default_constructible_v<Site>);
  static_assert(!std::is_aggregate_v<Site>);
  TapeScope scope;
  const Tensor x = f64({1, 2, 3, 4, 5, 6}, Shape{1, 2, 3}, true);
  const Tensor s = sum(x, {0, 2});
  BOOST_TEST(s.shape() == Shape{2});
  BOOST_TEST(s.to_vector() == std::vector<double>({6.0, 15.0}), tt::per_element());
  BOOST_TEST(sum(x, {1, 2}, true).shape() == (Shape{1, 1, 1}));
  BOOST_TEST(mean(x, {-1}).to_vector() == std::vector<double>({2.0, 5.0}), tt::per_element());
  BOOST_CHECK_EXCEPTION(sum(x, {1, 1}), std::exception, invalid({"sum", "axis 1 repeated"}));
  BOOST_CHECK_EXCEPTION(sum(x, {3}), std::exception, invalid({"sum", "axis 3 out of range", "rank 3"}));
}

// ---- every op is a node of its own -------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(ops_that_change_nothing_still_have_their_own_node) {
  TapeScope scope;
  const Tensor x = f64({1, 2, 3}, Shape{3}, true);
  const Tensor r = reshape(x, x.shape());
  const Tensor b = broadcast_to(x, x.shape());
  const Tensor t = sum_to(x, x.shape());
  BOOST_TEST(!r.is_same(x));
  backward(sum(r * r) + sum(x) + sum(b * 3.0) + sum(t * 4.0));
  // The gradient through r alone (PyTorch's retain_grad), not x's total.
  BOOST_TEST(r.grad().to_vector() == std::vector<double>({2.0, 4.0, 6.0}), tt::per_element());
  BOOST_TEST(b.grad().to_vector() == std::vector<double>({3.0, 3.0, 3.0}), tt::per_element());
  BOOST_TEST(t.grad().to_vector() == std::vector<double>({4.0, 4.0, 4.0}), tt::per_element());
  BOOST_TEST(x.grad().to_vector() == std::vector<double>({10.0, 12.0, 14.0}), tt::per_element());
}

// ---- composite ops report under the name the user called --------------------------------------------------------

BOOST_AUTO_TEST_CASE(sub_div_and_mean_name_themselves) {
  TapeScope scope;
  const Tensor a = f64({1, 2, 3}, Shape{3}, true), b = f64({1, 2}, Shape{2});
  BOOST_CHECK_EXCEPTION(a - b, std::exception, invalid({"sub:", "do not broadcast"}));
  BOOST_CHECK_EXCEPTION(a / b, std::exception, invalid({"div:", "do not broadcast"}));
  BOOST_CHECK_EXCEPTION(mean(f64({}, Shape{0})), std::exception, invalid({"mean:", "empty"}));
  AnomalyMode anomaly;
  const Tensor z = f64({0.0}, Shape{1}, true);
  BOOST_CHECK_EXCEPTION(z / z, std::exception, says<AnomalyError>({"anomaly: div produced a non-finite value"}));
  BOOST_TEST(to_dot(sum(a - a * 2.0)).find("sub") != std::string::npos);
  BOOST_CHECK_EXCEPTION(f64({1}, Shape{1}) * tensor({1}, Shape{1}), std::exception,
                        invalid({"mul", "dtypes differ", "x.to(Dtype::f64)"}));
}
