// nn layers and costs: gradcheck through whole models, XOR training, parameter names, modes, init ranges, errors.
#define BOOST_TEST_MODULE nn_test
#include <boost/test/unit_test.hpp>

#include "throws_with.hpp"

#include "autodiff/autodiff.hpp"
#include "nn/cost.hpp"
#include "nn/linear.hpp"
#include "nn/mlp.hpp"
#include "nn/module.hpp"
#include "nn/optim.hpp"
#include "nn/scalar_mlp.hpp"

#include <fmt/format.h>

#include <cmath>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

using autodiff::Dtype;
using autodiff::Shape;
using autodiff::Tensor;
using nn::Activation;
using nn::Init;

namespace {

Tensor rows_from_words(std::int64_t rows, std::int64_t cols, std::mt19937_64& gen, double lo, double hi) {
  std::vector<double> v(static_cast<std::size_t>(rows * cols));
  for (double& x : v) x = lo + (hi - lo) * static_cast<double>(gen() >> 11) * 0x1.0p-53;
  return autodiff::tensor(v, Shape{rows, cols}, Dtype::f64);
}

/// Points the model's parameter handles at gradcheck's leaves, so f differentiates the model itself.
void use_parameters(nn::MLP& m, const std::vector<Tensor>& p) {
  for (std::size_t l = 1; l <= m.depth(); ++l) {
    m.layer(l).weight() = p[2 * (l - 1)];
    m.layer(l).bias() = p[2 * (l - 1) + 1];
  }
}

}  // namespace

// ---- gradcheck through whole models ----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(gradcheck_mlp_squared_error) {
  std::mt19937_64 gen(1);
  nn::MLP m({3, 5, 4, 2}, gen, Activation::sigmoid, Activation::sigmoid, Init::normal, Dtype::f64);
  const Tensor x = rows_from_words(6, 3, gen, -1, 1), y = rows_from_words(6, 2, gen, 0, 1);
  const auto report = autodiff::gradcheck(
      [&](const std::vector<Tensor>& p) {
        use_parameters(m, p);
        return nn::squared_error(m.forward(x), y);
      },
      m.parameters());
  BOOST_TEST(report.inputs.size() == 6u);
  BOOST_TEST(report.ok, fmt::format("{}", report));
}

BOOST_AUTO_TEST_CASE(gradcheck_mlp_softmax_cross_entropy) {
  std::mt19937_64 gen(2);
  nn::MLP m({4, 6, 3}, gen, Activation::tanh, Activation::identity, Init::uniform, Dtype::f64);
  const Tensor x = rows_from_words(5, 4, gen, -2, 2);
  const std::vector<std::int64_t> labels = {0, 2, 1, 2, 0};
  const auto report = autodiff::gradcheck(
      [&](const std::vector<Tensor>& p) {
        use_parameters(m, p);
        return nn::softmax_cross_entropy(m.forward(x), labels);
      },
      m.parameters());
  BOOST_TEST(report.inputs.size() == 4u);
  BOOST_TEST(report.ok, fmt::format("{}", report));
}

BOOST_AUTO_TEST_CASE(gradcheck_relu_mlp_and_costs_wrt_inputs) {
  std::mt19937_64 gen(3);
  nn::MLP m({3, 8, 2}, gen, Activation::relu, Activation::identity, Init::normal, Dtype::f64);
  const Tensor x = rows_from_words(4, 3, gen, -1, 1), y = rows_from_words(4, 2, gen, 0, 1);
  // With respect to the input and the target as well (no kinks hit: relu inputs are far from 0 for this seed).
  const auto report = autodiff::gradcheck(
      [&](const std::vector<Tensor>& in) { return nn::squared_error(m.forward(in[0]), in[1]); }, {x, y});
  BOOST_TEST(report.ok, fmt::format("{}", report));
}

// ---- training ----------------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(xor_is_learned_by_a_2_4_1_sigmoid_mlp_with_plain_sgd) {
  // Full batch of the 4 XOR points, seed 42, float32, plain SGD with lr 2 for 2000 epochs. (Seeds 0..9 all fall
  // below 0.01 within about 950 epochs at this rate; the cost is the seed's sum of squares, batch mean.)
  std::mt19937_64 gen(42);
  nn::MLP m({2, 4, 1}, gen);
  nn::SGD opt(m.parameters(), {.lr = 2.0});
  const Tensor x = autodiff::tensor({0, 0, 0, 1, 1, 0, 1, 1}, Shape{4, 2});
  const Tensor y = autodiff::tensor({0, 1, 1, 0}, Shape{4, 1});
  double first = 0, loss = 0;
  for (int epoch = 0; epoch < 2000; ++epoch) {
    autodiff::TapeScope scope;
    opt.zero_grad();
    const Tensor c = nn::squared_error(m.forward(x), y);
    autodiff::backward(c);
    opt.step();
    loss = c.at(0);
    if (epoch == 0) first = loss;
  }
  BOOST_TEST_MESSAGE(fmt::format("XOR: loss {:.4g} -> {:.4g}", first, loss));
  BOOST_TEST(loss < 0.01);
  autodiff::NoGrad off;
  const Tensor out = m.forward(x);
  for (std::int64_t i = 0; i < 4; ++i) BOOST_TEST((out.at(i) > 0.5) == (y.at(i) > 0.5), "row " << i << ": " << out.at(i));
}

// ---- modules -----------------------------------------------------------------------------------------------------

namespace {
// A user's model: it names its parameter and children in list(), and that is all it does to be a Module.
struct Pair : nn::Module {
  nn::MLP encoder, decoder;
  Tensor scale = Tensor::parameter(autodiff::Array::full(Shape{}, 1.0, Dtype::f32));
  std::string extra;  // a name listed once more, to test the checks
  explicit Pair(std::mt19937_64& gen) : encoder({4, 3}, gen), decoder({3, 2, 4}, gen) {}
  void list(nn::ModuleVisitor& v) override {
    v.parameter("scale", scale);
    v.child("encoder", encoder);
    v.child("decoder", decoder);
    if (!extra.empty()) v.parameter(extra, scale);
  }
};
}  // namespace

BOOST_AUTO_TEST_CASE(named_parameters_are_hierarchical) {
  std::mt19937_64 gen(0);
  nn::MLP m({2, 3, 1}, gen);
  const auto named = m.named_parameters();
  BOOST_REQUIRE(named.size() == 4u);
  BOOST_TEST(named[0].first == "layers.0.weight");
  BOOST_TEST(named[1].first == "layers.0.bias");
  BOOST_TEST(named[2].first == "layers.1.weight");
  BOOST_TEST(named[3].first == "layers.1.bias");
  BOOST_TEST(named[0].second.shape() == (Shape{2, 3}));
  BOOST_TEST(named[1].second.shape() == (Shape{3}));
  BOOST_TEST(named[2].second.shape() == (Shape{3, 1}));
  BOOST_TEST(named[3].second.shape() == (Shape{1}));
  // The handles share the model's storage.
  BOOST_TEST(named[0].second.is_same(m.layer(1).weight()));
  BOOST_TEST(m.parameters().size() == 4u);

  Pair p(gen);
  std::vector<std::string> names;
  for (const auto& [n, t] : p.named_parameters()) names.push_back(n);
  const std::vector<std::string> want = {"scale",
                                         "encoder.layers.0.weight",
                                         "encoder.layers.0.bias",
                                         "decoder.layers.0.weight",
                                         "decoder.layers.0.bias",
                                         "decoder.layers.1.weight",
                                         "decoder.layers.1.bias"};
  BOOST_TEST(names == want, boost::test_tools::per_element());
  p.extra = "scale";
  BOOST_CHECK(throws_with<std::invalid_argument>([&] { p.named_parameters(); }, {"duplicate", "scale"}));
  p.extra = "a..b";
  BOOST_CHECK(throws_with<std::invalid_argument>([&] { p.named_parameters(); }, {"bad name", "a..b"}));
  // Moving the user's model needs no code of theirs: list() is asked again each time.
  p.extra.clear();
  Pair q(std::move(p));
  BOOST_TEST(q.named_parameters().size() == want.size());
  BOOST_TEST(q.named_parameters()[1].second.is_same(q.encoder.layer(1).weight()));
}

BOOST_AUTO_TEST_CASE(moved_models_name_their_own_parameters) {
  std::mt19937_64 gen(0);
  nn::MLP a({3, 4, 2}, gen);
  const auto before = a.named_parameters();
  a.eval();
  nn::MLP b(std::move(a));
  const auto after = b.named_parameters();
  BOOST_REQUIRE(after.size() == before.size());
  for (std::size_t i = 0; i < after.size(); ++i) {
    BOOST_TEST(after[i].first == before[i].first);
    BOOST_TEST(after[i].second.is_same(before[i].second));
  }
  BOOST_TEST(!b.training());
  BOOST_TEST(!b.layer(1).training());
  BOOST_TEST(a.named_parameters().empty());  // moved-from: empty

  std::vector<nn::Linear> layers;  // reallocation moves Linear layers
  for (int i = 0; i < 10; ++i) layers.emplace_back(2, 2, gen);
  for (auto& l : layers) {
    const auto named = l.named_parameters();
    BOOST_TEST(named[0].second.is_same(l.weight()));
    BOOST_TEST(named[1].second.is_same(l.bias()));
  }
}

BOOST_AUTO_TEST_CASE(zero_grad_clears_every_parameter) {
  std::mt19937_64 gen(0);
  nn::MLP m({2, 3, 1}, gen, Activation::sigmoid, Activation::sigmoid, Init::normal, Dtype::f64);
  {
    autodiff::TapeScope scope;
    autodiff::backward(nn::squared_error(m.forward(autodiff::tensor({1, 2}, Shape{1, 2}, Dtype::f64)),
                                         autodiff::tensor({1}, Shape{1, 1}, Dtype::f64)));
  }
  double total = 0;
  for (const Tensor& p : m.parameters())
    for (double g : p.grad().to_vector()) total += std::fabs(g);
  BOOST_TEST(total > 0.0);
  m.zero_grad();
  for (const Tensor& p : m.parameters()) BOOST_TEST(!p.grad().defined());  // None, as in PyTorch
}

BOOST_AUTO_TEST_CASE(train_and_eval_flags_propagate) {
  std::mt19937_64 gen(0);
  nn::MLP m({2, 3, 3, 1}, gen);
  BOOST_TEST(m.training());
  BOOST_TEST(m.layer(2).training());
  m.eval();
  BOOST_TEST(!m.training());
  for (std::size_t l = 1; l <= m.depth(); ++l) BOOST_TEST(!m.layer(l).training());
  m.train();
  BOOST_TEST(m.training());
  BOOST_TEST(m.layer(3).training());
  m.train(false);
  BOOST_TEST(!m.layer(1).training());
}

// ---- layers ------------------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(linear_uniform_init_stays_within_one_over_sqrt_fan_in) {
  std::mt19937_64 gen(11);
  for (const Dtype dtype : {Dtype::f32, Dtype::f64}) {
    nn::Linear lin(100, 50, gen, Init::uniform, dtype);
    BOOST_TEST(lin.in_features() == 100);
    BOOST_TEST(lin.out_features() == 50);
    BOOST_TEST(lin.weight().shape() == (Shape{100, 50}));
    BOOST_TEST(lin.bias().shape() == (Shape{50}));
    BOOST_TEST((lin.weight().dtype() == dtype));
    const double bound = 1.0 / std::sqrt(100.0);
    double wmax = 0, bmax = 0;
    for (double v : lin.weight().to_vector()) wmax = std::max(wmax, std::fabs(v));
    for (double v : lin.bias().to_vector()) bmax = std::max(bmax, std::fabs(v));
    BOOST_TEST(wmax <= bound);
    BOOST_TEST(bmax <= bound);
    BOOST_TEST(wmax > 0.95 * bound);  // fills the range, not a narrower one
    BOOST_TEST(bmax > 0.8 * bound);
    BOOST_TEST(lin.weight().requires_grad());
  }
}

BOOST_AUTO_TEST_CASE(linear_normal_init_has_mean_0_and_std_1) {
  std::mt19937_64 gen(12);
  nn::Linear lin(1000, 1000, gen, Init::normal, Dtype::f64);
  const auto w = lin.weight().to_vector();
  double mean = 0, sq = 0;
  for (double v : w) mean += v;
  mean /= static_cast<double>(w.size());
  for (double v : w) sq += (v - mean) * (v - mean);
  const double sd = std::sqrt(sq / static_cast<double>(w.size()));
  BOOST_TEST_MESSAGE(fmt::format("normal init: mean {:.4g}, std {:.4g}", mean, sd));
  BOOST_TEST(std::fabs(mean) < 0.005);  // 5 standard errors of the mean for 10^6 draws
  BOOST_TEST(std::fabs(sd - 1.0) < 0.005);
  double bmean = 0;
  for (double v : lin.bias().to_vector()) bmean += v / 1000.0;
  BOOST_TEST(std::fabs(bmean) < 0.2);  // the bias is drawn with the same law
}

BOOST_AUTO_TEST_CASE(linear_forward_is_a_w_plus_b) {
  std::mt19937_64 gen(0);
  nn::Linear lin(2, 3, gen, Init::normal, Dtype::f64);
  const Tensor a = autodiff::tensor({1, 2, 3, 4}, Shape{2, 2}, Dtype::f64);
  const Tensor z = lin.forward(a);
  BOOST_TEST(z.shape() == (Shape{2, 3}));
  const auto w = lin.weight().to_vector(), b = lin.bias().to_vector();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) {
      const double want = a.at(i * 2) * w[static_cast<std::size_t>(j)] + a.at(i * 2 + 1) * w[static_cast<std::size_t>(3 + j)] +
                          b[static_cast<std::size_t>(j)];
      BOOST_TEST(z.at(i * 3 + j) == want, boost::test_tools::tolerance(1e-14));
    }
  const Tensor one = lin.forward(autodiff::tensor({1, 2}, Dtype::f64));  // one example, 1-D
  BOOST_TEST(one.shape() == (Shape{3}));
  BOOST_TEST(one.at(2) == z.at(2), boost::test_tools::tolerance(1e-14));
  BOOST_CHECK(throws_with<std::invalid_argument>([&] { lin.forward(autodiff::zeros(Shape{4, 3}, Dtype::f64)); },
                                                 {"Linear", "[4,3]", "2 -> 3"}));
  BOOST_CHECK(throws_with<std::invalid_argument>([&] { lin.forward(autodiff::zeros(Shape{4, 2}, Dtype::f32)); },
                                                 {"Linear", "dtype", "float32"}));
  BOOST_CHECK(throws_with<std::invalid_argument>([&] { nn::Linear bad(0, 3, gen); }, {"Linear", "in 0"}));
}

BOOST_AUTO_TEST_CASE(mlp_structure_and_errors) {
  std::mt19937_64 gen(0);
  nn::MLP m({5, 4, 3, 2}, gen);
  BOOST_TEST(m.depth() == 3u);
  BOOST_TEST(m.layer(1).in_features() == 5);
  BOOST_TEST(m.layer(3).out_features() == 2);
  BOOST_TEST(m.sizes() == (std::vector<std::int64_t>{5, 4, 3, 2}), boost::test_tools::per_element());
  BOOST_CHECK_THROW(m.layer(0), std::out_of_range);
  BOOST_CHECK_THROW(m.layer(4), std::out_of_range);
  nn::Trace trace;
  const Tensor out = m.forward(autodiff::zeros(Shape{7, 5}), trace);
  BOOST_TEST(trace.a.size() == 4u);
  BOOST_TEST(trace.z.size() == 4u);
  BOOST_TEST(!trace.z[0].defined());
  BOOST_TEST(trace.a[3].shape() == (Shape{7, 2}));
  BOOST_TEST(out.shape() == (Shape{7, 2}));
  BOOST_CHECK(throws_with<std::invalid_argument>([&] { nn::MLP bad({3}, gen); }, {"MLP", "two sizes"}));
  BOOST_CHECK(throws_with<std::invalid_argument>([&] { nn::MLP bad({3, 0, 2}, gen); }, {"MLP", "size 1 is 0"}));
  BOOST_TEST((nn::parse_activation("relu") == Activation::relu));
  BOOST_TEST(nn::name(Activation::tanh) == "tanh");
  BOOST_CHECK(throws_with<std::invalid_argument>([] { nn::parse_activation("gelu"); }, {"parse_activation", "gelu"}));
  BOOST_TEST((nn::parse_init("normal") == Init::normal));
  BOOST_CHECK(throws_with<std::invalid_argument>([] { nn::parse_init("xavier"); }, {"parse_init", "xavier"}));
}

BOOST_AUTO_TEST_CASE(scalar_and_tensor_models_agree) {
  // The same seed draws the same values in both models, and their grads agree.
  std::mt19937_64 g1(77), g2(77);
  nn::MLP m({3, 4, 2}, g1, Activation::tanh, Activation::tanh, Init::uniform, Dtype::f64);
  nn::ScalarMLP s({3, 4, 2}, g2, Activation::tanh, Init::uniform);
  BOOST_TEST(s.weight(1, 2, 3).value() == m.layer(1).weight().at(2 * 4 + 3));
  BOOST_TEST(s.bias(2, 1).value() == m.layer(2).bias().at(1));
  BOOST_TEST(s.parameters().size() == 3u * 4 + 4 + 4 * 2 + 2);
  autodiff::TapeScope scope;
  const Tensor x = autodiff::tensor({0.5, -1, 2}, Shape{1, 3}, Dtype::f64);
  autodiff::backward(nn::squared_error(m.forward(x), autodiff::tensor({0.1, 0.9}, Shape{1, 2}, Dtype::f64)));
  autodiff::backward(nn::squared_error(s.forward({0.5, -1.0, 2.0}), {0.1, 0.9}));
  BOOST_TEST(s.weight(1, 0, 1).grad() == m.layer(1).weight().grad().at(1), boost::test_tools::tolerance(1e-12));
  BOOST_TEST(s.bias(2, 0).grad() == m.layer(2).bias().grad().at(0), boost::test_tools::tolerance(1e-12));
  BOOST_CHECK(throws_with<std::invalid_argument>([&] { s.forward({1.0}); }, {"ScalarMLP", "1 values", "expects 3"}));
  BOOST_CHECK_THROW(s.weight(3, 0, 0), std::out_of_range);
  BOOST_CHECK_THROW(s.bias(1, 4), std::out_of_range);
  BOOST_CHECK(throws_with<std::invalid_argument>([&] { nn::squared_error(s.forward({1.0, 2.0, 3.0}), {1.0}); },
                                                 {"squared_error", "sizes differ"}));
}

// ---- costs -------------------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(cost_values) {
  const Tensor a = autodiff::tensor({1, 2, 3, 4}, Shape{2, 2}, Dtype::f64);
  const Tensor y = autodiff::zeros(Shape{2, 2}, Dtype::f64);
  BOOST_TEST(nn::squared_error(a, y).at(0) == (1 + 4 + 9 + 16) / 2.0);  // mean over rows of sums, no 1/2
  BOOST_TEST(nn::squared_error(a, y).rank() == 0);
  BOOST_TEST(nn::squared_error(autodiff::tensor({1, 2}, Dtype::f64), autodiff::tensor({0, 0}, Dtype::f64)).at(0) == 5.0);

  const Tensor logits = autodiff::tensor({0, 0, 1000, 0, -1000, 0}, Shape{3, 2}, Dtype::f64);
  const Tensor ce = nn::softmax_cross_entropy(logits, {0, 1, 0});
  BOOST_TEST(ce.rank() == 0);
  BOOST_TEST(ce.at(0) == (std::log(2.0) + 1000.0 + 1000.0) / 3.0, boost::test_tools::tolerance(1e-12));  // stable

  const Tensor oh = nn::one_hot({2, 0}, 3, Dtype::f32);
  BOOST_TEST(oh.shape() == (Shape{2, 3}));
  BOOST_TEST(oh.to_vector() == (std::vector<double>{0, 0, 1, 1, 0, 0}), boost::test_tools::per_element());
  BOOST_TEST(nn::cost(nn::Cost::squared_error, autodiff::tensor({1, 0, 0, 0}, Shape{2, 2}), {0, 1}).at(0) == 0.5);
  BOOST_TEST(nn::cost(nn::Cost::cross_entropy, autodiff::zeros(Shape{1, 4}), {3}).at(0) == std::log(4.0),
             boost::test_tools::tolerance(1e-6));
  BOOST_TEST((nn::parse_cost("cross_entropy") == nn::Cost::cross_entropy));
  BOOST_TEST(nn::name(nn::Cost::squared_error) == "squared_error");
}

// ---- cross_entropy on int64 labels --------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(cross_entropy_gradcheck_float64) {
  std::mt19937_64 gen(21);
  const Tensor logits = rows_from_words(4, 5, gen, -3, 3);
  const Tensor labels = autodiff::tensor_i64({4, 0, 2, 4}, Shape{4});
  const auto report = autodiff::gradcheck(
      [&](const std::vector<Tensor>& p) { return nn::cross_entropy(p[0], labels); }, {logits});
  BOOST_TEST(report.ok, fmt::format("{}", report));
}

BOOST_AUTO_TEST_CASE(cross_entropy_hand_value) {
  // Row 0: logits (1, 2, 3), label 2: -log(e^3 / (e + e^2 + e^3)) = log(1 + e^-1 + e^-2).
  // Row 1: logits (0, 0, 0), label 0: log 3.
  const Tensor logits = autodiff::tensor({1, 2, 3, 0, 0, 0}, Shape{2, 3}, Dtype::f64);
  const Tensor ce = nn::cross_entropy(logits, autodiff::tensor_i64({2, 0}, Shape{2}));
  BOOST_TEST(ce.rank() == 0);
  BOOST_TEST((ce.dtype() == Dtype::f64));
  const double expected = (std::log(1 + std::exp(-1.0) + std::exp(-2.0)) + std::log(3.0)) / 2;
  BOOST_TEST(ce.at(0) == expected, boost::test_tools::tolerance(1e-14));
  // d/dlogits = (softmax - one_hot) / B: row 1 is (1/3 - 1, 1/3, 1/3) / 2.
  const Tensor leaf = Tensor::parameter(logits.value().clone());
  autodiff::backward(nn::cross_entropy(leaf, autodiff::tensor_i64({2, 0}, Shape{2})));
  BOOST_TEST(leaf.grad().at(3) == (1.0 / 3 - 1) / 2, boost::test_tools::tolerance(1e-14));
  BOOST_TEST(leaf.grad().at(4) == (1.0 / 3) / 2, boost::test_tools::tolerance(1e-14));
}

BOOST_AUTO_TEST_CASE(cross_entropy_more_than_256_classes) {
  // C = 300, all logits 0 except a large one at the label: labels 257 and 299 do not wrap around a byte.
  constexpr std::int64_t classes = 300;
  std::vector<double> v(2 * classes, 0.0);
  v[257] = 50.0;            // row 0 predicts class 257
  v[classes + 299] = 50.0;  // row 1 predicts class 299
  const Tensor logits = autodiff::tensor(v, Shape{2, classes}, Dtype::f64);
  const double right = std::log(1 + 299 * std::exp(-50.0));  // -log p(the large one)
  const double wrong = std::log(299.0 + std::exp(50.0));   // -log p(a zero logit)
  BOOST_TEST(nn::cross_entropy(logits, autodiff::tensor_i64({257, 299}, Shape{2})).at(0) == right,
             boost::test_tools::tolerance(1e-12));
  BOOST_TEST(nn::cross_entropy(logits, autodiff::tensor_i64({1, 299}, Shape{2})).at(0) == (wrong + right) / 2,
             boost::test_tools::tolerance(1e-12));
  BOOST_CHECK_EXCEPTION(nn::cross_entropy(logits, autodiff::tensor_i64({300, 0}, Shape{2})), std::exception,
                        says<std::invalid_argument>({"cross_entropy", "label 300 at row 0", "[0, 300)"}));
}

BOOST_AUTO_TEST_CASE(cross_entropy_errors) {
  const Tensor logits = autodiff::zeros(Shape{2, 3});
  BOOST_CHECK_EXCEPTION(nn::cross_entropy(logits, autodiff::tensor_i64({0, 3}, Shape{2})), std::exception,
                        says<std::invalid_argument>({"cross_entropy", "label 3 at row 1", "[0, 3)"}));
  BOOST_CHECK_EXCEPTION(nn::cross_entropy(logits, autodiff::tensor_i64({-1, 0}, Shape{2})), std::exception,
                        says<std::invalid_argument>({"cross_entropy", "label -1 at row 0", "[0, 3)"}));
  BOOST_CHECK_EXCEPTION(nn::cross_entropy(logits, autodiff::zeros(Shape{2})), std::exception,
                        says<std::invalid_argument>({"cross_entropy", "labels must be int64", "float32"}));
  BOOST_CHECK_EXCEPTION(nn::cross_entropy(logits, autodiff::tensor_i64({0, 1, 2}, Shape{3})), std::exception,
                        says<std::invalid_argument>({"cross_entropy", "labels must be [B] = [2]", "[3]"}));
  BOOST_CHECK_EXCEPTION(nn::cross_entropy(logits, autodiff::tensor_i64({0, 1}, Shape{1, 2})), std::exception,
                        says<std::invalid_argument>({"cross_entropy", "labels must be [B] = [2]", "[1,2]"}));
  BOOST_CHECK_EXCEPTION(nn::cross_entropy(autodiff::zeros(Shape{3}), autodiff::tensor_i64({0}, Shape{1})), std::exception,
                        says<std::invalid_argument>({"cross_entropy", "logits must be float [B,C]", "[3]"}));
  BOOST_CHECK_EXCEPTION(nn::cross_entropy(autodiff::zeros(Shape{0, 3}), autodiff::tensor_i64({}, Shape{0})),
                        std::exception, says<std::invalid_argument>({"cross_entropy", "empty logits"}));
}

BOOST_AUTO_TEST_CASE(cost_errors) {
  const Tensor a = autodiff::zeros(Shape{2, 3}), y = autodiff::zeros(Shape{3, 2});
  BOOST_CHECK(throws_with<std::invalid_argument>([&] { nn::squared_error(a, y); },
                                                 {"squared_error: shapes differ (a [2,3], y [3,2])"}));
  BOOST_CHECK(throws_with<std::invalid_argument>(
      [&] { nn::squared_error(a, autodiff::zeros(Shape{2, 3}, Dtype::f64)); }, {"squared_error", "dtypes differ", "float64"}));
  BOOST_CHECK(throws_with<std::invalid_argument>(
      [&] { nn::squared_error(autodiff::zeros(Shape{1, 2, 3}), autodiff::zeros(Shape{1, 2, 3})); },
      {"squared_error", "[1,2,3]"}));
  BOOST_CHECK(throws_with<std::invalid_argument>(
      [&] { nn::squared_error(autodiff::zeros(Shape{0, 3}), autodiff::zeros(Shape{0, 3})); }, {"squared_error", "empty"}));
  BOOST_CHECK(throws_with<std::invalid_argument>([&] { nn::softmax_cross_entropy(a, {0, 1, 2}); },
                                                 {"softmax_cross_entropy", "3 labels for 2 rows"}));
  BOOST_CHECK(throws_with<std::invalid_argument>([&] { nn::softmax_cross_entropy(a, {0, 3}); },
                                                 {"softmax_cross_entropy", "label 3 at row 1", "[0, 3)"}));
  BOOST_CHECK(throws_with<std::invalid_argument>(
      [&] { nn::softmax_cross_entropy(autodiff::zeros(Shape{3}), {0}); }, {"softmax_cross_entropy", "[B,C]", "[3]"}));
  BOOST_CHECK(throws_with<std::invalid_argument>([] { nn::one_hot({1, 5}, 4, Dtype::f32); },
                                                 {"one_hot", "label 5 at index 1", "[0, 4)"}));
  BOOST_CHECK(throws_with<std::invalid_argument>([] { nn::one_hot({0}, 0, Dtype::f32); }, {"one_hot", "classes"}));
  BOOST_CHECK(throws_with<std::invalid_argument>([] { nn::parse_cost("hinge"); }, {"parse_cost", "hinge"}));
}
