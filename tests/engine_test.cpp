// Engine semantics: accumulation, repeated backward, stale handles, tape scopes and threads, deep chains, NoGrad, HVP.
#define BOOST_TEST_MODULE engine_test
#include <boost/test/unit_test.hpp>

#include "autodiff/autodiff.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <typeinfo>
#include <vector>

using namespace autodiff;
namespace tt = boost::test_tools;

namespace {

Tensor f64(std::vector<double> values, const Shape& shape, bool requires_grad = false) {
  return tensor(std::move(values), shape, Dtype::f64, requires_grad);
}

std::vector<double> values_of(const Tensor& t) { return t.to_vector(); }

// Bitwise equality of two double vectors (the thread test wants identical bits, not close values).
bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

}  // namespace

// ---- accumulation ------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(value_used_twice_accumulates_scalar) {
  TapeScope scope;
  Var x = 3.0;
  Var y = x * x;  // dy/dx = 2x: both partials land on the same slot
  backward(y);
  BOOST_TEST(y.value() == 9.0);
  BOOST_TEST(x.grad() == 6.0);

  Var a = 1.5;
  Var z = a + a + a * 2.0 + sin(a);  // 1 + 1 + 2 + cos(a)
  backward(z);
  BOOST_TEST(a.grad() == 4.0 + std::cos(1.5), tt::tolerance(1e-15));
}

BOOST_AUTO_TEST_CASE(value_used_twice_accumulates_tensor) {
  TapeScope scope;
  Tensor x = f64({1.0, -2.0, 3.0}, Shape{3}, true);
  Tensor y = sum(x * x);
  backward(y);
  const std::vector<double> want{2.0, -4.0, 6.0};
  BOOST_TEST(values_of(x.grad()) == want, tt::per_element());

  // Fan-out through an interior node: h is used by two consumers.
  Tensor w = f64({0.5, 1.0, 2.0}, Shape{3}, true);
  Tensor h = w * 3.0;
  Tensor z = sum(h * h + h);  // dz/dw = (2h + 1) * 3
  backward(z);
  const std::vector<double> wg = values_of(w.grad());
  for (std::size_t i = 0; i < 3; ++i) {
    const double hv = 3.0 * std::vector<double>{0.5, 1.0, 2.0}[i];
    BOOST_TEST(wg[i] == (2.0 * hv + 1.0) * 3.0);
  }
}

BOOST_AUTO_TEST_CASE(backward_twice_accumulates_leaves_and_rezeroes_interior_scalar) {
  TapeScope scope;
  Var x = 2.0, y = 5.0;
  Var z = x * y;       // interior
  Var w = z * z + x;   // dw/dz = 2z = 20, dw/dx = 2 z y + 1 = 101, dw/dy = 2 z x = 40
  backward(w);
  BOOST_TEST(z.grad() == 20.0);
  BOOST_TEST(w.grad() == 1.0);
  BOOST_TEST(x.grad() == 101.0);
  BOOST_TEST(y.grad() == 40.0);
  backward(w);
  BOOST_TEST(x.grad() == 202.0);  // leaves: exactly twice
  BOOST_TEST(y.grad() == 80.0);
  BOOST_TEST(z.grad() == 20.0);  // interior: re-zeroed, not doubled
  BOOST_TEST(w.grad() == 1.0);
  x.zero_grad();
  backward(w);
  BOOST_TEST(x.grad() == 101.0);
  BOOST_TEST(y.grad() == 120.0);
}

BOOST_AUTO_TEST_CASE(backward_twice_accumulates_leaves_and_rezeroes_interior_tensor) {
  TapeScope scope;
  Tensor x = f64({0.5, -1.0, 2.0, 0.25}, Shape{2, 2}, true);
  Tensor w = f64({1.0, 2.0, -1.0, 0.5}, Shape{2, 2}, true);
  Tensor h = matmul(x, w);  // interior
  Tensor s = sigmoid(h);
  Tensor L = sum(s);
  backward(L);
  const std::vector<double> hv = values_of(h), sv = values_of(s);
  std::vector<double> dh(4);
  for (std::size_t i = 0; i < 4; ++i) dh[i] = sv[i] * (1.0 - sv[i]);
  BOOST_TEST(values_of(h.grad()) == dh, tt::tolerance(1e-15) << tt::per_element());
  const std::vector<double> xg1 = values_of(x.grad()), wg1 = values_of(w.grad());
  // dX = dH W^T, dW = X^T dH, written out for 2x2.
  const std::vector<double> X{0.5, -1.0, 2.0, 0.25}, W{1.0, 2.0, -1.0, 0.5};
  const std::vector<double> dx{dh[0] * W[0] + dh[1] * W[1], dh[0] * W[2] + dh[1] * W[3], dh[2] * W[0] + dh[3] * W[1],
                               dh[2] * W[2] + dh[3] * W[3]};
  const std::vector<double> dw{X[0] * dh[0] + X[2] * dh[2], X[0] * dh[1] + X[2] * dh[3], X[1] * dh[0] + X[3] * dh[2],
                               X[1] * dh[1] + X[3] * dh[3]};
  BOOST_TEST(xg1 == dx, tt::tolerance(1e-14) << tt::per_element());
  BOOST_TEST(wg1 == dw, tt::tolerance(1e-14) << tt::per_element());

  backward(L);
  std::vector<double> dx2 = dx, dw2 = dw;
  for (auto& v : dx2) v *= 2.0;
  for (auto& v : dw2) v *= 2.0;
  BOOST_TEST(values_of(x.grad()) == dx2, tt::tolerance(1e-14) << tt::per_element());
  BOOST_TEST(values_of(w.grad()) == dw2, tt::tolerance(1e-14) << tt::per_element());
  BOOST_TEST(values_of(h.grad()) == dh, tt::tolerance(1e-15) << tt::per_element());  // not doubled
  BOOST_TEST(L.grad().at(0) == 1.0);
}

BOOST_AUTO_TEST_CASE(interior_grad_matches_analytic_scalar) {
  TapeScope scope;
  Var a = 0.7, b = -1.3;
  Var u = a * b;           // -0.91
  Var v = tanh(u);
  Var L = v * v;           // dL/dv = 2v, dL/du = 2v(1 - v^2)
  backward(L);
  const double vv = std::tanh(0.7 * -1.3);
  BOOST_TEST(v.grad() == 2.0 * vv, tt::tolerance(1e-15));
  BOOST_TEST(u.grad() == 2.0 * vv * (1.0 - vv * vv), tt::tolerance(1e-14));
  BOOST_TEST(a.grad() == 2.0 * vv * (1.0 - vv * vv) * -1.3, tt::tolerance(1e-14));
  BOOST_TEST(b.grad() == 2.0 * vv * (1.0 - vv * vv) * 0.7, tt::tolerance(1e-14));
}

// An op node keeps the grad of the latest backward that walked it (var.hpp): a later backward from an earlier root
// does not reach y1, so y1 keeps 12, while r gets its own grad.
BOOST_AUTO_TEST_CASE(interior_grad_kept_from_the_latest_backward_that_walked_it) {
  TapeScope scope;
  Var a = 2.0;
  Var r = a * a;   // recorded first
  Var y1 = a * 3.0;
  Var y2 = y1 * y1;
  backward(y2);
  BOOST_TEST(y1.grad() == 12.0);
  backward(r);  // does not reach y1
  BOOST_TEST(r.grad() == 1.0);
  BOOST_TEST(y1.grad() == 12.0);
}

BOOST_AUTO_TEST_CASE(gradient_leaves_accumulated_grads_alone) {
  TapeScope scope;
  Tensor x = f64({1.0, 2.0}, Shape{2}, true);
  Tensor y = sum(x * x * x);
  std::vector<Tensor> g = gradient(y, {x});
  const std::vector<double> want{3.0, 12.0};
  BOOST_TEST(values_of(g[0]) == want, tt::per_element());
  BOOST_TEST(!x.has_grad());

  // With respect to an interior node, and to inputs the root does not use (a parameter never recorded, a constant).
  Tensor h = x * x;
  Tensor L = sum(h * h);  // dL/dh = 2h
  Tensor unused = f64({1.0, 1.0, 1.0}, Shape{3}, true);
  Tensor constant = f64({1.0}, Shape{1});
  std::vector<Tensor> gs = gradient(L, {h, x, unused, constant});
  const std::vector<double> dh{2.0, 8.0}, dx{4.0, 32.0}, zeros3{0.0, 0.0, 0.0};
  BOOST_TEST(values_of(gs[0]) == dh, tt::per_element());
  BOOST_TEST(values_of(gs[1]) == dx, tt::per_element());
  BOOST_TEST(values_of(gs[2]) == zeros3, tt::per_element());
  BOOST_TEST(gs[3].to_vector() == std::vector<double>{0.0}, tt::per_element());
}

BOOST_AUTO_TEST_CASE(backward_with_explicit_seed) {
  TapeScope scope;
  Tensor x = f64({1.0, 2.0, 3.0, 4.0}, Shape{2, 2}, true);
  Tensor y = x * x;
  Tensor seed = f64({1.0, -1.0, 0.5, 2.0}, Shape{2, 2});
  backward(y, {.seed = seed});  // dx = seed * 2x
  const std::vector<double> want{2.0, -4.0, 3.0, 16.0};
  BOOST_TEST(values_of(x.grad()) == want, tt::per_element());
  BOOST_TEST(values_of(y.grad()) == values_of(seed), tt::per_element());  // the root's grad is the seed
  // A float32 seed is converted to the root's dtype.
  x.zero_grad();
  backward(y, {.seed = tensor({1.0, 1.0, 1.0, 1.0}, Shape{2, 2}, Dtype::f32)});
  const std::vector<double> want1{2.0, 4.0, 6.0, 8.0};
  BOOST_TEST(values_of(x.grad()) == want1, tt::per_element());
}

// ---- stale handles and tapes -------------------------------------------------------------------------

namespace {
// Exact types: std::invalid_argument is itself a std::logic_error, so the catch type alone does not tell them apart.
bool is_stale(const std::logic_error& e) {
  return typeid(e) == typeid(std::logic_error) && std::string(e.what()).find("stale handle") != std::string::npos;
}
bool is_mixing(const std::invalid_argument& e) {
  return typeid(e) == typeid(std::invalid_argument) && std::string(e.what()).find("another tape") != std::string::npos;
}
}  // namespace

BOOST_AUTO_TEST_CASE(stale_handle_after_clear_throws_logic_error) {
  TapeScope scope;
  Tape& tape = Tape::current();
  Var x = 2.0;
  Var y = x * 3.0;
  Tensor p = f64({1.0, 2.0}, Shape{2}, true);
  Tensor q = p * p;
  backward(sum(q), {.retain_graph = true});
  BOOST_TEST(tape.size() > 0u);
  tape.clear();
  BOOST_TEST(tape.size() == 0u);
  // The graph is gone: grads of Var op nodes and any new op on an old node are refused.
  BOOST_CHECK_EXCEPTION(y.grad(), std::logic_error, is_stale);
  BOOST_CHECK_EXCEPTION(y + 1.0, std::logic_error, is_stale);
  BOOST_CHECK_EXCEPTION(backward(y), std::logic_error, is_stale);
  BOOST_CHECK_EXCEPTION(exp(q), std::logic_error, is_stale);
  BOOST_CHECK_EXCEPTION(backward(q), std::logic_error, is_stale);
  // Values (and a tensor's last gradient) are kept by the handles, as in PyTorch.
  BOOST_TEST(y.value() == 6.0);
  BOOST_TEST(values_of(q) == std::vector<double>({1.0, 4.0}), tt::per_element());
  BOOST_TEST(values_of(q.grad()) == std::vector<double>({1.0, 1.0}), tt::per_element());
  {
    NoGrad off;  // used as a value, an old node is fine
    BOOST_TEST(exp(q).at(0) == std::exp(1.0));
  }
  BOOST_TEST(exp(q.detach()).at(1) == std::exp(4.0));
  // Leaves survive a clear and are usable on the fresh epoch.
  BOOST_TEST(x.value() == 2.0);
  Var y2 = x * 3.0;
  backward(y2);
  BOOST_TEST(x.grad() == 3.0);
}

BOOST_AUTO_TEST_CASE(stale_handle_after_scope_ends_throws_logic_error) {
  Var x = 1.5;
  Tensor p = f64({1.0, 2.0}, Shape{2}, true);
  Var y;
  Tensor q;
  {
    TapeScope scope;
    y = x * x;
    q = p * 2.0;
    BOOST_TEST(y.value() == 2.25);
  }
  BOOST_CHECK_EXCEPTION(y.grad(), std::logic_error, is_stale);
  BOOST_CHECK_EXCEPTION(y * 2.0, std::logic_error, is_stale);
  BOOST_CHECK_EXCEPTION(q + q, std::logic_error, is_stale);
  BOOST_TEST(q.at(1) == 4.0);
  // A new scope (possibly at the same address) does not revive the old handles.
  TapeScope again;
  Var z = x * 2.0;
  BOOST_TEST(z.value() == 3.0);
  BOOST_CHECK_EXCEPTION(y.grad(), std::logic_error, is_stale);
  BOOST_CHECK_EXCEPTION(q * 2.0, std::logic_error, is_stale);
}

BOOST_AUTO_TEST_CASE(mixing_tapes_throws_invalid_argument) {
  TapeScope outer;
  Var x = 2.0;
  Var y = x * x;  // on the outer tape
  Tensor p = f64({1.0, 2.0}, Shape{2}, true);
  Tensor q = p * p;
  {
    TapeScope inner;
    BOOST_CHECK_EXCEPTION(y * 2.0, std::invalid_argument, is_mixing);
    BOOST_CHECK_EXCEPTION(y + x, std::invalid_argument, is_mixing);
    BOOST_CHECK_EXCEPTION(q * 2.0, std::invalid_argument, is_mixing);
    BOOST_CHECK_EXCEPTION(matmul(reshape(q, Shape{1, 2}), f64({1.0, 1.0}, Shape{2, 1})), std::invalid_argument, is_mixing);
    // Leaves are not bound to a tape: they are fine on the inner one.
    Var z = x * 5.0;
    backward(z);
    BOOST_TEST(x.grad() == 5.0);
  }
  // The outer tape is still live and current.
  BOOST_TEST(y.value() == 4.0);
  backward(y);
  BOOST_TEST(x.grad() == 5.0 + 4.0);
}

BOOST_AUTO_TEST_CASE(scopes_nest_and_restore) {
  Tape* base = &Tape::current();
  Var x = 1.0;
  {
    TapeScope s1;
    Tape* t1 = &Tape::current();
    BOOST_TEST(t1 != base);
    BOOST_TEST(t1 == &s1.tape());
    Var a = x * 2.0;
    BOOST_TEST(a.tape() == t1);
    const std::size_t t1_size = t1->size();
    {
      TapeScope s2;
      Tape* t2 = &Tape::current();
      BOOST_TEST(t2 != t1);
      BOOST_TEST(t2 != base);
      Var b = x * 3.0;
      BOOST_TEST(b.tape() == t2);
      BOOST_TEST(t2->size() > 0u);
      BOOST_TEST(t1->size() == t1_size);  // nothing went to the outer tape
    }
    BOOST_TEST(&Tape::current() == t1);
    Var c = a * 4.0;  // the outer tape is usable again
    BOOST_TEST(c.tape() == t1);
    backward(c);
    BOOST_TEST(x.grad() == 8.0);
  }
  BOOST_TEST(&Tape::current() == base);
  // A scope over an explicit tape clears it at exit but leaves it alive.
  Tape mine;
  Var kept;
  {
    TapeScope s(mine);
    BOOST_TEST(&Tape::current() == &mine);
    kept = x * 7.0;
    BOOST_TEST(mine.size() > 0u);
  }
  BOOST_TEST(&Tape::current() == base);
  BOOST_TEST(mine.size() == 0u);
  BOOST_TEST(kept.value() == 7.0);  // a Var keeps its value; its grad lived on the tape
  BOOST_CHECK_EXCEPTION(kept.grad(), std::logic_error, is_stale);
}

BOOST_AUTO_TEST_CASE(leaves_outlive_tapes) {
  Var x = 3.0;
  Tensor w = f64({1.0, -2.0}, Shape{2}, true);
  {
    TapeScope scope;
    Var y = x * x * x;  // 3x^2 = 27
    backward(y);
    Tensor z = sum(exp(w));
    backward(z);
  }
  BOOST_TEST(x.grad() == 27.0);
  BOOST_TEST(x.value() == 3.0);
  const std::vector<double> want{std::exp(1.0), std::exp(-2.0)};
  BOOST_TEST(values_of(w.grad()) == want, tt::tolerance(1e-15) << tt::per_element());
  BOOST_TEST(w.value().at(1) == -2.0);
  // And they keep accumulating on a later tape.
  {
    TapeScope scope;
    backward(x * 2.0);
  }
  BOOST_TEST(x.grad() == 29.0);
}

BOOST_AUTO_TEST_CASE(leaf_handles_dropped_before_backward) {
  // The tape may outlive the user's leaf handles: backward must still run and the surviving leaves get their grads.
  TapeScope scope;
  Var kept = 0.5;
  Var y;
  Tensor w = f64({1.0, -1.0}, Shape{2}, true);
  Tensor z;
  {
    Var gone = 3.0;
    y = gone * gone * kept;
    Tensor tmp = f64({2.0, 4.0}, Shape{2}, true);
    z = sum(tmp * w);
  }
  backward(y);
  BOOST_TEST(y.value() == 4.5);
  BOOST_TEST(kept.grad() == 9.0);
  backward(z);
  const std::vector<double> want{2.0, 4.0};
  BOOST_TEST(values_of(w.grad()) == want, tt::per_element());
  // A leaf reassigned to an op result: the old leaf's slot still feeds backward.
  Var a = 2.0;
  Var b = a;
  a = a * 5.0;
  Var c = a * b;  // 5 b^2 -> dc/db = 10 b = 20
  backward(c);
  BOOST_TEST(c.value() == 20.0);
  BOOST_TEST(b.grad() == 20.0);
}

// Regression: a scalar leaf registered on an outer and an inner tape, then dropped, must stay alive until every tape
// that registered it is cleared (it once left a dangling pointer on the outer tape: heap-use-after-free in backward).
BOOST_AUTO_TEST_CASE(scalar_leaf_dying_after_use_on_two_tapes) {
  // x is registered on the outer tape, then on an inner one (which moves its registration there), then dies while the
  // outer tape still holds its slot. backward on the outer tape must not write to the dead leaf; a leaf allocated
  // right after (z, likely at the same address) must not receive x's gradient.
  TapeScope outer;
  Var keep = 1.0;
  Var y;
  {
    Var x = 2.0;
    y = x * x * keep;
    {
      TapeScope inner;
      Var t = x * 2.0;
      BOOST_TEST(t.value() == 4.0);
    }
  }
  Var z = 0.0;
  backward(y);
  BOOST_TEST(y.value() == 4.0);
  BOOST_TEST(keep.grad() == 4.0);
  BOOST_TEST(z.grad() == 0.0);
}

BOOST_AUTO_TEST_CASE(fresh_nodes_after_clear_have_zero_grad) {
  TapeScope scope;
  Var x = 2.0;
  Tensor p = f64({1.0, 2.0}, Shape{2}, true);
  for (int step = 0; step < 3; ++step) {
    Var y = x * x + 1.0;
    Tensor q = p * p;
    Tensor r = sum(q);
    BOOST_TEST(y.grad() == 0.0);  // nothing has reached it on this epoch yet
    BOOST_TEST(!q.has_grad());
    backward(y);
    BOOST_TEST(y.grad() == 1.0);
    backward(r);  // r was recorded after y, so this backward re-zeroes y: r does not depend on it
    BOOST_TEST(y.grad() == 0.0);
    BOOST_TEST(q.grad().to_vector() == std::vector<double>({1.0, 1.0}), tt::per_element());
    BOOST_TEST(x.grad() == 4.0 * (step + 1));
    BOOST_TEST(p.grad().at(1) == 4.0 * (step + 1));
    Tape::current().clear();
  }
}

BOOST_AUTO_TEST_CASE(backward_sums_every_slot_of_a_leaf_reregistered_by_an_inner_scope) {
  // Used on the outer tape, then on an inner one (which re-registers the leaf), then on the outer one again: the leaf
  // has two slots on the outer tape and backward must add both.
  TapeScope outer;
  Tensor x = f64({1.0, 2.0}, Shape{2}, true);
  Var v = 1.5;
  Tensor y1 = x * x;
  Var w1 = v * v;
  {
    TapeScope inner;
    Tensor t = x * 2.0;
    Var u = v * 2.0;
    BOOST_TEST(t.at(1) == 4.0);
    BOOST_TEST(u.value() == 3.0);
  }
  backward(sum(y1 + x * 3.0), {.retain_graph = true});  // 2x + 3; w1 is used below
  const std::vector<double> want{5.0, 7.0};
  BOOST_TEST(values_of(x.grad()) == want, tt::per_element());
  backward(w1 + v * 3.0);  // 2v + 3
  BOOST_TEST(v.grad() == 6.0);
}

// Regression: gradient() sums every slot a leaf holds on the tape (an inner scope re-registers it elsewhere).
BOOST_AUTO_TEST_CASE(gradient_sees_every_slot_of_a_leaf_reregistered_by_an_inner_scope) {
  TapeScope outer;
  {
    Tensor x = f64({1.0, 2.0}, Shape{2}, true);
    Tensor y = sum(x * x);
    {
      TapeScope inner;
      Tensor t = x * 2.0;  // registers x on the inner tape
      BOOST_TEST(t.at(1) == 4.0);
    }
    const std::vector<double> want{2.0, 4.0};
    BOOST_TEST(values_of(gradient(y, {x})[0]) == want, tt::per_element());
  }
  // The leaf used on the outer tape, then on an inner tape, then on the outer tape again has two slots there.
  Tensor x = f64({1.0, 2.0}, Shape{2}, true);
  Tensor y1 = x * x;
  {
    TapeScope inner;
    Tensor t = x * 2.0;
    BOOST_TEST(t.at(1) == 4.0);
  }
  Tensor y = sum(y1 + x * 3.0);  // dy/dx = 2x + 3
  const std::vector<double> want{5.0, 7.0};
  std::vector<Tensor> g = gradient(y, {x});
  BOOST_TEST(values_of(g[0]) == want, tt::per_element());
  backward(y);
  BOOST_TEST(values_of(x.grad()) == want, tt::per_element());
}

// ---- deep chains ------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(scalar_chain_of_a_million_does_not_recurse) {
  TapeScope scope;
  constexpr int n = 1000000;
  Var x0 = 1.0;
  Var x = x0;
  for (int i = 0; i < n; ++i) x = x * 1.0000001 + 0.0;
  BOOST_TEST(Tape::current().size() >= static_cast<std::size_t>(n));  // really recorded, one chain
  backward(x);
  // Each step has partial 1.0000001 exactly as rounded in double; the product in the same order is the grad.
  double want = 1.0;
  for (int i = 0; i < n; ++i) want *= 1.0000001;
  BOOST_TEST(x0.grad() == want, tt::tolerance(1e-12));
  BOOST_TEST(x0.grad() == std::exp(0.1), tt::tolerance(1e-6));
  BOOST_TEST(x.value() == want, tt::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(tensor_chain_of_a_hundred_thousand_does_not_recurse) {
  TapeScope scope;
  constexpr int n = 100000;
  Tensor x0 = f64({1.0, -2.0, 0.5}, Shape{3}, true);
  Tensor x = x0;
  for (int i = 0; i < n; ++i) x = x * 1.000001 + 0.0;
  BOOST_TEST(Tape::current().records() >= static_cast<std::size_t>(n));
  backward(sum(x));
  double want = 1.0;
  for (int i = 0; i < n; ++i) want *= 1.000001;
  const std::vector<double> g = values_of(x0.grad());
  BOOST_TEST(g.size() == 3u);
  for (double v : g) BOOST_TEST(v == want, tt::tolerance(1e-12));
  BOOST_TEST(x.at(1) == -2.0 * want, tt::tolerance(1e-12));
}

// ---- threads ------------------------------------------------------------------------------------------

namespace {

// A few SGD steps of a small scalar MLP and a small tensor MLP from the given seed, on the calling thread's own
// tape. Returns every loss and the final parameters.
std::vector<double> train(std::uint64_t seed, int steps) {
  TapeScope scope;
  std::mt19937_64 gen(seed);
  std::vector<double> out;

  // Tensor model: [8,3] -> 5 -> 1, tanh then sigmoid, squared error.
  Tensor X = uniform(Shape{8, 3}, -1.0, 1.0, gen, Dtype::f64);
  Tensor T = uniform(Shape{8, 1}, 0.0, 1.0, gen, Dtype::f64);
  Tensor W1 = uniform(Shape{3, 5}, -1.0, 1.0, gen, Dtype::f64, true);
  Tensor b1 = uniform(Shape{5}, -0.1, 0.1, gen, Dtype::f64, true);
  Tensor W2 = uniform(Shape{5, 1}, -1.0, 1.0, gen, Dtype::f64, true);
  Tensor b2 = uniform(Shape{1}, -0.1, 0.1, gen, Dtype::f64, true);
  // Scalar model: 2 -> 3 -> 1, per neuron.
  std::vector<Var> w, xs;
  for (int i = 0; i < 13; ++i) w.emplace_back(2.0 * uniform01(gen) - 1.0);
  for (int i = 0; i < 8; ++i) xs.emplace_back(2.0 * uniform01(gen) - 1.0);

  for (int step = 0; step < steps; ++step) {
    Tensor h = tanh(matmul(X, W1) + b1);
    Tensor y = sigmoid(matmul(h, W2) + b2);
    Tensor d = y - T;
    Tensor loss = mean(d * d);
    backward(loss);
    out.push_back(loss.at(0));
    for (Tensor* p : {&W1, &b1, &W2, &b2}) {
      Array& v = p->leaf_value();
      const Array& g = p->leaf_grad();
      for (std::int64_t i = 0; i < v.numel(); ++i) v.set(i, v.at(i) - 0.5 * g.at(i));
      p->zero_grad();
    }

    Var sloss = 0.0;
    for (int s = 0; s < 4; ++s) {
      const Var& a = xs[static_cast<std::size_t>(2 * s)];
      const Var& b = xs[static_cast<std::size_t>(2 * s + 1)];
      Var o = w[12];
      for (int j = 0; j < 3; ++j) {
        const auto k = static_cast<std::size_t>(3 * j);
        Var hj = tanh(w[k] * a + w[k + 1] * b + w[k + 2]);
        o = o + w[9 + static_cast<std::size_t>(j)] * hj;
      }
      Var e = sigmoid(o) - (s % 2 ? 1.0 : 0.0);
      sloss = sloss + e * e;
    }
    backward(sloss);
    out.push_back(sloss.value());
    for (Var& p : w) {
      p.set_value(p.value() - 0.5 * p.grad());
      p.zero_grad();
    }
    Tape::current().clear();
  }
  for (const Tensor* p : {&W1, &b1, &W2, &b2})
    for (double v : p->to_vector()) out.push_back(v);
  for (const Var& p : w) out.push_back(p.value());
  return out;
}

}  // namespace

// Labelled "threads": scripts/test --tsan runs it under ThreadSanitizer.
BOOST_AUTO_TEST_CASE(threads_with_own_tapes_match_a_serial_run, *boost::unit_test::label("threads")) {
  constexpr int steps = 150;
  const std::vector<double> serial_a = train(11, steps), serial_b = train(22, steps);
  BOOST_TEST(!same_bits(serial_a, serial_b));  // the two models really differ
  const auto last = static_cast<std::size_t>(2 * (steps - 1));
  BOOST_TEST(serial_a[0] > serial_a[last]);          // the tensor model learns
  BOOST_TEST(serial_a[1] > serial_a[last + 1]);      // and so does the scalar one
  for (int round = 0; round < 5; ++round) {
    std::vector<double> a, b;
    std::thread ta([&] { a = train(11, steps); });
    std::thread tb([&] { b = train(22, steps); });
    ta.join();
    tb.join();
    BOOST_TEST_CONTEXT("round " << round) {
      BOOST_TEST(same_bits(a, serial_a));
      BOOST_TEST(same_bits(b, serial_b));
    }
  }
}

// ---- NoGrad, detach ------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(no_grad_gives_constants_tensor) {
  TapeScope scope;
  Tensor x = f64({1.0, 2.0}, Shape{2}, true);
  const std::size_t before = Tape::current().size();
  Tensor y;
  {
    NoGrad off;
    BOOST_TEST(!grad_enabled());
    y = exp(x * x) + x;
  }
  BOOST_TEST(grad_enabled());
  BOOST_TEST(!y.requires_grad());
  BOOST_TEST(y.is_leaf());
  BOOST_TEST(Tape::current().size() == before);
  BOOST_TEST(y.at(1) == std::exp(4.0) + 2.0);
  BOOST_CHECK_THROW(backward(sum(y)), std::logic_error);  // sum of a constant is a constant
  {
    NoGrad off;
    Var e = x.var(1);  // a plain value, not linked to x
    BOOST_TEST(e.is_leaf());
    BOOST_TEST(e.value() == 2.0);
    Tensor s = stack({Var(1.0), Var(2.0)}, Shape{2});
    BOOST_TEST(!s.requires_grad());
    BOOST_TEST(s.at(1) == 2.0);
  }
  BOOST_TEST(Tape::current().size() == before);
  // Recording is back on after the scope.
  Tensor z = x * x;
  BOOST_TEST(z.requires_grad());
  BOOST_TEST(!z.is_leaf());
}

// Regression: under NoGrad scalar ops record nothing and return constants.
BOOST_AUTO_TEST_CASE(no_grad_gives_constants_scalar) {
  TapeScope scope;
  Var a = 2.0, b = 3.0;
  const std::size_t before = Tape::current().size();
  Var y;
  {
    NoGrad off;
    y = exp(a * b) + a;
  }
  BOOST_TEST(y.value() == std::exp(6.0) + 2.0);
  BOOST_TEST(Tape::current().size() == before);
  BOOST_TEST(y.is_leaf());
}

BOOST_AUTO_TEST_CASE(detach_stops_gradients) {
  TapeScope scope;
  Tensor x = f64({1.0, 2.0, 3.0}, Shape{3}, true);
  Tensor y = x * x;
  Tensor d = y.detach();
  BOOST_TEST(!d.requires_grad());
  Tensor z = sum(d * x);  // d/dx = x^2 with d constant (3x^2 if it were not)
  backward(z);
  const std::vector<double> want{1.0, 4.0, 9.0};
  BOOST_TEST(values_of(x.grad()) == want, tt::per_element());

  Var a = 3.0;
  Var b = a * a;
  Var c = b.detach() * a;
  BOOST_TEST(b.detach().is_leaf());
  backward(c);
  BOOST_TEST(a.grad() == 9.0);
}

// ---- higher order -----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(create_graph_hessian_vector_product) {
  TapeScope scope;
  Tensor x = f64({1.0, 2.0, 3.0}, Shape{3}, true);
  Tensor y = sum(pow(x, 3.0));
  std::vector<Tensor> g = gradient(y, {x}, {.create_graph = true});  // 3x^2, differentiable
  BOOST_TEST(g[0].requires_grad());
  const std::vector<double> g1{3.0, 12.0, 27.0};
  BOOST_TEST(values_of(g[0]) == g1, tt::tolerance(1e-14) << tt::per_element());
  std::vector<Tensor> hv = gradient(sum(g[0]), {x}, {.retain_graph = true});  // H 1 = 6x; g[0] is used again below
  const std::vector<double> want{6.0, 12.0, 18.0};
  BOOST_TEST(values_of(hv[0]) == want, tt::tolerance(1e-14) << tt::per_element());

  // With a non-trivial vector v: H v = 6 x * v, via backward into the leaf.
  Tensor v = f64({0.5, -1.0, 2.0}, Shape{3});
  backward(sum(g[0] * v));
  const std::vector<double> want_v{3.0, -12.0, 36.0};
  BOOST_TEST(values_of(x.grad()) == want_v, tt::tolerance(1e-14) << tt::per_element());

  // backward(create_graph) leaves a differentiable grad on the leaf's interior node as well.
  Tensor u = f64({0.3, -0.7}, Shape{2}, true);
  Tensor s = sum(sin(u));
  std::vector<Tensor> gs = gradient(s, {u}, {.create_graph = true});  // cos(u)
  std::vector<Tensor> h2 = gradient(sum(gs[0]), {u});  // -sin(u)
  BOOST_TEST(h2[0].at(0) == -std::sin(0.3), tt::tolerance(1e-15));
  BOOST_TEST(h2[0].at(1) == -std::sin(-0.7), tt::tolerance(1e-15));
}

// ---- scalar <-> tensor bridges -------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(item_unstack_stack_round_trip_grads) {
  TapeScope scope;
  Tensor t = f64({1.0, -2.0, 3.0, 0.5, 4.0, -1.5}, Shape{2, 3}, true);
  std::vector<Var> vs = t.vars();
  BOOST_TEST(vs.size() == 6u);
  BOOST_TEST(vs[4].value() == 4.0);
  std::vector<Var> sq;
  for (const Var& v : vs) sq.push_back(v * v);
  Tensor s = stack(sq, Shape{2, 3});
  BOOST_TEST(s.shape() == (Shape{2, 3}));
  BOOST_TEST(s.at(1) == 4.0);
  backward(sum(s));  // 2t
  const std::vector<double> want{2.0, -4.0, 6.0, 1.0, 8.0, -3.0};
  BOOST_TEST(values_of(t.grad()) == want, tt::per_element());

  // item() to a scalar root: only that element gets a grad.
  t.zero_grad();
  Var e = t.var(4);
  Var r = sin(e) * 2.0;
  backward(r);
  const std::vector<double> want_item{0.0, 0.0, 0.0, 0.0, 2.0 * std::cos(4.0), 0.0};
  BOOST_TEST(values_of(t.grad()) == want_item, tt::tolerance(1e-15) << tt::per_element());
  backward(r);  // twice: the link node's grad is re-zeroed, the leaf accumulates
  BOOST_TEST(t.grad().at(4) == 4.0 * std::cos(4.0), tt::tolerance(1e-15));
  BOOST_TEST(e.grad() == 2.0 * std::cos(4.0), tt::tolerance(1e-15));

  // A scalar leaf mixed with tensor elements through stack and back out through item.
  t.zero_grad();
  Var c = 1.5;
  Tensor m = stack({c, t.var(0) * c, t.var(5)}, Shape{3});
  Tensor w = f64({2.0, 3.0, 4.0}, Shape{3});
  Var out = sum(m * w).var(0) * 2.0;  // 2 (2c + 3 c t0 + 4 t5)
  backward(out);
  BOOST_TEST(c.grad() == 2.0 * (2.0 + 3.0 * 1.0));
  BOOST_TEST(t.grad().at(0) == 2.0 * 3.0 * 1.5);
  BOOST_TEST(t.grad().at(5) == 8.0);
  BOOST_TEST(t.grad().at(1) == 0.0);
}

// ---- float32 -------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(float32_path_matches_float64) {
  std::mt19937_64 gen(7);
  const Tensor X = uniform(Shape{6, 4}, -1.0, 1.0, gen, Dtype::f64);
  const Tensor W = uniform(Shape{4, 3}, -1.0, 1.0, gen, Dtype::f64);
  const Tensor b = uniform(Shape{3}, -0.5, 0.5, gen, Dtype::f64);
  struct Result {
    std::vector<double> y, dW, db;
    double loss;
  };
  auto run = [&](Dtype dt) {
    TapeScope scope;
    Tensor w = Tensor::parameter(W.value().to(dt).clone());
    Tensor bb = Tensor::parameter(b.value().to(dt).clone());
    Tensor x(X.value().to(dt).clone());
    Tensor y = sigmoid(matmul(x, w) + bb);
    BOOST_TEST((y.dtype() == dt));
    Tensor loss = sum(y * y);
    backward(loss);
    BOOST_TEST((w.grad().dtype() == dt));
    return Result{y.to_vector(), w.grad().to_vector(), bb.grad().to_vector(), loss.at(0)};
  };
  const Result r32 = run(Dtype::f32), r64 = run(Dtype::f64);
  BOOST_TEST(r32.y.size() == 18u);
  for (std::size_t i = 0; i < r32.y.size(); ++i) BOOST_TEST(std::fabs(r32.y[i] - r64.y[i]) <= 1e-5);
  for (std::size_t i = 0; i < r32.dW.size(); ++i) BOOST_TEST(std::fabs(r32.dW[i] - r64.dW[i]) <= 1e-5);
  for (std::size_t i = 0; i < r32.db.size(); ++i) BOOST_TEST(std::fabs(r32.db[i] - r64.db[i]) <= 1e-5);
  BOOST_TEST(std::fabs(r32.loss - r64.loss) <= 1e-5 * std::fabs(r64.loss));
  // The f32 result really is single precision (not computed in double and stored back).
  bool any_rounding = false;
  for (std::size_t i = 0; i < r32.y.size(); ++i) any_rounding = any_rounding || r32.y[i] != r64.y[i];
  BOOST_TEST(any_rounding);
}
