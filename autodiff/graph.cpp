// Walks a tape backwards from a root, marking what it depends on, and renders the marked nodes as DOT.
#include "autodiff/graph.hpp"

#include "autodiff/format.hpp"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <stdexcept>
#include <unordered_map>
#include <vector>

namespace autodiff {

namespace {

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string brief(const Array& a, int max_elements) {
  if (!a.defined()) return "-";
  if (a.numel() <= max_elements) return detail::format_array(a, max_elements);
  double sq = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) sq += a.at(i) * a.at(i);
  return fmt::format("|{:.4g}|", std::sqrt(sq));
}

struct Renderer {
  const Tape& t;
  const DotOptions& opt;
  std::vector<char> smark, tmark;
  std::string body;
  std::unordered_map<const detail::TensorLeaf*, int> constants;

  void mark_inputs_of_scalar(std::uint32_t i) {
    for (std::uint32_t in : t.scalar_inputs(i)) smark[in] = 1;
  }

  void walk(bool scalar_root, std::uint32_t root) {
    smark.assign(t.scalar_nodes(), 0);
    tmark.assign(t.tensor_nodes(), 0);
    std::int64_t i, k;
    if (scalar_root) {
      smark[root] = 1;
      i = root;
      k = static_cast<std::int64_t>(t.tensor_nodes()) - 1;
      while (k >= 0 && t.node(static_cast<std::uint32_t>(k)).scalar_pos > root) --k;
    } else {
      tmark[root] = 1;
      k = root;
      i = static_cast<std::int64_t>(t.node(root).scalar_pos) - 1;
    }
    for (;;) {
      const std::int64_t lo = k >= 0 ? t.node(static_cast<std::uint32_t>(k)).scalar_pos : 0;
      for (; i >= lo; --i)
        if (smark[static_cast<std::size_t>(i)]) mark_inputs_of_scalar(static_cast<std::uint32_t>(i));
      if (k < 0) break;
      const auto ku = static_cast<std::uint32_t>(k);
      const detail::TensorNode& n = t.node(ku);
      if (n.link_count)
        for (std::uint32_t j = 0; j < n.link_count; ++j) tmark[ku] = tmark[ku] || smark[n.link_scalar + j];
      if (tmark[ku]) {
        for (const Tensor& in : t.node_inputs(ku))
          if (in.tape()) tmark[in.index()] = 1;
        if (const auto* feeds = t.scalar_feeds(ku))
          for (std::uint32_t s : *feeds) smark[s] = 1;
      }
      --k;
    }
  }

  void scalar_node(std::uint32_t i) {
    const ScalarOp op = t.scalar_op(i);
    const std::string label = t.scalar_label(i);
    std::string text = label.empty() ? std::string(op_name(op)) : fmt::format("{}\n{}", label, op_name(op));
    if (op == ScalarOp::leaf) text = label.empty() ? std::string("leaf") : label;
    if (opt.values) text += fmt::format("\nvalue {:.4f}", t.scalar_value(i));
    if (opt.grads) {
      const detail::VarLeaf* leaf = op == ScalarOp::leaf ? t.scalar_leaf(i) : nullptr;
      text += fmt::format("\ngrad {:.4f}", leaf ? leaf->grad : t.scalar_grad(i));
    }
    const char* style = op == ScalarOp::leaf ? "shape=box, style=filled, fillcolor=\"#fff3b0\"" : "shape=ellipse";
    body += fmt::format("  s{} [label=\"{}\", {}];\n", i, escape(text), style);
    for (std::uint32_t in : t.scalar_inputs(i)) body += fmt::format("  s{} -> s{};\n", in, i);
  }

  std::string constant(const Tensor& c) {
    auto [it, fresh] = constants.emplace(c.leaf(), static_cast<int>(constants.size()));
    const std::string id = fmt::format("c{}", it->second);
    if (fresh) {
      std::string text = c.label().empty() ? std::string("constant") : c.label();
      text += fmt::format("\n{}", c.shape().str());
      if (opt.values && c.numel() <= opt.max_elements) text += fmt::format("\n{}", brief(c.value(), opt.max_elements));
      body += fmt::format("  {} [label=\"{}\", shape=box, style=filled, fillcolor=\"#e0e0e0\"];\n", id, escape(text));
    }
    return id;
  }

  void tensor_node(std::uint32_t k) {
    const detail::TensorNode& n = t.node(k);
    const std::string label = t.node_label(k);
    std::string text;
    const char* style = "shape=ellipse";
    if (n.leaf) {
      text = label.empty() ? std::string("parameter") : label;
      style = "shape=box, style=filled, fillcolor=\"#b8d8f8\"";
    } else {
      text = label.empty() ? std::string(n.op) : fmt::format("{}\n{}", label, n.op);
    }
    if (n.value.defined()) {
      text += fmt::format("\n{}", n.value.shape().str());
      if (opt.values && n.value.numel() <= opt.max_elements) text += fmt::format("\nvalue {}", brief(n.value, opt.max_elements));
    }
    if (opt.grads && n.value.defined()) {
      const Array g = n.leaf && n.leaf->grad.defined() ? n.leaf->grad : (n.grad.defined() ? n.grad.value() : Array());
      text += fmt::format("\ngrad {}", brief(g, opt.max_elements));
    }
    body += fmt::format("  t{} [label=\"{}\", {}];\n", k, escape(text), style);
    for (const Tensor& in : t.node_inputs(k)) {
      if (in.tape())
        body += fmt::format("  t{} -> t{};\n", in.index(), k);
      else if (!(n.op == std::string_view("stack")))
        body += fmt::format("  {} -> t{};\n", constant(in), k);
    }
    if (n.link_count && !t.node_inputs(k).empty())
      for (std::uint32_t j = 0; j < n.link_count; ++j)
        if (smark[n.link_scalar + j])
          body += fmt::format("  t{} -> s{} [label=\"[{}]\"];\n", t.node_inputs(k)[0].index(), n.link_scalar + j, n.link_flat + j);
    if (const auto* feeds = t.scalar_feeds(k))
      for (std::uint32_t s : *feeds) body += fmt::format("  s{} -> t{};\n", s, k);
  }

  std::string render() {
    for (std::uint32_t i = 0; i < smark.size(); ++i)
      if (smark[i]) scalar_node(i);
    for (std::uint32_t k = 0; k < tmark.size(); ++k)
      if (tmark[k] && !t.node(k).link_count) tensor_node(k);
    std::string out = "digraph autodiff {\n  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=10];\n";
    if (!opt.title.empty()) out += fmt::format("  labelloc=t;\n  label=\"{}\";\n", escape(opt.title));
    return out + body + "}\n";
  }
};

Tape& tape_of(Tape* tape, std::uint32_t epoch) {
  Tape* t = Tape::find_live(tape, epoch);
  if (!t) throw std::logic_error("to_dot: root has no live tape (a leaf, a constant, or a stale handle)");
  return *t;
}

}  // namespace

std::string to_dot(const Var& root, const DotOptions& opt) {
  Tape& t = tape_of(root.tape(), root.epoch());
  Renderer r{t, opt, {}, {}, {}, {}};
  r.walk(true, root.index());
  return r.render();
}

std::string to_dot(const Tensor& root, const DotOptions& opt) {
  Tape& t = tape_of(root.tape(), root.epoch());
  Renderer r{t, opt, {}, {}, {}, {}};
  r.walk(false, root.index());
  return r.render();
}

void write_dot(const std::filesystem::path& file, const std::string& dot) {
  std::ofstream out(file);
  out << dot;
  if (!out) throw std::invalid_argument(fmt::format("write_dot: cannot write {}", file.string()));
}

}  // namespace autodiff
