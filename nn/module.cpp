// Module: hierarchical parameter names from list(), recursive zero_grad and train/eval.
#include "nn/module.hpp"

#include <fmt/format.h>

#include <functional>
#include <stdexcept>
#include <unordered_set>

namespace nn {

Module::~Module() = default;

autodiff::Tensor Module::forward(const autodiff::Tensor&) const {
  throw std::logic_error("Module::forward: this module does not take a single tensor (call its own forward)");
}

namespace {

void check_name(std::string_view name) {
  // Dotted names such as "layers.0" are allowed (a flattened list); every dot-separated part must be non-empty.
  if (name.empty() || name.front() == '.' || name.back() == '.' || name.find("..") != std::string_view::npos)
    throw std::invalid_argument(fmt::format("Module: bad name '{}' (must be non-empty parts joined by '.')", name));
}

/// Calls on_param(full name, tensor) for every parameter under m, depth first in list() order.
void walk(Module& m, const std::string& prefix, const std::function<void(const std::string&, autodiff::Tensor&)>& on_param) {
  struct Visitor : ModuleVisitor {
    const std::string& prefix;
    const std::function<void(const std::string&, autodiff::Tensor&)>& on_param;
    std::unordered_set<std::string> seen;
    Visitor(const std::string& p, const std::function<void(const std::string&, autodiff::Tensor&)>& f)
        : prefix(p), on_param(f) {}
    void note(std::string_view name) {
      check_name(name);
      if (!seen.emplace(name).second) throw std::invalid_argument(fmt::format("Module: duplicate name '{}{}'", prefix, name));
    }
    void parameter(std::string_view name, autodiff::Tensor& t) override {
      note(name);
      on_param(prefix + std::string(name), t);
    }
    void child(std::string_view name, Module& c) override {
      note(name);
      walk(c, prefix + std::string(name) + ".", on_param);
    }
  } v(prefix, on_param);
  m.list(v);
}

}  // namespace

std::vector<std::pair<std::string, autodiff::Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, autodiff::Tensor>> out;
  // list() is not const (it hands out references for zero_grad and loading); reading through it changes nothing.
  walk(const_cast<Module&>(*this), "", [&](const std::string& name, autodiff::Tensor& t) { out.emplace_back(name, t); });
  return out;
}

std::vector<autodiff::Tensor> Module::parameters() const {
  std::vector<autodiff::Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(std::move(t));
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_children() const {
  struct Visitor : ModuleVisitor {
    std::vector<std::pair<std::string, Module*>> out;
    void parameter(std::string_view, autodiff::Tensor&) override {}
    void child(std::string_view name, Module& m) override { out.emplace_back(std::string(name), &m); }
  } v;
  const_cast<Module&>(*this).list(v);
  return std::move(v.out);
}

void Module::zero_grad() {
  walk(*this, "", [](const std::string&, autodiff::Tensor& t) { t.zero_grad(); });
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : named_children()) child->train(on);
}

}  // namespace nn
