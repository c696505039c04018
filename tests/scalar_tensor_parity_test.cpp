// Parity: an MLP built per neuron from scalar Vars and the same MLP built from tensors give equal cost and grads.
#define BOOST_TEST_MODULE scalar_tensor_parity_test
#include <boost/test/unit_test.hpp>

#include "autodiff/autodiff.hpp"

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

using namespace autodiff;

namespace {

/// Weights, biases and data of a sigmoid MLP with squared-error cost, drawn from mt19937_64 words.
struct Problem {
  std::vector<std::int64_t> sizes;  // n0 (inputs), n1, ..., nL (outputs)
  std::int64_t batch = 1;
  std::vector<std::vector<double>> W;  // W[l] is [sizes[l], sizes[l+1]] row-major
  std::vector<std::vector<double>> b;  // b[l] is [sizes[l+1]]
  std::vector<double> X, T;            // [batch, n0] and [batch, nL]
};

Problem make_problem(std::vector<std::int64_t> sizes, std::int64_t batch, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  auto draw = [&](std::int64_t n, double lo, double hi) {
    std::vector<double> v;
    for (std::int64_t i = 0; i < n; ++i) v.push_back(lo + (hi - lo) * uniform01(gen));
    return v;
  };
  Problem p;
  p.sizes = sizes;
  p.batch = batch;
  for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
    p.W.push_back(draw(sizes[l] * sizes[l + 1], -1.0, 1.0));
    p.b.push_back(draw(sizes[l + 1], -0.5, 0.5));
  }
  p.X = draw(batch * sizes.front(), -2.0, 2.0);
  p.T = draw(batch * sizes.back(), 0.0, 1.0);
  return p;
}

/// Everything both models produce: cost, every leaf grad, and per layer the activations and dcost/dz (delta).
struct Result {
  double cost = 0.0;
  std::vector<std::vector<double>> dW, db, a, delta;
  std::vector<double> dX;
};

// (a) Per neuron, micrograd style: z_j = b_j + sum_i a_i w_ij, a_j = sigmoid(z_j), cost = sum (a_L - t)^2.
Result scalar_model(const Problem& p) {
  TapeScope scope;
  const std::size_t L = p.W.size();
  std::vector<std::vector<Var>> W(L), b(L);
  for (std::size_t l = 0; l < L; ++l) {
    W[l].assign(p.W[l].begin(), p.W[l].end());
    b[l].assign(p.b[l].begin(), p.b[l].end());
  }
  std::vector<Var> X(p.X.begin(), p.X.end());
  std::vector<std::vector<Var>> z(L), a(L);  // [layer][sample * width + j]
  Var cost = 0.0;
  for (std::int64_t s = 0; s < p.batch; ++s) {
    std::vector<Var> in(X.begin() + s * p.sizes[0], X.begin() + (s + 1) * p.sizes[0]);
    for (std::size_t l = 0; l < L; ++l) {
      const std::int64_t n_in = p.sizes[l], n_out = p.sizes[l + 1];
      std::vector<Var> out;
      for (std::int64_t j = 0; j < n_out; ++j) {
        Var zj = b[l][static_cast<std::size_t>(j)];
        for (std::int64_t i = 0; i < n_in; ++i) zj = zj + in[static_cast<std::size_t>(i)] * W[l][static_cast<std::size_t>(i * n_out + j)];
        z[l].push_back(zj);
        out.push_back(sigmoid(zj));
        a[l].push_back(out.back());
      }
      in = out;
    }
    for (std::int64_t k = 0; k < p.sizes.back(); ++k) {
      Var e = in[static_cast<std::size_t>(k)] - p.T[static_cast<std::size_t>(s * p.sizes.back() + k)];
      cost = cost + e * e;
    }
  }
  backward(cost);
  Result r;
  r.cost = cost.value();
  for (std::size_t l = 0; l < L; ++l) {
    r.dW.emplace_back();
    r.db.emplace_back();
    r.a.emplace_back();
    r.delta.emplace_back();
    for (const Var& w : W[l]) r.dW.back().push_back(w.grad());
    for (const Var& v : b[l]) r.db.back().push_back(v.grad());
    for (const Var& v : a[l]) r.a.back().push_back(v.value());
    for (const Var& v : z[l]) r.delta.back().push_back(v.grad());
  }
  for (const Var& x : X) r.dX.push_back(x.grad());
  return r;
}

// (b) Tensors: Z = A W + b (bias broadcast over the batch), A' = sigmoid(Z), cost = sum((A_L - T)^2).
Result tensor_model(const Problem& p) {
  TapeScope scope;
  const std::size_t L = p.W.size();
  std::vector<Tensor> W, b, z, a;
  for (std::size_t l = 0; l < L; ++l) {
    W.push_back(tensor(p.W[l], Shape{p.sizes[l], p.sizes[l + 1]}, Dtype::f64, true));
    b.push_back(tensor(p.b[l], Shape{p.sizes[l + 1]}, Dtype::f64, true));
  }
  Tensor X = tensor(p.X, Shape{p.batch, p.sizes.front()}, Dtype::f64, true);
  const Tensor T = tensor(p.T, Shape{p.batch, p.sizes.back()}, Dtype::f64);
  Tensor in = X;
  for (std::size_t l = 0; l < L; ++l) {
    z.push_back(matmul(in, W[l]) + b[l]);  // [B,n_in] x [n_in,n_out] -> [B,n_out]
    a.push_back(sigmoid(z.back()));
    in = a.back();
  }
  const Tensor e = in - T;
  const Tensor cost = sum(e * e);
  backward(cost);
  Result r;
  r.cost = cost.at(0);
  for (std::size_t l = 0; l < L; ++l) {
    r.dW.push_back(W[l].grad().to_vector());
    r.db.push_back(b[l].grad().to_vector());
    r.a.push_back(a[l].to_vector());
    r.delta.push_back(z[l].grad().to_vector());
  }
  r.dX = X.grad().to_vector();
  return r;
}

bool close(double x, double y) { return std::fabs(x - y) <= 1e-12 * std::max(1.0, std::fabs(y)); }

void check_equal(const std::vector<double>& s, const std::vector<double>& t, const std::string& what) {
  BOOST_TEST_CONTEXT(what) {
    BOOST_TEST(s.size() == t.size());
    for (std::size_t i = 0; i < std::min(s.size(), t.size()); ++i)
      BOOST_TEST(close(s[i], t[i]), what << "[" << i << "]: scalar " << s[i] << " vs tensor " << t[i]);
  }
}

void check_parity(const Problem& p) {
  const Result s = scalar_model(p), t = tensor_model(p);
  BOOST_TEST(close(s.cost, t.cost), "cost: scalar " << s.cost << " vs tensor " << t.cost);
  BOOST_TEST(t.cost > 0.0);
  for (std::size_t l = 0; l < p.W.size(); ++l) {
    const std::string layer = "layer " + std::to_string(l + 1);
    check_equal(s.dW[l], t.dW[l], layer + " dW");
    check_equal(s.db[l], t.db[l], layer + " db");
    check_equal(s.a[l], t.a[l], layer + " activation");
    check_equal(s.delta[l], t.delta[l], layer + " delta");
    // Not trivially zero: every weight and bias takes part.
    double norm = 0.0;
    for (double g : t.dW[l]) norm += g * g;
    BOOST_TEST(norm > 1e-12);
  }
  check_equal(s.dX, t.dX, "dX");
}

}  // namespace

BOOST_AUTO_TEST_CASE(mlp_3_4_2_single_sample) { check_parity(make_problem({3, 4, 2}, 1, 1)); }

BOOST_AUTO_TEST_CASE(mlp_3_4_2_batch) { check_parity(make_problem({3, 4, 2}, 5, 2)); }

BOOST_AUTO_TEST_CASE(deeper_mlps_random_sizes) {
  std::mt19937_64 gen(3);
  for (int depth = 1; depth <= 4; ++depth) {
    std::vector<std::int64_t> sizes;
    for (int l = 0; l <= depth; ++l) sizes.push_back(1 + static_cast<std::int64_t>(gen() % 6));
    const std::int64_t batch = 1 + static_cast<std::int64_t>(gen() % 4);
    BOOST_TEST_CONTEXT("depth " << depth << ", batch " << batch) { check_parity(make_problem(sizes, batch, 100 + depth)); }
  }
}

BOOST_AUTO_TEST_CASE(delta_of_last_layer_matches_closed_form) {
  // For cost = sum (a - t)^2 with a = sigmoid(z): delta_L = 2 (a - t) a (1 - a), and dW_L = a_{L-1}^T delta_L.
  const Problem p = make_problem({3, 4, 2}, 3, 4);
  const Result t = tensor_model(p);
  const std::vector<double>& aL = t.a[1];
  const std::vector<double>& a1 = t.a[0];
  std::vector<double> delta(aL.size());
  for (std::size_t i = 0; i < aL.size(); ++i) delta[i] = 2.0 * (aL[i] - p.T[i]) * aL[i] * (1.0 - aL[i]);
  check_equal(t.delta[1], delta, "delta_L");
  std::vector<double> dW(8, 0.0), db(2, 0.0);
  for (std::size_t s = 0; s < 3; ++s)
    for (std::size_t i = 0; i < 4; ++i)
      for (std::size_t j = 0; j < 2; ++j) dW[i * 2 + j] += a1[s * 4 + i] * delta[s * 2 + j];
  for (std::size_t s = 0; s < 3; ++s)
    for (std::size_t j = 0; j < 2; ++j) db[j] += delta[s * 2 + j];
  check_equal(t.dW[1], dW, "dW_L");
  check_equal(t.db[1], db, "db_L");
  const Result s = scalar_model(p);
  check_equal(s.delta[1], delta, "scalar delta_L");
}

// Regression: tensor pow(x, y) has dy = 0 at x == 0 (not 0 * log 0 = NaN), like the scalar op and PyTorch.
BOOST_AUTO_TEST_CASE(pow_with_zero_base_matches_scalar) {
  // d/dy x^y = x^y log x tends to 0 as x -> 0+ for y > 0.
  const std::vector<double> xs{0.0, 1.5}, ys{2.0, 3.0};
  std::vector<double> scalar_dy;
  {
    TapeScope scope;
    for (std::size_t i = 0; i < xs.size(); ++i) {
      Var x = xs[i], y = ys[i];
      backward(pow(x, y));
      scalar_dy.push_back(y.grad());
    }
  }
  TapeScope scope;
  Tensor x = tensor(xs, Shape{2}, Dtype::f64, true), y = tensor(ys, Shape{2}, Dtype::f64, true);
  backward(sum(pow(x, y)));
  BOOST_TEST(scalar_dy[0] == 0.0);
  BOOST_TEST(scalar_dy[1] == std::pow(1.5, 3.0) * std::log(1.5), boost::test_tools::tolerance(1e-15));
  const std::vector<double> dy = y.grad().to_vector(), dx = x.grad().to_vector();
  BOOST_TEST(dy[0] == scalar_dy[0]);
  BOOST_TEST(dy[1] == scalar_dy[1], boost::test_tools::tolerance(1e-15));
  BOOST_TEST(dx[0] == 0.0);
  BOOST_TEST(dx[1] == 3.0 * 1.5 * 1.5, boost::test_tools::tolerance(1e-15));
}
