// Reductions, the softmax family, cumsum and clamp: gradcheck tables of first and second order, values written by
// hand from PyTorch's documented results, and every error.
#define BOOST_TEST_MODULE ops_reduce_test
#include <boost/test/unit_test.hpp>

#include "op_table.hpp"
#include "throws_with.hpp"

#include "autodiff/autodiff.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <vector>

using namespace autodiff;
using namespace optable;
namespace tt = boost::test_tools;

namespace {

using V = const std::vector<Tensor>&;
const Shape S234{2, 3, 4};

std::vector<TensorRow> first_order_table() {
  const std::vector<double> d24 = distinct(24, 11);
  const std::vector<double> d12 = distinct(12, 12);
  // A [2,3] with a 0 in row 0, and one with two 0s in row 1.
  const std::vector<double> one_zero{0.5, 0.0, -1.5, 1.2, -0.7, 2.0};
  const std::vector<double> two_zeros{0.5, 1.1, -1.5, 0.0, -0.7, 0.0};
  return {
      // sum and mean over lists of axes
      {"sum {0,2}", [](V x) { return sum(x[0], {0, 2}); }, {range(S234, -1, 1)}},
      {"sum {0,2} keepdim", [](V x) { return sum(x[0], {0, 2}, true); }, {range(S234, -1, 1)}},
      {"sum {-1,-3} (negative)", [](V x) { return sum(x[0], {-1, -3}); }, {range(S234, -1, 1)}},
      {"mean {0,2} keepdim", [](V x) { return mean(x[0], {0, 2}, true); }, {range(S234, -1, 1)}},
      {"mean {1,2}", [](V x) { return mean(x[0], {1, 2}); }, {range(S234, -1, 1)}},
      // amax, amin, max, min
      {"amax {0,2}", [](V x) { return amax(x[0], {0, 2}); }, {given(S234, d24)}},
      {"amax {0,2} keepdim", [](V x) { return amax(x[0], {0, 2}, true); }, {given(S234, d24)}},
      {"amax -1", [](V x) { return amax(x[0], -1); }, {given(S234, d24)}},
      {"amax all", [](V x) { return amax(x[0]); }, {given(S234, d24)}},
      {"amin {1,2}", [](V x) { return amin(x[0], {1, 2}); }, {given(S234, d24)}},
      {"amin 0 keepdim", [](V x) { return amin(x[0], 0, true); }, {given(S234, d24)}},
      {"amin all", [](V x) { return amin(x[0]); }, {given(S234, d24)}},
      {"max all", [](V x) { return max(x[0]); }, {given({3, 4}, d12)}},
      {"min all", [](V x) { return min(x[0]); }, {given({3, 4}, d12)}},
      {"max dim 1 values", [](V x) { return max(x[0], 1).values; }, {given(S234, d24)}},
      {"max dim -1 keepdim values", [](V x) { return max(x[0], -1, true).values; }, {given(S234, d24)}},
      {"min dim 0 values", [](V x) { return min(x[0], 0).values; }, {given(S234, d24)}},
      {"min dim 2 keepdim values", [](V x) { return min(x[0], 2, true).values; }, {given(S234, d24)}},
      // prod
      {"prod 1", [](V x) { return prod(x[0], 1); }, {range(S234, 0.5, 1.5)}},
      {"prod {0,2} keepdim", [](V x) { return prod(x[0], {0, 2}, true); }, {away(S234, 0.5, 1.5)}},
      {"prod all", [](V x) { return prod(x[0]); }, {away({2, 3}, 0.5, 1.5)}},
      {"prod with a zero element", [](V x) { return prod(x[0], 1); }, {given({2, 3}, one_zero)}},
      {"prod with two zeros in a slice", [](V x) { return prod(x[0], 1); }, {given({2, 3}, two_zeros)}},
      {"prod all with a zero", [](V x) { return prod(x[0]); }, {given({2, 3}, one_zero)}},
      // var and std
      {"var 1", [](V x) { return var(x[0], 1); }, {range(S234, -1, 1)}},
      {"var {0,2} keepdim correction 0", [](V x) { return var(x[0], {0, 2}, true, 0.0); }, {range(S234, -1, 1)}},
      {"var all", [](V x) { return var(x[0]); }, {range({2, 3}, -1, 1)}},
      {"var -1 correction 2", [](V x) { return var(x[0], -1, false, 2.0); }, {range(S234, -1, 1)}},
      {"std 1", [](V x) { return autodiff::std(x[0], 1); }, {range(S234, -1, 1)}},
      {"std {-1,-3} keepdim correction 0", [](V x) { return autodiff::std(x[0], {-1, -3}, true, 0.0); }, {range(S234, -1, 1)}},
      {"std all", [](V x) { return autodiff::std(x[0]); }, {range({2, 3}, -1, 1)}},
      // norm
      {"norm p=2 all", [](V x) { return norm(x[0]); }, {range(S234, -1, 1)}},
      {"norm p=2 dim 1 keepdim", [](V x) { return norm(x[0], 2.0, 1, true); }, {range(S234, -1, 1)}},
      {"norm p=1 {0,2}", [](V x) { return norm(x[0], 1.0, {0, 2}); }, {away(S234, 0.1, 1.0)}},
      {"norm p=inf -1", [](V x) { return norm(x[0], INFINITY, -1); }, {given(S234, d24)}},
      {"norm p=3 all", [](V x) { return norm(x[0], 3.0); }, {away({2, 3}, 0.2, 1.0)}},
      // cumsum
      {"cumsum 0", [](V x) { return cumsum(x[0], 0); }, {range(S234, -1, 1)}},
      {"cumsum 1", [](V x) { return cumsum(x[0], 1); }, {range(S234, -1, 1)}},
      {"cumsum -1", [](V x) { return cumsum(x[0], -1); }, {range(S234, -1, 1)}},
      // clamp (points off the bounds)
      {"clamp both", [](V x) { return clamp(x[0], -0.5, 0.5); }, {given({6}, {-0.9, -0.4, 0.1, 0.45, 0.8, -0.6})}},
      {"clamp_min", [](V x) { return clamp_min(x[0], 0.2); }, {given({4}, {-0.9, 0.1, 0.3, 0.8})}},
      {"clamp_max", [](V x) { return clamp_max(x[0], 0.2); }, {given({4}, {-0.9, 0.1, 0.3, 0.8})}},
      // the softmax family
      {"softmax -1", [](V x) { return softmax(x[0], -1); }, {range(S234, -3, 3)}},
      {"softmax 0", [](V x) { return softmax(x[0], 0); }, {range(S234, -3, 3)}},
      {"softmax 1 (columns)", [](V x) { return softmax(x[0], 1); }, {range(S234, -3, 3)}},
      {"softmax row of 37 (vector tail)", [](V x) { return softmax(x[0], 1); }, {range({2, 37}, -3, 3)}},
      {"softmax of large logits", [](V x) { return softmax(x[0], -1); }, {range({3, 4}, 500, 505)}},
      {"log_softmax -1", [](V x) { return log_softmax(x[0], -1); }, {range(S234, -3, 3)}},
      {"log_softmax 0", [](V x) { return log_softmax(x[0], 0); }, {range(S234, -3, 3)}},
      {"log_softmax of large logits", [](V x) { return log_softmax(x[0], 1); }, {range({3, 4}, 500, 505)}},
      {"logsumexp 0", [](V x) { return logsumexp(x[0], 0); }, {range(S234, -3, 3)}},
      {"logsumexp -1 keepdim", [](V x) { return logsumexp(x[0], -1, true); }, {range(S234, -3, 3)}},
      {"logsumexp {0,2}", [](V x) { return logsumexp(x[0], {0, 2}); }, {range(S234, -3, 3)}},
      {"logsumexp of large logits", [](V x) { return logsumexp(x[0], 1); }, {range({3, 4}, 500, 505)}},
      {"softmax_backward -1", [](V x) { return softmax_backward(x[0], x[1], -1); }, {range(S234, -1, 1), range(S234, 0.05, 0.5)}},
      {"softmax_backward 1", [](V x) { return softmax_backward(x[0], x[1], 1); }, {range(S234, -1, 1), range(S234, 0.05, 0.5)}},
      {"log_softmax_backward -1", [](V x) { return log_softmax_backward(x[0], x[1], -1); },
       {range(S234, -1, 1), range(S234, -3, -0.1)}},
      {"log_softmax_backward 0", [](V x) { return log_softmax_backward(x[0], x[1], 0); },
       {range(S234, -1, 1), range(S234, -3, -0.1)}},
  };
}

std::vector<TensorRow> second_order_table() {
  const std::vector<double> one_zero{0.5, 0.0, -1.5, 1.2, -0.7, 2.0};
  const std::vector<double> two_zeros{0.5, 1.1, -1.5, 0.0, -0.7, 0.0};
  return {
      {"softmax -1", [](V x) { return softmax(x[0], -1); }, {range({2, 3}, -2, 2)}},
      {"softmax 0", [](V x) { return softmax(x[0], 0); }, {range({3, 2}, -2, 2)}},
      {"log_softmax -1", [](V x) { return log_softmax(x[0], -1); }, {range({2, 3}, -2, 2)}},
      {"log_softmax 0", [](V x) { return log_softmax(x[0], 0); }, {range({3, 2}, -2, 2)}},
      {"logsumexp 1", [](V x) { return logsumexp(x[0], 1); }, {range({2, 3}, -2, 2)}},
      {"logsumexp {0,2} keepdim", [](V x) { return logsumexp(x[0], {0, 2}, true); }, {range({2, 2, 3}, -2, 2)}},
      {"softmax_backward", [](V x) { return softmax_backward(x[0], x[1], 1); }, {range({2, 3}, -1, 1), range({2, 3}, 0.1, 0.5)}},
      {"log_softmax_backward", [](V x) { return log_softmax_backward(x[0], x[1], 1); },
       {range({2, 3}, -1, 1), range({2, 3}, -2, -0.1)}},
      {"var 1", [](V x) { return var(x[0], 1); }, {range({2, 3}, -1, 1)}},
      {"var all correction 0", [](V x) { return var(x[0], {0, 1}, false, 0.0); }, {range({2, 3}, -1, 1)}},
      {"std 1", [](V x) { return autodiff::std(x[0], 1); }, {range({2, 3}, -1, 1)}},
      {"std all", [](V x) { return autodiff::std(x[0]); }, {range({2, 3}, -1, 1)}},
      {"prod 1", [](V x) { return prod(x[0], 1); }, {away({2, 3}, 0.5, 1.5)}},
      {"prod all", [](V x) { return prod(x[0]); }, {away({2, 2}, 0.5, 1.5)}},
      {"prod with a zero element", [](V x) { return prod(x[0], 1); }, {given({2, 3}, one_zero)}},
      {"prod with two zeros in a slice", [](V x) { return prod(x[0], 1); }, {given({2, 3}, two_zeros)}},
      {"norm p=2 all", [](V x) { return norm(x[0]); }, {range({2, 3}, 0.2, 1)}},
      {"norm p=2 dim 1", [](V x) { return norm(x[0], 2.0, 1); }, {away({2, 3}, 0.2, 1)}},
      {"norm p=3", [](V x) { return norm(x[0], 3.0, 1); }, {away({2, 3}, 0.2, 1)}},
      {"mean {0,2}", [](V x) { return mean(x[0], {0, 2}) * mean(x[0], {0, 2}); }, {range({2, 2, 3}, -1, 1)}},
      {"cumsum (times itself)", [](V x) { return cumsum(x[0], 1) * x[0]; }, {range({2, 3}, -1, 1)}},
  };
}

const auto invalid = says<std::invalid_argument>;

Tensor f64(std::vector<double> v, const Shape& s, bool requires_grad = false) {
  return tensor(std::move(v), s, Dtype::f64, requires_grad);
}
Tensor vec(std::initializer_list<double> v, bool requires_grad = false) { return tensor(v, Dtype::f64, requires_grad); }
std::vector<std::int64_t> ints(const Tensor& t) {
  std::vector<std::int64_t> out;
  for (std::int64_t i = 0; i < t.numel(); ++i) out.push_back(t.value().data<std::int64_t>()[i]);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(first_order) {
  const std::vector<TensorRow> table = first_order_table();
  BOOST_TEST(table.size() >= 55u);
  check_first_order(table);
}

BOOST_AUTO_TEST_CASE(second_order) { check_second_order(second_order_table()); }

BOOST_AUTO_TEST_CASE(sum_to_every_kernel_path_by_hand) {
  // x[i,j,k] = 100 i + 10 j + k on [2,3,4]; each target takes one of reduce_to's paths: whole sum, sum of rows (kept
  // trailing dims), sums within rows (kept leading dims), and the general walk (a kept middle dim). Both float dtypes.
  for (const Dtype dtype : {Dtype::f32, Dtype::f64}) {
    BOOST_TEST_CONTEXT(dtype_name(dtype)) {
      std::vector<double> v;
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 3; ++j)
          for (int k = 0; k < 4; ++k) v.push_back(100 * i + 10 * j + k);
      const Tensor x = tensor(v, Shape{2, 3, 4}, dtype);
      const auto sums = [&](const Shape& s) { return sum_to(x, s).to_vector(); };
      BOOST_TEST(sums(Shape{}) == std::vector<double>({1476}), tt::per_element());
      BOOST_TEST(sums(Shape{4}) == std::vector<double>({360, 366, 372, 378}), tt::per_element());
      BOOST_TEST(sums(Shape{3, 4}) == std::vector<double>({100, 102, 104, 106, 120, 122, 124, 126, 140, 142, 144, 146}),
                 tt::per_element());
      BOOST_TEST(sums(Shape{2, 3, 1}) == std::vector<double>({6, 46, 86, 406, 446, 486}), tt::per_element());
      BOOST_TEST(sums(Shape{2, 1, 1}) == std::vector<double>({138, 1338}), tt::per_element());
      BOOST_TEST(sums(Shape{1, 3, 1}) == std::vector<double>({412, 492, 572}), tt::per_element());
      BOOST_TEST(sums(Shape{2, 1, 4}) == std::vector<double>({30, 33, 36, 39, 330, 333, 336, 339}), tt::per_element());
      BOOST_TEST(sums(Shape{2, 3, 4}) == v, tt::per_element());
    }
  }
}

BOOST_AUTO_TEST_CASE(softmax_family_by_hand) {
  TapeScope scope;
  // torch.softmax(torch.tensor([1., 2., 3.]), 0) and friends.
  const Tensor x = vec({1, 2, 3});
  BOOST_TEST(softmax(x, 0).to_vector() == std::vector<double>({0.09003057317038046, 0.24472847105479764, 0.6652409557748219}),
             tt::tolerance(1e-15) << tt::per_element());
  BOOST_TEST(log_softmax(x, 0).to_vector() == std::vector<double>({-2.4076059644443806, -1.4076059644443806, -0.4076059644443806}),
             tt::tolerance(1e-15) << tt::per_element());
  BOOST_TEST(logsumexp(x, 0).item() == 3.4076059644443806, tt::tolerance(1e-15));
  // Large logits: the max shift keeps them finite.
  const Tensor big = vec({1000, 1000});
  BOOST_TEST(softmax(big, 0).to_vector() == std::vector<double>({0.5, 0.5}), tt::per_element());
  BOOST_TEST(logsumexp(big, 0).item() == 1000.0 + std::log(2.0), tt::tolerance(1e-15));
  BOOST_TEST(log_softmax(big, 0).to_vector() == std::vector<double>({-std::log(2.0), -std::log(2.0)}),
             tt::tolerance(1e-15) << tt::per_element());
  // A slice of -inf: logsumexp is -inf (as PyTorch); one holding +inf gives +inf.
  const double inf = std::numeric_limits<double>::infinity();
  BOOST_TEST(logsumexp(vec({-inf, -inf}), 0).item() == -inf);
  BOOST_TEST(logsumexp(vec({1.0, inf}), 0).item() == inf);
  // A -inf logit gets probability 0.
  BOOST_TEST(softmax(vec({0.0, -inf}), 0).to_vector() == std::vector<double>({1.0, 0.0}), tt::per_element());
  // Along dim 0 of a [2,2]: columns.
  const Tensor m = f64({0, 1, std::log(3.0), 1}, Shape{2, 2});
  BOOST_TEST(softmax(m, 0).to_vector() == std::vector<double>({0.25, 0.5, 0.75, 0.5}), tt::tolerance(1e-15) << tt::per_element());
}

BOOST_AUTO_TEST_CASE(float_softmax_matches_double) {
  // The float kernels run a vector exp of their own: within a few float ulps of the double result, at row lengths
  // with and without a tail, along rows and columns, including large logits.
  std::mt19937_64 gen(5);
  for (const Shape& s : {Shape{3, 1000}, Shape{2, 37}, Shape{4, 5}, Shape{16, 3, 7}})
    for (const int dim : {-1, 0}) {
      BOOST_TEST_CONTEXT(s.str() << " dim " << dim) {
        TapeScope scope;
        Tensor x = uniform(s, -30, 30, gen, Dtype::f32);
        for (const bool log : {false, true}) {
          const std::vector<double> got = (log ? log_softmax(x, dim) : softmax(x, dim)).to_vector();
          const Tensor xd = x.to(Dtype::f64);
          const std::vector<double> want = (log ? log_softmax(xd, dim) : softmax(xd, dim)).to_vector();
          double worst = 0;
          for (std::size_t i = 0; i < want.size(); ++i)
            worst = std::max(worst, std::fabs(got[i] - want[i]) / (log ? std::max(1.0, std::fabs(want[i])) : std::max(1e-30, want[i])));
          BOOST_TEST(worst < 5e-6, (log ? "log_softmax" : "softmax") << " worst relative error " << worst);
        }
        // The backward kernels too: the gradient of sum(softmax(x) * w) in float against double.
        const Tensor xf = uniform(s, -3, 3, gen, Dtype::f32, true), w = uniform(s, -1, 1, gen, Dtype::f32);
        for (const bool log : {false, true}) {
          const Tensor xd = xf.detach().to(Dtype::f64);
          Tensor xdl(xd.value().clone(), true);
          const std::vector<Tensor> gf = gradient(sum((log ? log_softmax(xf, dim) : softmax(xf, dim)) * w), {xf});
          const std::vector<Tensor> gd = gradient(sum((log ? log_softmax(xdl, dim) : softmax(xdl, dim)) * w.to(Dtype::f64)), {xdl});
          const std::vector<double> a = gf[0].to_vector(), b = gd[0].to_vector();
          double worst = 0;
          for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
          BOOST_TEST(worst < 1e-5, (log ? "log_softmax" : "softmax") << " backward worst absolute error " << worst);
        }
      }
    }
}

BOOST_AUTO_TEST_CASE(var_and_std_by_hand) {
  TapeScope scope;
  // torch.var(torch.tensor([1., 2., 3., 4.])) = 1.6667 (correction 1), 1.25 with correction 0.
  const Tensor x = vec({1, 2, 3, 4});
  BOOST_TEST(var(x).item() == 5.0 / 3.0, tt::tolerance(1e-15));
  BOOST_TEST(var(x, 0, false, 0.0).item() == 1.25, tt::tolerance(1e-15));
  BOOST_TEST(autodiff::std(x).item() == std::sqrt(5.0 / 3.0), tt::tolerance(1e-15));
  BOOST_TEST(autodiff::std(x, 0, false, 0.0).item() == std::sqrt(1.25), tt::tolerance(1e-15));
  // Over rows of a [2,3], keepdim.
  const Tensor m = f64({1, 2, 3, 2, 4, 6}, Shape{2, 3});
  const Tensor v = var(m, 1, true);
  BOOST_TEST(v.shape() == (Shape{2, 1}));
  BOOST_TEST(v.to_vector() == std::vector<double>({1.0, 4.0}), tt::tolerance(1e-15) << tt::per_element());
  // Gradient of var with correction 0: 2 (x - mean) / n.
  const Tensor p = vec({1, 2, 3, 4}, true);
  backward(var(p, 0, false, 0.0));
  BOOST_TEST(p.grad().to_vector() == std::vector<double>({-0.75, -0.25, 0.25, 0.75}), tt::tolerance(1e-15) << tt::per_element());
  // std of a constant slice is 0 and its gradient is 0, not NaN (PyTorch masks it the same way).
  const Tensor c = vec({2, 2, 2}, true);
  const Tensor s = autodiff::std(c);
  BOOST_TEST(s.item() == 0.0);
  backward(s);
  BOOST_TEST(c.grad().to_vector() == std::vector<double>({0, 0, 0}), tt::per_element());
  // A size-1 axis with correction 0: variance 0.
  BOOST_TEST(var(f64({1, 2}, Shape{2, 1}), 1, false, 0.0).to_vector() == std::vector<double>({0, 0}), tt::per_element());
}

BOOST_AUTO_TEST_CASE(max_min_argmax_by_hand) {
  TapeScope scope;
  const Tensor x = f64({1, 5, 3, 4, 2, 6}, Shape{2, 3}, true);
  auto [values, indices] = max(x, 1);
  BOOST_TEST(values.to_vector() == std::vector<double>({5, 6}), tt::per_element());
  BOOST_TEST(indices.dtype() == Dtype::i64);
  BOOST_TEST(ints(indices) == std::vector<std::int64_t>({1, 2}), tt::per_element());
  const ValuesIndices mn = min(x, 0, true);
  BOOST_TEST(mn.values.shape() == (Shape{1, 3}));
  BOOST_TEST(mn.values.to_vector() == std::vector<double>({1, 2, 3}), tt::per_element());
  BOOST_TEST(ints(mn.indices) == std::vector<std::int64_t>({0, 1, 0}), tt::per_element());
  BOOST_TEST(mn.indices.shape() == (Shape{1, 3}));
  backward(sum(values));
  BOOST_TEST(x.grad().to_vector() == std::vector<double>({0, 1, 0, 0, 0, 1}), tt::per_element());
  // argmax and argmin: the first of equal elements (torch.argmax documents the first), flat without a dim.
  BOOST_TEST(ints(argmax(vec({1, 3, 3, 2}), 0)) == std::vector<std::int64_t>({1}), tt::per_element());
  BOOST_TEST(ints(argmin(vec({2, 1, 3, 1}), 0)) == std::vector<std::int64_t>({1}), tt::per_element());
  const Tensor ties = f64({7, 7, 1, 0, 9, 9}, Shape{3, 2});
  BOOST_TEST(ints(argmax(ties, 1)) == std::vector<std::int64_t>({0, 0, 0}), tt::per_element());
  BOOST_TEST(ints(argmax(ties, -2, true)) == std::vector<std::int64_t>({2, 2}), tt::per_element());
  BOOST_TEST(argmax(ties, -2, true).shape() == (Shape{1, 2}));
  BOOST_TEST(argmax(ties).rank() == 0);
  BOOST_TEST(ints(argmax(ties)) == std::vector<std::int64_t>({4}), tt::per_element());
  BOOST_TEST(ints(argmin(ties)) == std::vector<std::int64_t>({3}), tt::per_element());
  BOOST_TEST(ints(argmax(tensor_i64({3, 9, 9, 1}), 0)) == std::vector<std::int64_t>({1}), tt::per_element());
  // max(x, dim) with ties sends the gradient to the chosen index only; amax and max(x) share it evenly.
  const Tensor t = vec({1, 3, 3}, true);
  backward(max(t, 0).values);
  BOOST_TEST(t.grad().to_vector() == std::vector<double>({0, 1, 0}), tt::per_element());
  const Tensor u = vec({1, 3, 3}, true);
  backward(amax(u, 0) + max(u));
  BOOST_TEST(u.grad().to_vector() == std::vector<double>({0, 1, 1}), tt::per_element());
  const Tensor w = f64({2, -1, -1, 0}, Shape{2, 2}, true);
  backward(sum(amin(w, {0, 1}, true)));
  BOOST_TEST(w.grad().to_vector() == std::vector<double>({0, 0.5, 0.5, 0}), tt::per_element());
  // amax over several axes with keepdim, by hand.
  const Tensor a3 = f64({1, 8, 3, 4, 5, 6, 7, 2}, Shape{2, 2, 2});
  BOOST_TEST(amax(a3, {0, 2}).to_vector() == std::vector<double>({8, 7}), tt::per_element());
  BOOST_TEST(amax(a3, {0, 2}, true).shape() == (Shape{1, 2, 1}));
  BOOST_TEST(amin(a3, {-1, -2}).to_vector() == std::vector<double>({1, 2}), tt::per_element());
}

BOOST_AUTO_TEST_CASE(prod_and_cumsum_by_hand) {
  TapeScope scope;
  // One zero: the gradient at it is the product of the others; elsewhere 0 (no division by zero).
  const Tensor a = vec({2, 0, 3}, true);
  const Tensor p = prod(a);
  BOOST_TEST(p.item() == 0.0);
  backward(p);
  BOOST_TEST(a.grad().to_vector() == std::vector<double>({0, 6, 0}), tt::per_element());
  // Two zeros: every gradient is 0.
  const Tensor b = vec({0, 2, 0}, true);
  backward(prod(b));
  BOOST_TEST(b.grad().to_vector() == std::vector<double>({0, 0, 0}), tt::per_element());
  // No zero: the product of the others.
  const Tensor c = f64({2, 3, 4, 5}, Shape{2, 2}, true);
  const Tensor pc = prod(c, 1);
  BOOST_TEST(pc.to_vector() == std::vector<double>({6, 20}), tt::per_element());
  backward(sum(pc));
  BOOST_TEST(c.grad().to_vector() == std::vector<double>({3, 2, 5, 4}), tt::per_element());
  // An empty slice multiplies to 1, sums to 0.
  BOOST_TEST(prod(zeros(Shape{2, 0}, Dtype::f64), 1).to_vector() == std::vector<double>({1, 1}), tt::per_element());
  // cumsum
  BOOST_TEST(cumsum(vec({1, 2, 3, 4}), 0).to_vector() == std::vector<double>({1, 3, 6, 10}), tt::per_element());
  const Tensor m = f64({1, 2, 3, 4, 5, 6}, Shape{2, 3}, true);
  BOOST_TEST(cumsum(m, 0).to_vector() == std::vector<double>({1, 2, 3, 5, 7, 9}), tt::per_element());
  BOOST_TEST(cumsum(m, -1).to_vector() == std::vector<double>({1, 3, 6, 4, 9, 15}), tt::per_element());
  backward(sum(cumsum(m, 1)));
  BOOST_TEST(m.grad().to_vector() == std::vector<double>({3, 2, 1, 3, 2, 1}), tt::per_element());
  const Tensor ci = cumsum(tensor_i64({1, 2, 3}), 0);
  BOOST_TEST(ci.dtype() == Dtype::i64);
  BOOST_TEST(ints(ci) == std::vector<std::int64_t>({1, 3, 6}), tt::per_element());
  BOOST_TEST(cumsum(zeros(Shape{0, 3}, Dtype::f64), 0).shape() == (Shape{0, 3}));
}

BOOST_AUTO_TEST_CASE(norm_and_clamp_by_hand) {
  TapeScope scope;
  const Tensor v = vec({3, -4});
  BOOST_TEST(norm(v).item() == 5.0);
  BOOST_TEST(norm(v, 1.0).item() == 7.0);
  BOOST_TEST(norm(v, INFINITY).item() == 4.0);
  BOOST_TEST(norm(v, 3.0).item() == std::cbrt(91.0), tt::tolerance(1e-15));
  // At 0 the 2-norm's gradient is 0 (PyTorch masks it the same way), not NaN; so is the p = 3 norm's.
  const Tensor z = zeros(Shape{3}, Dtype::f64, true);
  const Tensor n = norm(z);
  BOOST_TEST(n.item() == 0.0);
  backward(n + norm(z, 3.0));
  BOOST_TEST(z.grad().to_vector() == std::vector<double>({0, 0, 0}), tt::per_element());
  // Rows of a [2,2], keepdim; one row is zero.
  const Tensor m = f64({0, 0, 6, 8}, Shape{2, 2}, true);
  const Tensor nm = norm(m, 2.0, 1, true);
  BOOST_TEST(nm.shape() == (Shape{2, 1}));
  BOOST_TEST(nm.to_vector() == std::vector<double>({0, 10}), tt::per_element());
  backward(sum(nm));
  BOOST_TEST(m.grad().to_vector() == std::vector<double>({0, 0, 0.6, 0.8}), tt::tolerance(1e-15) << tt::per_element());
  // The inf-norm's ties share the gradient, with sign.
  const Tensor t = vec({-2, 1, 2}, true);
  backward(norm(t, INFINITY));
  BOOST_TEST(t.grad().to_vector() == std::vector<double>({-0.5, 0, 0.5}), tt::per_element());
  // clamp: the gradient passes at the bounds themselves (as torch.clamp), not outside.
  const Tensor c = vec({-1, 0, 0.5, 1, 2}, true);
  const Tensor y = clamp(c, 0.0, 1.0);
  BOOST_TEST(y.to_vector() == std::vector<double>({0, 0, 0.5, 1, 1}), tt::per_element());
  backward(sum(y));
  BOOST_TEST(c.grad().to_vector() == std::vector<double>({0, 1, 1, 1, 0}), tt::per_element());
  BOOST_TEST(clamp_min(vec({-1, 2}), 0.0).to_vector() == std::vector<double>({0, 2}), tt::per_element());
  BOOST_TEST(clamp_max(vec({-1, 2}), 0.0).to_vector() == std::vector<double>({-1, 0}), tt::per_element());
  // min > max gives max everywhere, as torch.clamp.
  BOOST_TEST(clamp(vec({-1, 0.5, 3}), 2.0, 1.0).to_vector() == std::vector<double>({1, 1, 1}), tt::per_element());
  BOOST_TEST(std::isnan(clamp(vec({NAN}), 0.0, 1.0).item()));
}

BOOST_AUTO_TEST_CASE(sums_over_lists_of_axes_by_hand) {
  TapeScope scope;
  const Tensor x = f64({1, 2, 3, 4, 5, 6, 7, 8}, Shape{2, 2, 2});
  BOOST_TEST(sum(x, {0, 2}).to_vector() == std::vector<double>({14, 22}), tt::per_element());
  BOOST_TEST(sum(x, {0, 2}, true).shape() == (Shape{1, 2, 1}));
  BOOST_TEST(mean(x, {-1, -3}).to_vector() == std::vector<double>({3.5, 5.5}), tt::per_element());
  BOOST_TEST(prod(x, {0, 2}).to_vector() == std::vector<double>({1.0 * 2 * 5 * 6, 3.0 * 4 * 7 * 8}), tt::per_element());
  BOOST_TEST(logsumexp(x, {0, 1, 2}).item() == std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0) + std::exp(4.0) +
                                                         std::exp(5.0) + std::exp(6.0) + std::exp(7.0) + std::exp(8.0)),
             tt::tolerance(1e-14));
}

BOOST_AUTO_TEST_CASE(errors) {
  TapeScope scope;
  const Tensor x = f64({1, 2, 3, 4, 5, 6}, Shape{2, 3});
  const Tensor empty = zeros(Shape{2, 0}, Dtype::f64);
  // Bad axes: out of range, repeated, an empty list.
  BOOST_CHECK_EXCEPTION(amax(x, 2), std::exception, invalid({"amax: axis 2 out of range for rank 2"}));
  BOOST_CHECK_EXCEPTION(var(x, {0, -2}), std::exception, invalid({"var", "axis 0 repeated"}));
  BOOST_CHECK_EXCEPTION(logsumexp(x, {}), std::exception, invalid({"logsumexp", "empty list of axes"}));
  BOOST_CHECK_EXCEPTION(softmax(x, -3), std::exception, invalid({"softmax: axis -3 out of range for rank 2"}));
  BOOST_CHECK_EXCEPTION(cumsum(x, 2), std::exception, invalid({"cumsum: axis 2 out of range for rank 2"}));
  BOOST_CHECK_EXCEPTION(argmax(x, 5), std::exception, invalid({"argmax: axis 5 out of range for rank 2"}));
  // var and std: a correction that leaves no degrees of freedom is an error (PyTorch returns inf or NaN).
  BOOST_CHECK_EXCEPTION(var(f64({1, 2, 3}, Shape{1, 3}), 0), std::exception,
                        invalid({"var: correction 1 leaves no degrees of freedom", "1 elements reduced", "[1,3]"}));
  BOOST_CHECK_EXCEPTION(autodiff::std(x, 1, false, 3.0), std::exception, invalid({"std: correction 3", "3 elements"}));
  // Reductions without an identity refuse empty input (as PyTorch for max, amax, argmax).
  BOOST_CHECK_EXCEPTION(amax(empty, 1), std::exception, invalid({"amax: cannot reduce an empty axis (axis 1 of [2,0])"}));
  BOOST_CHECK_EXCEPTION(amin(zeros(Shape{0}, Dtype::f64)), std::exception, invalid({"amin: cannot reduce an empty axis"}));
  BOOST_CHECK_EXCEPTION(max(empty, 1), std::exception, invalid({"max: cannot reduce an empty axis (axis 1 of [2,0])"}));
  BOOST_CHECK_EXCEPTION(min(empty, -1), std::exception, invalid({"min: cannot reduce an empty axis"}));
  BOOST_CHECK_EXCEPTION(max(empty), std::exception, invalid({"max: cannot reduce an empty axis"}));
  BOOST_CHECK_EXCEPTION(argmax(empty, 1), std::exception, invalid({"argmax: cannot reduce an empty axis"}));
  BOOST_CHECK_EXCEPTION(argmin(empty), std::exception, invalid({"argmin: cannot reduce an empty tensor ([2,0])"}));
  BOOST_CHECK_EXCEPTION(norm(empty, INFINITY, 1), std::exception, invalid({"norm: cannot reduce an empty axis"}));
  // norm: p must be >= 1 or inf.
  for (const double p : {0.5, 0.0, -1.0, -HUGE_VAL, std::nan("")})
    BOOST_CHECK_EXCEPTION(norm(x, p), std::exception, invalid({"norm: unsupported p", "use p >= 1 or inf"}));
  // clamp needs a bound; float ops refuse integers; the fused backward ops check their operands.
  BOOST_CHECK_EXCEPTION(clamp(x, std::nullopt, std::nullopt), std::exception, invalid({"clamp: give at least one of min and max"}));
  BOOST_CHECK_EXCEPTION(softmax(tensor_i64({1, 2}), 0), std::exception, invalid({"softmax", "needs a float tensor", "int64"}));
  BOOST_CHECK_EXCEPTION(amax(tensor_i64({1, 2})), std::exception, invalid({"amax", "needs a float tensor"}));
  BOOST_CHECK_EXCEPTION(argmax(tensor({1, 0}, Dtype::b8), 0), std::exception, invalid({"argmax", "needs a float tensor", "bool"}));
  BOOST_CHECK_EXCEPTION(softmax_backward(x, f64({1, 2, 3}, Shape{3}), 0), std::exception,
                        invalid({"softmax_backward", "y shape differs", "[3]", "[2,3]"}));
}
