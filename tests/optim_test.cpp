// Optimizers against updates computed by hand from PyTorch's formulas, state round trips, and option checks.
#define BOOST_TEST_MODULE optim_test
#include <boost/test/unit_test.hpp>

#include "throws_with.hpp"

#include "autodiff/autodiff.hpp"
#include "nn/optim.hpp"

#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using autodiff::Array;
using autodiff::Dtype;
using autodiff::Shape;
using autodiff::Tensor;

namespace {

// A two-element parameter p0 = (1.5, -2) and the grads of two steps, chosen by hand.
constexpr double p0[2] = {1.5, -2.0};
constexpr double g1[2] = {0.4, -1.0};
constexpr double g2[2] = {-0.3, 0.25};

Tensor make_param(Dtype dtype) { return autodiff::tensor({p0[0], p0[1]}, dtype, true); }

void set_grad(Tensor& p, const double (&g)[2]) {
  Array& grad = p.leaf_grad();  // as backward leaves it
  grad.set(0, g[0]);
  grad.set(1, g[1]);
}

/// Runs two steps with grads g1 then g2 and returns the parameter after each.
template <class Opt, class Options>
std::vector<std::vector<double>> two_steps(const Options& options, Dtype dtype) {
  Tensor p = make_param(dtype);
  Opt opt({p}, options);
  std::vector<std::vector<double>> out;
  set_grad(p, g1);
  opt.step();
  out.push_back(p.to_vector());
  set_grad(p, g2);
  opt.step();
  out.push_back(p.to_vector());
  return out;
}

void expect(const std::vector<std::vector<double>>& got, const double (&s1)[2], const double (&s2)[2], double tol) {
  for (int i = 0; i < 2; ++i) {
    BOOST_TEST(got[0][static_cast<std::size_t>(i)] == s1[i], boost::test_tools::tolerance(tol));
    BOOST_TEST(got[1][static_cast<std::size_t>(i)] == s2[i], boost::test_tools::tolerance(tol));
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(sgd_plain) {
  const double lr = 0.1;
  double s1[2], s2[2];
  for (int i = 0; i < 2; ++i) {
    s1[i] = p0[i] - lr * g1[i];
    s2[i] = s1[i] - lr * g2[i];
  }
  BOOST_TEST(s1[0] == 1.46, boost::test_tools::tolerance(1e-15));  // 1.5 - 0.1 * 0.4
  expect(two_steps<nn::SGD>(nn::SGDOptions{.lr = lr}, Dtype::f64), s1, s2, 1e-15);
  expect(two_steps<nn::SGD>(nn::SGDOptions{.lr = lr}, Dtype::f32), s1, s2, 1e-6);
}

BOOST_AUTO_TEST_CASE(sgd_momentum) {
  // buf1 = g1 (first step: no dampening of the first buffer), buf2 = mu buf1 + g2; p -= lr buf
  const double lr = 0.1, mu = 0.9;
  double s1[2], s2[2];
  for (int i = 0; i < 2; ++i) {
    const double b1 = g1[i], b2 = mu * b1 + g2[i];
    s1[i] = p0[i] - lr * b1;
    s2[i] = s1[i] - lr * b2;
  }
  BOOST_TEST(s2[0] == 1.46 - 0.1 * (0.36 - 0.3), boost::test_tools::tolerance(1e-15));
  expect(two_steps<nn::SGD>(nn::SGDOptions{.lr = lr, .momentum = mu}, Dtype::f64), s1, s2, 1e-15);
  expect(two_steps<nn::SGD>(nn::SGDOptions{.lr = lr, .momentum = mu}, Dtype::f32), s1, s2, 1e-6);
}

BOOST_AUTO_TEST_CASE(sgd_nesterov) {
  // buf as for momentum; the step uses g + mu buf
  const double lr = 0.05, mu = 0.8;
  double s1[2], s2[2];
  for (int i = 0; i < 2; ++i) {
    const double b1 = g1[i], b2 = mu * b1 + g2[i];
    s1[i] = p0[i] - lr * (g1[i] + mu * b1);
    s2[i] = s1[i] - lr * (g2[i] + mu * b2);
  }
  expect(two_steps<nn::SGD>(nn::SGDOptions{.lr = lr, .momentum = mu, .nesterov = true}, Dtype::f64), s1, s2, 1e-15);
}

BOOST_AUTO_TEST_CASE(sgd_weight_decay) {
  // d = g + wd p, with and without momentum
  const double lr = 0.1, wd = 0.01, mu = 0.5;
  double s1[2], s2[2], m1[2], m2[2];
  for (int i = 0; i < 2; ++i) {
    const double d1 = g1[i] + wd * p0[i];
    s1[i] = p0[i] - lr * d1;
    s2[i] = s1[i] - lr * (g2[i] + wd * s1[i]);
    const double b1 = d1;
    m1[i] = p0[i] - lr * b1;
    const double b2 = mu * b1 + (g2[i] + wd * m1[i]);
    m2[i] = m1[i] - lr * b2;
  }
  expect(two_steps<nn::SGD>(nn::SGDOptions{.lr = lr, .weight_decay = wd}, Dtype::f64), s1, s2, 1e-15);
  expect(two_steps<nn::SGD>(nn::SGDOptions{.lr = lr, .momentum = mu, .weight_decay = wd}, Dtype::f64), m1, m2, 1e-15);
}

namespace {
/// Adam by hand: t = 1, 2; m, v moving averages; bias corrections; decay coupled (Adam) or decoupled (AdamW).
void adam_by_hand(double lr, double b1, double b2, double eps, double wd, bool decoupled, double (&s1)[2], double (&s2)[2]) {
  for (int i = 0; i < 2; ++i) {
    double p = p0[i], m = 0, v = 0;
    const double* gs[2] = {&g1[i], &g2[i]};
    for (int t = 1; t <= 2; ++t) {
      double g = *gs[t - 1];
      if (decoupled)
        p = p * (1 - lr * wd);
      else
        g = g + wd * p;
      m = b1 * m + (1 - b1) * g;
      v = b2 * v + (1 - b2) * g * g;
      const double m_hat = m / (1 - std::pow(b1, t));
      const double v_hat = v / (1 - std::pow(b2, t));
      p = p - lr * m_hat / (std::sqrt(v_hat) + eps);
      (t == 1 ? s1 : s2)[i] = p;
    }
  }
}
}  // namespace

BOOST_AUTO_TEST_CASE(adam) {
  double s1[2], s2[2];
  adam_by_hand(1e-3, 0.9, 0.999, 1e-8, 0.0, false, s1, s2);
  // The first step of Adam moves each weight by about lr against the sign of its grad.
  BOOST_TEST(s1[0] == 1.5 - 1e-3 * 0.4 / (0.4 + 1e-8), boost::test_tools::tolerance(1e-14));
  BOOST_TEST(s1[1] == -2.0 + 1e-3 * 1.0 / (1.0 + 1e-8), boost::test_tools::tolerance(1e-14));
  expect(two_steps<nn::Adam>(nn::AdamOptions{}, Dtype::f64), s1, s2, 1e-14);
  expect(two_steps<nn::Adam>(nn::AdamOptions{}, Dtype::f32), s1, s2, 1e-6);

  adam_by_hand(0.01, 0.8, 0.99, 1e-6, 0.1, false, s1, s2);  // L2 penalty added to the grad
  expect(two_steps<nn::Adam>(nn::AdamOptions{.lr = 0.01, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .weight_decay = 0.1},
                             Dtype::f64),
         s1, s2, 1e-14);
}

BOOST_AUTO_TEST_CASE(adamw) {
  double s1[2], s2[2];
  adam_by_hand(0.01, 0.9, 0.999, 1e-8, 0.1, true, s1, s2);
  expect(two_steps<nn::Adam>(nn::AdamOptions{.lr = 0.01, .weight_decay = 0.1, .decoupled = true}, Dtype::f64), s1, s2, 1e-14);
  expect(two_steps<nn::Adam>(nn::AdamOptions{.lr = 0.01, .weight_decay = 0.1, .decoupled = true}, Dtype::f32), s1, s2, 1e-6);
  // Decoupled decay differs from the coupled one.
  double c1[2], c2[2];
  adam_by_hand(0.01, 0.9, 0.999, 1e-8, 0.1, false, c1, c2);
  BOOST_TEST(std::fabs(c2[0] - s2[0]) > 1e-6);
}

BOOST_AUTO_TEST_CASE(parameters_without_grads_are_skipped_and_zero_grad_zeroes) {
  Tensor a = make_param(Dtype::f64), b = make_param(Dtype::f64);
  nn::Adam opt({a, b}, {.lr = 0.1});
  set_grad(a, g1);
  opt.step();
  BOOST_TEST(a.at(0) != p0[0]);
  BOOST_TEST(b.at(0) == p0[0]);  // never received a grad, as a PyTorch parameter whose .grad is None
  BOOST_TEST(opt.steps() == 1);
  opt.zero_grad();
  BOOST_TEST(!a.has_grad());
}

BOOST_AUTO_TEST_CASE(state_round_trip_continues_identically) {
  for (const bool adam : {false, true}) {
    BOOST_TEST_CONTEXT((adam ? "Adam" : "SGD")) {
      Tensor pa = autodiff::tensor({1, 2, 3, 4}, Shape{2, 2}, Dtype::f32, true);
      Tensor ra = autodiff::tensor({0.5}, Dtype::f64, true);
      auto make = [&](std::vector<Tensor> ps) -> std::unique_ptr<nn::Optimizer> {
        if (adam) return std::make_unique<nn::Adam>(std::move(ps), nn::AdamOptions{.lr = 0.05, .weight_decay = 0.01});
        return std::make_unique<nn::SGD>(std::move(ps), nn::SGDOptions{.lr = 0.05, .momentum = 0.9, .nesterov = true});
      };
      auto feed = [](Tensor& p, double k) {
        for (std::int64_t i = 0; i < p.numel(); ++i) p.leaf_grad().set(i, std::sin(k + static_cast<double>(i)));
      };
      auto a = make({pa, ra});
      feed(pa, 1);
      feed(ra, 2);
      a->step();
      a->set_lr(0.02);
      const auto saved = a->state();
      BOOST_TEST(saved.size() == (adam ? 7u : 3u));  // lr + per-parameter buffers
      BOOST_TEST(saved[0].first == "lr");

      // A second optimizer on copies of the parameter values, restored from the state.
      Tensor pb(pa.value().clone(), true), rb(ra.value().clone(), true);
      auto b = make({pb, rb});
      b->load_state(saved);
      BOOST_TEST(b->lr() == 0.02);
      for (int k = 0; k < 3; ++k) {
        feed(pa, 3 + k);
        feed(ra, 7 + k);
        feed(pb, 3 + k);
        feed(rb, 7 + k);
        a->step();
        b->step();
      }
      BOOST_TEST(pa.to_vector() == pb.to_vector(), boost::test_tools::per_element());
      BOOST_TEST(ra.to_vector() == rb.to_vector(), boost::test_tools::per_element());

      // A fresh optimizer without the state diverges (so the test can fail).
      Tensor pc(pb.value().clone(), true);
      Tensor rc(rb.value().clone(), true);
      auto c = make({pc, rc});
      c->set_lr(0.02);
      auto d = make({pb, rb});
      d->load_state(b->state());
      feed(pc, 10);
      feed(rc, 11);
      feed(pb, 10);
      feed(rb, 11);
      c->step();
      d->step();
      BOOST_TEST(pc.at(0) != pb.at(0));
    }
  }
}

BOOST_AUTO_TEST_CASE(load_state_errors) {
  Tensor p = make_param(Dtype::f64);
  nn::Adam opt({p});
  const auto scalar = Array::full(Shape{}, 1.0, Dtype::f64);
  BOOST_CHECK(throws_with<std::invalid_argument>([&] { opt.load_state({{"0.momentum_buffer", Array::zeros(Shape{2}, Dtype::f64)}}); },
                                                 {"Adam::load_state", "unknown entry '0.momentum_buffer'"}));
  BOOST_CHECK(throws_with<std::invalid_argument>([&] { opt.load_state({{"3.step", scalar}}); }, {"unknown entry '3.step'"}));
  BOOST_CHECK(throws_with<std::invalid_argument>(
      [&] {
        opt.load_state({{"0.step", scalar}, {"0.exp_avg", Array::zeros(Shape{3}, Dtype::f64)},
                        {"0.exp_avg_sq", Array::zeros(Shape{2}, Dtype::f64)}});
      },
      {"'0.exp_avg'", "[3] float64", "expected [2] float64"}));
  BOOST_CHECK(throws_with<std::invalid_argument>([&] { opt.load_state({{"0.step", scalar}}); }, {"parameter 0 has 1 of its 3"}));
  BOOST_CHECK(throws_with<std::invalid_argument>([&] { opt.load_state({{"lr", Array::full(Shape{}, -1.0, Dtype::f64)}}); },
                                                 {"Adam", "invalid lr (-1)"}));
  BOOST_TEST(opt.lr() == 1e-3);  // a failed load changes nothing
}

BOOST_AUTO_TEST_CASE(bad_options_throw) {
  Tensor p = make_param(Dtype::f32);
  using E = std::invalid_argument;
  BOOST_CHECK(throws_with<E>([&] { nn::SGD o({p}, {.lr = -0.1}); }, {"SGD", "invalid lr (-0.1)"}));
  BOOST_CHECK(throws_with<E>([&] { nn::SGD o({p}, {.lr = NAN}); }, {"SGD", "lr", "nan"}));
  BOOST_CHECK(throws_with<E>([&] { nn::SGD o({p}, {.momentum = -0.5}); }, {"SGD", "momentum (-0.5)"}));
  BOOST_CHECK(throws_with<E>([&] { nn::SGD o({p}, {.weight_decay = -1}); }, {"SGD", "weight_decay (-1)"}));
  BOOST_CHECK(throws_with<E>([&] { nn::SGD o({p}, {.nesterov = true}); }, {"SGD", "nesterov", "momentum"}));
  BOOST_CHECK(throws_with<E>([&] { nn::Adam o({p}, {.lr = -1e-3}); }, {"Adam", "invalid lr (-0.001)"}));
  BOOST_CHECK(throws_with<E>([&] { nn::Adam o({p}, {.beta1 = 1.0}); }, {"Adam", "beta1 (1)", "[0, 1)"}));
  BOOST_CHECK(throws_with<E>([&] { nn::Adam o({p}, {.beta2 = -0.1}); }, {"Adam", "beta2 (-0.1)"}));
  BOOST_CHECK(throws_with<E>([&] { nn::Adam o({p}, {.eps = -1e-8}); }, {"Adam", "eps (-1e-08)"}));
  BOOST_CHECK(throws_with<E>([&] { nn::Adam o({p}, {.weight_decay = -0.01, .decoupled = true}); },
                             {"AdamW", "weight_decay (-0.01)"}));
  BOOST_CHECK(throws_with<E>([&] { nn::SGD o({}, {}); }, {"empty parameter list"}));
  BOOST_CHECK(throws_with<E>([&] { nn::SGD o({autodiff::tensor({1.0})}, {}); }, {"parameter 0", "not a leaf that requires grad"}));
  nn::SGD ok({p});
  BOOST_CHECK(throws_with<E>([&] { ok.set_lr(-2); }, {"SGD", "invalid lr (-2)"}));
  BOOST_TEST(ok.lr() == 0.01);
}
