// nn layers (Sequential, activations, Flatten, Conv2d, pooling, Embedding, LayerNorm, Dropout): float64 gradchecks
// through each layer, parameter names, checkpoint round trips, initialisation, hand values and error messages.
#define BOOST_TEST_MODULE nn_layers_test
#include <boost/test/unit_test.hpp>

#include "temp_dir.hpp"
#include "throws_with.hpp"

#include "autodiff/autodiff.hpp"
#include "nn/nn.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using autodiff::Dtype;
using autodiff::Shape;
using autodiff::Tensor;
using nn::Size2;

namespace {

/// Values from the generator's 64-bit words (identical on every standard library), in [lo, hi).
Tensor words(const Shape& shape, std::mt19937_64& gen, double lo = -1.0, double hi = 1.0, Dtype dtype = Dtype::f64) {
  return autodiff::uniform(shape, lo, hi, gen, dtype);
}

/// Points the module's parameter handles, in named_parameters() order, at p (gradcheck's leaves).
void use_parameters(nn::Module& m, const std::vector<Tensor>& p) {
  struct Setter : nn::ModuleVisitor {
    const std::vector<Tensor>& p;
    std::size_t i = 0;
    explicit Setter(const std::vector<Tensor>& params) : p(params) {}
    void parameter(std::string_view, Tensor& t) override { t = p.at(i++); }
    void child(std::string_view, nn::Module& c) override { c.list(*this); }
  } s(p);
  m.list(s);
  BOOST_TEST(s.i == p.size());
}

/// gradcheck of m.forward(x) with respect to x and every parameter of m (all float64).
autodiff::GradcheckReport check_layer(nn::Module& m, const Tensor& x, bool wrt_x = true) {
  std::vector<Tensor> inputs;
  if (wrt_x) inputs.push_back(x);
  for (const Tensor& p : m.parameters()) inputs.push_back(p);
  const auto report = autodiff::gradcheck(
      [&](const std::vector<Tensor>& in) {
        use_parameters(m, std::vector<Tensor>(in.begin() + (wrt_x ? 1 : 0), in.end()));
        return m.forward(wrt_x ? in[0] : x);
      },
      inputs);
  BOOST_TEST_MESSAGE(fmt::format("{}", report));
  return report;
}

/// A parameter handle holding a copy of t's value (its own storage and grad).
Tensor copy_of(const Tensor& t) { return Tensor::parameter(t.value().clone()); }

/// True when a and b hold the same dtype, shape and bits (as doubles: every float32 converts exactly).
bool same_bits(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && a.to_vector() == b.to_vector();
}

std::vector<std::string> names(const nn::Module& m) {
  std::vector<std::string> out;
  for (const auto& [name, t] : m.named_parameters()) out.push_back(name);
  return out;
}

}  // namespace

// ---- Sequential, ReLU, Flatten, Conv2d, pooling: a small CNN ------------------------------------------------------

BOOST_AUTO_TEST_CASE(small_cnn_forward_names_and_gradcheck) {
  std::mt19937_64 gen(7);
  nn::Sequential net{nn::Conv2d(1, 3, 3, 1, 1, gen, true, Dtype::f64), nn::ReLU(), nn::MaxPool2d(2),
                     nn::Conv2d(3, 2, 3, gen, 1, 0, true, Dtype::f64), nn::AvgPool2d(2), nn::Flatten(),
                     nn::Linear(2, 3, gen, nn::Init::uniform, Dtype::f64)};
  BOOST_TEST(net.size() == 7u);
  const std::vector<std::string> want{"0.weight", "0.bias", "3.weight", "3.bias", "6.weight", "6.bias"};
  BOOST_TEST(names(net) == want, boost::test_tools::per_element());
  const Tensor x = words(Shape{2, 1, 8, 8}, gen);
  // [2,1,8,8] conv -> [2,3,8,8] pool -> [2,3,4,4] conv -> [2,2,2,2] pool -> [2,2,1,1] flatten -> [2,2] linear -> [2,3]
  BOOST_TEST(net.forward(x).shape() == (Shape{2, 3}));
  BOOST_TEST(check_layer(net, x).ok);
}

// ---- Sequential --------------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(sequential_names_nesting_access_and_modes) {
  std::mt19937_64 gen(1);
  nn::Sequential empty;
  const Tensor x = words(Shape{2, 3}, gen);
  BOOST_TEST(empty.empty());
  BOOST_TEST(same_bits(empty.forward(x), x));

  nn::Sequential inner{nn::Linear(3, 4, gen), nn::Tanh()};
  nn::Sequential net{nn::Linear(3, 3, gen), std::make_unique<nn::Sequential>(std::move(inner))};
  net.add(nn::Dropout(0.5, gen)).add(std::make_unique<nn::Linear>(4, 2, gen));
  const std::vector<std::string> want{"0.weight", "0.bias", "1.0.weight", "1.0.bias", "3.weight", "3.bias"};
  BOOST_TEST(names(net) == want, boost::test_tools::per_element());
  BOOST_TEST(net.at<nn::Linear>(3).out_features() == 2);
  BOOST_TEST(std::as_const(net).at<nn::Sequential>(1).size() == 2u);
  BOOST_TEST(net.named_children().size() == 4u);

  // train()/eval() reach every module, nested ones included.
  net.eval();
  BOOST_TEST(!net[2].training());
  BOOST_TEST(!net.at<nn::Sequential>(1)[0].training());
  net.train();
  BOOST_TEST(net.at<nn::Sequential>(1)[1].training());

  // A default move keeps the very same parameter tensors.
  const Tensor w = net.at<nn::Linear>(0).weight();
  nn::Sequential moved = std::move(net);
  BOOST_TEST(moved.size() == 4u);
  BOOST_TEST(moved.named_parameters().front().second.value().data<float>() == w.value().data<float>());
}

BOOST_AUTO_TEST_CASE(sequential_braces_draw_in_order) {
  // A braced list is evaluated left to right: module 0 takes the generator's first words, whatever the compiler.
  std::mt19937_64 g1(8), g2(8);
  nn::Sequential net{nn::Linear(2, 3, g1), nn::Linear(3, 1, g1)};
  nn::Linear first(2, 3, g2), second(3, 1, g2);
  BOOST_TEST(same_bits(net.at<nn::Linear>(0).weight(), first.weight()));
  BOOST_TEST(same_bits(net.at<nn::Linear>(1).bias(), second.bias()));
}

BOOST_AUTO_TEST_CASE(sequential_errors) {
  std::mt19937_64 gen(1);
  nn::Sequential net(nn::Linear(3, 3, gen), nn::ReLU());
  BOOST_CHECK_EXCEPTION(net[2], std::exception, says<std::out_of_range>({"Sequential", "index 2", "size 2"}));
  BOOST_CHECK_EXCEPTION(net.at<nn::Linear>(1), std::exception,
                        says<std::invalid_argument>({"Sequential", "module 1", "not of the requested type"}));
  BOOST_CHECK_EXCEPTION(net.add(std::unique_ptr<nn::Module>()), std::exception,
                        says<std::invalid_argument>({"Sequential", "module 2", "null pointer"}));
  // A module's own error passes through unchanged.
  BOOST_CHECK_EXCEPTION(net.forward(autodiff::zeros(Shape{2, 5})), std::exception,
                        says<std::invalid_argument>({"Linear", "[2,5]"}));
}

/// Sequential(Linear, act, Linear, act, ...) with the MLP's parameters copied in.
nn::Sequential copy_as_sequential(const nn::MLP& mlp, nn::Activation hidden, nn::Activation output) {
  std::mt19937_64 gen(99);
  auto act = [](nn::Activation a) -> std::unique_ptr<nn::Module> {
    switch (a) {
      case nn::Activation::sigmoid: return std::make_unique<nn::Sigmoid>();
      case nn::Activation::relu: return std::make_unique<nn::ReLU>();
      case nn::Activation::tanh: return std::make_unique<nn::Tanh>();
      case nn::Activation::identity: return nullptr;
    }
    return nullptr;
  };
  nn::Sequential seq;
  for (std::size_t l = 1; l <= mlp.depth(); ++l) {
    nn::Linear lin(mlp.sizes()[l - 1], mlp.sizes()[l], gen, nn::Init::uniform, mlp.dtype());
    lin.weight() = copy_of(mlp.layer(l).weight());
    lin.bias() = copy_of(mlp.layer(l).bias());
    seq.add(std::move(lin));
    if (auto a = act(l == mlp.depth() ? output : hidden)) seq.add(std::move(a));
  }
  return seq;
}

BOOST_AUTO_TEST_CASE(sequential_of_linear_layers_is_bit_identical_to_mlp) {
  const struct {
    std::vector<std::int64_t> sizes;
    nn::Activation hidden, output;
    Dtype dtype;
  } cases[] = {{{4, 6, 5, 3}, nn::Activation::sigmoid, nn::Activation::sigmoid, Dtype::f32},
               {{7, 16, 2}, nn::Activation::relu, nn::Activation::identity, Dtype::f32},
               {{3, 5, 5, 5, 1}, nn::Activation::tanh, nn::Activation::sigmoid, Dtype::f64}};
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("sizes " << c.sizes.size() << " hidden " << nn::name(c.hidden)) {
      std::mt19937_64 gen(5);
      nn::MLP mlp(c.sizes, gen, c.hidden, c.output, nn::Init::uniform, c.dtype);
      nn::Sequential seq = copy_as_sequential(mlp, c.hidden, c.output);
      const Tensor x = words(Shape{9, c.sizes.front()}, gen, -2, 2, c.dtype);
      const Tensor y = words(Shape{9, c.sizes.back()}, gen, 0, 1, c.dtype);
      // One model's backward at a time: a backward releases the graph recorded before it.
      const Tensor a = mlp.forward(x);
      autodiff::backward(nn::squared_error(a, y));
      const Tensor b = seq.forward(x);
      autodiff::backward(nn::squared_error(b, y));
      BOOST_TEST(same_bits(a, b));
      const auto pm = mlp.named_parameters(), ps = seq.named_parameters();
      BOOST_TEST_REQUIRE(pm.size() == ps.size());
      for (std::size_t i = 0; i < pm.size(); ++i) {
        BOOST_TEST_CONTEXT(pm[i].first << " vs " << ps[i].first) {
          BOOST_TEST(pm[i].second.value().data<std::byte>() != ps[i].second.value().data<std::byte>());
          BOOST_TEST(same_bits(pm[i].second, ps[i].second));
          BOOST_TEST(same_bits(pm[i].second.grad(), ps[i].second.grad()));
        }
      }
    }
  }
}

// ---- activations and Flatten -------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(activations_hand_values_and_gradcheck) {
  std::mt19937_64 gen(3);
  nn::ReLU relu;
  nn::GELU gelu, gelu_tanh(autodiff::GeluApproximate::tanh);
  nn::Sigmoid sigmoid;
  nn::Tanh tanh;
  const Tensor p = autodiff::tensor({-1.0, 0.0, 1.0}, Dtype::f64);
  BOOST_TEST(relu.forward(p).to_vector() == (std::vector<double>{0.0, 0.0, 1.0}), boost::test_tools::per_element());
  BOOST_TEST(sigmoid.forward(p).to_vector()[1] == 0.5);
  BOOST_TEST(tanh.forward(p).to_vector()[1] == 0.0);
  // gelu(1) = Phi(1) = 0.5 (1 + erf(1 / sqrt 2)); the tanh form is within 2e-4 of it.
  BOOST_TEST(gelu.forward(p).to_vector()[2] == 0.8413447460685429, boost::test_tools::tolerance(1e-15));
  BOOST_TEST(std::abs(gelu_tanh.forward(p).to_vector()[2] - 0.8413447460685429) < 2e-4);
  BOOST_TEST((gelu_tanh.approximate() == autodiff::GeluApproximate::tanh));

  const Tensor x = words(Shape{3, 4}, gen, -3, 3);
  nn::Module* layers[] = {&relu, &gelu, &gelu_tanh, &sigmoid, &tanh};
  for (nn::Module* m : layers) {
    BOOST_TEST(m->named_parameters().empty());
    BOOST_TEST(check_layer(*m, x).ok);
  }
}

BOOST_AUTO_TEST_CASE(flatten_shapes_gradcheck_and_errors) {
  std::mt19937_64 gen(4);
  const Tensor x = words(Shape{2, 3, 4, 5}, gen);
  BOOST_TEST(nn::Flatten().forward(x).shape() == (Shape{2, 60}));
  BOOST_TEST(nn::Flatten(0).forward(x).shape() == (Shape{120}));
  BOOST_TEST(nn::Flatten(1, 2).forward(x).shape() == (Shape{2, 12, 5}));
  BOOST_TEST(nn::Flatten(-2).forward(x).shape() == (Shape{2, 3, 20}));
  BOOST_TEST(nn::Flatten().forward(x).to_vector() == x.to_vector(), boost::test_tools::per_element());
  nn::Flatten f;
  BOOST_TEST(check_layer(f, x).ok);
  BOOST_CHECK_EXCEPTION(nn::Flatten().forward(autodiff::zeros(Shape{5})), std::exception,
                        says<std::invalid_argument>({"Flatten", "axis out of range", "start_dim 1", "[5]"}));
  BOOST_CHECK_EXCEPTION(nn::Flatten(2, 1).forward(x), std::exception,
                        says<std::invalid_argument>({"Flatten", "start_dim comes after end_dim", "[2,3,4,5]"}));
}

// ---- Conv2d ------------------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(conv2d_init_follows_pytorch) {
  std::mt19937_64 gen(11);
  nn::Conv2d conv(3, 8, {5, 3}, gen);
  BOOST_TEST(conv.weight().shape() == (Shape{8, 3, 5, 3}));
  BOOST_TEST(conv.bias().shape() == (Shape{8}));
  BOOST_TEST(conv.weight().requires_grad());
  BOOST_TEST(conv.bias().requires_grad());
  const double bound = 1.0 / std::sqrt(3.0 * 5 * 3);  // fan_in = in * kh * kw = 45
  double widest = 0.0;
  for (double w : conv.weight().to_vector()) {
    BOOST_TEST(std::abs(w) <= bound);
    widest = std::max(widest, std::abs(w));
  }
  for (double b : conv.bias().to_vector()) BOOST_TEST(std::abs(b) <= bound);
  // 360 draws from U(-bound, bound) reach past 0.9 bound (a bound of 1/sqrt(in) would not be filled).
  BOOST_TEST(widest > 0.9 * bound);

  // Weight then bias from the generator: the same seed gives the same layer.
  std::mt19937_64 again(11);
  nn::Conv2d twin(3, 8, {5, 3}, 1, 0, again);
  BOOST_TEST(same_bits(twin.weight(), conv.weight()));
  BOOST_TEST(same_bits(twin.bias(), conv.bias()));

  nn::Conv2d no_bias(2, 4, 3, gen, 1, 0, false);
  BOOST_TEST(!no_bias.bias().defined());
  BOOST_TEST(names(no_bias) == std::vector<std::string>{"weight"}, boost::test_tools::per_element());
  BOOST_TEST(no_bias.forward(autodiff::zeros(Shape{1, 2, 3, 3})).to_vector() == std::vector<double>(4, 0.0),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(conv2d_hand_values_shapes_and_gradcheck) {
  std::mt19937_64 gen(12);
  nn::Conv2d conv(1, 1, 2, gen, 1, 0, true, Dtype::f64);
  conv.weight() = autodiff::tensor({1, 2, 3, 4}, Shape{1, 1, 2, 2}, Dtype::f64, true);
  conv.bias() = autodiff::tensor({0.5}, Dtype::f64, true);
  const Tensor x = autodiff::tensor({1, 2, 3, 4, 5, 6, 7, 8, 9}, Shape{1, 1, 3, 3}, Dtype::f64);
  // [[1,2],[3,4]] across [[1,2,3],[4,5,6],[7,8,9]]: 1+4+12+20, 2+6+15+24, 4+10+21+32, 5+12+24+36, plus 0.5.
  BOOST_TEST(conv.forward(x).to_vector() == (std::vector<double>{37.5, 47.5, 67.5, 77.5}),
             boost::test_tools::per_element());

  nn::Conv2d strided(2, 4, 3, 2, 1, gen, true, Dtype::f64);
  const Tensor y = words(Shape{2, 2, 7, 6}, gen);
  // (7 + 2 - 3) / 2 + 1 = 4, (6 + 2 - 3) / 2 + 1 = 3
  BOOST_TEST(strided.forward(y).shape() == (Shape{2, 4, 4, 3}));
  BOOST_TEST(check_layer(strided, y).ok);
  nn::Conv2d rect(2, 3, {1, 3}, gen, {2, 1}, {0, 1}, false, Dtype::f64);
  BOOST_TEST(rect.forward(y).shape() == (Shape{2, 3, 4, 6}));
  BOOST_TEST(check_layer(rect, y).ok);
}

BOOST_AUTO_TEST_CASE(conv2d_errors) {
  std::mt19937_64 gen(13);
  nn::Conv2d conv(1, 4, 5, gen);
  BOOST_CHECK_EXCEPTION(conv.forward(autodiff::zeros(Shape{64, 3, 28, 28})), std::exception,
                        says<std::invalid_argument>({"Conv2d: input has 3 channels, expected 1 (input [64,3,28,28])"}));
  BOOST_CHECK_EXCEPTION(conv.forward(autodiff::zeros(Shape{1, 28, 28})), std::exception,
                        says<std::invalid_argument>({"Conv2d", "[N,C,H,W]", "[1,28,28]"}));
  BOOST_CHECK_EXCEPTION(conv.forward(autodiff::zeros(Shape{2, 1, 4, 9})), std::exception,
                        says<std::invalid_argument>({"Conv2d", "kernel 5x5 does not fit the padded input 4x9", "[2,1,4,9]"}));
  BOOST_CHECK_EXCEPTION(conv.forward(autodiff::zeros(Shape{2, 1, 8, 8}, Dtype::f64)), std::exception,
                        says<std::invalid_argument>({"Conv2d", "float64", "float32", "[2,1,8,8]"}));
  BOOST_CHECK_EXCEPTION(conv.forward(autodiff::zeros(Shape{2, 1, 8, 8}, Dtype::i64)), std::exception,
                        says<std::invalid_argument>({"Conv2d", "needs a float tensor", "int64"}));
  BOOST_CHECK_EXCEPTION(nn::Conv2d(0, 4, 3, gen), std::exception,
                        says<std::invalid_argument>({"Conv2d", "must be positive", "in 0"}));
  BOOST_CHECK_EXCEPTION(nn::Conv2d(1, 4, 3, 0, 0, gen), std::exception,
                        says<std::invalid_argument>({"Conv2d", "must be positive", "stride 0x0"}));
  BOOST_CHECK_EXCEPTION(nn::Conv2d(1, 4, 3, 1, {0, -1}, gen), std::exception,
                        says<std::invalid_argument>({"Conv2d", "padding must not be negative", "0x-1"}));
}

// ---- pooling -----------------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(pooling_hand_values_and_gradcheck) {
  std::vector<double> v(16);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i);
  const Tensor x = autodiff::tensor(v, Shape{1, 1, 4, 4}, Dtype::f64);
  nn::MaxPool2d max(2);
  nn::AvgPool2d avg(2);
  BOOST_TEST((max.stride() == Size2(2)));
  BOOST_TEST(max.forward(x).to_vector() == (std::vector<double>{5, 7, 13, 15}), boost::test_tools::per_element());
  BOOST_TEST(avg.forward(x).to_vector() == (std::vector<double>{2.5, 4.5, 10.5, 12.5}), boost::test_tools::per_element());
  BOOST_TEST(nn::MaxPool2d(3, 1).forward(x).to_vector() == (std::vector<double>{10, 11, 14, 15}),
             boost::test_tools::per_element());
  // Padded zeros count in the average (count_include_pad): one value and three zeros per window.
  const Tensor small = autodiff::tensor({1, 2, 3, 4}, Shape{1, 1, 2, 2}, Dtype::f64);
  BOOST_TEST(nn::AvgPool2d(2, 2, 1).forward(small).to_vector() == (std::vector<double>{0.25, 0.5, 0.75, 1.0}),
             boost::test_tools::per_element());
  BOOST_TEST(max.named_parameters().empty());

  std::mt19937_64 gen(14);
  const Tensor y = words(Shape{2, 3, 6, 5}, gen);
  nn::MaxPool2d max3(3, 2, 1);
  nn::AvgPool2d avg_rect({2, 3}, {2, 1});
  BOOST_TEST(max3.forward(y).shape() == (Shape{2, 3, 3, 3}));
  BOOST_TEST(avg_rect.forward(y).shape() == (Shape{2, 3, 3, 3}));
  BOOST_TEST(check_layer(max, y).ok);
  BOOST_TEST(check_layer(max3, y).ok);
  BOOST_TEST(check_layer(avg_rect, y).ok);
}

BOOST_AUTO_TEST_CASE(pooling_errors) {
  BOOST_CHECK_EXCEPTION(nn::MaxPool2d(0), std::exception,
                        says<std::invalid_argument>({"MaxPool2d", "kernel and stride must be positive", "kernel 0x0"}));
  BOOST_CHECK_EXCEPTION(nn::AvgPool2d(2, {1, 0}), std::exception,
                        says<std::invalid_argument>({"AvgPool2d", "must be positive", "stride 1x0"}));
  BOOST_CHECK_EXCEPTION(nn::MaxPool2d(2, 2, 2), std::exception,
                        says<std::invalid_argument>({"MaxPool2d", "half the kernel", "padding 2x2"}));
  BOOST_CHECK_EXCEPTION(nn::MaxPool2d(2).forward(autodiff::zeros(Shape{4, 4})), std::exception,
                        says<std::invalid_argument>({"MaxPool2d", "[N,C,H,W]", "[4,4]"}));
  BOOST_CHECK_EXCEPTION(nn::AvgPool2d(3).forward(autodiff::zeros(Shape{1, 2, 2, 5})), std::exception,
                        says<std::invalid_argument>({"AvgPool2d", "kernel 3x3 does not fit the padded input 2x5"}));
  BOOST_CHECK_EXCEPTION(nn::MaxPool2d(2).forward(autodiff::zeros(Shape{1, 1, 2, 2}, Dtype::i64)), std::exception,
                        says<std::invalid_argument>({"MaxPool2d", "needs a float tensor"}));
}

// ---- Embedding ---------------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(embedding_init_lookup_gradcheck_and_errors) {
  std::mt19937_64 gen(15);
  nn::Embedding emb(100, 50, gen);
  BOOST_TEST(names(emb) == std::vector<std::string>{"weight"}, boost::test_tools::per_element());
  BOOST_TEST(emb.weight().shape() == (Shape{100, 50}));
  // N(0, 1): the mean and standard deviation of 5000 draws are within 0.1 of 0 and 1 (about 7 and 5 sigma).
  const std::vector<double> w = emb.weight().to_vector();
  double sum = 0.0, sq = 0.0;
  for (double d : w) sum += d, sq += d * d;
  const double mean = sum / static_cast<double>(w.size());
  BOOST_TEST(std::abs(mean) < 0.1);
  BOOST_TEST(std::abs(std::sqrt(sq / static_cast<double>(w.size()) - mean * mean) - 1.0) < 0.1);

  const Tensor idx = autodiff::tensor({3, 0, 3, 99, 7, 3}, Shape{2, 3}, Dtype::i64);
  const Tensor out = emb.forward(idx);
  BOOST_TEST(out.shape() == (Shape{2, 3, 50}));
  const std::vector<double> o = out.to_vector();
  for (int j = 0; j < 50; ++j) BOOST_TEST(o[static_cast<std::size_t>(3 * 50 + j)] == w[static_cast<std::size_t>(99 * 50 + j)]);

  nn::Embedding small(10, 4, gen, Dtype::f64);
  BOOST_TEST(check_layer(small, autodiff::tensor({3, 0, 3, 9, 7, 3}, Shape{2, 3}, Dtype::i64), false).ok);
  // Index 3 three times: its row's gradient accumulates (sum over the three uses).
  small = nn::Embedding(10, 4, gen, Dtype::f64);
  autodiff::backward(autodiff::sum(small.forward(autodiff::tensor({3, 0, 3, 3}, Dtype::i64))));
  const std::vector<double> g = small.weight().grad().to_vector();
  BOOST_TEST(g[3 * 4] == 3.0);
  BOOST_TEST(g[0] == 1.0);
  BOOST_TEST(g[4] == 0.0);

  BOOST_CHECK_EXCEPTION(emb.forward(autodiff::zeros(Shape{2})), std::exception,
                        says<std::invalid_argument>({"Embedding", "indices must be int64", "float32"}));
  BOOST_CHECK_EXCEPTION(emb.forward(autodiff::tensor({1, 100}, Dtype::i64)), std::exception,
                        says<std::invalid_argument>({"Embedding", "index 100", "out of range", "size 100"}));
  BOOST_CHECK_EXCEPTION(nn::Embedding(0, 4, gen), std::exception,
                        says<std::invalid_argument>({"Embedding", "must be positive", "num_embeddings 0"}));
}

// ---- LayerNorm ---------------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(layer_norm_hand_values) {
  nn::LayerNorm ln(4, 1e-5, Dtype::f64);
  BOOST_TEST(names(ln) == (std::vector<std::string>{"weight", "bias"}), boost::test_tools::per_element());
  BOOST_TEST(ln.weight().to_vector() == std::vector<double>(4, 1.0), boost::test_tools::per_element());
  BOOST_TEST(ln.bias().to_vector() == std::vector<double>(4, 0.0), boost::test_tools::per_element());
  BOOST_TEST(ln.eps() == 1e-5);
  // x = 1 2 3 4: mean 2.5, biased variance 1.25, y = (x - 2.5) / sqrt(1.25 + 1e-5). The constant row 5 5 5 5 has
  // variance 0: eps keeps it finite (zeros), as in PyTorch.
  const Tensor x = autodiff::tensor({1, 2, 3, 4, 5, 5, 5, 5}, Shape{2, 4}, Dtype::f64);
  const std::vector<double> y = ln.forward(x).to_vector();
  const double want[] = {-1.3416354199689269, -0.447211806656309, 0.447211806656309, 1.3416354199689269, 0, 0, 0, 0};
  for (int i = 0; i < 8; ++i) BOOST_TEST(y[static_cast<std::size_t>(i)] == want[i], boost::test_tools::tolerance(1e-14));

  ln.weight() = autodiff::tensor({2, 1, 0.5, -1}, Dtype::f64, true);
  ln.bias() = autodiff::tensor({1, 0, -1, 0.25}, Dtype::f64, true);
  const std::vector<double> z = ln.forward(x).to_vector();
  const double want_affine[] = {-1.6832708399378538, -0.447211806656309, -0.7763940966718454, -1.0916354199689269,
                                1, 0, -1, 0.25};
  for (int i = 0; i < 8; ++i)
    BOOST_TEST(z[static_cast<std::size_t>(i)] == want_affine[i], boost::test_tools::tolerance(1e-14));
}

BOOST_AUTO_TEST_CASE(layer_norm_gradcheck_and_errors) {
  std::mt19937_64 gen(16);
  nn::LayerNorm ln(5, 1e-5, Dtype::f64);
  ln.weight() = Tensor::parameter(words(Shape{5}, gen, 0.5, 1.5).value());
  ln.bias() = Tensor::parameter(words(Shape{5}, gen).value());
  BOOST_TEST(check_layer(ln, words(Shape{3, 5}, gen)).ok);
  nn::LayerNorm ln2(Shape{2, 3}, 1e-5, Dtype::f64);
  BOOST_TEST(ln2.normalized_shape() == (Shape{2, 3}));
  BOOST_TEST(check_layer(ln2, words(Shape{4, 2, 3}, gen)).ok);

  nn::LayerNorm f32(4);
  BOOST_CHECK_EXCEPTION(f32.forward(autodiff::zeros(Shape{2, 5})), std::exception,
                        says<std::invalid_argument>({"LayerNorm", "trailing sizes", "[2,5]", "[4]"}));
  BOOST_CHECK_EXCEPTION(f32.forward(autodiff::zeros(Shape{2, 4}, Dtype::f64)), std::exception,
                        says<std::invalid_argument>({"LayerNorm", "float64", "float32"}));
  BOOST_CHECK_EXCEPTION(nn::LayerNorm(Shape{}), std::exception,
                        says<std::invalid_argument>({"LayerNorm", "normalized_shape", "positive sizes"}));
  BOOST_CHECK_EXCEPTION(nn::LayerNorm(4, -1.0), std::exception, says<std::invalid_argument>({"LayerNorm", "eps", "-1"}));
}

// ---- Dropout -----------------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(dropout_train_and_eval) {
  std::mt19937_64 gen(17);
  nn::Dropout drop(0.25, gen);
  BOOST_TEST(drop.training());
  BOOST_TEST(drop.named_parameters().empty());
  const Tensor x = autodiff::ones(Shape{4000}, Dtype::f64);
  // Training: each element is 0 or 1 / (1 - p), about a quarter of them 0.
  const std::vector<double> y = drop.forward(x).to_vector();
  int zeros = 0;
  for (double v : y) {
    BOOST_TEST((v == 0.0 || v == 1.0 / 0.75));
    zeros += v == 0.0;
  }
  BOOST_TEST(zeros > 800);
  BOOST_TEST(zeros < 1200);
  // The mask is autodiff::dropout's with the layer's generator.
  std::mt19937_64 a(5), b(5);
  nn::Dropout from_a(0.25, a);
  BOOST_TEST(same_bits(from_a.forward(x), autodiff::dropout(x, 0.25, b)));
  // A new mask per call.
  BOOST_TEST(!same_bits(drop.forward(x), drop.forward(x)));

  // Eval: the input's values, and the generator is not touched.
  drop.eval();
  const std::mt19937_64 before = gen;
  BOOST_TEST(same_bits(drop.forward(x), x));
  BOOST_TEST((gen == before));
  // Sequential passes the mode on.
  nn::Sequential net(nn::Dropout(1.0, gen));
  BOOST_TEST(net.forward(x).to_vector() == std::vector<double>(4000, 0.0), boost::test_tools::per_element());
  net.eval();
  BOOST_TEST(same_bits(net.forward(x), x));
}

BOOST_AUTO_TEST_CASE(dropout_gradcheck_and_errors) {
  std::mt19937_64 gen(18);
  const Tensor x = words(Shape{4, 6}, gen);
  // One fixed mask: the generator is reseeded before each of gradcheck's evaluations.
  std::mt19937_64 mask_gen;
  nn::Dropout drop(0.4, mask_gen);
  const auto report = autodiff::gradcheck(
      [&](const std::vector<Tensor>& in) {
        mask_gen.seed(3);
        return drop.forward(in[0]);
      },
      {x});
  BOOST_TEST(report.ok);
  drop.eval();
  BOOST_TEST(check_layer(drop, x).ok);

  BOOST_CHECK_EXCEPTION(nn::Dropout(1.5, gen), std::exception,
                        says<std::invalid_argument>({"Dropout", "p must be in [0, 1]", "1.5"}));
  BOOST_CHECK_EXCEPTION(nn::Dropout(std::nan(""), gen), std::exception, says<std::invalid_argument>({"Dropout", "nan"}));
  BOOST_CHECK_EXCEPTION(drop.forward(autodiff::zeros(Shape{3}, Dtype::i64)), std::exception,
                        says<std::invalid_argument>({"Dropout", "needs a float tensor", "int64"}));
}

// ---- checkpoints -------------------------------------------------------------------------------------------------

/// Saves `from`, loads it into `to` (built from another seed) and checks every parameter and the output agree.
void round_trip(const nn::Module& from, nn::Module& to, const Tensor& x, const std::filesystem::path& file) {
  BOOST_TEST(!same_bits(from.forward(x), to.forward(x)));
  nn::save(from, file);
  nn::load(to, file);
  const auto a = from.named_parameters(), b = to.named_parameters();
  BOOST_TEST_REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    BOOST_TEST(a[i].first == b[i].first);
    BOOST_TEST(same_bits(a[i].second, b[i].second));
  }
  BOOST_TEST(same_bits(from.forward(x), to.forward(x)));
}

BOOST_AUTO_TEST_CASE(checkpoint_round_trip_per_layer) {
  testing::TempDir dir("nn_layers_test");
  std::mt19937_64 g1(1), g2(2);
  {
    nn::Conv2d a(2, 3, 3, 1, 1, g1), b(2, 3, 3, 1, 1, g2);
    round_trip(a, b, words(Shape{1, 2, 5, 5}, g1, -1, 1, Dtype::f32), dir.path / "conv.ckpt");
  }
  {
    nn::Linear a(3, 2, g1), b(3, 2, g2);
    round_trip(a, b, words(Shape{2, 3}, g1, -1, 1, Dtype::f32), dir.path / "linear.ckpt");
  }
  {
    nn::Embedding a(7, 3, g1), b(7, 3, g2);
    round_trip(a, b, autodiff::tensor({0, 6, 2}, Dtype::i64), dir.path / "embedding.ckpt");
  }
  {
    nn::LayerNorm a(4), b(4);
    a.weight() = autodiff::full(Shape{4}, 1.5, Dtype::f32, true);  // LayerNorm starts at ones and zeros whatever the seed
    a.bias() = autodiff::full(Shape{4}, -0.5, Dtype::f32, true);
    round_trip(a, b, words(Shape{2, 4}, g1, -1, 1, Dtype::f32), dir.path / "norm.ckpt");
  }
  {
    auto cnn = [](std::mt19937_64& g) {
      return nn::Sequential{nn::Conv2d(1, 2, 3, g), nn::ReLU(), nn::MaxPool2d(2), nn::Flatten(), nn::Linear(8, 3, g)};
    };
    nn::Sequential a = cnn(g1), b = cnn(g2);
    round_trip(a, b, words(Shape{2, 1, 6, 6}, g1, -1, 1, Dtype::f32), dir.path / "cnn.ckpt");
  }
  // A checkpoint of a layer with a bias does not fit one without: nothing is loaded.
  nn::Conv2d with_bias(2, 3, 3, g1), without(2, 3, 3, g2, 1, 0, false);
  nn::save(with_bias, dir.path / "bias.ckpt");
  const std::vector<double> w = without.weight().to_vector();
  BOOST_CHECK_THROW(nn::load(without, dir.path / "bias.ckpt"), std::invalid_argument);
  BOOST_TEST(without.weight().to_vector() == w, boost::test_tools::per_element());
  nn::Conv2d wider(2, 3, 5, g2);
  BOOST_CHECK_EXCEPTION(nn::load(wider, dir.path / "bias.ckpt"), std::exception, says<std::invalid_argument>({"weight"}));
}
