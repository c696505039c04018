// Module: named parameter and child registry, recursive zero_grad and train/eval.
#include "nn/module.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace nn {

Module::~Module() = default;

std::vector<std::pair<std::string, autodiff::Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, autodiff::Tensor>> out;
  for (const auto& [name, t] : params_) out.emplace_back(name, *t);
  for (const auto& [name, child] : children_)
    for (auto& [sub, t] : child->named_parameters()) out.emplace_back(name + "." + sub, std::move(t));
  return out;
}

std::vector<autodiff::Tensor> Module::parameters() const {
  std::vector<autodiff::Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(std::move(t));
  return out;
}

void Module::zero_grad() {
  for (auto& [name, t] : params_) t->zero_grad();
  for (auto& [name, child] : children_) child->zero_grad();
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::check_name(const std::string& name) const {
  // Dotted names such as "layers.0" are allowed (a flattened list); every dot-separated part must be non-empty.
  if (name.empty() || name.front() == '.' || name.back() == '.' || name.find("..") != std::string::npos)
    throw std::invalid_argument(fmt::format("register: bad name '{}' (must be non-empty parts joined by '.')", name));
  for (const auto& [n, t] : params_)
    if (n == name) throw std::invalid_argument(fmt::format("register: duplicate name '{}'", name));
  for (const auto& [n, m] : children_)
    if (n == name) throw std::invalid_argument(fmt::format("register: duplicate name '{}'", name));
}

void Module::register_parameter(std::string name, autodiff::Tensor* t) {
  check_name(name);
  if (!t) throw std::invalid_argument(fmt::format("register_parameter: null tensor for '{}'", name));
  params_.emplace_back(std::move(name), t);
}

void Module::clear_registry() noexcept {
  params_.clear();
  children_.clear();
}

void Module::register_module(std::string name, Module* m) {
  check_name(name);
  if (!m || m == this) throw std::invalid_argument(fmt::format("register_module: bad module for '{}'", name));
  children_.emplace_back(std::move(name), m);
  m->train(training_);
}

}  // namespace nn
