// The shape ops: gradcheck and gradgradcheck tables, values written out by hand (as PyTorch documents them), every
// dtype through the copy kernels, and every error once.
#define BOOST_TEST_MODULE ops_shape_test
#include <boost/test/unit_test.hpp>

#include "op_table.hpp"
#include "throws_with.hpp"

#include "autodiff/autodiff.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <vector>

using namespace autodiff;
using namespace optable;
namespace tt = boost::test_tools;

namespace {

constexpr std::int64_t to_end = std::numeric_limits<std::int64_t>::max();

/// 0, 1, 2, ... in row-major order.
Tensor iota(const Shape& s, Dtype dtype = Dtype::f64, bool requires_grad = false) {
  std::vector<double> v(static_cast<std::size_t>(s.numel()));
  std::iota(v.begin(), v.end(), 0.0);
  return tensor(v, s, dtype, requires_grad);
}

std::vector<double> values(const Tensor& t) { return t.to_vector(); }

std::vector<std::int64_t> sizes(const std::vector<Tensor>& pieces, int dim) {
  std::vector<std::int64_t> s;
  for (const Tensor& p : pieces) s.push_back(p.shape()[dim]);
  return s;
}

/// Predicate for BOOST_CHECK_EXCEPTION: exactly std::invalid_argument, with every word in its message.
const auto invalid = says<std::invalid_argument>;

}  // namespace

// ---- first order ---------------------------------------------------------------------------------------------

namespace {

std::vector<TensorRow> first_order_table() {
  using V = const std::vector<Tensor>&;
  const In x234 = range({2, 3, 4}, -1, 1);
  return {
      // permute and transpose
      {"permute [2,3,4] {2,0,1}", [](V x) { return permute(x[0], {2, 0, 1}); }, {x234}},
      {"permute negative dims {-1,0,-2}", [](V x) { return permute(x[0], {-1, 0, -2}); }, {x234}},
      {"permute rank 4 NCHW->NHWC", [](V x) { return permute(x[0], {0, 2, 3, 1}); }, {range({2, 3, 4, 5}, -1, 1)}},
      {"permute rank 4 NHWC->NCHW", [](V x) { return permute(x[0], {0, 3, 1, 2}); }, {range({2, 4, 5, 3}, -1, 1)}},
      {"permute with size-1 dims", [](V x) { return permute(x[0], {3, 2, 1, 0}); }, {range({1, 3, 1, 2}, -1, 1)}},
      {"permute identity", [](V x) { return permute(x[0], {0, 1}); }, {range({3, 4}, -1, 1)}},
      {"permute 1-D", [](V x) { return permute(x[0], {0}); }, {range({5}, -1, 1)}},
      {"permute 0-d", [](V x) { return permute(x[0], {}) * x[0]; }, {range({}, -1, 1)}},
      {"transpose(x, 0, 2)", [](V x) { return transpose(x[0], 0, 2); }, {x234}},
      {"transpose(x, -1, -2)", [](V x) { return transpose(x[0], -1, -2); }, {x234}},
      {"transpose(x, 1, 1)", [](V x) { return transpose(x[0], 1, 1); }, {x234}},
      {"transpose 0-d (0, -1)", [](V x) { return transpose(x[0], 0, -1) * x[0]; }, {range({}, -1, 1)}},
      // views
      {"squeeze [1,3,1]", [](V x) { return squeeze(x[0]); }, {range({1, 3, 1}, -1, 1)}},
      {"squeeze(x, -1)", [](V x) { return squeeze(x[0], -1); }, {range({1, 3, 1}, -1, 1)}},
      {"squeeze(x, {0, 2})", [](V x) { return squeeze(x[0], {0, 2}); }, {range({1, 3, 1}, -1, 1)}},
      {"squeeze of a size-3 axis (unchanged)", [](V x) { return squeeze(x[0], 1); }, {range({1, 3, 1}, -1, 1)}},
      {"unsqueeze(x, 0)", [](V x) { return unsqueeze(x[0], 0); }, {range({2, 3}, -1, 1)}},
      {"unsqueeze(x, -1)", [](V x) { return unsqueeze(x[0], -1); }, {range({2, 3}, -1, 1)}},
      {"unsqueeze 0-d", [](V x) { return unsqueeze(x[0], 0) * x[0]; }, {range({}, -1, 1)}},
      {"flatten", [](V x) { return flatten(x[0]); }, {x234}},
      {"flatten(x, 1, 2) rank 4", [](V x) { return flatten(x[0], 1, 2); }, {range({2, 3, 2, 2}, -1, 1)}},
      {"flatten(x, -2, -1)", [](V x) { return flatten(x[0], -2, -1); }, {x234}},
      {"flatten 0-d", [](V x) { return flatten(x[0]) * x[0]; }, {range({}, -1, 1)}},
      {"expand [3,1] -> [2,3,4]", [](V x) { return expand(x[0], {2, 3, 4}); }, {range({3, 1}, -1, 1)}},
      {"expand with -1", [](V x) { return expand(x[0], {4, -1, 5}); }, {range({1, 3, 1}, -1, 1)}},
      {"expand 0-d", [](V x) { return expand(x[0], Shape{2, 3}); }, {range({}, -1, 1)}},
      {"expand to the same shape", [](V x) { return expand(x[0], {2, 3}); }, {range({2, 3}, -1, 1)}},
      // narrow, select, slice
      {"narrow(x, 1, 1, 2)", [](V x) { return narrow(x[0], 1, 1, 2); }, {x234}},
      {"narrow negative dim and start", [](V x) { return narrow(x[0], -1, -3, 2); }, {x234}},
      {"narrow the whole axis", [](V x) { return narrow(x[0], 0, 0, 2); }, {x234}},
      {"select(x, 0, 1)", [](V x) { return select(x[0], 0, 1); }, {x234}},
      {"select negative index", [](V x) { return select(x[0], 2, -1); }, {x234}},
      {"select 1-D -> 0-d", [](V x) { return select(x[0], 0, 3) * x[0]; }, {range({5}, -1, 1)}},
      {"select rank 4 axis -2", [](V x) { return select(x[0], -2, 2); }, {range({2, 2, 3, 2}, -1, 1)}},
      {"slice(x, 1, 1, 3)", [](V x) { return slice(x[0], 1, 1, 3); }, {x234}},
      {"slice step 2", [](V x) { return slice(x[0], -1, 0, to_end, 2); }, {x234}},
      {"slice step 3 on axis 0", [](V x) { return slice(x[0], 0, 1, 7, 3); }, {range({7, 2}, -1, 1)}},
      {"slice negative bounds", [](V x) { return slice(x[0], 1, -3, -1); }, {range({2, 5}, -1, 1)}},
      {"slice clamped bounds", [](V x) { return slice(x[0], 0, -100, 100, 2); }, {range({5, 2}, -1, 1)}},
      {"slice_backward", [](V x) { return slice_backward(x[0], Shape{2, 7}, 1, 1, to_end, 3); }, {range({2, 2}, -1, 1)}},
      // cat, stack, split, chunk
      {"cat of 3, sizes 1,3,2 along axis 1",
       [](V x) { return cat({x[0], x[1], x[2]}, 1); },
       {range({2, 1, 3}, -1, 1), range({2, 3, 3}, -1, 1), range({2, 2, 3}, -1, 1)}},
      {"cat axis 0", [](V x) { return cat({x[0], x[1]}); }, {range({2, 3}, -1, 1), range({1, 3}, -1, 1)}},
      {"cat axis -1", [](V x) { return cat({x[0], x[1]}, -1); }, {range({2, 3}, -1, 1), range({2, 1}, -1, 1)}},
      {"cat the same tensor twice", [](V x) { return cat({x[0], x[0] * x[0], x[0]}, 0); }, {range({2, 2}, -1, 1)}},
      {"cat 1-D with a skipped [0]",
       [](V x) { return cat({x[0], zeros(Shape{0}, Dtype::f64), x[1]}, 0); },
       {range({3}, -1, 1), range({2}, -1, 1)}},
      {"cat with a constant", [](V x) { return cat({ones(Shape{2, 2}, Dtype::f64), x[0]}, 1); }, {range({2, 3}, -1, 1)}},
      {"stack axis 0", [](V x) { return stack({x[0], x[1], x[2]}); },
       {range({2, 3}, -1, 1), range({2, 3}, -1, 1), range({2, 3}, -1, 1)}},
      {"stack axis -1", [](V x) { return stack({x[0], x[1]}, -1); }, {range({2, 3}, -1, 1), range({2, 3}, -1, 1)}},
      {"stack axis 1", [](V x) { return stack({x[0], x[1]}, 1); }, {range({2, 3}, -1, 1), range({2, 3}, -1, 1)}},
      {"stack of 0-d", [](V x) { return stack({x[0], x[1], x[0]}); }, {range({}, -1, 1), range({}, -1, 1)}},
      {"split 5 by 2 (last piece 1)",
       [](V x) {
         const std::vector<Tensor> p = split(x[0], 2, 1);
         return stack({sum(p[0]), sum(p[1] * p[1]), 3.0 * sum(p[2])});
       },
       {range({3, 5}, -1, 1)}},
      {"split along axis 0 into equal pieces", [](V x) { return cat(split(x[0], 2, 0), 1); }, {range({4, 3}, -1, 1)}},
      {"chunk 5 into 3",
       [](V x) {
         const std::vector<Tensor> p = chunk(x[0], 3, -1);
         return cat({p[2] * p[2], p[0], 2.0 * p[1]}, -1);
       },
       {range({2, 5}, -1, 1)}},
  };
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_shape_op_matches_finite_differences) {
  const std::vector<TensorRow> table = first_order_table();
  BOOST_TEST(table.size() >= 50u);
  check_first_order(table);
}

// ---- second order ----------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(second_order_matches_finite_differences) {
  using V = const std::vector<Tensor>&;
  const In x234 = range({2, 3, 4}, -1, 1);
  const std::vector<TensorRow> table{
      // The linear ops alone (their backward must record under create_graph) ...
      {"permute", [](V x) { return permute(x[0], {1, 2, 0}); }, {x234}},
      {"transpose", [](V x) { return transpose(x[0], 0, -1); }, {x234}},
      {"squeeze", [](V x) { return squeeze(x[0]); }, {range({1, 3, 1}, -1, 1)}},
      {"unsqueeze", [](V x) { return unsqueeze(x[0], 1); }, {range({2, 3}, -1, 1)}},
      {"flatten", [](V x) { return flatten(x[0], 0, 1); }, {x234}},
      {"expand", [](V x) { return expand(x[0], {2, -1, 4}); }, {range({3, 1}, -1, 1)}},
      {"narrow", [](V x) { return narrow(x[0], 1, 1, 2); }, {x234}},
      {"select", [](V x) { return select(x[0], 1, -1); }, {x234}},
      {"slice", [](V x) { return slice(x[0], 2, 1, to_end, 2); }, {x234}},
      {"slice_backward", [](V x) { return slice_backward(x[0], Shape{5, 2}, 0, 0, 5, 2); }, {range({3, 2}, -1, 1)}},
      {"cat", [](V x) { return cat({x[0], x[1]}, 1); }, {range({2, 1}, -1, 1), range({2, 3}, -1, 1)}},
      {"stack", [](V x) { return stack({x[0], x[1]}, 1); }, {range({2, 3}, -1, 1), range({2, 3}, -1, 1)}},
      // ... and composed with nonlinear ops, so the Hessian flows through their backward ops.
      {"sum(permute(x)^3)", [](V x) { return sum(pow(permute(x[0], {2, 0, 1}), 3.0)); }, {x234}},
      {"transpose(x) * x^T", [](V x) { return transpose(x[0], 0, 1) * transpose(exp(x[0]), 1, 0); }, {range({2, 3}, -1, 1)}},
      {"sum(expand(x)^2 * y)", [](V x) { return sum(pow(expand(x[0], {3, -1}), 2.0) * x[1]); },
       {range({1, 4}, -1, 1), range({3, 4}, -1, 1)}},
      {"narrow(x)^3", [](V x) { return pow(narrow(x[0], 0, 1, 2), 3.0); }, {range({4, 3}, -1, 1)}},
      {"select(x) * sin(x row)", [](V x) { return select(x[0], 0, 1) * sin(select(x[0], 0, -1)); }, {range({3, 4}, -1, 1)}},
      {"slice step 2 squared", [](V x) { return sum(pow(slice(x[0], 1, 0, to_end, 2), 2.0) * slice(x[0], 1, 1, 7, 2)); },
       {range({2, 6}, -1, 1)}},
      {"cat(x^2, tanh(y))", [](V x) { return cat({x[0] * x[0], tanh(x[1])}, 0) * cat({x[1], x[0]}, 0); },
       {range({2, 3}, -1, 1), range({2, 3}, -1, 1)}},
      {"stack(x, y) * stack(y, x)", [](V x) { return stack({x[0], x[1]}, -1) * stack({exp(x[1]), x[0]}, -1); },
       {range({2, 3}, -1, 1), range({2, 3}, -1, 1)}},
      {"split pieces multiplied", [](V x) {
         const std::vector<Tensor> p = split(x[0], 2, 1);
         return p[0] * p[1] + sum(pow(p[2], 3.0));
       },
       {range({3, 5}, -1, 1)}},
      {"chunk then sigmoid", [](V x) {
         const std::vector<Tensor> p = chunk(x[0], 2, 0);
         return sigmoid(p[0]) * p[1];
       },
       {range({4, 3}, -1, 1)}},
      {"flatten(squeeze(unsqueeze(x)))^2", [](V x) { return pow(flatten(squeeze(unsqueeze(x[0], 0))), 2.0) * x[1]; },
       {range({2, 3}, -1, 1), range({6}, -1, 1)}},
  };
  check_second_order(table);
}

// ---- values written out by hand --------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(permute_and_transpose_place_elements) {
  // x[i,j,k] = 6i + 2j + k on [2,3,2]; permute(x, {2,0,1})[k,i,j] = x[i,j,k].
  const Tensor x = iota({2, 3, 2});
  const Tensor p = permute(x, {2, 0, 1});
  BOOST_TEST(p.shape() == (Shape{2, 2, 3}));
  BOOST_TEST(values(p) == std::vector<double>({0, 2, 4, 6, 8, 10, 1, 3, 5, 7, 9, 11}), tt::per_element());
  // transpose(x, 0, 2)[k,j,i] = x[i,j,k]
  const Tensor t = transpose(x, 0, 2);
  BOOST_TEST(t.shape() == (Shape{2, 3, 2}));
  BOOST_TEST(values(t) == std::vector<double>({0, 6, 2, 8, 4, 10, 1, 7, 3, 9, 5, 11}), tt::per_element());
  BOOST_TEST(values(transpose(x, -1, 0)) == values(t), tt::per_element());
  // The 2-D transpose(x) of ops/linalg and transpose(x, 0, 1) agree.
  const Tensor m = iota({2, 3});
  BOOST_TEST(values(transpose(m)) == std::vector<double>({0, 3, 1, 4, 2, 5}), tt::per_element());
  BOOST_TEST(values(transpose(m, 0, 1)) == std::vector<double>({0, 3, 1, 4, 2, 5}), tt::per_element());
  // 0-d: unchanged.
  const Tensor s = full({}, 2.5, Dtype::f64);
  BOOST_TEST(transpose(s, 0, -1).shape() == Shape{});
  BOOST_TEST(permute(s, {}).item() == 2.5);
}

namespace {
/// permute written the slow way, independently of the op: out[j] = x[i] with i[perm[k]] = j[k].
std::vector<std::int64_t> naive_permute(const std::vector<std::int64_t>& x, const Shape& s, const std::array<int, 4>& perm) {
  const auto st = s.strides();
  std::vector<std::int64_t> out;
  const std::int64_t d0 = s[perm[0]], d1 = s[perm[1]], d2 = s[perm[2]], d3 = s[perm[3]];
  for (std::int64_t a = 0; a < d0; ++a)
    for (std::int64_t b = 0; b < d1; ++b)
      for (std::int64_t c = 0; c < d2; ++c)
        for (std::int64_t d = 0; d < d3; ++d)
          out.push_back(x[static_cast<std::size_t>(a * st[static_cast<std::size_t>(perm[0])] + b * st[static_cast<std::size_t>(perm[1])] +
                                                   c * st[static_cast<std::size_t>(perm[2])] + d * st[static_cast<std::size_t>(perm[3])])]);
  return out;
}
}  // namespace

BOOST_AUTO_TEST_CASE(every_permutation_of_rank_4_in_every_dtype) {
  // Axes above the copy kernel's 16-element tile, with ragged edges, so every kernel path is taken: row copies,
  // tiled transposes and strided loops.
  const Shape s{2, 3, 33, 35};
  std::vector<std::int64_t> big(static_cast<std::size_t>(s.numel()));
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = (std::int64_t{1} << 53) + 1 + static_cast<std::int64_t>(i);  // not exact in double
  const Tensor xi = tensor_i64(big, s);
  std::vector<double> small(big.size());
  for (std::size_t i = 0; i < small.size(); ++i) small[i] = static_cast<double>(i % 1000);
  std::array<int, 4> perm{0, 1, 2, 3};
  int count = 0;
  do {
    BOOST_TEST_CONTEXT("perm " << perm[0] << perm[1] << perm[2] << perm[3]) {
      const std::vector<std::int64_t> want = naive_permute(big, s, perm);
      const Tensor yi = permute(xi, {perm[0], perm[1], perm[2], perm[3]});
      BOOST_TEST(yi.dtype() == Dtype::i64);
      const std::int64_t* pi = yi.value().data<std::int64_t>();
      BOOST_TEST(std::equal(want.begin(), want.end(), pi));
      for (const Dtype dt : {Dtype::f32, Dtype::f64, Dtype::b8}) {
        BOOST_TEST_CONTEXT(dtype_name(dt)) {
          const Tensor x = tensor(small, s, dt);
          const Tensor y = permute(x, {perm[0], perm[1], perm[2], perm[3]});
          BOOST_TEST(y.dtype() == dt);
          bool same = true;
          for (std::size_t j = 0; j < want.size() && same; ++j) {
            const double w = static_cast<double>((want[j] - (std::int64_t{1} << 53) - 1) % 1000);
            same = y.at(static_cast<std::int64_t>(j)) == (dt == Dtype::b8 ? (w != 0.0 ? 1.0 : 0.0) : w);
          }
          BOOST_TEST(same);
        }
      }
    }
    ++count;
  } while (std::next_permutation(perm.begin(), perm.end()));
  BOOST_TEST(count == 24);
}

BOOST_AUTO_TEST_CASE(squeeze_unsqueeze_flatten_shapes) {
  const Tensor x = iota({1, 3, 1});
  BOOST_TEST(squeeze(x).shape() == Shape{3});
  BOOST_TEST(values(squeeze(x)) == std::vector<double>({0, 1, 2}), tt::per_element());
  BOOST_TEST(squeeze(x, 0).shape() == (Shape{3, 1}));
  BOOST_TEST(squeeze(x, -1).shape() == (Shape{1, 3}));
  BOOST_TEST(squeeze(x, 1).shape() == (Shape{1, 3, 1}));  // size 3: kept, as PyTorch
  BOOST_TEST(squeeze(x, {0, 2}).shape() == Shape{3});
  BOOST_TEST(squeeze(full({}, 1.0)).shape() == Shape{});
  BOOST_TEST(squeeze(full({}, 1.0), 0).shape() == Shape{});
  BOOST_TEST(squeeze(zeros({1, 0, 1})).shape() == Shape{0});

  const Tensor m = iota({2, 3});
  BOOST_TEST(unsqueeze(m, -1).shape() == (Shape{2, 3, 1}));
  BOOST_TEST(unsqueeze(m, 0).shape() == (Shape{1, 2, 3}));
  BOOST_TEST(unsqueeze(m, 1).shape() == (Shape{2, 1, 3}));
  BOOST_TEST(unsqueeze(m, -3).shape() == (Shape{1, 2, 3}));
  BOOST_TEST(unsqueeze(m, 2).shape() == (Shape{2, 3, 1}));
  BOOST_TEST(unsqueeze(full({}, 1.0), 0).shape() == Shape{1});
  BOOST_TEST(unsqueeze(full({}, 1.0), -1).shape() == Shape{1});
  BOOST_TEST(values(unsqueeze(m, 1)) == values(m), tt::per_element());

  const Tensor c = iota({2, 3, 4, 5});
  BOOST_TEST(flatten(c).shape() == Shape{120});
  BOOST_TEST(flatten(c, 1).shape() == (Shape{2, 60}));
  BOOST_TEST(flatten(c, 1, 2).shape() == (Shape{2, 12, 5}));
  BOOST_TEST(flatten(c, -2).shape() == (Shape{2, 3, 20}));
  BOOST_TEST(flatten(c, 2, 2).shape() == (Shape{2, 3, 4, 5}));
  BOOST_TEST(flatten(full({}, 4.0)).shape() == Shape{1});
  BOOST_TEST(flatten(full({}, 4.0)).item() == 4.0);
  BOOST_TEST(values(flatten(c, 1, 2)) == values(c), tt::per_element());

  // These three share x's storage, and are still nodes of their own.
  TapeScope scope;
  const Tensor p = iota({1, 3, 1}, Dtype::f64, true);
  const Tensor q = squeeze(p), u = unsqueeze(p, 0), f = flatten(p);
  for (const Tensor* t : {&q, &u, &f}) {
    BOOST_TEST(t->value().storage() == p.value().storage());
    BOOST_TEST(!t->is_leaf());
  }
}

BOOST_AUTO_TEST_CASE(expand_repeats_size_1_axes) {
  const Tensor x = tensor({1, 2, 3}, Shape{3, 1}, Dtype::f64);
  const Tensor y = expand(x, {2, -1, 2});
  BOOST_TEST(y.shape() == (Shape{2, 3, 2}));
  BOOST_TEST(values(y) == std::vector<double>({1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}), tt::per_element());
  BOOST_TEST(values(expand(full({}, 7.0), {2, 2})) == std::vector<double>({7, 7, 7, 7}), tt::per_element());
  BOOST_TEST(expand(tensor({5}), {0}).shape() == Shape{0});
  BOOST_TEST(expand(tensor({1, 2}), std::vector<std::int64_t>{3, -1}).shape() == (Shape{3, 2}));
  const Tensor row = tensor({1, 2, 3}, Shape{1, 3});
  BOOST_TEST(values(expand(row, Shape{2, 3})) == std::vector<double>({1, 2, 3, 1, 2, 3}), tt::per_element());
  // The gradient sums over the copies: 2 * 2 = 4 copies of each element.
  TapeScope scope;
  const Tensor p = tensor({1, 2, 3}, Shape{3, 1}, Dtype::f64, true);
  backward(sum(expand(p, {2, 3, 2})));
  BOOST_TEST(values(p.grad()) == std::vector<double>({4, 4, 4}), tt::per_element());
}

BOOST_AUTO_TEST_CASE(slice_bounds_as_in_python) {
  const Tensor x = iota({10});
  const auto sl = [&](std::int64_t a, std::int64_t b, std::int64_t c) { return values(slice(x, 0, a, b, c)); };
  BOOST_TEST(sl(2, 5, 1) == std::vector<double>({2, 3, 4}), tt::per_element());          // x[2:5]
  BOOST_TEST(sl(-3, to_end, 1) == std::vector<double>({7, 8, 9}), tt::per_element());    // x[-3:]
  BOOST_TEST(sl(-100, 3, 1) == std::vector<double>({0, 1, 2}), tt::per_element());       // x[-100:3]
  BOOST_TEST(sl(2, 100, 3) == std::vector<double>({2, 5, 8}), tt::per_element());        // x[2:100:3]
  BOOST_TEST(sl(1, -1, 4) == std::vector<double>({1, 5}), tt::per_element());            // x[1:-1:4]
  BOOST_TEST(sl(0, to_end, 20) == std::vector<double>({0}), tt::per_element());          // x[::20]
  BOOST_TEST(sl(-1, -5, 1).empty());                                                     // x[-1:-5]
  BOOST_TEST(slice(x, 0, 8, 2).shape() == Shape{0});                                     // x[8:2]
  BOOST_TEST(slice(x, 0, 12, 20).shape() == Shape{0});                                   // x[12:20]
  BOOST_TEST(sl(std::numeric_limits<std::int64_t>::min(), to_end, to_end) == std::vector<double>({0}), tt::per_element());
  // On an inner axis: every other column of [2,5] from column 1.
  const Tensor m = iota({2, 5});
  BOOST_TEST(values(slice(m, 1, 1, to_end, 2)) == std::vector<double>({1, 3, 6, 8}), tt::per_element());
  BOOST_TEST(values(slice(m, -1, -2, to_end)) == std::vector<double>({3, 4, 8, 9}), tt::per_element());
}

BOOST_AUTO_TEST_CASE(narrow_and_select_values) {
  const Tensor m = iota({3, 4});
  BOOST_TEST(values(narrow(m, 1, 1, 2)) == std::vector<double>({1, 2, 5, 6, 9, 10}), tt::per_element());
  BOOST_TEST(values(narrow(m, 0, -1, 1)) == std::vector<double>({8, 9, 10, 11}), tt::per_element());
  BOOST_TEST(narrow(m, 1, 4, 0).shape() == (Shape{3, 0}));
  BOOST_TEST(values(select(m, 1, -1)) == std::vector<double>({3, 7, 11}), tt::per_element());
  BOOST_TEST(select(m, 1, -1).shape() == Shape{3});
  BOOST_TEST(values(select(m, 0, 2)) == std::vector<double>({8, 9, 10, 11}), tt::per_element());
  const Tensor v = select(iota({5}), 0, -2);
  BOOST_TEST(v.shape() == Shape{});
  BOOST_TEST(v.item() == 3.0);
}

BOOST_AUTO_TEST_CASE(gradients_of_slices_land_in_place) {
  TapeScope scope;
  const Tensor x = iota({6}, Dtype::f64, true);
  backward(sum(slice(x, 0, 1, to_end, 2)) + 10.0 * select(x, 0, -1) + 100.0 * sum(narrow(x, 0, 0, 2)));
  BOOST_TEST(values(x.grad()) == std::vector<double>({100, 101, 0, 1, 0, 11}), tt::per_element());
  // slice_backward itself: zeros with grad at 1, 3 (x[1:5:2] of a [5]).
  const Tensor g = slice_backward(tensor({1, 2}, Dtype::f64), Shape{5}, 0, 1, 5, 2);
  BOOST_TEST(values(g) == std::vector<double>({0, 1, 0, 2, 0}), tt::per_element());
  const Tensor g2 = slice_backward(tensor({1, 2, 3, 4}, Shape{2, 2}, Dtype::f64), Shape{2, 4}, -1, -2, to_end, 1);
  BOOST_TEST(values(g2) == std::vector<double>({0, 0, 1, 2, 0, 0, 3, 4}), tt::per_element());
}

BOOST_AUTO_TEST_CASE(cat_and_stack_values) {
  const Tensor a = tensor({1, 2, 3, 4}, Shape{2, 2}), b = tensor({5, 6}, Shape{2, 1}), c = tensor({7, 8, 9, 10, 11, 12}, Shape{2, 3});
  const Tensor y = cat({a, b, c}, 1);
  BOOST_TEST(y.shape() == (Shape{2, 6}));
  BOOST_TEST(values(y) == std::vector<double>({1, 2, 5, 7, 8, 9, 3, 4, 6, 10, 11, 12}), tt::per_element());
  BOOST_TEST(values(cat({a, tensor({5, 6}, Shape{1, 2})}, 0)) == std::vector<double>({1, 2, 3, 4, 5, 6}), tt::per_element());
  // An empty part along dim is fine; a [0] is skipped whatever the others' rank.
  BOOST_TEST(values(cat({a, zeros({2, 0}), b}, -1)) == std::vector<double>({1, 2, 5, 3, 4, 6}), tt::per_element());
  BOOST_TEST(values(cat({zeros({0}, Dtype::i64), a, zeros({0})}, 0)) == values(a), tt::per_element());
  BOOST_TEST(cat({zeros({0}), zeros({0})}).shape() == Shape{0});
  // A single tensor: a copy of it, a node of its own.
  BOOST_TEST(values(cat({c}, 1)) == values(c), tt::per_element());

  const Tensor s = stack({tensor({1, 2}), tensor({3, 4}), tensor({5, 6})}, 1);
  BOOST_TEST(s.shape() == (Shape{2, 3}));
  BOOST_TEST(values(s) == std::vector<double>({1, 3, 5, 2, 4, 6}), tt::per_element());
  BOOST_TEST(stack({tensor({1, 2}), tensor({3, 4})}, -1).shape() == (Shape{2, 2}));
  BOOST_TEST(values(stack({full({}, 1.0), full({}, 2.0)})) == std::vector<double>({1, 2}), tt::per_element());

  // Gradients come back in pieces.
  TapeScope scope;
  const Tensor p = tensor({1, 2}, Dtype::f64, true), q = tensor({3, 4, 5}, Dtype::f64, true);
  backward(sum(cat({p, q}) * tensor({1, 2, 3, 4, 5}, Dtype::f64)));
  BOOST_TEST(values(p.grad()) == std::vector<double>({1, 2}), tt::per_element());
  BOOST_TEST(values(q.grad()) == std::vector<double>({3, 4, 5}), tt::per_element());

  // The scalar Var stack of ops/bridge still resolves as before.
  const Tensor v = stack({Var(1.0), Var(2.0)}, Shape{2});
  BOOST_TEST(values(v) == std::vector<double>({1, 2}), tt::per_element());
  BOOST_TEST(stack(std::vector<Var>{Var(3.0)}).shape() == Shape{1});
}

BOOST_AUTO_TEST_CASE(split_and_chunk_sizes) {
  const Tensor x = iota({5});
  BOOST_TEST(sizes(chunk(x, 3), 0) == std::vector<std::int64_t>({2, 2, 1}), tt::per_element());
  BOOST_TEST(sizes(chunk(iota({6}), 4), 0) == std::vector<std::int64_t>({2, 2, 2}), tt::per_element());  // 3 pieces, as torch
  BOOST_TEST(sizes(chunk(x, 5), 0) == std::vector<std::int64_t>({1, 1, 1, 1, 1}), tt::per_element());
  BOOST_TEST(sizes(chunk(x, 9), 0) == std::vector<std::int64_t>({1, 1, 1, 1, 1}), tt::per_element());
  BOOST_TEST(sizes(chunk(zeros({2, 0}), 3, 1), 1) == std::vector<std::int64_t>({0, 0, 0}), tt::per_element());
  BOOST_TEST(sizes(split(x, 2), 0) == std::vector<std::int64_t>({2, 2, 1}), tt::per_element());
  BOOST_TEST(sizes(split(x, 5), 0) == std::vector<std::int64_t>({5}), tt::per_element());
  BOOST_TEST(sizes(split(x, 7), 0) == std::vector<std::int64_t>({5}), tt::per_element());
  BOOST_TEST(sizes(split(zeros({0}), 2), 0) == std::vector<std::int64_t>({0}), tt::per_element());
  const std::vector<Tensor> p = split(iota({2, 5}), 2, -1);
  BOOST_TEST(values(p[1]) == std::vector<double>({2, 3, 7, 8}), tt::per_element());
  BOOST_TEST(values(p[2]) == std::vector<double>({4, 9}), tt::per_element());
  const std::vector<Tensor> c = chunk(iota({5, 2}), 3);
  BOOST_TEST(values(c[2]) == std::vector<double>({8, 9}), tt::per_element());
}

BOOST_AUTO_TEST_CASE(int64_and_bool_keep_exact_values) {
  const std::int64_t big = (std::int64_t{1} << 62) + 1, odd = (std::int64_t{1} << 53) + 1;
  const Tensor a = tensor_i64({big, -big, odd, 7, -odd, 0}, Shape{2, 3});
  const auto exact = [](const Tensor& t) {
    const std::int64_t* p = t.value().data<std::int64_t>();
    return std::vector<std::int64_t>(p, p + t.numel());
  };
  BOOST_TEST(exact(permute(a, {1, 0})) == std::vector<std::int64_t>({big, 7, -big, -odd, odd, 0}), tt::per_element());
  BOOST_TEST(exact(cat({a, tensor_i64({odd + 2, 1, 2}, Shape{1, 3})}, 0)) ==
                 std::vector<std::int64_t>({big, -big, odd, 7, -odd, 0, odd + 2, 1, 2}),
             tt::per_element());
  BOOST_TEST(exact(slice(a, 1, -1, -4, 1)).empty());
  BOOST_TEST(exact(slice(a, 1, 0, to_end, 2)) == std::vector<std::int64_t>({big, odd, 7, 0}), tt::per_element());
  BOOST_TEST(exact(select(a, 0, 1)) == std::vector<std::int64_t>({7, -odd, 0}), tt::per_element());
  BOOST_TEST(exact(stack({a, a}, 2)) ==
                 std::vector<std::int64_t>({big, big, -big, -big, odd, odd, 7, 7, -odd, -odd, 0, 0}),
             tt::per_element());
  BOOST_TEST(exact(expand(tensor_i64({odd}), {3})) == std::vector<std::int64_t>({odd, odd, odd}), tt::per_element());
  const std::vector<Tensor> pieces = split(a, 2, 1);
  BOOST_TEST(exact(pieces[1]) == std::vector<std::int64_t>({odd, 0}), tt::per_element());
  BOOST_TEST(exact(slice_backward(tensor_i64({odd}), Shape{3}, 0, 1, 2, 1)) == std::vector<std::int64_t>({0, odd, 0}),
             tt::per_element());
  // Integer results are constants, as every int64 op's.
  BOOST_TEST(permute(a, {1, 0}).is_leaf());

  Array m(Shape{2, 2}, Dtype::b8);  // [[1,1],[0,0]]
  bool* pm = m.data<bool>();
  pm[0] = true, pm[1] = true, pm[2] = false, pm[3] = false;
  const Tensor mask(m);
  const Tensor t = cat({transpose(mask, 0, 1), unsqueeze(select(mask, 0, 0), 0)}, 0);
  BOOST_TEST(t.dtype() == Dtype::b8);
  BOOST_TEST(values(t) == std::vector<double>({1, 0, 1, 0, 1, 1}), tt::per_element());
  BOOST_TEST(values(slice(mask, 1, 1, to_end)) == std::vector<double>({1, 0}), tt::per_element());
  BOOST_TEST(values(stack({mask, mask}, 1)) == std::vector<double>({1, 1, 1, 1, 0, 0, 0, 0}), tt::per_element());
}

// ---- errors --------------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(errors_name_the_op_and_the_values) {
  const Tensor x = iota({2, 3, 4});
  // permute
  BOOST_CHECK_EXCEPTION(permute(x, {0, 1}), std::exception, invalid({"permute", "wrong number of dims", "got 2", "expected 3", "[2,3,4]"}));
  BOOST_CHECK_EXCEPTION(permute(scalar(1.0, Dtype::f64), {0, 1, 2, 3, 4, 5, 6, 7, 8}), std::exception,
                        invalid({"permute", "more than 8 axes"}));
  BOOST_CHECK_EXCEPTION(permute(x, {0, 1, 3}), std::exception, invalid({"permute", "axis 3 out of range", "rank 3"}));
  BOOST_CHECK_EXCEPTION(permute(x, {0, 1, -3}), std::exception, invalid({"permute", "repeated"}));
  BOOST_CHECK_EXCEPTION(transpose(x, 0, 3), std::exception, invalid({"transpose", "axis 3", "rank 3"}));
  // views
  BOOST_CHECK_EXCEPTION(squeeze(x, -4), std::exception, invalid({"squeeze", "axis -4", "rank 3"}));
  BOOST_CHECK_EXCEPTION(unsqueeze(x, 4), std::exception, invalid({"unsqueeze", "axis 4", "[2,3,4]", "[-4, 3]"}));
  BOOST_CHECK_EXCEPTION(unsqueeze(zeros({1, 1, 1, 1, 1, 1, 1, 1}), 0), std::exception, invalid({"unsqueeze", "maximum rank 8"}));
  BOOST_CHECK_EXCEPTION(flatten(x, 2, 1), std::exception, invalid({"flatten", "start_dim 2", "after end_dim 1"}));
  BOOST_CHECK_EXCEPTION(flatten(x, 0, 3), std::exception, invalid({"flatten", "axis 3", "rank 3"}));
  // expand
  BOOST_CHECK_EXCEPTION(expand(x, {2, 5, 4}), std::exception, invalid({"expand", "cannot expand [2,3,4] to [2,5,4]", "axis 1", "size 3 to 5"}));
  BOOST_CHECK_EXCEPTION(expand(x, {3, 4}), std::exception, invalid({"expand", "2 sizes [3,4]", "[2,3,4]"}));
  BOOST_CHECK_EXCEPTION(expand(x, {-1, 2, 3, 4}), std::exception, invalid({"expand", "size -1", "new leading axis 0"}));
  // narrow, select, slice
  BOOST_CHECK_EXCEPTION(narrow(x, 2, 3, 2), std::exception, invalid({"narrow", "start 3 + length 2", "size 4", "axis 2"}));
  BOOST_CHECK_EXCEPTION(narrow(x, 1, -4, 1), std::exception, invalid({"narrow", "start -4 out of range for size 3"}));
  BOOST_CHECK_EXCEPTION(narrow(full({}, 1.0), 0, 0, 1), std::exception, invalid({"narrow", "axis 0 out of range for rank 0"}));
  BOOST_CHECK_EXCEPTION(select(x, 1, 3), std::exception, invalid({"select", "index 3 out of range for size 3", "axis 1"}));
  BOOST_CHECK_EXCEPTION(select(x, -1, -5), std::exception, invalid({"select", "index -5", "size 4"}));
  BOOST_CHECK_EXCEPTION(slice(x, 0, 0, 2, 0), std::exception, invalid({"slice", "step must be positive", "got 0"}));
  BOOST_CHECK_EXCEPTION(slice(x, 3, 0, 2), std::exception, invalid({"slice", "axis 3 out of range"}));
  BOOST_CHECK_EXCEPTION(slice_backward(iota({2}), Shape{5}, 0, 0, 5, 2), std::exception,
                        invalid({"slice_backward", "grad shape differs", "got [2]", "expected [3]"}));
  // cat and stack
  const Tensor a = iota({2, 3}), b = iota({2, 4}), i = tensor_i64({1, 2, 3}, Shape{1, 3});
  BOOST_CHECK_EXCEPTION(cat(std::vector<Tensor>{}), std::exception, invalid({"cat", "empty list"}));
  BOOST_CHECK_EXCEPTION(cat({a, a, b}, 0), std::exception, invalid({"cat", "shapes differ outside axis 0", "tensor 0 [2,3]", "tensor 2 [2,4]"}));
  BOOST_CHECK_EXCEPTION(cat({a, iota({2, 3, 1})}, 1), std::exception, invalid({"cat", "shapes differ", "tensor 1 [2,3,1]"}));
  BOOST_CHECK_EXCEPTION(cat({a, i}, 0), std::exception, invalid({"cat", "dtypes differ", "tensor 0 float64 [2,3]", "tensor 1 int64 [1,3]"}));
  BOOST_CHECK_EXCEPTION(cat({a, full({}, 1.0)}), std::exception, invalid({"cat", "tensor 1 is 0-d"}));
  BOOST_CHECK_EXCEPTION(cat({a, a}, 2), std::exception, invalid({"cat", "axis 2 out of range for rank 2"}));
  BOOST_CHECK_EXCEPTION(stack(std::vector<Tensor>{}), std::exception, invalid({"stack", "empty list"}));
  BOOST_CHECK_EXCEPTION(stack({a, b}), std::exception, invalid({"stack", "shapes differ", "tensor 0 [2,3]", "tensor 1 [2,4]"}));
  BOOST_CHECK_EXCEPTION(stack({a, a.to(Dtype::f32)}), std::exception, invalid({"stack", "dtypes differ", "float64", "tensor 1 float32"}));
  BOOST_CHECK_EXCEPTION(stack({a, a}, 3), std::exception, invalid({"stack", "axis 3 out of range", "[-3, 2]"}));
  // split and chunk
  BOOST_CHECK_EXCEPTION(split(x, 0, 1), std::exception, invalid({"split", "split_size must be positive", "got 0"}));
  BOOST_CHECK_EXCEPTION(split(x, -2), std::exception, invalid({"split", "got -2"}));
  BOOST_CHECK_EXCEPTION(chunk(x, 0), std::exception, invalid({"chunk", "chunks must be positive", "got 0"}));
  BOOST_CHECK_EXCEPTION(chunk(x, 2, 5), std::exception, invalid({"chunk", "axis 5 out of range"}));
}

BOOST_AUTO_TEST_CASE(errors_name_the_user_label) {
  Tensor x = iota({2, 3});
  x.label("X");
  BOOST_CHECK_EXCEPTION(select(x, 0, 2), std::exception, invalid({"select", "'X' [2,3]"}));
  BOOST_CHECK_EXCEPTION(cat({iota({3, 3}), x}, 1), std::exception, invalid({"cat", "tensor 1 'X' [2,3]"}));
}
