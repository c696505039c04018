// nn::MultiHeadAttention: gradchecks, the causal mask, a hand-computed case, PyTorch's names and init, save/load, errors.
#define BOOST_TEST_MODULE nn_attention_test
#include <boost/test/unit_test.hpp>

#include "temp_dir.hpp"
#include "throws_with.hpp"

#include "autodiff/autodiff.hpp"
#include "autodiff/gradcheck.hpp"
#include "nn/attention.hpp"
#include "nn/module.hpp"
#include "nn/serialize.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

using autodiff::Dtype;
using autodiff::Shape;
using autodiff::Tensor;
using nn::AttentionOptions;
using nn::MultiHeadAttention;

namespace {

/// Values in [lo, hi) from the generator's 64-bit words (the same on every standard library).
Tensor from_words(const Shape& shape, std::mt19937_64& gen, double lo = -1.0, double hi = 1.0, Dtype dtype = Dtype::f64) {
  return autodiff::uniform(shape, lo, hi, gen, dtype);
}

AttentionOptions f64(bool causal, bool bias = true) {
  AttentionOptions o;
  o.causal = causal;
  o.bias = bias;
  o.dtype = Dtype::f64;
  return o;
}

/// Points the layer's parameters at gradcheck's leaves p (in named_parameters order) so f differentiates the layer.
void use_parameters(MultiHeadAttention& m, const std::vector<Tensor>& p) {
  std::size_t i = 0;
  m.in_proj_weight() = p[i++];
  if (m.has_bias()) m.in_proj_bias() = p[i++];
  m.out_proj_weight() = p[i++];
  if (m.has_bias()) m.out_proj_bias() = p[i++];
}

/// A bool tensor from 0/1 values.
Tensor mask_of(std::vector<double> v, const Shape& shape) {
  return autodiff::tensor(std::move(v), shape, Dtype::f64).to(Dtype::b8);
}

struct Parent : nn::Module {
  explicit Parent(std::mt19937_64& gen) : attn(8, 2, gen) {}
  void list(nn::ModuleVisitor& v) override { v.child("attn", attn); }
  MultiHeadAttention attn;
};

}  // namespace

// ---- gradients -------------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(gradcheck_self_attention_wrt_input_and_every_parameter) {
  for (bool causal : {false, true})
    for (bool bias : {true, false}) {
      BOOST_TEST_CONTEXT("causal " << causal << ", bias " << bias) {
        std::mt19937_64 gen(11);
        MultiHeadAttention m(6, 3, gen, f64(causal, bias));
        const Tensor x = from_words(Shape{2, 4, 6}, gen);
        std::vector<Tensor> inputs = m.parameters();
        inputs.insert(inputs.begin(), x);
        const auto report = autodiff::gradcheck(
            [&](const std::vector<Tensor>& in) {
              use_parameters(m, std::vector<Tensor>(in.begin() + 1, in.end()));
              return m.forward(in[0]);
            },
            inputs);
        BOOST_TEST(report.inputs.size() == (bias ? 5u : 3u));
        BOOST_TEST(report.ok, fmt::format("{}", report));
      }
    }
}

BOOST_AUTO_TEST_CASE(gradcheck_cross_attention_with_a_padding_mask) {
  // query [2,3,4] over key and value [2,5,4]; the mask hides the last two keys of example 1 from every query.
  std::mt19937_64 gen(12);
  MultiHeadAttention m(4, 2, gen, f64(true));
  const Tensor q = from_words(Shape{2, 3, 4}, gen), k = from_words(Shape{2, 5, 4}, gen), v = from_words(Shape{2, 5, 4}, gen);
  const Tensor mask = mask_of({0, 0, 0, 0, 0, 0, 0, 0, 1, 1}, Shape{2, 1, 1, 5});
  std::vector<Tensor> inputs = {q, k, v};
  for (const Tensor& p : m.parameters()) inputs.push_back(p);
  const auto report = autodiff::gradcheck(
      [&](const std::vector<Tensor>& in) {
        use_parameters(m, std::vector<Tensor>(in.begin() + 3, in.end()));
        return m.forward(in[0], in[1], in[2], mask);
      },
      inputs);
  BOOST_TEST(report.inputs.size() == 7u);
  BOOST_TEST(report.ok, fmt::format("{}", report));
}

// ---- values ----------------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(hand_computed_e2_h1_t2) {
  // Wq = 2I, Wk = I, Wv = [[1,2],[3,4]], zero in_proj_bias, Wo = I, bo = [0.5,-0.5]; x = [[1,0],[0,1]].
  // q = 2x, k = x, v = x Wv^T = [[1,3],[2,4]]; scores = q k^T / sqrt(2) = sqrt(2) I.
  // Row 0: softmax([s, 0]) = [p, 1-p] with p = 1 / (1 + exp(-sqrt 2)); out0 = p [1,3] + (1-p) [2,4] + bo.
  // Row 1: [1-p, p]: out1 = (1-p) [1,3] + p [2,4] + bo. Causal: row 0 sees only itself: out0 = [1,3] + bo.
  const double p = 1.0 / (1.0 + std::exp(-std::sqrt(2.0)));
  const std::vector<double> row1 = {(1 - p) * 1 + p * 2 + 0.5, (1 - p) * 3 + p * 4 - 0.5};
  for (bool causal : {false, true}) {
    BOOST_TEST_CONTEXT("causal " << causal) {
      std::mt19937_64 gen(0);
      MultiHeadAttention m(2, 1, gen, f64(causal));
      m.in_proj_weight().leaf_value() = autodiff::tensor({2, 0, 0, 2, 1, 0, 0, 1, 1, 2, 3, 4}, Shape{6, 2}, Dtype::f64).value();
      m.out_proj_weight().leaf_value() = autodiff::tensor({1, 0, 0, 1}, Shape{2, 2}, Dtype::f64).value();
      m.out_proj_bias().leaf_value() = autodiff::tensor({0.5, -0.5}, Shape{2}, Dtype::f64).value();
      const Tensor y = m.forward(autodiff::tensor({1, 0, 0, 1}, Shape{1, 2, 2}, Dtype::f64));
      BOOST_TEST(y.shape() == (Shape{1, 2, 2}));
      const std::vector<double> row0 = causal ? std::vector<double>{1.5, 2.5}
                                              : std::vector<double>{p * 1 + (1 - p) * 2 + 0.5, p * 3 + (1 - p) * 4 - 0.5};
      const std::vector<double> want = {row0[0], row0[1], row1[0], row1[1]};
      const std::vector<double> got = y.to_vector();
      for (std::size_t i = 0; i < 4; ++i) BOOST_TEST(got[i] == want[i], boost::test_tools::tolerance(1e-14));
    }
  }
}

BOOST_AUTO_TEST_CASE(causal_mask_blocks_the_future_exactly) {
  // Changing x at position t changes no output before t (bit for bit), and does change the outputs at t and after.
  for (Dtype dtype : {Dtype::f32, Dtype::f64}) {
    BOOST_TEST_CONTEXT("dtype " << autodiff::dtype_name(dtype)) {
      std::mt19937_64 gen(5);
      AttentionOptions opt;
      opt.causal = true;
      opt.dtype = dtype;
      MultiHeadAttention m(8, 4, gen, opt);
      const std::int64_t b = 2, t = 6, e = 8, changed = 3;
      const Tensor x = from_words(Shape{b, t, e}, gen, -1, 1, dtype);
      std::vector<double> xv = x.to_vector();
      for (std::int64_t i = 0; i < b; ++i)
        for (std::int64_t j = 0; j < e; ++j) xv[static_cast<std::size_t>((i * t + changed) * e + j)] += 0.75;
      const std::vector<double> y0 = m.forward(x).to_vector();
      const std::vector<double> y1 = m.forward(autodiff::tensor(xv, Shape{b, t, e}, dtype)).to_vector();
      for (std::int64_t i = 0; i < b; ++i)
        for (std::int64_t pos = 0; pos < t; ++pos) {
          bool same = true;
          for (std::int64_t j = 0; j < e; ++j) {
            const auto at = static_cast<std::size_t>((i * t + pos) * e + j);
            same = same && y0[at] == y1[at];
          }
          BOOST_TEST(same == (pos < changed), "example " << i << " position " << pos);
        }
    }
  }
}

BOOST_AUTO_TEST_CASE(without_the_causal_mask_the_future_is_seen) {
  std::mt19937_64 gen(5);
  MultiHeadAttention m(4, 2, gen, f64(false));
  const Tensor x = from_words(Shape{1, 3, 4}, gen);
  std::vector<double> xv = x.to_vector();
  xv[8] += 0.5;  // position 2
  const std::vector<double> y0 = m.forward(x).to_vector();
  const std::vector<double> y1 = m.forward(autodiff::tensor(xv, Shape{1, 3, 4}, Dtype::f64)).to_vector();
  BOOST_TEST(y0[0] != y1[0]);
}

BOOST_AUTO_TEST_CASE(masked_keys_have_no_influence_and_a_fully_masked_row_averages) {
  std::mt19937_64 gen(6);
  MultiHeadAttention m(4, 2, gen, f64(false));
  const Tensor q = from_words(Shape{1, 2, 4}, gen), k = from_words(Shape{1, 3, 4}, gen), v = from_words(Shape{1, 3, 4}, gen);
  const Tensor hide_last = mask_of({0, 0, 1}, Shape{3});
  std::vector<double> kv = k.to_vector(), vv = v.to_vector();
  for (std::size_t j = 8; j < 12; ++j) kv[j] += 1.0, vv[j] -= 2.0;
  const Tensor k2 = autodiff::tensor(kv, Shape{1, 3, 4}, Dtype::f64), v2 = autodiff::tensor(vv, Shape{1, 3, 4}, Dtype::f64);
  BOOST_TEST(m.forward(q, k, v, hide_last).to_vector() == m.forward(q, k2, v2, hide_last).to_vector(),
             boost::test_tools::per_element());
  BOOST_TEST(m.forward(q, k, v).to_vector() != m.forward(q, k2, v2).to_vector());

  // Every key masked: uniform weights (PyTorch gives NaN), so the output is finite and does not depend on q or k.
  const Tensor all = mask_of({1, 1, 1}, Shape{3});
  const std::vector<double> y = m.forward(q, k, v, all).to_vector();
  for (double x : y) BOOST_TEST(std::isfinite(x));
  BOOST_TEST(y == m.forward(from_words(Shape{1, 2, 4}, gen), k2, v, all).to_vector(), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(self_and_separate_inputs_agree) {
  // forward(x) takes one fused projection and splits it; forward(q, k, v) projects each with its rows.
  std::mt19937_64 gen(7);
  MultiHeadAttention m(6, 2, gen, f64(true));
  const Tensor x = from_words(Shape{2, 3, 6}, gen);
  const Tensor x2 = autodiff::tensor(x.to_vector(), x.shape(), Dtype::f64);
  BOOST_TEST(m.forward(x).to_vector() == m.forward(x, x2, x2).to_vector(), boost::test_tools::tolerance(1e-14) <<
             boost::test_tools::per_element());
}

// ---- parameters, init, checkpoints --------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(parameters_have_pytorch_names_shapes_and_init) {
  std::mt19937_64 gen(8);
  Parent parent(gen);
  const auto named = parent.named_parameters();
  const std::vector<std::pair<std::string, Shape>> want = {{"attn.in_proj_weight", Shape{24, 8}},
                                                           {"attn.in_proj_bias", Shape{24}},
                                                           {"attn.out_proj.weight", Shape{8, 8}},
                                                           {"attn.out_proj.bias", Shape{8}}};
  BOOST_TEST_REQUIRE(named.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    BOOST_TEST(named[i].first == want[i].first);
    BOOST_TEST(named[i].second.shape() == want[i].second, named[i].first);
    BOOST_TEST(named[i].second.requires_grad());
    BOOST_TEST(named[i].second.dtype() == Dtype::f32);
  }
  // xavier_uniform over [3E, E]: bound sqrt(6 / (E + 3E)); out_proj: nn.Linear's 1/sqrt(E); biases zero.
  const auto spans = [](const Tensor& t, double bound) {
    double lo = 0, hi = 0;
    for (double x : t.to_vector()) lo = std::min(lo, x), hi = std::max(hi, x);
    BOOST_TEST(lo >= -bound);
    BOOST_TEST(hi <= bound);
    BOOST_TEST(lo < -0.8 * bound);  // the range is used, not a narrower one
    BOOST_TEST(hi > 0.8 * bound);
  };
  spans(named[0].second, std::sqrt(6.0 / 32.0));
  spans(named[2].second, 1.0 / std::sqrt(8.0));
  for (double x : named[1].second.to_vector()) BOOST_TEST(x == 0.0);
  for (double x : named[3].second.to_vector()) BOOST_TEST(x == 0.0);

  MultiHeadAttention nobias(8, 2, gen, f64(false, false));
  const auto names = nobias.named_parameters();
  BOOST_TEST_REQUIRE(names.size() == 2u);
  BOOST_TEST(names[0].first == "in_proj_weight");
  BOOST_TEST(names[1].first == "out_proj.weight");
  BOOST_TEST(!nobias.has_bias());
  BOOST_TEST(nobias.head_dim() == 4);
  BOOST_TEST(nobias.embed_dim() == 8);
  BOOST_TEST(nobias.num_heads() == 2);
  BOOST_TEST(!nobias.causal());
}

BOOST_AUTO_TEST_CASE(moved_layer_keeps_its_parameters) {
  std::mt19937_64 gen(9);
  MultiHeadAttention a(4, 2, gen, f64(true));
  const Tensor w = a.in_proj_weight();
  MultiHeadAttention b = std::move(a);
  BOOST_TEST(b.named_parameters()[0].second.is_same(w));
  BOOST_TEST(b.causal());
}

BOOST_AUTO_TEST_CASE(save_load_round_trip) {
  testing::TempDir dir("nn_attention_test");
  std::mt19937_64 gen(10);
  MultiHeadAttention a(8, 4, gen, f64(true)), b(8, 4, gen, f64(true));
  // Non-zero biases, so a bias mix-up would show.
  a.in_proj_bias().leaf_value() = from_words(Shape{24}, gen).value();
  a.out_proj_bias().leaf_value() = from_words(Shape{8}, gen).value();
  const Tensor x = from_words(Shape{2, 5, 8}, gen);
  BOOST_TEST(a.forward(x).to_vector() != b.forward(x).to_vector());
  nn::save(a, dir.path / "attn.bin");
  nn::load(b, dir.path / "attn.bin");
  const auto pa = a.named_parameters(), pb = b.named_parameters();
  for (std::size_t i = 0; i < pa.size(); ++i)
    BOOST_TEST(pa[i].second.to_vector() == pb[i].second.to_vector(), boost::test_tools::per_element());
  BOOST_TEST(a.forward(x).to_vector() == b.forward(x).to_vector(), boost::test_tools::per_element());

  // A layer without biases has other entries: loading refuses it.
  MultiHeadAttention c(8, 4, gen, f64(true, false));
  BOOST_CHECK_THROW(nn::load(c, dir.path / "attn.bin"), std::invalid_argument);
}

// ---- errors ----------------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(constructor_errors) {
  std::mt19937_64 gen(0);
  BOOST_CHECK_EXCEPTION(MultiHeadAttention(0, 1, gen), std::exception,
                        says<std::invalid_argument>({"MultiHeadAttention", "sizes must be positive", "embed_dim 0"}));
  BOOST_CHECK_EXCEPTION(MultiHeadAttention(4, -2, gen), std::exception,
                        says<std::invalid_argument>({"MultiHeadAttention", "sizes must be positive", "num_heads -2"}));
  BOOST_CHECK_EXCEPTION(MultiHeadAttention(6, 4, gen), std::exception,
                        says<std::invalid_argument>({"MultiHeadAttention", "divisible", "embed_dim 6", "num_heads 4"}));
}

BOOST_AUTO_TEST_CASE(forward_errors) {
  std::mt19937_64 gen(0);
  MultiHeadAttention m(4, 2, gen);
  const Tensor x = autodiff::zeros(Shape{2, 3, 4});
  BOOST_CHECK_EXCEPTION(m.forward(autodiff::zeros(Shape{3, 4})), std::exception,
                        says<std::invalid_argument>({"MultiHeadAttention", "query must be [B, L, 4]", "[3,4]"}));
  BOOST_CHECK_EXCEPTION(m.forward(autodiff::zeros(Shape{2, 3, 5})), std::exception,
                        says<std::invalid_argument>({"MultiHeadAttention", "query must be [B, L, 4]", "[2,3,5]"}));
  BOOST_CHECK_EXCEPTION(m.forward(x, autodiff::zeros(Shape{2, 3, 5}), x), std::exception,
                        says<std::invalid_argument>({"MultiHeadAttention", "key must be", "[2,3,5]"}));
  BOOST_CHECK_EXCEPTION(m.forward(autodiff::zeros(Shape{2, 3, 4}, Dtype::f64)), std::exception,
                        says<std::invalid_argument>({"MultiHeadAttention", "query dtype float64 differs", "float32"}));
  BOOST_CHECK_EXCEPTION(m.forward(x, autodiff::zeros(Shape{1, 3, 4}), autodiff::zeros(Shape{1, 3, 4})), std::exception,
                        says<std::invalid_argument>({"MultiHeadAttention", "batch sizes or key and value lengths differ",
                                                     "query [2,3,4]", "key [1,3,4]"}));
  BOOST_CHECK_EXCEPTION(m.forward(x, autodiff::zeros(Shape{2, 5, 4}), autodiff::zeros(Shape{2, 4, 4})), std::exception,
                        says<std::invalid_argument>({"MultiHeadAttention", "key and value lengths differ", "key [2,5,4]",
                                                     "value [2,4,4]"}));
  BOOST_CHECK_EXCEPTION(m.forward(x, x, x, autodiff::zeros(Shape{3, 3})), std::exception,
                        says<std::invalid_argument>({"MultiHeadAttention", "mask must be a bool mask", "float32"}));
  BOOST_CHECK_EXCEPTION(m.forward(x, x, x, mask_of({0, 0, 0, 0}, Shape{2, 2})), std::exception,
                        says<std::invalid_argument>({"MultiHeadAttention", "mask does not broadcast", "[2,2]",
                                                     "scores [2,2,3,3]"}));
  // A mask that broadcasts but would enlarge the scores is refused too.
  BOOST_CHECK_EXCEPTION(m.forward(x, x, x, mask_of({0, 0, 0}, Shape{1, 1, 1, 1, 3})), std::exception,
                        says<std::invalid_argument>({"MultiHeadAttention", "mask does not broadcast", "[1,1,1,1,3]"}));
}
