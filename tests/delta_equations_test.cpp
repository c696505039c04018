// The seed's backpropagation equations, written out with plain loops over doubles, against the engine's gradients.
#define BOOST_TEST_MODULE delta_equations_test
#include <boost/test/unit_test.hpp>

#include "autodiff/autodiff.hpp"
#include "nn/cost.hpp"
#include "nn/mlp.hpp"
#include "nn/scalar_mlp.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

using autodiff::Dtype;
using autodiff::Tensor;
using nn::Activation;
using nn::Init;

namespace {

// ---- the closed form: doubles and loops only, no engine call -------------------------------------------------------

using Vec = std::vector<double>;

/// Plain copy of a network: w[l] is W^(l) row-major [n_(l-1), n_l], so w_kj = w[l][k * n_l + j]; b[l] is [n_l].
struct Net {
  std::vector<std::int64_t> n;
  std::vector<Vec> w, b;  // index 0 unused
  Activation hidden = Activation::sigmoid, output = Activation::sigmoid;
};

double s(double z, Activation act) {
  switch (act) {
    case Activation::sigmoid: return 1.0 / (1.0 + std::exp(-z));
    case Activation::relu: return z > 0 ? z : 0.0;
    case Activation::tanh: return std::tanh(z);
    case Activation::identity: return z;
  }
  return z;
}

/// s'(z): sigma' = sigma (1 - sigma), tanh' = 1 - tanh^2, relu' = [z > 0], identity' = 1.
double s_prime(double z, Activation act) {
  switch (act) {
    case Activation::sigmoid: {
      const double sz = 1.0 / (1.0 + std::exp(-z));
      return sz * (1.0 - sz);
    }
    case Activation::relu: return z > 0 ? 1.0 : 0.0;
    case Activation::tanh: {
      const double t = std::tanh(z);
      return 1.0 - t * t;
    }
    case Activation::identity: return 1.0;
  }
  return 1.0;
}

/// Deliberately wrong formulas, to show that the comparison detects them.
enum class Variant { seed, without_factor_two, w_rj_for_w_jr };

/// Per example i: z[i][l], a[i][l], delta[i][l] (delta already divided by B: the batch cost is the mean of c_i).
/// dw[l], db[l] are summed over the batch.
struct ClosedForm {
  std::vector<std::vector<Vec>> z, a, delta;
  std::vector<Vec> dw, db;
  double cost = 0.0;
};

ClosedForm closed_form(const Net& net, const std::vector<Vec>& x, const std::vector<Vec>& y, Variant variant = Variant::seed) {
  const std::size_t L = net.n.size() - 1, B = x.size();
  ClosedForm r;
  r.z.assign(B, std::vector<Vec>(L + 1));
  r.a.assign(B, std::vector<Vec>(L + 1));
  r.delta.assign(B, std::vector<Vec>(L + 1));
  r.dw.assign(L + 1, Vec());
  r.db.assign(L + 1, Vec());
  for (std::size_t l = 1; l <= L; ++l) {
    r.dw[l].assign(static_cast<std::size_t>(net.n[l - 1] * net.n[l]), 0.0);
    r.db[l].assign(static_cast<std::size_t>(net.n[l]), 0.0);
  }
  for (std::size_t i = 0; i < B; ++i) {
    auto& z = r.z[i];
    auto& a = r.a[i];
    auto& delta = r.delta[i];
    a[0] = x[i];
    // Forward: z^(l)_j = sum_k w^(l)_kj a^(l-1)_k + b^(l)_j,  a^(l)_j = s(z^(l)_j)
    for (std::size_t l = 1; l <= L; ++l) {
      const auto nk = static_cast<std::size_t>(net.n[l - 1]), nj = static_cast<std::size_t>(net.n[l]);
      const Activation act = l == L ? net.output : net.hidden;
      z[l].assign(nj, 0.0);
      a[l].assign(nj, 0.0);
      for (std::size_t j = 0; j < nj; ++j) {
        double sum = net.b[l][j];
        for (std::size_t k = 0; k < nk; ++k) sum += net.w[l][k * nj + j] * a[l - 1][k];
        z[l][j] = sum;
        a[l][j] = s(sum, act);
      }
    }
    // c_i = sum_j (y_ij - a^(L)_j)^2; the batch cost is the mean over i.
    double c = 0.0;
    for (std::size_t j = 0; j < a[L].size(); ++j) c += (y[i][j] - a[L][j]) * (y[i][j] - a[L][j]);
    r.cost += c / static_cast<double>(B);
    // delta^(L)_j = 2 (a^(L)_j - y_ij) s'(z^(L)_j)
    const double two = variant == Variant::without_factor_two ? 1.0 : 2.0;
    delta[L].assign(a[L].size(), 0.0);
    for (std::size_t j = 0; j < a[L].size(); ++j)
      delta[L][j] = two * (a[L][j] - y[i][j]) * s_prime(z[L][j], net.output);
    // delta^(l)_j = (sum_r delta^(l+1)_r w^(l+1)_jr) s'(z^(l)_j), l < L
    for (std::size_t l = L - 1; l >= 1; --l) {
      const auto nj = static_cast<std::size_t>(net.n[l]), nr = static_cast<std::size_t>(net.n[l + 1]);
      delta[l].assign(nj, 0.0);
      for (std::size_t j = 0; j < nj; ++j) {
        double sum = 0.0;
        for (std::size_t r2 = 0; r2 < nr; ++r2) {
          // w^(l+1)_jr is row j, column r of [n_l, n_(l+1)]; the wrong variant reads the layout as [n_(l+1), n_l].
          const double w = variant == Variant::w_rj_for_w_jr ? net.w[l + 1][r2 * nj + j] : net.w[l + 1][j * nr + r2];
          sum += delta[l + 1][r2] * w;
        }
        delta[l][j] = sum * s_prime(z[l][j], net.hidden);
      }
    }
    // The batch cost is (1/B) sum_i c_i: each example's delta carries the factor 1/B.
    for (std::size_t l = 1; l <= L; ++l)
      for (double& d : delta[l]) d /= static_cast<double>(B);
    // dc/dw^(l)_kj = delta^(l)_j a^(l-1)_k,  dc/db^(l)_j = delta^(l)_j  (summed over the batch)
    for (std::size_t l = 1; l <= L; ++l) {
      const std::size_t nk = a[l - 1].size(), nj = delta[l].size();
      for (std::size_t k = 0; k < nk; ++k)
        for (std::size_t j = 0; j < nj; ++j) r.dw[l][k * nj + j] += delta[l][j] * a[l - 1][k];
      for (std::size_t j = 0; j < nj; ++j) r.db[l][j] += delta[l][j];
    }
  }
  return r;
}

// ---- random cases from mt19937_64 words ----------------------------------------------------------------------------

double unit(std::mt19937_64& gen) { return static_cast<double>(gen() >> 11) * 0x1.0p-53; }  // [0,1)

std::vector<std::int64_t> random_sizes(std::size_t depth, std::mt19937_64& gen) {
  std::vector<std::int64_t> n(depth + 1);
  for (auto& v : n) v = 1 + static_cast<std::int64_t>(gen() % 20);  // 1..20
  return n;
}

std::vector<Vec> random_rows(std::size_t rows, std::int64_t cols, std::mt19937_64& gen, double lo, double hi) {
  std::vector<Vec> out(rows, Vec(static_cast<std::size_t>(cols)));
  for (auto& r : out)
    for (double& v : r) v = lo + (hi - lo) * unit(gen);
  return out;
}

Tensor as_tensor(const std::vector<Vec>& rows) {
  std::vector<double> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  return autodiff::tensor(flat, autodiff::Shape{static_cast<std::int64_t>(rows.size()), static_cast<std::int64_t>(rows[0].size())},
                          Dtype::f64);
}

Net copy_of(const nn::MLP& m) {
  Net net;
  net.n = m.sizes();
  net.hidden = m.hidden_activation();
  net.output = m.output_activation();
  net.w.assign(net.n.size(), Vec());
  net.b.assign(net.n.size(), Vec());
  for (std::size_t l = 1; l < net.n.size(); ++l) {
    net.w[l] = m.layer(l).weight().to_vector();
    net.b[l] = m.layer(l).bias().to_vector();
  }
  return net;
}

// ---- comparison ----------------------------------------------------------------------------------------------------

/// |engine - closed form|, relative when the closed form is larger than 1.
double diff(double engine, double closed) { return std::fabs(engine - closed) / std::max(1.0, std::fabs(closed)); }

struct Worst {
  double delta = 0, dw = 0, db = 0, forward = 0;
  double max() const { return std::max({delta, dw, db, forward}); }
};

double max_seen = 0.0;  // over every case of this file, printed at the end
std::int64_t values_compared = 0;

void note(double& slot, double d) {
  slot = std::max(slot, d);
  if (std::isnan(d)) slot = d;
  max_seen = std::max(max_seen, d);
  ++values_compared;
}

/// Engine grads of the tensor MLP (float64) for the batch, compared with the closed form.
Worst compare_tensor(nn::MLP& mlp, const std::vector<Vec>& x, const std::vector<Vec>& y, const ClosedForm& cf) {
  Worst w;
  autodiff::TapeScope scope;
  mlp.zero_grad();
  nn::Trace trace;
  const Tensor a = mlp.forward(as_tensor(x), trace);
  const Tensor c = nn::squared_error(a, as_tensor(y));
  autodiff::backward(c);
  note(w.forward, diff(c.at(0), cf.cost));
  const std::size_t L = mlp.depth(), B = x.size();
  for (std::size_t l = 1; l <= L; ++l) {
    const Tensor dz = trace.z[l].grad();  // [B, n_l]: row i is example i's delta^(l) / B
    const Tensor z = trace.z[l];
    const auto nj = static_cast<std::size_t>(mlp.sizes()[l]);
    BOOST_REQUIRE(dz.shape() == (autodiff::Shape{static_cast<std::int64_t>(B), static_cast<std::int64_t>(nj)}));
    for (std::size_t i = 0; i < B; ++i)
      for (std::size_t j = 0; j < nj; ++j) {
        const auto flat = static_cast<std::int64_t>(i * nj + j);
        note(w.delta, diff(dz.at(flat), cf.delta[i][l][j]));
        note(w.forward, diff(z.at(flat), cf.z[i][l][j]));
      }
    const Tensor dw = mlp.layer(l).weight().grad(), db = mlp.layer(l).bias().grad();
    for (std::size_t f = 0; f < cf.dw[l].size(); ++f) note(w.dw, diff(dw.at(static_cast<std::int64_t>(f)), cf.dw[l][f]));
    for (std::size_t j = 0; j < nj; ++j) note(w.db, diff(db.at(static_cast<std::int64_t>(j)), cf.db[l][j]));
  }
  return w;
}

/// The same for the per-neuron ScalarMLP: the batch cost is (1/B) sum_i c_i over per-example scalar graphs.
Worst compare_scalar(nn::ScalarMLP& model, const std::vector<Vec>& x, const std::vector<Vec>& y, const ClosedForm& cf) {
  Worst w;
  autodiff::TapeScope scope;
  model.zero_grad();
  const std::size_t L = model.depth(), B = x.size();
  std::vector<std::vector<std::vector<autodiff::Var>>> zs(B);
  autodiff::Var cost = 0.0;
  for (std::size_t i = 0; i < B; ++i) {
    const std::vector<autodiff::Var> xi(x[i].begin(), x[i].end());
    const auto a = model.forward(xi, &zs[i]);
    const autodiff::Var ci = nn::squared_error(a, y[i]) * (1.0 / static_cast<double>(B));
    cost = i == 0 ? ci : cost + ci;
  }
  autodiff::backward(cost);
  note(w.forward, diff(cost.value(), cf.cost));
  for (std::size_t l = 1; l <= L; ++l) {
    const auto nk = static_cast<std::size_t>(model.sizes()[l - 1]), nj = static_cast<std::size_t>(model.sizes()[l]);
    for (std::size_t i = 0; i < B; ++i)
      for (std::size_t j = 0; j < nj; ++j) {
        note(w.delta, diff(zs[i][l][j].grad(), cf.delta[i][l][j]));
        note(w.forward, diff(zs[i][l][j].value(), cf.z[i][l][j]));
      }
    for (std::size_t k = 0; k < nk; ++k)
      for (std::size_t j = 0; j < nj; ++j) note(w.dw, diff(model.weight(l, k, j).grad(), cf.dw[l][k * nj + j]));
    for (std::size_t j = 0; j < nj; ++j) note(w.db, diff(model.bias(l, j).grad(), cf.db[l][j]));
  }
  return w;
}

constexpr double tolerance = 1e-12;

void check(const Worst& w, const std::string& what) {
  BOOST_TEST_CONTEXT(what) {
    BOOST_TEST(w.delta <= tolerance, "delta: max diff " << w.delta);
    BOOST_TEST(w.dw <= tolerance, "dW: max diff " << w.dw);
    BOOST_TEST(w.db <= tolerance, "db: max diff " << w.db);
    BOOST_TEST(w.forward <= tolerance, "forward (z, cost): max diff " << w.forward);
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(tensor_and_scalar_models_match_the_seed_equations) {
  std::mt19937_64 gen(20240611);
  int cases = 0;
  for (std::size_t depth = 1; depth <= 5; ++depth)
    for (const std::size_t batch : {std::size_t{1}, std::size_t{7}})
      for (const Init init : {Init::uniform, Init::normal})
        for (int trial = 0; trial < 3; ++trial) {
          const auto sizes = random_sizes(depth, gen);
          nn::MLP mlp(sizes, gen, Activation::sigmoid, Activation::sigmoid, init, Dtype::f64);
          const auto x = random_rows(batch, sizes.front(), gen, -1.0, 1.0);
          const auto y = random_rows(batch, sizes.back(), gen, 0.0, 1.0);
          const ClosedForm cf = closed_form(copy_of(mlp), x, y);
          const std::string what = fmt::format("L={} sizes {} batch {} init {} trial {}", depth, fmt::join(sizes, "-"), batch,
                                               nn::name(init), trial);
          check(compare_tensor(mlp, x, y, cf), "tensor MLP, " + what);
          nn::ScalarMLP scalar = nn::ScalarMLP::from(mlp);
          check(compare_scalar(scalar, x, y, cf), "ScalarMLP, " + what);
          ++cases;
        }
  BOOST_TEST(cases == 60);
  BOOST_TEST_MESSAGE(fmt::format("{} cases, {} values compared; max |engine - closed form| (relative above 1) = {:.3g}", cases,
                                 values_compared, max_seen));
}

BOOST_AUTO_TEST_CASE(other_activations_follow_the_same_equations_with_their_derivative) {
  // The seed uses sigma; the equations hold for any s with s' in place of sigma'.
  std::mt19937_64 gen(7);
  const std::pair<Activation, Activation> pairs[] = {{Activation::tanh, Activation::identity},
                                                     {Activation::relu, Activation::sigmoid},
                                                     {Activation::identity, Activation::tanh}};
  for (const auto& [hidden, output] : pairs)
    for (std::size_t depth = 1; depth <= 4; ++depth) {
      const auto sizes = random_sizes(depth, gen);
      nn::MLP mlp(sizes, gen, hidden, output, Init::normal, Dtype::f64);
      const auto x = random_rows(7, sizes.front(), gen, -1.0, 1.0);
      const auto y = random_rows(7, sizes.back(), gen, 0.0, 1.0);
      const ClosedForm cf = closed_form(copy_of(mlp), x, y);
      const std::string what =
          fmt::format("{}/{} sizes {}", nn::name(hidden), nn::name(output), fmt::join(sizes, "-"));
      check(compare_tensor(mlp, x, y, cf), "tensor MLP, " + what);
      nn::ScalarMLP scalar = nn::ScalarMLP::from(mlp);
      check(compare_scalar(scalar, x, y, cf), "ScalarMLP, " + what);
    }
  BOOST_TEST_MESSAGE(fmt::format("max |engine - closed form| (relative above 1) so far = {:.3g}", max_seen));
}

BOOST_AUTO_TEST_CASE(wrong_formulas_are_detected) {
  // Non-square layers, so reading w_rj in place of w_jr (the [out,in] layout of PyTorch's Linear) is a different number.
  std::mt19937_64 gen(99);
  const std::vector<std::int64_t> sizes = {4, 3, 5, 2};
  nn::MLP mlp(sizes, gen, Activation::sigmoid, Activation::sigmoid, Init::normal, Dtype::f64);
  const auto x = random_rows(7, 4, gen, -1.0, 1.0);
  const auto y = random_rows(7, 2, gen, 0.0, 1.0);
  const Net net = copy_of(mlp);

  const Worst right = compare_tensor(mlp, x, y, closed_form(net, x, y));
  check(right, "seed formulas");

  const Worst no_two = compare_tensor(mlp, x, y, closed_form(net, x, y, Variant::without_factor_two));
  BOOST_TEST_MESSAGE(fmt::format("without the factor 2: max diff delta {:.3g}, dW {:.3g}", no_two.delta, no_two.dw));
  BOOST_TEST(no_two.delta > 1e6 * tolerance);
  BOOST_TEST(no_two.dw > 1e6 * tolerance);
  BOOST_TEST(no_two.forward <= tolerance);  // only the backward formula is wrong

  const Worst swapped = compare_tensor(mlp, x, y, closed_form(net, x, y, Variant::w_rj_for_w_jr));
  BOOST_TEST_MESSAGE(fmt::format("w_rj for w_jr: max diff delta {:.3g}, dW {:.3g}", swapped.delta, swapped.dw));
  BOOST_TEST(swapped.delta > 1e6 * tolerance);
  BOOST_TEST(swapped.dw > 1e6 * tolerance);
  BOOST_TEST(swapped.db > 1e6 * tolerance);
}

BOOST_AUTO_TEST_CASE(wrong_formulas_are_detected_on_the_scalar_model) {
  std::mt19937_64 gen(5);
  const std::vector<std::int64_t> sizes = {3, 6, 2};
  nn::MLP mlp(sizes, gen, Activation::sigmoid, Activation::sigmoid, Init::normal, Dtype::f64);
  nn::ScalarMLP scalar = nn::ScalarMLP::from(mlp);
  const auto x = random_rows(1, 3, gen, -1.0, 1.0);
  const auto y = random_rows(1, 2, gen, 0.0, 1.0);
  const Net net = copy_of(mlp);
  check(compare_scalar(scalar, x, y, closed_form(net, x, y)), "seed formulas");
  BOOST_TEST(compare_scalar(scalar, x, y, closed_form(net, x, y, Variant::without_factor_two)).delta > 1e6 * tolerance);
  BOOST_TEST(compare_scalar(scalar, x, y, closed_form(net, x, y, Variant::w_rj_for_w_jr)).delta > 1e6 * tolerance);
}
