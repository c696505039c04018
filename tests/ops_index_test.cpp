// Indexing, masks and comparisons: first- and second-order gradcheck tables, PyTorch's documented examples written
// out by hand, edge cases (empty index lists, size-1 dims, negative dims, repeated indices) and every error path once.
#define BOOST_TEST_MODULE ops_index_test
#include <boost/test/unit_test.hpp>

#include "op_table.hpp"
#include "throws_with.hpp"

#include "autodiff/autodiff.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <vector>

using namespace autodiff;
using namespace optable;
namespace tt = boost::test_tools;

namespace {

using V = const std::vector<Tensor>&;
using Values = std::vector<double>;

Tensor idx2(std::vector<std::int64_t> v, std::int64_t r, std::int64_t c) { return tensor_i64(std::move(v), Shape{r, c}); }
Tensor mask(std::vector<double> v, const Shape& s) { return tensor(std::move(v), s, Dtype::f64).to(Dtype::b8); }

const auto invalid = says<std::invalid_argument>;

}  // namespace

// ---- first order -------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(every_index_op_matches_finite_differences) {
  const Tensor rep = tensor_i64({2, 0, 2, 3, 2});
  const Tensor g31 = idx2({3, 3, 0, 1, 1, 1}, 3, 2);              // gather [3,4] along dim 1, repeats in rows 0 and 1
  const Tensor g04 = idx2({2, 0, 2, 2, 1, 1, 0, 2}, 2, 4);        // gather [3,4] along dim 0
  const Tensor g225 = tensor_i64({3, 0, 3, 1, 3, 2, 2, 0, 1, 0, 0, 1, 2, 3, 3, 3, 1, 1, 1, 0}, Shape{2, 2, 5});
  const Tensor s25 = idx2({0, 1, 2, 0, 0, 0, 1, 2, 2, 2}, 2, 5);  // scatter_add's doc index: repeats in every column
  const Tensor c34 = mask({1, 0, 0, 1, 0, 1, 1, 0, 1, 1, 0, 0}, Shape{3, 4});
  const Tensor c31 = mask({1, 0, 1}, Shape{3, 1});
  const Tensor m4 = mask({0, 1, 1, 0}, Shape{4});
  const Tensor e23 = idx2({1, 4, 1, 0, 4, 4}, 2, 3);
  const std::vector<TensorRow> table{
      {"index_select dim 0, repeated", [rep](V x) { return index_select(x[0], 0, rep); }, {range({4, 3}, -1, 1)}},
      {"index_select dim 1, repeated", [](V x) { return index_select(x[0], 1, tensor_i64({3, 3, 0})); }, {range({3, 4}, -1, 1)}},
      {"index_select dim -1 of [2,3,4]", [](V x) { return index_select(x[0], -1, tensor_i64({1, 1, 3, 0})); },
       {range({2, 3, 4}, -1, 1)}},
      {"index_select middle dim of [2,3,4]", [](V x) { return index_select(x[0], 1, tensor_i64({2, 2})); },
       {range({2, 3, 4}, -1, 1)}},
      {"index_select 0-d idx", [](V x) { return index_select(x[0], 0, tensor_i64({1}, Shape{})); }, {range({3, 2}, -1, 1)}},
      {"index_select size-1 dims", [](V x) { return index_select(x[0], 1, tensor_i64({0, 0, 0})); }, {range({1, 1}, -1, 1)}},
      {"index_add dim 0, repeated", [](V x) { return index_add(x[0], 0, tensor_i64({1, 3, 1, 1, 0}), x[1]); },
       {range({4, 3}, -1, 1), range({5, 3}, -1, 1)}},
      {"index_add dim -1", [](V x) { return index_add(x[0], -1, tensor_i64({3, 0, 3}), x[1]); },
       {range({2, 4}, -1, 1), range({2, 3}, -1, 1)}},
      {"gather dim 1, repeated", [g31](V x) { return gather(x[0], 1, g31); }, {range({3, 4}, -1, 1)}},
      {"gather dim 0", [g04](V x) { return gather(x[0], 0, g04); }, {range({3, 4}, -1, 1)}},
      {"gather dim -1, idx smaller than x", [g225](V x) { return gather(x[0], -1, g225); }, {range({2, 3, 4}, -1, 1)}},
      {"gather size-1 dims", [](V x) { return gather(x[0], 1, idx2({0, 0}, 1, 2)); }, {range({1, 1}, -1, 1)}},
      {"scatter_add dim 0, repeated", [s25](V x) { return scatter_add(x[0], 0, s25, x[1]); },
       {range({3, 5}, -1, 1), range({2, 5}, -1, 1)}},
      {"scatter_add dim -1, idx smaller than x", [](V x) { return scatter_add(x[0], -1, idx2({3, 3, 0, 1}, 2, 2), x[1]); },
       {range({3, 4}, -1, 1), range({2, 2}, -1, 1)}},
      {"embedding, repeated", [e23](V x) { return embedding(x[0], e23); }, {range({5, 3}, -1, 1)}},
      {"embedding 0-d idx", [](V x) { return embedding(x[0], tensor_i64({2}, Shape{})); }, {range({3, 4}, -1, 1)}},
      {"where", [c34](V x) { return where(c34, x[0], x[1]); }, {range({3, 4}, -1, 1), range({3, 4}, -1, 1)}},
      {"where cond [3,1], a [4], b [3,4]", [c31](V x) { return where(c31, x[0], x[1]); },
       {range({4}, -1, 1), range({3, 4}, -1, 1)}},
      {"where a 0-d, b [3,1], cond [4]", [m4](V x) { return where(m4, x[0], x[1]); }, {range({}, -1, 1), range({3, 1}, -1, 1)}},
      {"where with a double", [c34](V x) { return where(c34, x[0], 0.5) * where(c34, -2.0, x[0]); }, {range({3, 4}, -1, 1)}},
      {"masked_fill", [c34](V x) { return masked_fill(x[0], c34, 3.0); }, {range({3, 4}, -1, 1)}},
      {"masked_fill x [4], mask [3,1]", [c31](V x) { return masked_fill(x[0], c31, -1.0); }, {range({4}, -1, 1)}},
      {"masked_fill x [3,4], mask [4]", [m4](V x) { return masked_fill(x[0], m4, 0.0); }, {range({3, 4}, -1, 1)}},
      {"masked_fill by a comparison of x", [](V x) { return masked_fill(x[0], lt(x[0], 0.0), 0.0); }, {away({3, 4})}},
      {"rows, repeated", [](V x) { return rows(x[0], {1, 1, 0}); }, {range({2, 3}, -1, 1)}},
      {"index_add_rows, repeated", [](V x) { return index_add_rows(x[0], {2, 0, 2}, 3); }, {range({3, 2}, -1, 1)}},
      {"cross-entropy pick by gather", [](V x) { return gather(log_softmax(x[0], 1), 1, idx2({2, 0, 3}, 3, 1)); },
       {range({3, 4}, -2, 2)}},
  };
  check_first_order(table);
}

// ---- second order: the ops are linear in their float inputs, so each is composed with x^3 ------------------------

BOOST_AUTO_TEST_CASE(second_order_through_the_adjoint_ops) {
  const Tensor c23 = mask({1, 0, 1, 0, 0, 1}, Shape{2, 3});
  const Tensor c21 = mask({0, 1}, Shape{2, 1});
  const std::vector<TensorRow> table{
      {"index_select^3", [](V x) { return pow(index_select(x[0], 1, tensor_i64({2, 0, 2})), 3.0); }, {range({2, 3}, -1, 1)}},
      {"index_add(x^3, src^3)",
       [](V x) { return pow(index_add(pow(x[0], 3.0), 0, tensor_i64({1, 1}), pow(x[1], 3.0)), 3.0); },
       {range({2, 3}, -1, 1), range({2, 3}, -1, 1)}},
      {"gather^3", [](V x) { return pow(gather(x[0], 1, idx2({1, 1, 0, 2, 2, 2}, 2, 3)), 3.0); }, {range({2, 3}, -1, 1)}},
      {"scatter_add^3",
       [](V x) { return pow(scatter_add(x[0], 0, idx2({1, 1, 0, 1, 1, 1}, 2, 3), x[1] * x[1]), 3.0); },
       {range({2, 3}, -1, 1), range({2, 3}, -1, 1)}},
      {"embedding^3", [](V x) { return pow(embedding(x[0], idx2({0, 2, 0, 0}, 2, 2)), 3.0); }, {range({3, 2}, -1, 1)}},
      {"where(a^3, b^2)^3", [c21](V x) { return pow(where(c21, pow(x[0], 3.0), x[1] * x[1]), 3.0); },
       {range({3}, -1, 1), range({2, 3}, -1, 1)}},
      {"where a*b", [c23](V x) { return where(c23, x[0] * x[1], x[1]) * x[0]; }, {range({2, 3}, -1, 1), range({2, 3}, -1, 1)}},
      {"masked_fill^3", [c21](V x) { return pow(masked_fill(x[0], c21, 2.0), 3.0); }, {range({3}, -1, 1)}},
  };
  check_second_order(table);
}

// ---- PyTorch's documented examples ---------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(gather_doc_example) {
  // torch.gather(torch.tensor([[1, 2], [3, 4]]), 1, torch.tensor([[0, 0], [1, 0]])) -> [[1, 1], [4, 3]]
  const Tensor idx = idx2({0, 0, 1, 0}, 2, 2);
  for (Dtype d : {Dtype::f32, Dtype::f64, Dtype::i64}) {
    BOOST_TEST_CONTEXT(dtype_name(d)) {
      const Tensor t = gather(tensor({1, 2, 3, 4}, Shape{2, 2}, d), 1, idx);
      BOOST_TEST(t.dtype() == d);
      BOOST_TEST(t.shape() == (Shape{2, 2}));
      BOOST_TEST(t.to_vector() == (Values{1, 1, 4, 3}), tt::per_element());
    }
  }
  // Repeated indices accumulate in the backward: d sum / dx counts how often each element was picked.
  TapeScope scope;
  const Tensor x = tensor({1, 2, 3, 4}, Shape{2, 2}, Dtype::f64, true);
  backward(sum(gather(x, 1, idx)));
  BOOST_TEST(x.grad().to_vector() == (Values{2, 0, 1, 1}), tt::per_element());
}

BOOST_AUTO_TEST_CASE(scatter_add_doc_example) {
  // src = torch.ones((2, 5)); index = torch.tensor([[0, 1, 2, 0, 0]])
  // torch.zeros(3, 5).scatter_add_(0, index, src) -> [[1,0,0,1,1],[0,1,0,0,0],[0,0,1,0,0]]
  // (PyTorch reads only index's part of a larger src; here src has index's shape.)
  const Tensor a = scatter_add(zeros({3, 5}), 0, idx2({0, 1, 2, 0, 0}, 1, 5), ones({1, 5}));
  BOOST_TEST(a.to_vector() == (Values{1, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0}), tt::per_element());
  // index = [[0, 1, 2, 0, 0], [0, 1, 2, 2, 2]] -> [[2,0,0,1,1],[0,2,0,0,0],[0,0,2,1,1]]
  const Tensor index = idx2({0, 1, 2, 0, 0, 0, 1, 2, 2, 2}, 2, 5);
  const Tensor b = scatter_add(zeros({3, 5}), 0, index, ones({2, 5}));
  BOOST_TEST(b.to_vector() == (Values{2, 0, 0, 1, 1, 0, 2, 0, 0, 0, 0, 0, 2, 1, 1}), tt::per_element());
  // Out of place: x is unchanged, and x's values are kept under the sums.
  const Tensor x = full({3, 5}, 10.0, Dtype::f64);
  const Tensor c = scatter_add(x, 0, index, ones({2, 5}, Dtype::f64));
  BOOST_TEST(x.to_vector() == Values(15, 10.0), tt::per_element());
  BOOST_TEST(c.at(0) == 12.0);
  BOOST_TEST(c.at(14) == 11.0);
  // int64: a histogram of labels.
  const Tensor labels = tensor_i64({2, 0, 2, 2, 1});
  const Tensor counts = scatter_add(zeros({3}, Dtype::i64), 0, labels, ones({5}, Dtype::i64));
  BOOST_TEST(counts.dtype() == Dtype::i64);
  BOOST_TEST(counts.to_vector() == (Values{1, 1, 3}), tt::per_element());
  // The gradients: x gets grad, src gets grad gathered at index (1 everywhere here: every src element lands).
  TapeScope scope;
  const Tensor xs = zeros({3, 5}, Dtype::f64, true), src = tensor({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, Shape{2, 5}, Dtype::f64, true);
  const Tensor w = tensor({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, Shape{3, 5}, Dtype::f64);
  backward(sum(scatter_add(xs, 0, index, src) * w));
  BOOST_TEST(xs.grad().to_vector() == w.to_vector(), tt::per_element());
  // src[i][j] landed at [index[i][j]][j]: its gradient is w there.
  BOOST_TEST(src.grad().to_vector() == (Values{1, 7, 13, 4, 5, 1, 7, 13, 14, 15}), tt::per_element());
}

BOOST_AUTO_TEST_CASE(one_hot_doc_examples) {
  // F.one_hot(torch.arange(0, 5) % 3) -> [[1,0,0],[0,1,0],[0,0,1],[1,0,0],[0,1,0]]
  const Tensor a = one_hot(tensor_i64({0, 1, 2, 0, 1}));
  BOOST_TEST(a.dtype() == Dtype::i64);
  BOOST_TEST(a.shape() == (Shape{5, 3}));
  BOOST_TEST(a.to_vector() == (Values{1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0}), tt::per_element());
  // F.one_hot(torch.arange(0, 5) % 3, num_classes=5)
  const Tensor b = one_hot(tensor_i64({0, 1, 2, 0, 1}), 5);
  BOOST_TEST(b.shape() == (Shape{5, 5}));
  BOOST_TEST(b.to_vector() == (Values{1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0}),
             tt::per_element());
  // F.one_hot(torch.arange(0, 6).view(3, 2) % 3) -> shape [3, 2, 3]
  const Tensor c = one_hot(idx2({0, 1, 2, 0, 1, 2}, 3, 2));
  BOOST_TEST(c.shape() == (Shape{3, 2, 3}));
  BOOST_TEST(c.to_vector() == (Values{1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1}), tt::per_element());
  // Users convert to float for a loss.
  const Tensor f = one_hot(tensor_i64({1}), 2).to(Dtype::f32);
  BOOST_TEST(f.dtype() == Dtype::f32);
  BOOST_TEST(f.to_vector() == (Values{0, 1}), tt::per_element());
  // 0-d idx: [num_classes].
  BOOST_TEST(one_hot(tensor_i64({2}, Shape{}), 4).to_vector() == (Values{0, 0, 1, 0}), tt::per_element());
}

BOOST_AUTO_TEST_CASE(index_select_doc_example) {
  // x = [[0.1427, 0.0231, -0.5414, -1.0009], [-0.4664, 0.2647, -0.1228, -1.1068], [-1.1734, -0.6571, 0.7230, -0.6004]]
  // torch.index_select(x, 0, [0, 2]) and torch.index_select(x, 1, [0, 2])
  const Values xv{0.1427, 0.0231, -0.5414, -1.0009, -0.4664, 0.2647, -0.1228, -1.1068, -1.1734, -0.6571, 0.7230, -0.6004};
  const Tensor x = tensor(xv, Shape{3, 4}, Dtype::f64);
  const Tensor indices = tensor_i64({0, 2});
  BOOST_TEST(index_select(x, 0, indices).to_vector() ==
                 (Values{0.1427, 0.0231, -0.5414, -1.0009, -1.1734, -0.6571, 0.7230, -0.6004}),
             tt::per_element());
  BOOST_TEST(index_select(x, 1, indices).to_vector() == (Values{0.1427, -0.5414, -0.4664, -0.1228, -1.1734, 0.7230}),
             tt::per_element());
  BOOST_TEST(index_select(x, -1, indices).to_vector() == index_select(x, 1, indices).to_vector(), tt::per_element());
  // Every dtype moves: bool and int64.
  const Tensor m = index_select(mask({1, 0, 1}, Shape{3}), 0, tensor_i64({1, 2, 2}));
  BOOST_TEST(m.dtype() == Dtype::b8);
  BOOST_TEST(m.to_vector() == (Values{0, 1, 1}), tt::per_element());
  BOOST_TEST(index_select(tensor_i64({7, 8, 9}), 0, tensor_i64({2, 0})).to_vector() == (Values{9, 7}), tt::per_element());
  // Repeated indices accumulate: index_select's backward is an index_add.
  TapeScope scope;
  const Tensor p = tensor({1, 2, 3}, Dtype::f64, true);
  backward(sum(index_select(p, 0, tensor_i64({2, 0, 2}))));
  BOOST_TEST(p.grad().to_vector() == (Values{1, 0, 2}), tt::per_element());
}

BOOST_AUTO_TEST_CASE(index_add_by_hand) {
  // torch.ones(5, 3).index_add_(0, [0, 4, 2], [[1,2,3],[4,5,6],[7,8,9]]) -> rows 0, 4, 2 gain those rows
  const Tensor s = tensor({1, 2, 3, 4, 5, 6, 7, 8, 9}, Shape{3, 3}, Dtype::f64);
  const Tensor a = index_add(ones({5, 3}, Dtype::f64), 0, tensor_i64({0, 4, 2}), s);
  BOOST_TEST(a.to_vector() == (Values{2, 3, 4, 1, 1, 1, 8, 9, 10, 1, 1, 1, 5, 6, 7}), tt::per_element());
  // Repeated indices accumulate; dim -1.
  const Tensor b =
      index_add(zeros({2, 2}, Dtype::f64), -1, tensor_i64({1, 1, 0}), tensor({1, 2, 3, 4, 5, 6}, Shape{2, 3}, Dtype::f64));
  BOOST_TEST(b.to_vector() == (Values{3, 3, 6, 9}), tt::per_element());
}

BOOST_AUTO_TEST_CASE(embedding_by_hand) {
  // weight row i = [i, 10 i, 100 i]; idx as in F.embedding's example: [[1, 2, 4, 5], [4, 3, 2, 9]]
  std::vector<double> wv;
  for (int i = 0; i < 10; ++i)
    for (double s : {1.0, 10.0, 100.0}) wv.push_back(i * s);
  TapeScope scope;
  const Tensor weight = tensor(wv, Shape{10, 3}, Dtype::f64, true);
  const Tensor idx = idx2({1, 2, 4, 5, 4, 3, 2, 9}, 2, 4);
  const Tensor e = embedding(weight, idx);
  BOOST_TEST(e.shape() == (Shape{2, 4, 3}));
  BOOST_TEST(e.at(0) == 1.0);
  BOOST_TEST(e.at(4) == 20.0);
  BOOST_TEST(e.at(23) == 900.0);
  BOOST_TEST(e.at(14) == 400.0);
  // The gradient of sum counts each row's uses: 2 and 4 are used twice.
  backward(sum(e));
  Values want(30, 0.0);
  for (int r : {1, 2, 4, 5, 4, 3, 2, 9})
    for (int j = 0; j < 3; ++j) want[static_cast<std::size_t>(r * 3 + j)] += 1.0;
  BOOST_TEST(weight.grad().to_vector() == want, tt::per_element());
}

// ---- masks ----------------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(where_doc_example) {
  // x = [[-0.4620, 0.3139], [0.3898, -0.7197], [0.0478, -0.1657]]; torch.where(x > 0, x, 1.0)
  const Tensor x = tensor({-0.4620, 0.3139, 0.3898, -0.7197, 0.0478, -0.1657}, Shape{3, 2}, Dtype::f64);
  const Tensor y = ones({3, 2}, Dtype::f64);
  const Values want{1.0, 0.3139, 0.3898, 1.0, 0.0478, 1.0};
  BOOST_TEST(where(gt(x, 0.0), x, y).to_vector() == want, tt::per_element());
  BOOST_TEST(where(gt(x, 0.0), x, 1.0).to_vector() == want, tt::per_element());
  BOOST_TEST(where(le(x, 0.0), 1.0, x).to_vector() == want, tt::per_element());
}

BOOST_AUTO_TEST_CASE(where_on_every_dtype_with_broadcasting) {
  const Tensor cond = mask({1, 0}, Shape{2, 1});
  for (Dtype d : {Dtype::f32, Dtype::f64, Dtype::i64}) {
    BOOST_TEST_CONTEXT(dtype_name(d)) {
      // cond [2,1], a [3], b [] -> [2,3]
      const Tensor r = where(cond, tensor({1, 2, 3}, d), tensor({7}, Shape{}, d));
      BOOST_TEST(r.dtype() == d);
      BOOST_TEST(r.shape() == (Shape{2, 3}));
      BOOST_TEST(r.to_vector() == (Values{1, 2, 3, 7, 7, 7}), tt::per_element());
    }
  }
  // Empty broadcast dims give an empty result.
  BOOST_TEST(where(mask({}, Shape{0, 1}), zeros({3}), ones({1})).shape() == (Shape{0, 3}));
}

BOOST_AUTO_TEST_CASE(where_and_masked_fill_gradients_by_hand) {
  TapeScope scope;
  const Tensor cond = mask({1, 0, 1}, Shape{3});
  const Tensor a = tensor({1, 2, 3}, Dtype::f64, true), b = tensor({4, 5, 6}, Dtype::f64, true);
  backward(sum(where(cond, a, b) * tensor({10, 20, 30}, Dtype::f64)));
  BOOST_TEST(a.grad().to_vector() == (Values{10, 0, 30}), tt::per_element());
  BOOST_TEST(b.grad().to_vector() == (Values{0, 20, 0}), tt::per_element());
  // Broadcast a [3] over cond [2,1]: a's gradient sums the rows that took it.
  const Tensor p = tensor({1, 2, 3}, Dtype::f64, true), q = zeros({2, 3}, Dtype::f64, true);
  backward(sum(where(mask({1, 1}, Shape{2, 1}), p, q)));
  BOOST_TEST(p.grad().to_vector() == (Values{2, 2, 2}), tt::per_element());
  BOOST_TEST(q.grad().to_vector() == Values(6, 0.0), tt::per_element());
  // masked_fill: value where masked, and no gradient there.
  const Tensor x = tensor({1, 2, 3, 4}, Shape{2, 2}, Dtype::f64, true);
  const Tensor y = masked_fill(x, mask({0, 1}, Shape{2}), -9.0);
  BOOST_TEST(y.to_vector() == (Values{1, -9, 3, -9}), tt::per_element());
  backward(sum(y * y));
  BOOST_TEST(x.grad().to_vector() == (Values{2, 0, 6, 0}), tt::per_element());
  // masked_fill broadcasts x too, and works on int64 and bool.
  BOOST_TEST(masked_fill(tensor_i64({5, 6}), mask({1, 0}, Shape{2, 1}), 7).to_vector() == (Values{7, 7, 5, 6}),
             tt::per_element());
  BOOST_TEST(masked_fill(mask({0, 0}, Shape{2}), mask({0, 1}, Shape{2}), 1.0).to_vector() == (Values{0, 1}), tt::per_element());
}

BOOST_AUTO_TEST_CASE(comparisons_on_every_dtype) {
  for (Dtype d : {Dtype::f32, Dtype::f64, Dtype::i64}) {
    BOOST_TEST_CONTEXT(dtype_name(d)) {
      const Tensor a = tensor({1, 2, 3, 4}, d), b = tensor({4, 2, 1, 4}, d);
      for (const Tensor& m : {eq(a, b), ne(a, b), lt(a, b), le(a, b), gt(a, b), ge(a, b)}) {
        BOOST_TEST(m.dtype() == Dtype::b8);
        BOOST_TEST(m.shape() == (Shape{4}));
      }
      BOOST_TEST(eq(a, b).to_vector() == (Values{0, 1, 0, 1}), tt::per_element());
      BOOST_TEST(ne(a, b).to_vector() == (Values{1, 0, 1, 0}), tt::per_element());
      BOOST_TEST(lt(a, b).to_vector() == (Values{1, 0, 0, 0}), tt::per_element());
      BOOST_TEST(le(a, b).to_vector() == (Values{1, 1, 0, 1}), tt::per_element());
      BOOST_TEST(gt(a, b).to_vector() == (Values{0, 0, 1, 0}), tt::per_element());
      BOOST_TEST(ge(a, b).to_vector() == (Values{0, 1, 1, 1}), tt::per_element());
      // Scalars: int64 compares as double, so 2 < 2.5.
      BOOST_TEST(lt(a, 2.5).to_vector() == (Values{1, 1, 0, 0}), tt::per_element());
      BOOST_TEST(ge(a, 2.5).to_vector() == (Values{0, 0, 1, 1}), tt::per_element());
      BOOST_TEST(eq(a, 3.0).to_vector() == (Values{0, 0, 1, 0}), tt::per_element());
      BOOST_TEST(ne(a, 3.0).to_vector() == (Values{1, 1, 0, 1}), tt::per_element());
      BOOST_TEST(le(a, 1.0).to_vector() == (Values{1, 0, 0, 0}), tt::per_element());
      BOOST_TEST(gt(a, 3.0).to_vector() == (Values{0, 0, 0, 1}), tt::per_element());
      BOOST_TEST(eq(a, 2.5).to_vector() == Values(4, 0.0), tt::per_element());
      // Broadcasting [2,1] against [3] -> [2,3].
      const Tensor c = gt(tensor({1, 3}, Shape{2, 1}, d), tensor({0, 2, 4}, d));
      BOOST_TEST(c.shape() == (Shape{2, 3}));
      BOOST_TEST(c.to_vector() == (Values{1, 0, 0, 1, 1, 0}), tt::per_element());
    }
  }
  // A float32 tensor compares with the scalar converted to float32, as PyTorch: float(0.1) == 0.1 holds.
  BOOST_TEST(eq(tensor({0.1}, Dtype::f32), 0.1).at(0) == 1.0);
  BOOST_TEST(eq(tensor({0.1}, Dtype::f64), 0.1).at(0) == 1.0);
  // NaN is unequal to everything.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor n = tensor({nan, 1.0}, Dtype::f64);
  BOOST_TEST(eq(n, n).to_vector() == (Values{0, 1}), tt::per_element());
  BOOST_TEST(ne(n, n).to_vector() == (Values{1, 0}), tt::per_element());
  BOOST_TEST(lt(n, 2.0).to_vector() == (Values{0, 1}), tt::per_element());
  // Empty inputs give empty masks.
  BOOST_TEST(lt(zeros({0, 3}), zeros({3})).shape() == (Shape{0, 3}));
}

BOOST_AUTO_TEST_CASE(accuracy_from_int64_labels) {
  // Labels against predicted classes (both int64, as argmax returns): the count and the accuracy.
  const Tensor labels = tensor_i64({0, 2, 1, 1, 3});
  const Tensor predicted = tensor_i64({0, 1, 1, 1, 2});
  const Tensor hit = eq(labels, predicted);
  BOOST_TEST(sum(hit).item() == 3.0);
  BOOST_TEST(mean(hit.to(Dtype::f64)).item() == 0.6, tt::tolerance(1e-15));
}

BOOST_AUTO_TEST_CASE(comparisons_and_logical_ops_are_constants) {
  TapeScope scope;
  const Tensor x = tensor({-1, 0.5, 2}, Dtype::f64, true);
  const Tensor m = gt(x, 0.0);
  BOOST_TEST(!m.requires_grad());
  BOOST_TEST(m.is_leaf());
  BOOST_TEST(m.to_vector() == (Values{0, 1, 1}), tt::per_element());
  BOOST_TEST(logical_not(m).to_vector() == (Values{1, 0, 0}), tt::per_element());
  const Tensor small = lt(x, 1.0);
  BOOST_TEST(logical_and(m, small).to_vector() == (Values{0, 1, 0}), tt::per_element());
  BOOST_TEST(logical_or(logical_not(m), gt(x, 1.0)).to_vector() == (Values{1, 0, 1}), tt::per_element());
  // Broadcasting: [2,1] and [2] -> [2,2].
  const Tensor ab = logical_and(mask({1, 0}, Shape{2, 1}), mask({1, 1}, Shape{2}));
  BOOST_TEST(ab.shape() == (Shape{2, 2}));
  BOOST_TEST(ab.to_vector() == (Values{1, 1, 0, 0}), tt::per_element());
  // A mask used as floats (relu by hand) carries no gradient of its own: d/dx sum(x * (x > 0)) = (x > 0).
  backward(sum(x * m.to(Dtype::f64)));
  BOOST_TEST(x.grad().to_vector() == (Values{0, 1, 1}), tt::per_element());
}

// ---- edge cases ---------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(empty_index_lists) {
  TapeScope scope;
  const Tensor x = tensor({1, 2, 3, 4, 5, 6}, Shape{3, 2}, Dtype::f64, true);
  const Tensor none = tensor_i64({});
  const Tensor s = index_select(x, 0, none);
  BOOST_TEST(s.shape() == (Shape{0, 2}));
  BOOST_TEST(index_select(x, 1, none).shape() == (Shape{3, 0}));
  BOOST_TEST(rows(x, {}).shape() == (Shape{0, 2}));
  const Tensor g = gather(x, 1, tensor_i64({}, Shape{3, 0}));
  BOOST_TEST(g.shape() == (Shape{3, 0}));
  const Tensor e = embedding(x, tensor_i64({}, Shape{0}));
  BOOST_TEST(e.shape() == (Shape{0, 2}));
  BOOST_TEST(one_hot(none, 3).shape() == (Shape{0, 3}));
  // Adding nothing returns a copy of x (a node of its own).
  const Tensor a = index_add(x, 0, none, zeros({0, 2}, Dtype::f64));
  BOOST_TEST(a.to_vector() == x.to_vector(), tt::per_element());
  BOOST_TEST(!a.is_same(x));
  const Tensor sc = scatter_add(x, 0, tensor_i64({}, Shape{0, 2}), zeros({0, 2}, Dtype::f64));
  BOOST_TEST(sc.to_vector() == x.to_vector(), tt::per_element());
  // An empty x along the indexed dim is fine with an empty idx.
  BOOST_TEST(index_select(zeros({0, 4}), 0, none).shape() == (Shape{0, 4}));
  // Gradients: nothing selected, nothing flows; x's own path still does.
  backward(sum(s) + sum(g) + sum(e) + sum(a) + sum(sc));
  BOOST_TEST(x.grad().to_vector() == Values(6, 2.0), tt::per_element());
}

BOOST_AUTO_TEST_CASE(size_one_dims_and_negative_dims) {
  const Tensor x = tensor({5}, Shape{1, 1}, Dtype::f64);
  BOOST_TEST(index_select(x, -1, tensor_i64({0, 0, 0})).shape() == (Shape{1, 3}));
  BOOST_TEST(index_select(x, -2, tensor_i64({0, 0})).to_vector() == (Values{5, 5}), tt::per_element());
  BOOST_TEST(gather(x, -1, idx2({0, 0, 0}, 1, 3)).to_vector() == (Values{5, 5, 5}), tt::per_element());
  BOOST_TEST(scatter_add(x, -2, idx2({0, 0}, 2, 1), ones({2, 1}, Dtype::f64)).to_vector() == (Values{7}), tt::per_element());
  BOOST_TEST(embedding(x, tensor_i64({0, 0})).shape() == (Shape{2, 1}));
  BOOST_TEST(one_hot(tensor_i64({0}), 1).to_vector() == (Values{1}), tt::per_element());
  // gather along dim 0 of [3,4] with idx [1,2]: the top-left corner's columns picked by row.
  const Tensor y = tensor({0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23}, Shape{3, 4}, Dtype::f64);
  BOOST_TEST(gather(y, -2, idx2({2, 1}, 1, 2)).to_vector() == (Values{20, 11}), tt::per_element());
  // A 3-D gather along the middle dim with idx smaller than x in the last dim.
  const Tensor z = arange(0, 24, 1, Dtype::f64);
  const Tensor z3 = reshape(z, Shape{2, 3, 4});
  const Tensor gz = gather(z3, 1, tensor_i64({2, 0, 1, 1}, Shape{2, 1, 2}));
  BOOST_TEST(gz.to_vector() == (Values{8, 1, 16, 17}), tt::per_element());
}

// ---- errors ----------------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(index_out_of_range_names_index_dim_and_size) {
  const Tensor x = zeros({3, 2}, Dtype::f64);
  BOOST_CHECK_EXCEPTION(index_select(x, 0, tensor_i64({0, 3})), std::exception,
                        invalid({"index_select", "index 3", "idx[1]", "dim 0", "size 3", "[3,2]"}));
  BOOST_CHECK_EXCEPTION(gather(x, -1, idx2({0, 1, -1, 0}, 2, 2)), std::exception,
                        invalid({"gather", "index -1", "idx[1,0]", "dim 1", "size 2"}));
  BOOST_CHECK_EXCEPTION(scatter_add(x, 1, idx2({2}, 1, 1), zeros({1, 1}, Dtype::f64)), std::exception,
                        invalid({"scatter_add", "index 2", "dim 1", "size 2"}));
  BOOST_CHECK_EXCEPTION(index_add(x, 0, tensor_i64({5}), zeros({1, 2}, Dtype::f64)), std::exception,
                        invalid({"index_add", "index 5", "dim 0", "size 3"}));
  BOOST_CHECK_EXCEPTION(embedding(x, idx2({0, 1, 2, 3}, 2, 2)), std::exception,
                        invalid({"embedding", "index 3", "idx[1,1]", "dim 0", "size 3", "weight [3,2]"}));
  BOOST_CHECK_EXCEPTION(index_select(zeros({0, 2}), 0, tensor_i64({0})), std::exception,
                        invalid({"index_select", "index 0", "size 0"}));
  BOOST_CHECK_EXCEPTION(index_select(x, 2, tensor_i64({0})), std::exception, invalid({"index_select", "axis 2", "rank 2"}));
}

BOOST_AUTO_TEST_CASE(idx_must_be_int64) {
  const Tensor x = zeros({3, 2}, Dtype::f64);
  BOOST_CHECK_EXCEPTION(gather(x, 1, tensor({0, 1}, Shape{1, 2}, Dtype::f32)), std::exception,
                        invalid({"gather", "idx must be int64", "float32", "x.to(Dtype::i64)"}));
  BOOST_CHECK_EXCEPTION(index_select(x, 0, tensor({0}, Dtype::f64)), std::exception, invalid({"index_select", "int64"}));
  BOOST_CHECK_EXCEPTION(embedding(x, mask({1}, Shape{1})), std::exception, invalid({"embedding", "int64", "bool"}));
  BOOST_CHECK_EXCEPTION(one_hot(tensor({1}, Dtype::f32)), std::exception, invalid({"one_hot", "int64"}));
}

BOOST_AUTO_TEST_CASE(idx_shapes) {
  const Tensor x = zeros({3, 2}, Dtype::f64);
  BOOST_CHECK_EXCEPTION(gather(x, 1, tensor_i64({0, 1})), std::exception,
                        invalid({"gather", "rank of x", "[3,2] has rank 2", "[2] has rank 1"}));
  BOOST_CHECK_EXCEPTION(gather(x, 1, idx2({0, 0, 0, 0, 0, 0, 0, 0}, 4, 2)), std::exception,
                        invalid({"gather", "larger than x in dim 0", "4 > 3"}));
  BOOST_CHECK_EXCEPTION(index_select(x, 0, idx2({0, 1}, 1, 2)), std::exception, invalid({"index_select", "1-D", "[1,2]"}));
  BOOST_CHECK_EXCEPTION(index_select(zeros({}), 0, tensor_i64({0})), std::exception, invalid({"index_select", "rank >= 1"}));
  BOOST_CHECK_EXCEPTION(scatter_add(x, 0, idx2({0, 1}, 1, 2), zeros({2, 2}, Dtype::f64)), std::exception,
                        invalid({"scatter_add", "src must have idx's shape", "src [2,2]", "idx [1,2]"}));
  BOOST_CHECK_EXCEPTION(index_add(x, 0, tensor_i64({0, 1}), zeros({2, 3}, Dtype::f64)), std::exception,
                        invalid({"index_add", "src shape differs", "[2,3]", "[2,2]"}));
  BOOST_CHECK_EXCEPTION(scatter_add(mask({1, 0}, Shape{2}), 0, tensor_i64({0}), mask({1}, Shape{1})), std::exception,
                        invalid({"scatter_add", "float or int64", "bool"}));
  BOOST_CHECK_EXCEPTION(scatter_add(x, 0, idx2({0}, 1, 1), zeros({1, 1}, Dtype::f32)), std::exception,
                        invalid({"scatter_add", "dtypes differ"}));
}

BOOST_AUTO_TEST_CASE(masks_must_be_bool) {
  const Tensor x = zeros({3}, Dtype::f64);
  const Tensor float_mask = tensor({1, 0, 1}, Dtype::f64);
  BOOST_CHECK_EXCEPTION(where(float_mask, x, x), std::exception,
                        invalid({"where", "cond must be a bool mask", "float64", "x.to(Dtype::b8)", "gt(x, 0.0)"}));
  BOOST_CHECK_EXCEPTION(masked_fill(x, tensor_i64({1, 0, 1}), 0.0), std::exception,
                        invalid({"masked_fill", "mask must be a bool mask", "int64", "x.to(Dtype::b8)"}));
  BOOST_CHECK_EXCEPTION(logical_not(float_mask), std::exception, invalid({"logical_not", "bool mask"}));
  BOOST_CHECK_EXCEPTION(logical_and(gt(x, 0.0), float_mask), std::exception, invalid({"logical_and", "b must be a bool mask"}));
  BOOST_CHECK_EXCEPTION(logical_or(float_mask, gt(x, 0.0)), std::exception, invalid({"logical_or", "a must be a bool mask"}));
}

BOOST_AUTO_TEST_CASE(shapes_and_dtypes_of_masked_ops) {
  const Tensor m = mask({1, 0}, Shape{2});
  BOOST_CHECK_EXCEPTION(where(m, zeros({3}), zeros({3})), std::exception,
                        invalid({"where", "do not broadcast", "cond [2]", "a [3]", "b [3]"}));
  BOOST_CHECK_EXCEPTION(where(mask({1, 0, 1}, Shape{3}), zeros({2, 3}), zeros({2})), std::exception,
                        invalid({"where", "do not broadcast", "a [2,3]", "b [2]"}));
  BOOST_CHECK_EXCEPTION(where(m, zeros({2}), zeros({2}, Dtype::f64)), std::exception,
                        invalid({"where", "differ in dtype", "float32", "float64"}));
  BOOST_CHECK_EXCEPTION(masked_fill(zeros({3}), m, 1.0), std::exception, invalid({"masked_fill", "do not broadcast"}));
  BOOST_CHECK_EXCEPTION(masked_fill(tensor_i64({1, 2}), m, std::nan("")), std::exception,
                        invalid({"masked_fill", "value nan", "int64"}));
  BOOST_CHECK_EXCEPTION(where(m, tensor_i64({1, 2}), 1e300), std::exception, invalid({"where", "does not fit an int64"}));
  BOOST_CHECK_EXCEPTION(lt(zeros({2}), zeros({3})), std::exception, invalid({"lt", "do not broadcast", "[2]", "[3]"}));
  BOOST_CHECK_EXCEPTION(eq(tensor_i64({1}), zeros({1})), std::exception,
                        invalid({"eq", "dtypes differ", "int64", "float32", "x.to("}));
}

BOOST_AUTO_TEST_CASE(one_hot_errors) {
  BOOST_CHECK_EXCEPTION(one_hot(tensor_i64({0, -1}), 3), std::exception,
                        invalid({"one_hot", "index -1", "negative", "num_classes 3"}));
  BOOST_CHECK_EXCEPTION(one_hot(tensor_i64({0, 3}), 3), std::exception,
                        invalid({"one_hot", "index 3", ">= num_classes", "num_classes 3"}));
  BOOST_CHECK_EXCEPTION(one_hot(tensor_i64({2, -4})), std::exception, invalid({"one_hot", "index -4", "negative"}));
  BOOST_CHECK_EXCEPTION(one_hot(tensor_i64({})), std::exception, invalid({"one_hot", "cannot infer num_classes", "empty"}));
  BOOST_CHECK_EXCEPTION(one_hot(tensor_i64({0}), -2), std::exception, invalid({"one_hot", "num_classes", "-2"}));
  BOOST_CHECK_EXCEPTION(one_hot(tensor_i64({std::numeric_limits<std::int64_t>::max()})), std::exception,
                        invalid({"one_hot", "no room"}));
  BOOST_CHECK_EXCEPTION(one_hot(tensor_i64({0}, Shape{1, 1, 1, 1, 1, 1, 1, 1}), 2), std::exception,
                        invalid({"one_hot", "maximum rank 8"}));
}

BOOST_AUTO_TEST_CASE(embedding_errors) {
  BOOST_CHECK_EXCEPTION(embedding(zeros({4}), tensor_i64({0})), std::exception,
                        invalid({"embedding", "weight must have rank 2", "[4]"}));
  BOOST_CHECK_EXCEPTION(embedding(zeros({2, 2, 2}), tensor_i64({0})), std::exception, invalid({"embedding", "rank 2"}));
  BOOST_CHECK_EXCEPTION(embedding(tensor_i64({0, 1}, Shape{1, 2}), tensor_i64({0})), std::exception,
                        invalid({"embedding", "float tensor", "int64"}));
}

BOOST_AUTO_TEST_CASE(rows_keep_their_messages) {
  const Tensor x = zeros({3, 2}, Dtype::f64);
  BOOST_CHECK_EXCEPTION(rows(x, {0, 3}), std::exception, invalid({"rows", "index 3", "[0, 3)"}));
  BOOST_CHECK_EXCEPTION(index_add_rows(zeros({2, 2}, Dtype::f64), {0, 4}, 4), std::exception,
                        invalid({"index_add_rows", "index 4", "[0, 4)"}));
}
