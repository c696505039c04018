// nn layers (Sequential, activations, Flatten, Conv2d, pooling, Embedding, LayerNorm, Dropout): float64 gradchecks
// through each layer, parameter names, checkpoint round trips, initialisation, hand values and error messages.
#define BOOST_TEST_MODULE nn_layers_test
#include <boost/test/unit_test.hpp>

#include "temp_dir.hpp"
#include "throws_with.hpp"

#include "autodiff/autodiff.hpp"
#include "nn/nn.hpp"

#include <cmath>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

using autodiff::Dtype;
using autodiff::Shape;
using autodiff::Tensor;

namespace {

/// Values from the generator's 64-bit words (identical on every standard library), in [lo, hi).
Tensor words(const Shape& shape, std::mt19937_64& gen, double lo = -1.0, double hi = 1.0, Dtype dtype = Dtype::f64) {
  std::vector<double> v(static_cast<std::size_t>(shape.numel()));
  for (double& x : v) x = lo + (hi - lo) * static_cast<double>(gen() >> 11) * 0x1.0p-53;
  return autodiff::tensor(v, shape, dtype);
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

std::vector<std::string> names(const nn::Module& m) {
  std::vector<std::string> out;
  for (const auto& [name, t] : m.named_parameters()) out.push_back(name);
  return out;
}

}  // namespace

// ---- Sequential, ReLU, Flatten, Conv2d, pooling: a small CNN ------------------------------------------------------

BOOST_AUTO_TEST_CASE(small_cnn_forward_names_and_gradcheck) {
  std::mt19937_64 gen(7);
  nn::Sequential net(nn::Conv2d(1, 3, 3, 1, 1, gen, true, Dtype::f64), nn::ReLU(), nn::MaxPool2d(2),
                     nn::Conv2d(3, 2, 3, gen, 1, 0, true, Dtype::f64), nn::AvgPool2d(2), nn::Flatten(),
                     nn::Linear(2, 3, gen, nn::Init::uniform, Dtype::f64));
  BOOST_TEST(net.size() == 7u);
  const std::vector<std::string> want{"0.weight", "0.bias", "3.weight", "3.bias", "6.weight", "6.bias"};
  BOOST_TEST(names(net) == want, boost::test_tools::per_element());
  const Tensor x = words(Shape{2, 1, 8, 8}, gen);
  // [2,1,8,8] conv -> [2,3,8,8] pool -> [2,3,4,4] conv -> [2,2,2,2] pool -> [2,2,1,1] flatten -> [2,2] linear -> [2,3]
  BOOST_TEST(net.forward(x).shape() == (Shape{2, 3}));
  BOOST_TEST(check_layer(net, x).ok);
}
