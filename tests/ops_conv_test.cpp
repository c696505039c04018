// Convolution and pooling ops: gradcheck and gradgradcheck tables, values worked out by hand (borders, padding,
// strides, arg-max indices), float32, and every error message.
#define BOOST_TEST_MODULE ops_conv_test
#include <boost/test/unit_test.hpp>

#include "op_table.hpp"

#include "autodiff/autodiff.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

using namespace autodiff;
using namespace optable;
namespace tt = boost::test_tools;

namespace {

using V = const std::vector<Tensor>&;

// Distinct values (no ties, kinks at least 0.15 apart) for the max-pooling rows.
In spread(Shape s, std::uint64_t seed) { return given(s, distinct(s.numel(), seed)); }

std::vector<TensorRow> first_order_table() {
  return {
      // conv2d
      {"conv2d no bias", [](V x) { return conv2d(x[0], x[1]); }, {range({2, 3, 5, 5}, -1, 1), range({4, 3, 3, 3}, -1, 1)}},
      {"conv2d with bias", [](V x) { return conv2d(x[0], x[1], x[2]); },
       {range({2, 3, 5, 5}, -1, 1), range({4, 3, 3, 3}, -1, 1), range({4}, -1, 1)}},
      {"conv2d stride 2", [](V x) { return conv2d(x[0], x[1], x[2], 2); },
       {range({2, 2, 7, 7}, -1, 1), range({3, 2, 3, 3}, -1, 1), range({3}, -1, 1)}},
      {"conv2d stride 2 leaving the last row and column unread", [](V x) { return conv2d(x[0], x[1], {}, 2); },
       {range({1, 2, 6, 6}, -1, 1), range({2, 2, 3, 3}, -1, 1)}},
      {"conv2d padding 1", [](V x) { return conv2d(x[0], x[1], x[2], 1, 1); },
       {range({2, 2, 4, 4}, -1, 1), range({3, 2, 3, 3}, -1, 1), range({3}, -1, 1)}},
      {"conv2d padding 2", [](V x) { return conv2d(x[0], x[1], {}, 1, 2); },
       {range({1, 2, 3, 4}, -1, 1), range({2, 2, 3, 3}, -1, 1)}},
      {"conv2d dilation 2", [](V x) { return conv2d(x[0], x[1], x[2], 1, 0, 2); },
       {range({2, 2, 6, 7}, -1, 1), range({3, 2, 2, 3}, -1, 1), range({3}, -1, 1)}},
      {"conv2d stride 2 padding 1 dilation 2", [](V x) { return conv2d(x[0], x[1], {}, 2, 1, 2); },
       {range({2, 2, 7, 6}, -1, 1), range({2, 2, 3, 3}, -1, 1)}},
      {"conv2d groups 2", [](V x) { return conv2d(x[0], x[1], x[2], 1, 1, 1, 2); },
       {range({2, 4, 4, 4}, -1, 1), range({6, 2, 3, 3}, -1, 1), range({6}, -1, 1)}},
      {"conv2d depthwise (groups = C)", [](V x) { return conv2d(x[0], x[1], x[2], 1, 1, 1, 3); },
       {range({2, 3, 4, 5}, -1, 1), range({3, 1, 3, 3}, -1, 1), range({3}, -1, 1)}},
      {"conv2d depthwise with multiplier 2", [](V x) { return conv2d(x[0], x[1], {}, 2, 1, 1, 3); },
       {range({1, 3, 5, 5}, -1, 1), range({6, 1, 3, 3}, -1, 1)}},
      {"conv2d non-square kernel and input", [](V x) { return conv2d(x[0], x[1], x[2], {2, 1}, {1, 0}); },
       {range({2, 2, 5, 7}, -1, 1), range({3, 2, 2, 3}, -1, 1), range({3}, -1, 1)}},
      {"conv2d 1x1 kernel", [](V x) { return conv2d(x[0], x[1], x[2]); },
       {range({2, 3, 3, 4}, -1, 1), range({5, 3, 1, 1}, -1, 1), range({5}, -1, 1)}},
      {"conv2d kernel as large as the padded input", [](V x) { return conv2d(x[0], x[1], {}, 1, 1); },
       {range({2, 1, 2, 3}, -1, 1), range({2, 1, 4, 5}, -1, 1)}},
      {"conv2d same input as x and w", [](V x) { return conv2d(x[0], x[0], {}, 1, 1); }, {range({2, 2, 3, 3}, -1, 1)}},
      {"conv2d_input_grad", [](V x) { return conv2d_input_grad(x[0], x[1], Shape{2, 4, 6, 5}, 2, 1, 1, 2); },
       {range({2, 6, 3, 3}, -1, 1), range({6, 2, 3, 3}, -1, 1)}},
      {"conv2d_weight_grad", [](V x) { return conv2d_weight_grad(x[0], x[1], Shape{6, 2, 3, 2}, {1, 2}, {1, 0}, 1, 2); },
       {range({2, 4, 4, 5}, -1, 1), range({2, 6, 4, 2}, -1, 1)}},
      {"conv2d_bias_grad", [](V x) { return conv2d_bias_grad(x[0]); }, {range({3, 4, 2, 5}, -1, 1)}},
      // conv1d
      {"conv1d", [](V x) { return conv1d(x[0], x[1]); }, {range({2, 3, 7}, -1, 1), range({4, 3, 3}, -1, 1)}},
      {"conv1d bias stride 2 padding 1 dilation 2", [](V x) { return conv1d(x[0], x[1], x[2], 2, 1, 2); },
       {range({2, 3, 8}, -1, 1), range({4, 3, 3}, -1, 1), range({4}, -1, 1)}},
      {"conv1d groups 2", [](V x) { return conv1d(x[0], x[1], x[2], 1, 1, 1, 2); },
       {range({2, 4, 6}, -1, 1), range({2, 2, 3}, -1, 1), range({2}, -1, 1)}},
      // max_pool2d (distinct values: no ties, kinks far from the difference step)
      {"max_pool2d 2x2", [](V x) { return max_pool2d(x[0], 2); }, {spread({2, 3, 4, 6}, 1)}},
      {"max_pool2d kernel 3 stride 2 (overlapping windows)", [](V x) { return max_pool2d(x[0], 3, 2); },
       {spread({2, 2, 7, 5}, 2)}},
      {"max_pool2d kernel 3 stride 1 (one maximum in several windows)", [](V x) { return max_pool2d(x[0], 3, 1); },
       {spread({1, 2, 5, 5}, 3)}},
      {"max_pool2d padding 1", [](V x) { return max_pool2d(x[0], 2, 2, 1); }, {spread({2, 2, 5, 3}, 4)}},
      {"max_pool2d kernel 3 stride 2 padding 1", [](V x) { return max_pool2d(x[0], 3, 2, 1); }, {spread({1, 3, 6, 6}, 5)}},
      {"max_pool2d non-square", [](V x) { return max_pool2d(x[0], {2, 3}, Size2{1, 2}, {1, 0}); },
       {spread({2, 2, 4, 7}, 6)}},
      {"max_pool2d dilation 2", [](V x) { return max_pool2d(x[0], 2, 1, 0, 2); }, {spread({1, 2, 5, 6}, 8)}},
      {"max_pool2d_backward", [](V x) { return max_pool2d_backward(x[0], tensor_i64({0, 5, 5, 11, 3, 3}, Shape{1, 2, 1, 3}), Shape{1, 2, 3, 4}); },
       {range({1, 2, 1, 3}, -1, 1)}},
      {"max_pool_double_backward", [](V x) { return max_pool_double_backward(x[0], tensor_i64({0, 5, 5, 11, 3, 3}, Shape{1, 2, 1, 3})); },
       {range({1, 2, 3, 4}, -1, 1)}},
      // avg_pool2d
      {"avg_pool2d 2x2", [](V x) { return avg_pool2d(x[0], 2); }, {range({2, 3, 4, 6}, -1, 1)}},
      {"avg_pool2d kernel 3 stride 2", [](V x) { return avg_pool2d(x[0], 3, 2); }, {range({2, 2, 7, 5}, -1, 1)}},
      {"avg_pool2d padding 1", [](V x) { return avg_pool2d(x[0], 2, 2, 1); }, {range({2, 2, 5, 3}, -1, 1)}},
      {"avg_pool2d kernel 3 stride 2 padding 1", [](V x) { return avg_pool2d(x[0], 3, 2, 1); }, {range({1, 3, 6, 6}, -1, 1)}},
      {"avg_pool2d non-square", [](V x) { return avg_pool2d(x[0], {2, 3}, Size2{1, 2}, {1, 0}); }, {range({2, 2, 4, 7}, -1, 1)}},
      {"avg_pool2d_backward", [](V x) { return avg_pool2d_backward(x[0], Shape{1, 2, 5, 5}, 3, 2, 1); },
       {range({1, 2, 3, 3}, -1, 1)}},
      // adaptive_avg_pool2d
      {"adaptive_avg_pool2d 1x1", [](V x) { return adaptive_avg_pool2d(x[0], {1, 1}); }, {range({2, 3, 4, 5}, -1, 1)}},
      {"adaptive_avg_pool2d 5x7 -> 3x4 (overlapping windows)", [](V x) { return adaptive_avg_pool2d(x[0], {3, 4}); },
       {range({2, 2, 5, 7}, -1, 1)}},
      {"adaptive_avg_pool2d 2x3 -> 4x5 (upsampling)", [](V x) { return adaptive_avg_pool2d(x[0], {4, 5}); },
       {range({1, 2, 2, 3}, -1, 1)}},
      {"adaptive_avg_pool2d_backward", [](V x) { return adaptive_avg_pool2d_backward(x[0], Shape{2, 2, 5, 7}); },
       {range({2, 2, 3, 4}, -1, 1)}},
      // a small CNN, as a model uses them
      {"conv relu max_pool conv avg_pool",
       [](V x) {
         const Tensor h = max_pool2d(relu(conv2d(x[0], x[1], x[2], 1, 1)), 2);
         return adaptive_avg_pool2d(conv2d(h, x[3], {}, 1, 1), {1, 1});
       },
       {range({2, 1, 6, 6}, -1, 1), range({3, 1, 3, 3}, -1, 1), range({3}, -1, 1), range({2, 3, 3, 3}, -1, 1)}},
  };
}

std::vector<TensorRow> second_order_table() {
  return {
      {"conv2d x, w, b", [](V x) { return conv2d(x[0], x[1], x[2]); },
       {range({2, 2, 4, 4}, -1, 1), range({3, 2, 3, 3}, -1, 1), range({3}, -1, 1)}},
      // Squaring makes the output gradient depend on x, w and b, so the input- and weight-gradient ops are
      // differentiated in their grad argument too.
      {"conv2d squared: stride 2 padding 1", [](V x) { return pow(conv2d(x[0], x[1], x[2], 2, 1), 2.0); },
       {range({2, 2, 5, 5}, -1, 1), range({3, 2, 3, 3}, -1, 1), range({3}, -1, 1)}},
      {"conv2d squared: dilation 2 groups 2", [](V x) { return pow(conv2d(x[0], x[1], x[2], 1, 1, 2, 2), 2.0); },
       {range({1, 4, 5, 5}, -1, 1), range({4, 2, 2, 3}, -1, 1), range({4}, -1, 1)}},
      {"conv2d tanh: non-square", [](V x) { return tanh(conv2d(x[0], x[1], x[2], {1, 2}, {0, 1})); },
       {range({2, 2, 4, 5}, -1, 1), range({2, 2, 2, 3}, -1, 1), range({2}, -1, 1)}},
      {"conv2d_input_grad squared", [](V x) { return pow(conv2d_input_grad(x[0], x[1], Shape{1, 2, 5, 5}, 2, 1), 2.0); },
       {range({1, 3, 3, 3}, -1, 1), range({3, 2, 3, 3}, -1, 1)}},
      {"conv2d_weight_grad squared", [](V x) { return pow(conv2d_weight_grad(x[0], x[1], Shape{3, 2, 3, 3}, 1, 1), 2.0); },
       {range({2, 2, 4, 4}, -1, 1), range({2, 3, 4, 4}, -1, 1)}},
      {"conv1d squared", [](V x) { return pow(conv1d(x[0], x[1], x[2], 2, 1), 2.0); },
       {range({2, 2, 7}, -1, 1), range({3, 2, 3}, -1, 1), range({3}, -1, 1)}},
      {"avg_pool2d", [](V x) { return avg_pool2d(x[0], 3, 2, 1); }, {range({1, 2, 5, 5}, -1, 1)}},
      {"avg_pool2d squared", [](V x) { return pow(avg_pool2d(x[0], 3, 2, 1), 2.0); }, {range({1, 2, 5, 5}, -1, 1)}},
      {"adaptive_avg_pool2d squared", [](V x) { return pow(adaptive_avg_pool2d(x[0], {2, 3}), 2.0); },
       {range({1, 2, 5, 5}, -1, 1)}},
      {"max_pool2d squared", [](V x) { return pow(max_pool2d(x[0], 3, 2, 1), 2.0); }, {spread({1, 2, 5, 5}, 9)}},
  };
}

/// Predicate for BOOST_CHECK_EXCEPTION: the message holds every key word.
auto message_has(std::initializer_list<std::string> words) {
  return [words = std::vector<std::string>(words)](const std::invalid_argument& e) {
    const std::string msg = e.what();
    BOOST_TEST_MESSAGE("message: " << msg);
    for (const std::string& w : words)
      if (msg.find(w) == std::string::npos) {
        BOOST_TEST_MESSAGE("missing '" << w << "' in: " << msg);
        return false;
      }
    return true;
  };
}

const std::vector<double> x33{1, 2, 3, 4, 5, 6, 7, 8, 9};  // a 1-channel 3x3 input, row-major
const std::vector<double> k22{1, 2, 3, 4};                 // a 2x2 kernel [[1, 2], [3, 4]]

}  // namespace

BOOST_AUTO_TEST_CASE(every_op_matches_finite_differences) { check_first_order(first_order_table()); }

BOOST_AUTO_TEST_CASE(second_derivatives_match_finite_differences) { check_second_order(second_order_table()); }

BOOST_AUTO_TEST_CASE(conv2d_of_a_3x3_input_by_hand) {
  TapeScope scope;
  Tensor x = tensor(x33, Shape{1, 1, 3, 3}, Dtype::f64, true);
  Tensor w = tensor(k22, Shape{1, 1, 2, 2}, Dtype::f64, true);
  Tensor b = tensor({0.5}, Dtype::f64, true);
  Tensor y = conv2d(x, w, b);
  BOOST_TEST(y.shape() == (Shape{1, 1, 2, 2}));
  // y[i,j] = 1 x[i,j] + 2 x[i,j+1] + 3 x[i+1,j] + 4 x[i+1,j+1] + 0.5
  const std::vector<double> want{1 * 1 + 2 * 2 + 3 * 4 + 4 * 5 + 0.5, 1 * 2 + 2 * 3 + 3 * 5 + 4 * 6 + 0.5,
                                 1 * 4 + 2 * 5 + 3 * 7 + 4 * 8 + 0.5, 1 * 5 + 2 * 6 + 3 * 8 + 4 * 9 + 0.5};
  BOOST_TEST(y.to_vector() == want, tt::per_element());
  backward(sum(y));
  // dx[i,j] sums the kernel taps that read x[i,j]; dw[a,b] sums the inputs tap (a,b) reads; db counts the outputs.
  const std::vector<double> dx{1, 1 + 2, 2, 1 + 3, 1 + 2 + 3 + 4, 2 + 4, 3, 3 + 4, 4};
  const std::vector<double> dw{1 + 2 + 4 + 5, 2 + 3 + 5 + 6, 4 + 5 + 7 + 8, 5 + 6 + 8 + 9};
  BOOST_TEST(x.grad().to_vector() == dx, tt::per_element());
  BOOST_TEST(w.grad().to_vector() == dw, tt::per_element());
  BOOST_TEST(b.grad().item() == 4.0);
}

BOOST_AUTO_TEST_CASE(conv2d_padding_reads_zeros_at_the_borders) {
  TapeScope scope;
  const Tensor x = tensor(x33, Shape{1, 1, 3, 3}, Dtype::f64);
  const Tensor w = tensor(k22, Shape{1, 1, 2, 2}, Dtype::f64);
  // Padding 1 gives a 4x4 output over the zero-padded 5x5 input P: y[i,j] = P[i,j] + 2 P[i,j+1] + 3 P[i+1,j] + 4 P[i+1,j+1].
  const std::vector<double> want{
      4 * 1,         3 * 1 + 4 * 2,         3 * 2 + 4 * 3,         3 * 3,  // top row: only the kernel's bottom taps
      2 * 1 + 4 * 4, 1 + 4 + 12 + 20,       2 + 6 + 15 + 24,       3 + 3 * 6,
      2 * 4 + 4 * 7, 4 + 10 + 21 + 32,      5 + 12 + 24 + 36,      6 + 3 * 9,
      2 * 7,         7 + 2 * 8,             8 + 2 * 9,             9,  // bottom row: only the kernel's top taps
  };
  const Tensor y = conv2d(x, w, {}, 1, 1);
  BOOST_TEST(y.shape() == (Shape{1, 1, 4, 4}));
  BOOST_TEST(y.to_vector() == want, tt::per_element());
  // Stride 2 keeps every other row and column of the same grid: (0,0), (0,2), (2,0), (2,2).
  const Tensor s = conv2d(x, w, {}, 2, 1);
  BOOST_TEST(s.shape() == (Shape{1, 1, 2, 2}));
  BOOST_TEST(s.to_vector() == (std::vector<double>{4, 18, 36, 77}), tt::per_element());
  // Padding {1, 0}: rows padded, columns not -> 4x2, the middle two columns of the grid above.
  const Tensor r = conv2d(x, w, {}, 1, {1, 0});
  BOOST_TEST(r.shape() == (Shape{1, 1, 4, 2}));
  BOOST_TEST(r.to_vector() == (std::vector<double>{11, 18, 37, 47, 67, 77, 23, 26}), tt::per_element());
}

BOOST_AUTO_TEST_CASE(conv2d_channels_and_groups_by_hand) {
  TapeScope scope;
  // Two 1x2 channels [1, 2] and [3, 4] with a 1x1 kernel: groups 1 mixes them, groups 2 keeps them apart.
  const Tensor x = tensor({1, 2, 3, 4}, Shape{1, 2, 1, 2}, Dtype::f64);
  const Tensor mix = conv2d(x, tensor({10, 1}, Shape{1, 2, 1, 1}, Dtype::f64));
  BOOST_TEST(mix.to_vector() == (std::vector<double>{10 * 1 + 3, 10 * 2 + 4}), tt::per_element());
  const Tensor apart = conv2d(x, tensor({10, -1}, Shape{2, 1, 1, 1}, Dtype::f64), {}, 1, 0, 1, 2);
  BOOST_TEST(apart.to_vector() == (std::vector<double>{10, 20, -3, -4}), tt::per_element());
}

BOOST_AUTO_TEST_CASE(conv2d_dilation_by_hand) {
  TapeScope scope;
  // Dilation 2 spreads a 2x2 kernel over a 3x3 input's corners: one output, 1*1 + 2*3 + 3*7 + 4*9.
  const Tensor y = conv2d(tensor(x33, Shape{1, 1, 3, 3}, Dtype::f64), tensor(k22, Shape{1, 1, 2, 2}, Dtype::f64), {}, 1,
                          0, 2);
  BOOST_TEST(y.shape() == (Shape{1, 1, 1, 1}));
  BOOST_TEST(y.item() == 1 * 1 + 2 * 3 + 3 * 7 + 4 * 9);
}

BOOST_AUTO_TEST_CASE(conv1d_by_hand) {
  TapeScope scope;
  Tensor x = tensor({1, 2, 3, 4, 5}, Shape{1, 1, 5}, Dtype::f64, true);
  // Kernel [1, -1] with padding 1 over [0, 1, 2, 3, 4, 5, 0]: y[i] = P[i] - P[i+1].
  const Tensor y = conv1d(x, tensor({1, -1}, Shape{1, 1, 2}, Dtype::f64), {}, 1, 1);
  BOOST_TEST(y.shape() == (Shape{1, 1, 6}));
  BOOST_TEST(y.to_vector() == (std::vector<double>{-1, -1, -1, -1, -1, 5}), tt::per_element());
  backward(sum(y));
  // Each x[j] is read once with +1 and once with -1.
  BOOST_TEST(x.grad().to_vector() == (std::vector<double>{0, 0, 0, 0, 0}), tt::per_element());
}

BOOST_AUTO_TEST_CASE(conv2d_in_float32_and_an_empty_batch) {
  TapeScope scope;
  Tensor x = tensor(x33, Shape{1, 1, 3, 3}, Dtype::f32, true);
  const Tensor y = conv2d(x, tensor(k22, Shape{1, 1, 2, 2}, Dtype::f32), tensor({1.0}, Dtype::f32));
  BOOST_TEST(y.dtype() == Dtype::f32);
  BOOST_TEST(y.to_vector() == (std::vector<double>{38, 48, 68, 78}), tt::per_element());
  backward(sum(y));
  BOOST_TEST(x.grad().dtype() == Dtype::f32);
  BOOST_TEST(x.grad().at(4) == 10.0);
  // N = 0: an empty [0,O,Ho,Wo] output; the weight gradient is zero.
  Tensor w = tensor(k22, Shape{1, 1, 2, 2}, Dtype::f64, true);
  const Tensor e = conv2d(zeros(Shape{0, 1, 3, 3}, Dtype::f64), w, tensor({1.0}, Dtype::f64, true));
  BOOST_TEST(e.shape() == (Shape{0, 1, 2, 2}));
  backward(sum(e));
  BOOST_TEST(w.grad().to_vector() == (std::vector<double>{0, 0, 0, 0}), tt::per_element());
}

// conv2d and its gradients run a batch in chunks of samples (here chunks of 3 and 2: each sample's im2col matrix is
// 72 x 4096). Each sample alone takes the one-sample path, so the batch must give the same output and input
// gradient per sample, and the sum of the samples' weight and bias gradients. Also with groups.
BOOST_AUTO_TEST_CASE(conv2d_in_chunks_of_samples_matches_each_sample_alone) {
  std::mt19937_64 gen(17);
  for (const std::int64_t groups : {1, 2}) {
    BOOST_TEST_CONTEXT("groups " << groups) {
      TapeScope scope;
      const Tensor x = uniform(Shape{5, 8, 64, 64}, -1, 1, gen, Dtype::f64, true);
      const Tensor w = uniform(Shape{4, 8 / groups, 3, 3}, -1, 1, gen, Dtype::f64, true);
      const Tensor b = uniform(Shape{4}, -1, 1, gen, Dtype::f64, true);
      const Tensor up = uniform(Shape{5, 4, 64, 64}, -1, 1, gen, Dtype::f64);
      const Tensor y = conv2d(x, w, b, 1, 1, 1, groups);
      const std::vector<double> yv = y.to_vector();
      backward(sum(y * up));
      const std::vector<double> xg = x.grad().to_vector(), wg = w.grad().to_vector(), bg = b.grad().to_vector();
      std::vector<double> wsum(wg.size()), bsum(bg.size());
      for (std::int64_t s = 0; s < 5; ++s) {
        const Tensor xs(narrow(x, 0, s, 1).value().clone(), true);
        const Tensor ws(w.value().clone(), true), bs(b.value().clone(), true);
        const Tensor ys = conv2d(xs, ws, bs, 1, 1, 1, groups);
        const std::vector<double> want = ys.to_vector();
        backward(sum(ys * narrow(up, 0, s, 1)));
        const std::vector<double> got(yv.begin() + s * 4 * 4096, yv.begin() + (s + 1) * 4 * 4096);
        BOOST_TEST(got == want, tt::tolerance(1e-12) << tt::per_element());
        const std::vector<double> dx_want = xs.grad().to_vector();
        const std::vector<double> dx_got(xg.begin() + s * 8 * 4096, xg.begin() + (s + 1) * 8 * 4096);
        BOOST_TEST(dx_got == dx_want, tt::tolerance(1e-12) << tt::per_element());
        const std::vector<double> dw = ws.grad().to_vector(), db = bs.grad().to_vector();
        for (std::size_t i = 0; i < wsum.size(); ++i) wsum[i] += dw[i];
        for (std::size_t i = 0; i < bsum.size(); ++i) bsum[i] += db[i];
      }
      BOOST_TEST(wg == wsum, tt::tolerance(1e-10) << tt::per_element());
      BOOST_TEST(bg == bsum, tt::tolerance(1e-10) << tt::per_element());
    }
  }
}

BOOST_AUTO_TEST_CASE(max_pool2d_picks_the_window_maxima_and_their_indices) {
  TapeScope scope;
  Tensor x = tensor({1, 5, 2, 0,  //
                     3, 4, 8, 7,  //
                     9, 6, 1, 2,  //
                     0, 2, 3, 3},
                    Shape{1, 1, 4, 4}, Dtype::f64, true);
  const auto [y, idx] = max_pool2d_with_indices(x, 2);
  BOOST_TEST(y.shape() == (Shape{1, 1, 2, 2}));
  BOOST_TEST(y.to_vector() == (std::vector<double>{5, 8, 9, 3}), tt::per_element());
  // Flat positions in the 4x4 plane; the last window's tie between (3,2) and (3,3) goes to the first, 14.
  BOOST_TEST(idx.dtype() == Dtype::i64);
  BOOST_TEST(idx.to_vector() == (std::vector<double>{1, 6, 8, 14}), tt::per_element());
  backward(sum(y));
  const std::vector<double> dx{0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0};
  BOOST_TEST(x.grad().to_vector() == dx, tt::per_element());
}

BOOST_AUTO_TEST_CASE(max_pool2d_padding_and_overlapping_windows) {
  TapeScope scope;
  // Padding is -inf: a negative input still wins its corner windows.
  const Tensor neg = tensor({-1, -2, -3, -4}, Shape{1, 1, 2, 2}, Dtype::f64);
  const auto [p, pi] = max_pool2d_with_indices(neg, 2, 1, 1);
  BOOST_TEST(p.shape() == (Shape{1, 1, 3, 3}));
  BOOST_TEST(p.to_vector() == (std::vector<double>{-1, -1, -2, -1, -1, -2, -3, -3, -4}), tt::per_element());
  BOOST_TEST(pi.to_vector() == (std::vector<double>{0, 0, 1, 0, 0, 1, 2, 2, 3}), tt::per_element());
  // Kernel 3, stride 1 over one row of a 3x4 plane: the 9 is the maximum of both windows and gets both gradients.
  Tensor x = tensor({0, 1, 0, 0,  //
                     2, 9, 3, 0,  //
                     0, 0, 0, 4},
                    Shape{1, 1, 3, 4}, Dtype::f64, true);
  const Tensor y = max_pool2d(x, 3, 1);
  BOOST_TEST(y.to_vector() == (std::vector<double>{9, 9}), tt::per_element());
  backward(sum(y));
  BOOST_TEST(x.grad().at(5) == 2.0);
  BOOST_TEST(sum(x.grad()).item() == 2.0);
}

BOOST_AUTO_TEST_CASE(max_pool2d_lets_a_nan_win_as_pytorch_does) {
  TapeScope scope;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // 2x2 windows (the fast path): the NaN at (0,1) wins over 3.
  const auto [a, ai] = max_pool2d_with_indices(tensor({1, nan, 3, 2}, Shape{1, 1, 2, 2}, Dtype::f64), 2);
  BOOST_TEST(std::isnan(a.item()));
  BOOST_TEST(ai.item() == 1.0);
  // Stride 1 over a 2x3 plane (the general path): both windows hold the NaN at position 1 and pick it; the first of
  // two NaNs stays.
  const auto [b, bi] = max_pool2d_with_indices(tensor({1, nan, 3, 2, 5, nan}, Shape{1, 1, 2, 3}, Dtype::f64), 2, 1);
  BOOST_TEST(std::isnan(b.at(0)));
  BOOST_TEST(std::isnan(b.at(1)));
  BOOST_TEST(bi.to_vector() == (std::vector<double>{1, 1}), tt::per_element());
}

BOOST_AUTO_TEST_CASE(avg_pool2d_counts_the_padding) {
  TapeScope scope;
  Tensor x = tensor({1, 2, 3, 4}, Shape{1, 1, 2, 2}, Dtype::f64, true);
  // Kernel 2, stride 1, padding 1: 3x3 windows over the zero-padded 4x4 input, each divided by 4 (pad included).
  const Tensor y = avg_pool2d(x, 2, 1, 1);
  const std::vector<double> want{1 / 4.0,       (1 + 2) / 4.0,         2 / 4.0,  //
                                 (1 + 3) / 4.0, (1 + 2 + 3 + 4) / 4.0, (2 + 4) / 4.0,
                                 3 / 4.0,       (3 + 4) / 4.0,         4 / 4.0};
  BOOST_TEST(y.to_vector() == want, tt::per_element());
  backward(sum(y));
  // Each input is in four windows, each giving 1/4.
  BOOST_TEST(x.grad().to_vector() == (std::vector<double>{1, 1, 1, 1}), tt::per_element());
  // Stride defaults to the kernel: non-overlapping 2x2 means of a 2x4 plane.
  const Tensor z = avg_pool2d(tensor({1, 2, 3, 4, 5, 6, 7, 8}, Shape{1, 1, 2, 4}, Dtype::f64), 2);
  BOOST_TEST(z.to_vector() == (std::vector<double>{(1 + 2 + 5 + 6) / 4.0, (3 + 4 + 7 + 8) / 4.0}), tt::per_element());
}

BOOST_AUTO_TEST_CASE(adaptive_avg_pool2d_by_hand) {
  TapeScope scope;
  // 1x1: the mean of each plane.
  const Tensor x = tensor({1, 2, 3, 4, 10, 20, 30, 40}, Shape{1, 2, 2, 2}, Dtype::f64);
  const Tensor g = adaptive_avg_pool2d(x, {1, 1});
  BOOST_TEST(g.shape() == (Shape{1, 2, 1, 1}));
  BOOST_TEST(g.to_vector() == (std::vector<double>{2.5, 25}), tt::per_element());
  // 5 columns into 3: windows [0,2), [1,4), [3,5) (floor(i*5/3) to ceil((i+1)*5/3)).
  const Tensor r = adaptive_avg_pool2d(tensor({1, 2, 3, 4, 5}, Shape{1, 1, 1, 5}, Dtype::f64), {1, 3});
  BOOST_TEST(r.to_vector() == (std::vector<double>{1.5, 3, 4.5}), tt::per_element());
}

BOOST_AUTO_TEST_CASE(conv_errors_name_the_problem) {
  TapeScope scope;
  const Tensor x = zeros(Shape{2, 3, 5, 5}, Dtype::f64);
  const Tensor w = zeros(Shape{4, 3, 3, 3}, Dtype::f64);
  using IA = std::invalid_argument;
  BOOST_CHECK_EXCEPTION(conv2d(zeros(Shape{3, 5, 5}, Dtype::f64), w), IA,
                        message_has({"conv2d", "input must have rank 4", "[3,5,5]"}));
  BOOST_CHECK_EXCEPTION(conv2d(x, zeros(Shape{4, 3, 3}, Dtype::f64)), IA,
                        message_has({"conv2d", "weight must have rank 4", "[4,3,3]"}));
  BOOST_CHECK_EXCEPTION(conv2d(x, zeros(Shape{4, 2, 3, 3}, Dtype::f64)), IA,
                        message_has({"conv2d: channels differ", "C = 3", "[4,2,3,3]", "groups 1", "expects C = 2"}));
  BOOST_CHECK_EXCEPTION(conv2d(x, zeros(Shape{4, 1, 3, 3}, Dtype::f64), {}, 1, 0, 1, 2), IA,
                        message_has({"conv2d", "input channels C = 3", "not divisible by groups 2"}));
  BOOST_CHECK_EXCEPTION(conv2d(zeros(Shape{2, 4, 5, 5}, Dtype::f64), zeros(Shape{3, 2, 3, 3}, Dtype::f64), {}, 1, 0, 1, 2),
                        IA, message_has({"conv2d", "output channels O = 3", "not divisible by groups 2", "[3,2,3,3]"}));
  BOOST_CHECK_EXCEPTION(conv2d(x, zeros(Shape{4, 3, 6, 3}, Dtype::f64)), IA,
                        message_has({"conv2d", "kernel 6x3", "larger than the padded input 5x5"}));
  BOOST_CHECK_EXCEPTION(conv2d(x, w, {}, 1, 0, 3), IA,
                        message_has({"conv2d", "kernel 3x3 (dilated 7x7)", "padded input 5x5", "dilation 3x3"}));
  BOOST_CHECK_EXCEPTION(conv2d(x, w, {}, 1, 0, std::int64_t{1} << 62), IA,
                        message_has({"conv2d: kernel, padding and dilation sizes overflow", "dilation 4611686018427387904x"}));
  BOOST_CHECK_EXCEPTION(conv2d(x, w, {}, {1, 0}), IA, message_has({"conv2d: stride must be positive (got 1x0)"}));
  BOOST_CHECK_EXCEPTION(conv2d(x, w, {}, 1, 0, -1), IA, message_has({"conv2d: dilation must be positive (got -1x-1)"}));
  BOOST_CHECK_EXCEPTION(conv2d(x, zeros(Shape{4, 3, 0, 3}, Dtype::f64)), IA,
                        message_has({"conv2d: kernel size must be positive (got 0x3)"}));
  BOOST_CHECK_EXCEPTION(conv2d(x, w, {}, 1, 0, 1, 0), IA, message_has({"conv2d: groups must be positive (got 0)"}));
  BOOST_CHECK_EXCEPTION(conv2d(x, w, {}, 1, {0, -1}), IA, message_has({"conv2d: padding must be non-negative (got 0x-1)"}));
  BOOST_CHECK_EXCEPTION(conv2d(x, w, zeros(Shape{3}, Dtype::f64)), IA,
                        message_has({"conv2d: bias must have shape [4]", "got [3]"}));
  BOOST_CHECK_EXCEPTION(conv2d(x, zeros(Shape{4, 3, 3, 3}, Dtype::f32)), IA,
                        message_has({"conv2d: dtypes differ", "float64", "float32"}));
  BOOST_CHECK_EXCEPTION(conv2d(x, w, zeros(Shape{4}, Dtype::f32)), IA, message_has({"conv2d: dtypes differ"}));
  BOOST_CHECK_EXCEPTION(conv2d(zeros(Shape{1, 3, 5, 0}, Dtype::f64), w, {}, 1, 2), IA,
                        message_has({"conv2d: input must have non-empty channel and spatial dimensions", "[1,3,5,0]"}));
  BOOST_CHECK_EXCEPTION(conv2d(zeros(Shape{2, 3, 5, 5}, Dtype::i64), w), IA,
                        message_has({"conv2d: needs a float tensor", "int64"}));
  // Labels name the tensor.
  Tensor labelled = zeros(Shape{2, 2, 5, 5}, Dtype::f64);
  labelled.label("image");
  BOOST_CHECK_EXCEPTION(conv2d(labelled, w), IA, message_has({"'image' [2,2,5,5]", "C = 2"}));
  // conv1d names itself and its 1-D sizes.
  BOOST_CHECK_EXCEPTION(conv1d(x, zeros(Shape{4, 3, 3}, Dtype::f64)), IA,
                        message_has({"conv1d: input must have rank 3", "[2,3,5,5]"}));
  BOOST_CHECK_EXCEPTION(conv1d(zeros(Shape{1, 3, 4}, Dtype::f64), zeros(Shape{4, 3, 3}, Dtype::f64), {}, 0), IA,
                        message_has({"conv1d: stride must be positive (got 0)"}));
  BOOST_CHECK_EXCEPTION(conv1d(zeros(Shape{1, 3, 2}, Dtype::f64), zeros(Shape{4, 3, 3}, Dtype::f64)), IA,
                        message_has({"conv1d: kernel 3", "larger than the padded input 2"}));
  // The gradient ops check the gradient's shape against the forward's.
  BOOST_CHECK_EXCEPTION(conv2d_input_grad(zeros(Shape{2, 4, 2, 3}, Dtype::f64), w, x.shape()), IA,
                        message_has({"conv2d_input_grad", "forward output's shape [2,4,3,3]", "got [2,4,2,3]"}));
  BOOST_CHECK_EXCEPTION(conv2d_weight_grad(x, zeros(Shape{2, 4, 3, 4}, Dtype::f64), w.shape()), IA,
                        message_has({"conv2d_weight_grad", "forward output's shape [2,4,3,3]"}));
  BOOST_CHECK_EXCEPTION(conv2d_bias_grad(zeros(Shape{2, 4, 3}, Dtype::f64)), IA,
                        message_has({"conv2d_bias_grad: gradient must have rank 4", "[2,4,3]"}));
  BOOST_CHECK_EXCEPTION(conv2d_weight_grad(x, zeros(Shape{2, 4, 3, 3}, Dtype::f64), Shape{4, 2, 3, 3}), IA,
                        message_has({"conv2d_weight_grad: channels differ", "[4,2,3,3]"}));
}

BOOST_AUTO_TEST_CASE(pool_errors_name_the_problem) {
  TapeScope scope;
  const Tensor x = zeros(Shape{1, 2, 4, 4}, Dtype::f64);
  using IA = std::invalid_argument;
  BOOST_CHECK_EXCEPTION(max_pool2d(zeros(Shape{2, 4, 4}, Dtype::f64), 2), IA,
                        message_has({"max_pool2d: input must have rank 4", "[2,4,4]"}));
  BOOST_CHECK_EXCEPTION(max_pool2d(x, {0, 2}), IA, message_has({"max_pool2d: kernel size must be positive (got 0x2)"}));
  BOOST_CHECK_EXCEPTION(max_pool2d(x, 2, Size2{0}), IA, message_has({"max_pool2d: stride must be positive (got 0x0)"}));
  BOOST_CHECK_EXCEPTION(max_pool2d(x, 2, 2, 0, 0), IA, message_has({"max_pool2d: dilation must be positive"}));
  BOOST_CHECK_EXCEPTION(max_pool2d(x, 2, 2, -1), IA, message_has({"max_pool2d: padding must be non-negative (got -1x-1)"}));
  BOOST_CHECK_EXCEPTION(max_pool2d(x, 3, 1, 2), IA,
                        message_has({"max_pool2d: padding must be at most half the kernel size", "padding 2x2", "kernel 3x3"}));
  BOOST_CHECK_EXCEPTION(max_pool2d(x, 5), IA, message_has({"max_pool2d: kernel 5x5", "larger than the padded input 4x4"}));
  BOOST_CHECK_EXCEPTION(max_pool2d(zeros(Shape{1, 1, 2, 2}, Dtype::f64), 2, 1, 1, 3), IA,
                        message_has({"max_pool2d: the window of output row 0 holds only padding", "dilation 3x3"}));
  BOOST_CHECK_EXCEPTION(max_pool2d(zeros(Shape{1, 1, 4, 4}, Dtype::i64), 2), IA,
                        message_has({"max_pool2d: needs a float tensor"}));
  BOOST_CHECK_EXCEPTION(avg_pool2d(x, 2, 2, 2), IA, message_has({"avg_pool2d: padding must be at most half"}));
  BOOST_CHECK_EXCEPTION(avg_pool2d(x, {2, 6}), IA, message_has({"avg_pool2d: kernel 2x6", "padded input 4x4"}));
  BOOST_CHECK_EXCEPTION(adaptive_avg_pool2d(x, {0, 1}), IA,
                        message_has({"adaptive_avg_pool2d: output size must be positive (got 0x1)"}));
  BOOST_CHECK_EXCEPTION(adaptive_avg_pool2d(zeros(Shape{1, 2, 0, 3}, Dtype::f64), 1), IA,
                        message_has({"adaptive_avg_pool2d: input must have non-empty channel and spatial dimensions",
                                     "[1,2,0,3]"}));
  BOOST_CHECK_EXCEPTION(max_pool2d(zeros(Shape{1, 1, 0, 4}, Dtype::f64), 2, 2, 1), IA,
                        message_has({"max_pool2d: input must have non-empty channel and spatial dimensions", "[1,1,0,4]"}));
  BOOST_CHECK_EXCEPTION(adaptive_avg_pool2d(zeros(Shape{2, 4}, Dtype::f64), 1), IA,
                        message_has({"adaptive_avg_pool2d: input must have rank 4", "[2,4]"}));
  // The backward ops check their indices and gradient shapes.
  const Shape s{1, 1, 2, 2};
  BOOST_CHECK_EXCEPTION(max_pool2d_backward(zeros(Shape{1, 1, 1, 1}, Dtype::f64), tensor_i64({4}, Shape{1, 1, 1, 1}), s),
                        IA, message_has({"max_pool2d_backward: index 4 out of range [0, 4)"}));
  BOOST_CHECK_EXCEPTION(max_pool2d_backward(zeros(Shape{1, 1, 1, 1}, Dtype::f64), zeros(Shape{1, 1, 1, 1}, Dtype::f64), s),
                        IA, message_has({"max_pool2d_backward: indices must be int64"}));
  BOOST_CHECK_EXCEPTION(max_pool2d_backward(zeros(Shape{1, 1, 1, 2}, Dtype::f64), tensor_i64({0}, Shape{1, 1, 1, 1}), s),
                        IA, message_has({"max_pool2d_backward: gradient must have the forward output's shape [1,1,1,1]"}));
  BOOST_CHECK_EXCEPTION(max_pool_double_backward(zeros(Shape{1, 2, 2, 2}, Dtype::f64), tensor_i64({0}, Shape{1, 1, 1, 1})),
                        IA, message_has({"max_pool_double_backward", "same N and C"}));
  BOOST_CHECK_EXCEPTION(avg_pool2d_backward(zeros(Shape{1, 2, 3, 3}, Dtype::f64), x.shape(), 2), IA,
                        message_has({"avg_pool2d_backward: gradient must have the forward output's shape [1,2,2,2]"}));
  BOOST_CHECK_EXCEPTION(adaptive_avg_pool2d_backward(zeros(Shape{1, 3, 1, 1}, Dtype::f64), x.shape()), IA,
                        message_has({"adaptive_avg_pool2d_backward: gradient must have the forward output's shape [1,2,1,1]"}));
}
