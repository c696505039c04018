// Graphviz DOT export: marks what a root depends on with the tape's one reverse walk, then renders the marked nodes.
#include "autodiff/graph.hpp"

#include "autodiff/detail/walk.hpp"
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

std::string label_of(const detail::TensorImpl* p) { return p && p->extras ? p->extras->label : std::string(); }

struct Renderer {
  const detail::TapeStore& t;
  const DotOptions& opt;
  std::vector<char> mark;       // per stream position
  std::vector<char> leaf_mark;  // per registered Var leaf (operand indices with leaf_bit)

  void mark_scalar(std::uint32_t i) {
    if (i & detail::leaf_bit)
      leaf_mark[i ^ detail::leaf_bit] = 1;
    else
      mark[i] = 1;
  }
  std::string body;
  std::unordered_map<const detail::TensorImpl*, int> constants;

  // Marks every node the root depends on: a walk from the root down, propagating marks to inputs.
  void walk(std::uint32_t root) {
    mark.assign(t.positions(), 0);
    leaf_mark.assign(t.var_leaves().size(), 0);
    mark[root] = 1;
    detail::reverse_walk(
        t, detail::walk_top(t, root),
        [&](std::uint32_t hi, std::uint32_t lo) {
          for (std::int64_t i = hi; i >= lo; --i)
            if (mark[static_cast<std::size_t>(i)])
              for (std::uint32_t in : t.scalar_inputs(static_cast<std::uint32_t>(i))) mark_scalar(in);
        },
        [&](std::uint32_t k) {
          const detail::Record& r = t.record(k);
          bool used = false;
          for (std::uint32_t j = 0; j < r.count; ++j) used = used || mark[r.pos + j];
          if (!used) return;
          for (const detail::Input& in : t.inputs_of(k)) {
            if (!in.tensor)
              mark_scalar(in.pos);
            else if (in.rec != detail::no_record)
              mark[t.record(in.rec).pos] = 1;
          }
        });
  }

  void scalar_node(std::uint32_t i) {
    const ScalarOp op = t.scalar_op(i);
    const std::string label = t.scalar_label(i);
    std::string text = op == ScalarOp::leaf ? (label.empty() ? std::string("leaf") : label)
                                            : (label.empty() ? std::string(t.scalar_op_name(i)) : fmt::format("{}\n{}", label, t.scalar_op_name(i)));
    if (opt.values) text += fmt::format("\nvalue {:.4f}", t.scalar_value(i));
    if (opt.grads) {
      const detail::VarSlot* leaf = op == ScalarOp::leaf ? t.var_leaf_at(i) : nullptr;
      const bool live = leaf && leaf->leaf->gen.load(std::memory_order_relaxed) == leaf->gen;
      text += fmt::format("\ngrad {:.4f}", live ? leaf->leaf->grad : t.scalar_grad(i));
    }
    const char* style = op == ScalarOp::leaf ? "shape=box, style=filled, fillcolor=\"#fff3b0\"" : "shape=ellipse";
    body += fmt::format("  s{} [label=\"{}\", {}];\n", i, escape(text), style);
    for (std::uint32_t in : t.scalar_inputs(i)) body += fmt::format("  s{} -> s{};\n", in, i);
  }

  std::string constant(const detail::TensorImpl* c) {
    auto [it, fresh] = constants.emplace(c, static_cast<int>(constants.size()));
    const std::string id = fmt::format("c{}", it->second);
    if (fresh) {
      std::string text = label_of(c).empty() ? std::string("constant") : label_of(c);
      text += fmt::format("\n{}", c->value.shape().str());
      if (opt.values && c->value.numel() <= opt.max_elements) text += fmt::format("\n{}", brief(c->value, opt.max_elements));
      body += fmt::format("  {} [label=\"{}\", shape=box, style=filled, fillcolor=\"#e0e0e0\"];\n", id, escape(text));
    }
    return id;
  }

  std::string id_of(const detail::Input& in) {
    if (!in.tensor) return fmt::format("s{}", in.pos);
    if (in.rec == detail::no_record) return constant(in.tensor.get());
    return fmt::format("s{}", t.record(in.rec).pos);
  }

  void record_node(std::uint32_t k) {
    const detail::Record& r = t.record(k);
    if (!r.out) {
      // Var outputs read from a tensor: an edge from the tensor to each used element.
      const std::string from = id_of(t.inputs_of(k)[0]);
      for (std::uint32_t j = 0; j < r.count; ++j) {
        if (!mark[r.pos + j]) continue;
        scalar_node(r.pos + j);
        body += fmt::format("  {} -> s{} [label=\"[{}]\"];\n", from, r.pos + j, r.flat + j);
      }
      return;
    }
    const std::string label = label_of(r.out.get());
    std::string text;
    const char* style = "shape=ellipse";
    if (r.is_leaf) {
      text = label.empty() ? std::string("parameter") : label;
      style = "shape=box, style=filled, fillcolor=\"#b8d8f8\"";
    } else {
      text = label.empty() ? std::string(r.name.view()) : fmt::format("{}\n{}", label, r.name.view());
    }
    const Array& v = r.out->value;
    text += fmt::format("\n{}", v.shape().str());
    if (opt.values && v.numel() <= opt.max_elements) text += fmt::format("\nvalue {}", brief(v, opt.max_elements));
    if (opt.grads) {
      const detail::TensorImpl* g = r.is_leaf && r.out->grad ? r.out->grad.get() : t.record_grad(k);
      text += fmt::format("\ngrad {}", brief(g ? g->value : Array(), opt.max_elements));
    }
    body += fmt::format("  s{} [label=\"{}\", {}];\n", r.pos, escape(text), style);
    for (const detail::Input& in : t.inputs_of(k)) body += fmt::format("  {} -> s{};\n", id_of(in), r.pos);
  }

  std::string render() {
    std::int64_t k = 0;
    const auto records = static_cast<std::int64_t>(t.records());
    for (std::uint32_t k = 0; k < leaf_mark.size(); ++k)
      if (leaf_mark[k]) scalar_node(k | detail::leaf_bit);
    for (std::uint32_t i = 0; i < mark.size();) {
      while (k < records && t.record(static_cast<std::size_t>(k)).pos + t.record(static_cast<std::size_t>(k)).count <= i) ++k;
      if (k < records && t.record(static_cast<std::size_t>(k)).pos == i) {
        const detail::Record& r = t.record(static_cast<std::size_t>(k));
        bool used = false;
        for (std::uint32_t j = 0; j < r.count; ++j) used = used || mark[r.pos + j];
        if (used) record_node(static_cast<std::uint32_t>(k));
        i += r.count;
        continue;
      }
      if (mark[i]) scalar_node(i);
      ++i;
    }
    std::string out = fmt::format("digraph autodiff {{\n  rankdir={};\n  node [fontname=\"Helvetica\", fontsize=10];\n",
                                  opt.rankdir);
    if (!opt.title.empty()) out += fmt::format("  labelloc=t;\n  label=\"{}\";\n", escape(opt.title));
    return out + body + "}\n";
  }
};

const detail::TapeStore& store_of(const Tape* tape, std::uint64_t epoch, bool leaf) {
  Tape* t = Tape::find_live(tape, epoch);
  if (!t) {
    if (leaf || !tape) throw std::logic_error("to_dot: root has no recorded history (a leaf or a constant)");
    throw std::logic_error(detail::stale_message("to_dot", tape, epoch));
  }
  return detail::store(*t);
}

}  // namespace

std::string to_dot(const Var& root, const DotOptions& opt) {
  const detail::TapeStore& t = store_of(root.tape(), root.epoch(), root.is_leaf());
  Renderer r{t, opt, {}, {}, {}, {}};
  r.walk(root.index());
  return r.render();
}

std::string to_dot(const Tensor& root, const DotOptions& opt) {
  if (!root.defined()) throw std::logic_error("to_dot: root is an undefined tensor");
  const detail::TensorImpl* p = root.impl();
  const detail::TapeStore& t = store_of(p->tape, p->epoch, !p->tape);
  Renderer r{t, opt, {}, {}, {}, {}};
  r.walk(t.record(p->rec).pos);
  return r.render();
}

void write_dot(const std::filesystem::path& file, const std::string& dot) {
  std::ofstream out(file);
  out << dot;
  if (!out) throw std::invalid_argument(fmt::format("write_dot: cannot write {}", file.string()));
}

}  // namespace autodiff
