// Architecture strings and the models the Trainer builds from them: parsing, errors, MLP equality, a CNN that
// trains, CNN checkpoints that resume bit-identically, and format 1 (MLP-only) checkpoints.
#define BOOST_TEST_MODULE arch_test
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "synthetic_data.hpp"
#include "temp_dir.hpp"
#include "throws_with.hpp"

#include "autodiff/autodiff.hpp"
#include "nn/arch.hpp"
#include "nn/conv.hpp"
#include "nn/data.hpp"
#include "nn/serialize.hpp"
#include "nn/trainer.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace fs = std::filesystem;
namespace utf = boost::unit_test;
using autodiff::Dtype;
using autodiff::Shape;
using autodiff::Tensor;
using nn::LayerKind;
using nn::LayerSpec;

namespace {

using testing::synthetic;
using testing::TempDir;

const fs::path data_dir = "/usr/share/datasets/fashion-mnist";

boost::test_tools::assertion_result has_data(utf::test_unit_id) {
  boost::test_tools::assertion_result r(fs::exists(data_dir / "train-images-idx3-ubyte.gz"));
  r.message() << data_dir.string() << " is missing (install dataset-fashion-mnist)";
  return r;
}

std::vector<std::byte> parameter_bytes(const nn::Module& m) {
  std::vector<std::byte> out;
  for (const Tensor& p : m.parameters()) {
    const auto* b = p.value().data<std::byte>();
    out.insert(out.end(), b, b + p.numel() * static_cast<std::int64_t>(autodiff::dtype_size(p.dtype())));
  }
  return out;
}

std::vector<std::string> names(const nn::Module& m) {
  std::vector<std::string> out;
  for (const auto& [k, t] : m.named_parameters()) out.push_back(k + " " + t.shape().str());
  return out;
}

/// A small CNN configuration for 4x3 synthetic images (conv4 -> pool -> 2x1 -> fc8 -> classes).
nn::TrainConfig small_cnn() {
  nn::TrainConfig c = nn::preset("cnn");
  c.arch = "conv4,pool,fc8";
  c.batch = 8;
  c.epochs = 3;
  return c;
}

}  // namespace

BOOST_AUTO_TEST_CASE(parse_arch_reads_layers_and_prints_them_back) {
  const std::vector<LayerSpec> a = nn::parse_arch("conv32,pool,conv64,pool,fc128");
  const std::vector<LayerSpec> expected = {{LayerKind::conv, 32}, {LayerKind::pool, 0}, {LayerKind::conv, 64},
                                           {LayerKind::pool, 0},  {LayerKind::fc, 128}};
  BOOST_TEST((a == expected));
  BOOST_TEST(nn::arch_string(a) == "conv32,pool,conv64,pool,fc128");
  BOOST_TEST(nn::is_convolutional(a));
  BOOST_TEST(!nn::is_convolutional(nn::parse_arch("fc16,fc16")));
  BOOST_TEST((nn::fc_arch({512, 256}) == nn::parse_arch("fc512,fc256")));
  BOOST_TEST(nn::parse_arch("pool").size() == 1u);
  BOOST_TEST(nn::parse_arch("conv4096,fc65536").back().size == 65536);
}

BOOST_AUTO_TEST_CASE(parse_arch_errors_name_the_flag_and_the_token) {
  using E = std::invalid_argument;
  BOOST_CHECK_EXCEPTION(nn::parse_arch("conv", "--arch"), std::exception,
                        says<E>({"--arch: unknown layer 'conv' at position 1 (expected convN, pool, fcN)"}));
  BOOST_CHECK_EXCEPTION(nn::parse_arch("conv8,pool,dense10"), std::exception,
                        says<E>({"arch: unknown layer 'dense10' at position 3 (expected convN, pool, fcN)"}));
  BOOST_CHECK_EXCEPTION(nn::parse_arch("fc-3"), std::exception, says<E>({"unknown layer 'fc-3' at position 1"}));
  BOOST_CHECK_EXCEPTION(nn::parse_arch("conv8, pool"), std::exception, says<E>({"unknown layer ' pool' at position 2"}));
  BOOST_CHECK_EXCEPTION(nn::parse_arch(""), std::exception, says<E>({"arch: the value is empty"}));
  BOOST_CHECK_EXCEPTION(nn::parse_arch("conv8,"), std::exception, says<E>({"arch: empty layer at position 2"}));
  BOOST_CHECK_EXCEPTION(nn::parse_arch("fc0"), std::exception,
                        says<E>({"arch: 'fc0' at position 1: size 0 is out of range (expected 1 to 65536)"}));
  BOOST_CHECK_EXCEPTION(nn::parse_arch("conv5000"), std::exception,
                        says<E>({"'conv5000' at position 1: size 5000 is out of range (expected 1 to 4096)"}));
  BOOST_CHECK_EXCEPTION(nn::parse_arch("fc99999999999999999999"), std::exception, says<E>({"is out of range"}));
  BOOST_CHECK_EXCEPTION(nn::parse_arch("fc8,conv8"), std::exception,
                        says<E>({"'conv8' at position 2 follows an fc layer (conv and pool layers come first)"}));
  std::string many = "fc1";
  for (int i = 0; i < 32; ++i) many += ",fc1";
  BOOST_CHECK_EXCEPTION(nn::parse_arch(many), std::exception, says<E>({"arch: more than 32 layers"}));
  // A pool that gets images under 2x2 is found when the model is built for an image size.
  std::mt19937_64 gen(1);
  nn::ModelShape shape;
  shape.rows = 4;
  shape.cols = 3;
  BOOST_CHECK_EXCEPTION(nn::build_model(nn::parse_arch("pool,pool"), shape, gen), std::exception,
                        says<E>({"arch: pool at position 2 gets 2x1 images (it needs at least 2x2)"}));
  // The configuration check uses the same parser, so a bad arch never reaches a Trainer or a checkpoint.
  nn::TrainConfig c = nn::preset("cnn");
  c.arch = "conv8,,pool";
  BOOST_CHECK_EXCEPTION(nn::validate(c), std::exception, says<E>({"TrainConfig: arch: empty layer at position 2"}));
  c.arch = "pool,pool,pool";
  BOOST_CHECK_EXCEPTION(nn::Trainer(c, synthetic(10), 3), std::exception, says<E>({"arch: pool at position 2"}));
}

// The fc-only Sequential draws the same parameters as nn::MLP and computes the same outputs, bit for bit.
BOOST_AUTO_TEST_CASE(fc_arch_equals_the_mlp) {
  for (auto [hidden, output] : {std::pair{nn::Activation::sigmoid, nn::Activation::sigmoid},
                                std::pair{nn::Activation::relu, nn::Activation::identity},
                                std::pair{nn::Activation::tanh, nn::Activation::identity}}) {
    std::mt19937_64 g1(5), g2(5);
    nn::MLP mlp({12, 7, 5, 3}, g1, hidden, output);
    nn::ModelShape shape;
    shape.rows = 4;
    shape.cols = 3;
    shape.classes = 3;
    shape.hidden = hidden;
    shape.output = output;
    const nn::Sequential seq = nn::build_model(nn::fc_arch({7, 5}), shape, g2);
    BOOST_TEST((parameter_bytes(seq) == parameter_bytes(mlp)));
    const Tensor x = autodiff::uniform(Shape{6, 12}, 0.0, 1.0, g1);
    const Tensor a = mlp.forward(x), b = seq.forward(x);
    BOOST_TEST((a.to_vector() == b.to_vector()));
  }
  std::mt19937_64 gen(5);
  nn::ModelShape shape;
  shape.hidden = nn::Activation::sigmoid;
  shape.output = nn::Activation::sigmoid;
  const nn::Sequential seq = nn::build_model(nn::fc_arch({16, 16}), shape, gen);
  BOOST_TEST(names(seq) == (std::vector<std::string>{"0.weight [784,16]", "0.bias [16]", "2.weight [16,16]",
                                                     "2.bias [16]", "4.weight [16,10]", "4.bias [10]"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(cnn_arch_builds_the_layer_stack) {
  std::mt19937_64 gen(2);
  const nn::Sequential net = nn::build_model(nn::parse_arch("conv32,pool,conv64,pool,fc128"), nn::ModelShape{}, gen);
  // ImageInput, Conv2d, MaxPool2d, ReLU, Conv2d, MaxPool2d, ReLU, Flatten, Linear, ReLU, Linear
  BOOST_TEST(net.size() == 11u);
  BOOST_TEST(names(net) == (std::vector<std::string>{"1.weight [32,1,3,3]", "1.bias [32]", "4.weight [64,32,3,3]",
                                                     "4.bias [64]", "8.weight [3136,128]", "8.bias [128]",
                                                     "10.weight [128,10]", "10.bias [10]"}),
             boost::test_tools::per_element());
  const Tensor out = net.forward(autodiff::zeros(Shape{2, 784}));
  BOOST_TEST(out.shape() == (Shape{2, 10}));
  BOOST_CHECK_EXCEPTION(net.forward(autodiff::zeros(Shape{2, 783})), std::exception,
                        says<std::invalid_argument>({"ImageInput: input must be [B,784] rows of 28x28 pixels", "[2,783]"}));
  // The summary shows the size flow.
  BOOST_TEST(nn::summary(nn::preset("cnn"), 784, 10).find("1x28x28-conv32-pool-conv64-pool-fc128-10 relu/identity") == 0u);
}

// The built stack puts each conv layer's activation after its pool; that is the same function as conv, activation,
// pool in that order, written out by hand here with the built model's own layers: the same output and the same
// gradients for every parameter, for relu, sigmoid and tanh, in float64 (a random input makes ties unlikely).
BOOST_AUTO_TEST_CASE(cnn_arch_activation_after_the_pool_is_the_same_function) {
  for (const nn::Activation act : {nn::Activation::relu, nn::Activation::sigmoid, nn::Activation::tanh}) {
    BOOST_TEST_CONTEXT("activation " << nn::name(act)) {
      std::mt19937_64 gen(5);
      nn::ModelShape shape;
      shape.rows = 6;
      shape.cols = 6;
      shape.classes = 3;
      shape.hidden = act;
      shape.dtype = autodiff::Dtype::f64;
      const nn::Sequential net = nn::build_model(nn::parse_arch("conv2,pool,fc4"), shape, gen);
      // ImageInput, Conv2d, MaxPool2d, activation, Flatten, Linear, activation, Linear
      BOOST_REQUIRE(net.size() == 8u);
      BOOST_TEST(net.at<nn::MaxPool2d>(2).kernel_size().h == 2);  // the pool comes right after the conv
      const auto apply = [&](std::size_t i, const Tensor& in) { return net[i].forward(in); };
      const Tensor x = autodiff::uniform(Shape{3, 36}, -1, 1, gen, autodiff::Dtype::f64);
      const auto grads = [&](bool built) {
        autodiff::TapeScope scope;
        Tensor y;
        if (built) {
          y = net.forward(x);
        } else {
          const Tensor c = apply(1, apply(0, x));  // image, conv
          y = apply(2, apply(3, c));               // activation, then pool
          for (std::size_t i = 4; i < 8; ++i) y = apply(i, y);
        }
        const std::vector<double> out = y.to_vector();
        for (Tensor p : net.parameters()) p.zero_grad();
        autodiff::backward(autodiff::sum(y * y));
        std::vector<double> all = out;
        for (const Tensor& p : net.parameters()) {
          const std::vector<double> g = p.grad().to_vector();
          all.insert(all.end(), g.begin(), g.end());
        }
        return all;
      };
      const std::vector<double> built = grads(true), by_hand = grads(false);
      BOOST_TEST(built == by_hand, boost::test_tools::tolerance(1e-12) << boost::test_tools::per_element());
    }
  }
}

// A gradcheck in float64 through a small conv arch, parameters and input together.
BOOST_AUTO_TEST_CASE(cnn_arch_gradcheck_float64) {
  std::mt19937_64 gen(3);
  nn::ModelShape shape;
  shape.rows = 4;
  shape.cols = 4;
  shape.classes = 3;
  shape.dtype = Dtype::f64;
  nn::Sequential net = nn::build_model(nn::parse_arch("conv2,pool,fc3"), shape, gen);
  const Tensor x = autodiff::uniform(Shape{2, 16}, 0.1, 0.9, gen, Dtype::f64);
  const Tensor labels = autodiff::tensor_i64({2, 0}, Shape{2});
  std::vector<Tensor> params = net.parameters();
  const auto report = autodiff::gradcheck(
      [&](const std::vector<Tensor>& p) {
        std::size_t i = 0;
        struct Swap : nn::ModuleVisitor {
          const std::vector<Tensor>* p;
          std::size_t* i;
          void parameter(std::string_view, Tensor& t) override { t = (*p)[(*i)++]; }
          void child(std::string_view, nn::Module& m) override { m.list(*this); }
        } swap;
        swap.p = &p;
        swap.i = &i;
        net.list(swap);
        return nn::cross_entropy(net.forward(x), labels);
      },
      params);
  BOOST_TEST(report.ok, fmt::format("{}", report));
}

// The test: the CNN trains on a 2,000-image subset to clearly above chance (0.1) with a fixed seed.
BOOST_AUTO_TEST_CASE(cnn_trains_on_a_subset_above_chance, *utf::precondition(has_data)) {
  const nn::Split data = nn::load_dataset(data_dir);
  const nn::Dataset train = nn::subset(data.train, 2000);
  nn::TrainConfig c = nn::preset("cnn");
  c.arch = "conv8,pool,fc32";
  c.epochs = 3;
  c.batch = 64;
  c.lr = 3e-3;
  c.seed = 1;
  nn::Trainer t(c, train);
  double first = 0.0, last = 0.0;
  for (std::size_t e = 0; e < c.epochs; ++e) {
    const nn::EpochStats s = t.train_epoch();
    (e == 0 ? first : last) = s.loss;
  }
  BOOST_TEST(last < first);
  const nn::Evaluation test = nn::evaluate(t.model(), c.cost, nn::subset(data.test, 2000), 10);
  BOOST_TEST_MESSAGE("CNN test accuracy after 3 epochs on 2000 images: " << test.accuracy);
  BOOST_TEST(test.accuracy > 0.6);  // chance is 0.1
}

// A CNN trainer's checkpoint stores the arch, and save + load + train equals training straight through.
BOOST_AUTO_TEST_CASE(cnn_checkpoint_resumes_bit_identically) {
  const nn::Dataset d = synthetic(60);
  const nn::TrainConfig c = small_cnn();
  const TempDir dir("arch_test");
  const fs::path file = dir.path / "cnn.ckpt";
  nn::Trainer straight(c, d, 3);
  straight.train_epoch();
  straight.train_epoch();
  {
    nn::Trainer first(c, d, 3);
    first.train_epoch();
    first.save(file);
  }
  const nn::TrainConfig saved = nn::Trainer::checkpoint_config(file);
  BOOST_TEST(saved.arch == "conv4,pool,fc8");
  nn::Trainer resumed(saved, d, 3);
  resumed.load(file);
  resumed.train_epoch();
  BOOST_TEST((parameter_bytes(resumed.model()) == parameter_bytes(straight.model())));
  nn::Trainer fresh(c, d, 3);
  fresh.train_epoch();
  BOOST_TEST((parameter_bytes(fresh.model()) != parameter_bytes(straight.model())));  // the check can fail

  // Another arch does not load it, naming both.
  nn::TrainConfig other = c;
  other.arch = "conv5,pool,fc8";
  nn::Trainer wrong(other, d, 3);
  BOOST_CHECK_EXCEPTION(wrong.load(file), std::exception,
                        says<std::invalid_argument>({"cnn.ckpt: arch 'conv4,pool,fc8' differs from this trainer's 'conv5,pool,fc8'"}));
  // A format this program does not know is refused, naming it.
  auto entries = nn::load_arrays(file);
  for (auto& [k, a] : entries)
    if (k == "trainer.format") a = autodiff::Array::full(Shape{}, 3.0, Dtype::f64);
  nn::save_arrays(file, entries);
  BOOST_CHECK_EXCEPTION(nn::Trainer::checkpoint_config(file), std::exception,
                        says<std::invalid_argument>({"cnn.ckpt: format 3 is not one this program reads (1 or 2)"}));
  // A bad layer code is refused with the known codes.
  for (auto& [k, a] : entries) {
    if (k == "trainer.format") a = autodiff::Array::full(Shape{}, 2.0, Dtype::f64);
    if (k == "config.arch") a.set(0, 9.0);
  }
  nn::save_arrays(file, entries);
  BOOST_CHECK_EXCEPTION(nn::Trainer::checkpoint_config(file), std::exception,
                        says<std::invalid_argument>({"'config.arch' row 0 (9, 4) is not a layer (known codes: 0 conv, 1 pool, 2 fc)"}));
}

// A checkpoint of format 1 (an MLP: no trainer.format or config.arch, parameters "layers.<j>.*") still loads.
BOOST_AUTO_TEST_CASE(format_1_checkpoint_loads_into_the_fc_sequential) {
  const nn::Dataset d = synthetic(40);
  nn::TrainConfig c = nn::preset("seed");
  c.batch = 8;
  const TempDir dir("arch_test");
  const fs::path file = dir.path / "old.ckpt";
  nn::Trainer t(c, d, 3);
  t.train_epoch();
  t.save(file);
  auto entries = nn::load_arrays(file);
  std::erase_if(entries, [](const auto& e) { return e.first == "trainer.format" || e.first == "config.arch"; });
  for (auto& [k, a] : entries)
    for (auto [now, before] : {std::pair{"model.0.", "model.layers.0."}, std::pair{"model.2.", "model.layers.1."},
                               std::pair{"model.4.", "model.layers.2."}})
      if (k.starts_with(now)) k = before + k.substr(std::string(now).size());
  nn::save_arrays(file, entries);
  const nn::TrainConfig saved = nn::Trainer::checkpoint_config(file);
  BOOST_TEST(saved.arch.empty());
  nn::Trainer old(saved, d, 3);
  old.load(file);
  BOOST_TEST(old.epoch() == 1u);
  BOOST_TEST((parameter_bytes(old.model()) == parameter_bytes(t.model())));
}
