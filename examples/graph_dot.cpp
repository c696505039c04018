// Writes Graphviz DOT of micrograd's README expression and of a small MLP after backward, and renders them with dot.
//
//   graph_dot               writes micrograd.dot and mlp.dot (and .svg next to them when `dot` is on PATH)
//   graph_dot --docs DIR    also renders DIR/micrograd.svg and DIR/mlp.svg (the README's pictures)
// Exits 1 when a graph lacks its labels or edges, or when dot rejects a file.
#include "autodiff/autodiff.hpp"
#include "nn/cost.hpp"
#include "nn/linear.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <random>
#include <string>
#include <string_view>

namespace {

using autodiff::Tensor;
using autodiff::Var;

bool has_dot() { return std::system("command -v dot >/dev/null 2>&1") == 0; }

bool render(const std::filesystem::path& dot_file, const std::filesystem::path& svg_file) {
  const std::string cmd = fmt::format("dot -Tsvg '{}' -o '{}'", dot_file.string(), svg_file.string());
  const int rc = std::system(cmd.c_str());
  fmt::print("  {} -> exit {}\n", cmd, rc);
  return rc == 0;
}

bool contains_all(const std::string& dot, std::initializer_list<std::string_view> words) {
  bool ok = dot.find("->") != std::string::npos;
  for (std::string_view w : words)
    if (dot.find(w) == std::string::npos) {
      fmt::print("  missing '{}' in the DOT text\n", w);
      ok = false;
    }
  return ok;
}

/// micrograd's README expression on scalar Vars: g = 24.7041, dg/da = 138.8338, dg/db = 645.5773.
std::string micrograd_dot() {
  autodiff::TapeScope scope;
  autodiff::OpByOp each_op;  // one node per op, as micrograd draws it (by default a statement is one node)
  Var a = -4.0, b = 2.0;
  a.label("a");
  b.label("b");
  Var c = a + b;
  Var d = a * b + pow(b, 3);
  c += c + 1;
  c += 1 + c + (-a);
  d += d * 2 + relu(b + a);
  d += 3 * d + relu(b - a);
  c.label("c");
  d.label("d");
  Var e = c - d;
  e.label("e");
  Var f = pow(e, 2);
  f.label("f");
  Var g = f / 2.0;
  g += 10.0 / f;
  g.label("g");
  autodiff::backward(g);
  fmt::print("micrograd expression: g = {:.4f}, dg/da = {:.4f}, dg/db = {:.4f}\n", g.value(), a.grad(), b.grad());
  return autodiff::to_dot(g, {.title = "micrograd's README expression, after backward"});
}

/// A 2-3-1 sigmoid MLP on one example, with every parameter and intermediate labelled as in the seed.
std::string mlp_dot() {
  std::mt19937_64 gen(3);
  nn::Linear l1(2, 3, gen, nn::Init::normal, autodiff::Dtype::f64), l2(3, 1, gen, nn::Init::normal, autodiff::Dtype::f64);
  l1.weight().label("W1");
  l1.bias().label("b1");
  l2.weight().label("W2");
  l2.bias().label("b2");
  Tensor x = autodiff::tensor({0.35, 0.9}, autodiff::Shape{1, 2}, autodiff::Dtype::f64);
  Tensor y = autodiff::tensor({0.5}, autodiff::Shape{1, 1}, autodiff::Dtype::f64);
  x.label("x");
  y.label("y");
  autodiff::TapeScope scope;
  Tensor z1 = l1.forward(x);
  z1.label("z1");
  Tensor a1 = autodiff::sigmoid(z1);
  a1.label("a1");
  Tensor z2 = l2.forward(a1);
  z2.label("z2");
  Tensor a2 = autodiff::sigmoid(z2);
  a2.label("a2");
  Tensor c = nn::squared_error(a2, y);
  c.label("cost");
  autodiff::backward(c);
  return autodiff::to_dot(c, {.title = "2-3-1 MLP, squared error, after backward"});
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path docs;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--docs" && i + 1 < argc) {
      docs = argv[++i];
    } else {
      fmt::print(stderr, "usage: graph_dot [--docs DIR]\n");
      return 2;
    }
  }

  bool pass = true;
  const std::string micrograd = micrograd_dot(), mlp = mlp_dot();
  pass = contains_all(micrograd, {"\"a\\nvalue", "\"b\\nvalue", "g\\nadd", "relu", "pow", "mul"}) && pass;
  pass = contains_all(mlp, {"W1", "b1", "z1\\naddmm", "a1\\nsigmoid", "W2", "b2", "z2", "a2", "cost"}) && pass;
  autodiff::write_dot("micrograd.dot", micrograd);
  autodiff::write_dot("mlp.dot", mlp);
  fmt::print("wrote micrograd.dot ({} bytes) and mlp.dot ({} bytes)\n", micrograd.size(), mlp.size());

  if (has_dot()) {
    pass = render("micrograd.dot", "micrograd.svg") && pass;
    pass = render("mlp.dot", "mlp.svg") && pass;
    if (!docs.empty()) {
      std::filesystem::create_directories(docs);
      pass = render("micrograd.dot", docs / "micrograd.svg") && pass;
      pass = render("mlp.dot", docs / "mlp.svg") && pass;
    }
  } else {
    fmt::print("graphviz `dot` is not on PATH: wrote the DOT files only\n");
    if (!docs.empty()) {
      fmt::print(stderr, "--docs needs graphviz `dot`\n");
      pass = false;
    }
  }
  fmt::print("{}\n", pass ? "graph_dot: PASS" : "graph_dot: FAIL");
  return pass ? 0 : 1;
}
