// A model built from primitives: a user-defined residual block inside an nn::Sequential, trained a few steps with
// Adam on synthetic data, its loss graph optionally written as Graphviz DOT.
//
//   custom_model              prints the parameters and the loss of each step
//   custom_model --dot FILE   also writes the last step's graph (parameters labelled by name) to FILE
// Exits 1 when the loss does not fall.
#include "autodiff/autodiff.hpp"
#include "nn/nn.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

/// y = x + fc2(relu(fc1(x))): a layer the library does not ship, written by its user. list() names the children, so
/// parameters, zero_grad, train/eval, save and load all reach them; the default move is correct.
class ResidualBlock : public nn::Module {
 public:
  ResidualBlock(std::int64_t dim, std::int64_t hidden, std::mt19937_64& gen)
      : fc1_(dim, hidden, gen), fc2_(hidden, dim, gen) {}

  void list(nn::ModuleVisitor& v) override {
    v.child("fc1", fc1_);
    v.child("fc2", fc2_);
  }

  autodiff::Tensor forward(const autodiff::Tensor& x) const override {
    return x + fc2_.forward(autodiff::relu(fc1_.forward(x)));  // [B,dim] -> [B,hidden] -> [B,dim], plus the skip
  }

 private:
  nn::Linear fc1_, fc2_;
};

/// n rows of 4 inputs in [-1, 1) and the target sin(x0 + 2 x1) + x2 x3, from the generator's 64-bit words.
std::pair<autodiff::Tensor, autodiff::Tensor> synthetic(std::int64_t n, std::mt19937_64& gen) {
  std::vector<double> x(static_cast<std::size_t>(4 * n)), y(static_cast<std::size_t>(n));
  for (double& v : x) v = 2.0 * static_cast<double>(gen() >> 11) * 0x1.0p-53 - 1.0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double* r = &x[4 * i];
    y[i] = std::sin(r[0] + 2.0 * r[1]) + r[2] * r[3];
  }
  return {autodiff::tensor(x, autodiff::Shape{n, 4}), autodiff::tensor(y, autodiff::Shape{n, 1})};
}

}  // namespace

int main(int argc, char** argv) {
  std::string dot_file;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--dot" && i + 1 < argc) {
      dot_file = argv[++i];
    } else {
      fmt::print(stderr, "usage: custom_model [--dot FILE]\n");
      return 2;
    }
  }

  std::mt19937_64 gen(0);
  nn::Sequential model{nn::Linear(4, 16, gen), ResidualBlock(16, 32, gen), nn::Linear(16, 1, gen)};
  for (auto& [name, p] : model.named_parameters()) {
    fmt::print("{:<14} {}\n", name, p.shape().str());
    p.label(name);  // the DOT graph shows parameters by name
  }

  auto [x, y] = synthetic(256, gen);
  x.label("x");
  y.label("y");
  nn::Adam opt(model.parameters(), {.lr = 0.01});
  std::vector<double> losses;
  autodiff::Tensor loss;
  for (int step = 1; step <= 20; ++step) {
    loss = nn::squared_error(model.forward(x), y);
    opt.zero_grad();
    autodiff::backward(loss);
    opt.step();
    losses.push_back(loss.item());
    fmt::print("step {:2}  loss {:.4f}\n", step, losses.back());
  }

  if (!dot_file.empty()) {
    loss.label("loss");
    autodiff::write_dot(dot_file, autodiff::to_dot(loss, {.title = "Sequential(Linear, ResidualBlock, Linear), last step"}));
    fmt::print("wrote {}\n", dot_file);
  }
  const bool falls = losses.back() < 0.5 * losses.front();
  fmt::print("custom_model: {} (loss {:.4f} -> {:.4f})\n", falls ? "PASS" : "FAIL", losses.front(), losses.back());
  return falls ? 0 : 1;
}
