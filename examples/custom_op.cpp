// Adds an op the framework does not have (log_sigmoid) with autodiff::make_op, checks it, and trains an MLP that uses it.
//
// The op is one function: its forward value and its backward lambda, written with engine ops so that it is itself
// differentiable (gradgradcheck and Hessian-vector products work through it). Exits 1 when a check fails.
#include "autodiff/autodiff.hpp"
#include "nn/cost.hpp"
#include "nn/linear.hpp"
#include "nn/optim.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

using autodiff::Tensor;

// ---- the custom op ---------------------------------------------------------------------------------------------
/// Elementwise log(sigmoid(x)) (PyTorch's logsigmoid), a smooth activation.
/// forward:  y = -log(1 + exp(-x)), computed as min(x, 0) - log1p(exp(-|x|)) so exp never overflows
/// backward: dx += grad * sigmoid(-x)
Tensor log_sigmoid(const Tensor& x, autodiff::Site site = autodiff::Site::current()) {
  autodiff::Array y(x.shape(), x.dtype());
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const double v = x.at(i);
    y.set(i, std::min(v, 0.0) - std::log1p(std::exp(-std::fabs(v))));
  }
  return autodiff::make_op(
      "log_sigmoid", std::move(y), {x},
      [x](const Tensor& grad, const Tensor& /*result*/, autodiff::BackwardContext& dx) {
        dx[0] += grad * autodiff::sigmoid(-x);
      },
      site);
}
// ---- end of the custom op --------------------------------------------------------------------------------------

namespace {

/// A 2-8-8-1 MLP built from nn::Linear layers, with log_sigmoid as its hidden activation.
struct LogSigmoidNet {
  std::vector<nn::Linear> layers;

  explicit LogSigmoidNet(std::mt19937_64& gen) {
    layers.emplace_back(2, 8, gen, nn::Init::uniform, autodiff::Dtype::f64);
    layers.emplace_back(8, 8, gen, nn::Init::uniform, autodiff::Dtype::f64);
    layers.emplace_back(8, 1, gen, nn::Init::uniform, autodiff::Dtype::f64);
  }
  Tensor forward(Tensor a) const {
    for (std::size_t l = 0; l < layers.size(); ++l) {
      a = layers[l].forward(a);  // [B,in] x [in,out] + [out] -> [B,out]
      if (l + 1 < layers.size()) a = log_sigmoid(a);
    }
    return a;
  }
  std::vector<Tensor> parameters() {
    std::vector<Tensor> p;
    for (auto& layer : layers) {
      p.push_back(layer.weight());
      p.push_back(layer.bias());
    }
    return p;
  }
  /// Points the layers at `p` (gradcheck's float64 leaves), so a check differentiates this very network.
  void use(const std::vector<Tensor>& p) {
    for (std::size_t l = 0; l < layers.size(); ++l) {
      layers[l].weight() = p[2 * l];
      layers[l].bias() = p[2 * l + 1];
    }
  }
};

Tensor column(const std::vector<double>& v, std::int64_t rows, std::int64_t cols) {
  return autodiff::tensor(v, autodiff::Shape{rows, cols}, autodiff::Dtype::f64);
}

}  // namespace

int main() {
  bool pass = true;
  const auto report = [&](const char* what, const autodiff::GradcheckReport& r) {
    fmt::print("{}\n{}\n\n", what, r);
    pass = pass && r.ok;
  };

  // The op alone, including the far tails where a naive log(sigmoid(x)) gives log(0).
  const Tensor x = autodiff::tensor({-40.0, -3.0, -0.5, 0.25, 2.0, 40.0}, autodiff::Dtype::f64);
  const autodiff::TensorFunction op = [](const std::vector<Tensor>& in) { return log_sigmoid(in[0]); };
  report("gradcheck log_sigmoid(x), x = [-40, -3, -0.5, 0.25, 2, 40]:", autodiff::gradcheck(op, {x}));
  report("gradgradcheck log_sigmoid(x):", autodiff::gradgradcheck(op, {x}));
  const double far = log_sigmoid(autodiff::tensor({-800.0}, autodiff::Dtype::f64)).at(0);
  fmt::print("log_sigmoid(-800) = {} (log(sigmoid(-800)) would be log(0) = -inf)\n\n", far);
  pass = pass && far == -800.0;

  // The op inside a model: gradcheck through every parameter of the network.
  std::mt19937_64 gen(7);
  LogSigmoidNet net(gen);
  std::vector<double> xs, ys;
  for (int i = 0; i < 16; ++i) {
    const double u = autodiff::uniform01(gen) * 4 - 2, v = autodiff::uniform01(gen) * 4 - 2;
    xs.insert(xs.end(), {u, v});
    ys.push_back(std::sin(u) * v);
  }
  const Tensor X = column(xs, 16, 2), Y = column(ys, 16, 1);
  const std::vector<Tensor> trained = net.parameters();  // handles sharing the layers' storage
  const autodiff::TensorFunction loss = [&](const std::vector<Tensor>& p) {
    net.use(p);
    return nn::squared_error(net.forward(X), Y);
  };
  report("gradcheck 2-8-8-1 log_sigmoid MLP, squared error, all 6 parameters:", autodiff::gradcheck(loss, trained));
  report("gradgradcheck of the same:", autodiff::gradgradcheck(loss, trained));
  net.use(trained);

  // And it trains.
  nn::Adam adam(net.parameters(), {.lr = 0.02});
  double first = 0, last = 0;
  for (int step = 0; step <= 300; ++step) {
    autodiff::TapeScope scope;
    const Tensor c = nn::squared_error(net.forward(X), Y);
    autodiff::backward(c);
    adam.step();
    adam.zero_grad();
    if (step == 0) first = c.at(0);
    last = c.at(0);
    if (step % 100 == 0) fmt::print("step {:3}  cost {:.6f}\n", step, c.at(0));
  }
  const bool learned = last < 0.2 * first;
  fmt::print("cost {:.4f} -> {:.4f}: {}\n", first, last, learned ? "learned" : "DID NOT LEARN");
  pass = pass && learned;
  fmt::print("{}\n", pass ? "custom_op: PASS" : "custom_op: FAIL");
  return pass ? 0 : 1;
}
