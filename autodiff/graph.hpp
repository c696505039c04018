// Graphviz DOT export of a recorded graph: op names, labels, shapes, values and grads.
#pragma once

#include "autodiff/tape.hpp"

#include <filesystem>
#include <string>

namespace autodiff {

struct DotOptions {
  bool values = true;     ///< show scalar values (and tensors with at most `max_elements` elements)
  bool grads = true;      ///< show gradients from the latest backward
  int max_elements = 4;
  std::string title = {};
  std::string rankdir = "TB";  ///< Graphviz layout direction: "TB" (top to bottom, the default) or "LR"
};

/// DOT text of every node that `root` depends on. Leaves are boxes (parameters blue, scalar leaves yellow,
/// constants grey); ops are ellipses named by op and user label, with shape, value and grad.
std::string to_dot(const Var& root, const DotOptions& opt = {});
std::string to_dot(const Tensor& root, const DotOptions& opt = {});
/// Writes to_dot(root) to a file. @throws std::invalid_argument naming the file if it cannot be written.
void write_dot(const std::filesystem::path& file, const std::string& dot);

}  // namespace autodiff
