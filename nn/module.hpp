// Module: the base of every layer and model. A module lists its parameters and children when asked; nothing is
// registered, so a module moves like any value.
#pragma once

#include "autodiff/tensor.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nn {

class Module;

/// Receives a module's parameters and child modules (see Module::list).
class ModuleVisitor {
 public:
  virtual ~ModuleVisitor() = default;
  virtual void parameter(std::string_view name, autodiff::Tensor& t) = 0;
  virtual void child(std::string_view name, Module& m) = 0;
};

/// Base class of layers and models. A layer overrides list() to name its parameters and children, which gives
/// hierarchical names ("layers.0.weight") as PyTorch's state_dict keys, and forward() for a one-input model.
///
/// There is no registry of pointers: list() is asked each time, so a default move is correct and a layer needs no
/// hand-written move constructor. Modules are not copyable (a copy would share the parameters' storage).
class Module {
 public:
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  Module(Module&&) noexcept = default;
  Module& operator=(Module&&) noexcept = default;
  virtual ~Module();

  /// Names this module's own parameters and its children, in order: v.parameter("weight", weight_) ...
  virtual void list(ModuleVisitor& v) = 0;
  /// The output for one input tensor. @throws std::logic_error for a module that takes other inputs.
  virtual autodiff::Tensor forward(const autodiff::Tensor& x) const;

  /// Parameters with hierarchical names: own parameters first, then each child's, in list() order.
  /// @throws std::invalid_argument for an empty, badly dotted or repeated name.
  std::vector<std::pair<std::string, autodiff::Tensor>> named_parameters() const;
  /// The same tensors without names (handles sharing the parameters' storage).
  std::vector<autodiff::Tensor> parameters() const;
  /// Children with their names (direct children only).
  std::vector<std::pair<std::string, Module*>> named_children() const;
  /// Drops the accumulated grad of every parameter.
  void zero_grad();
  /// Sets training mode on this module and every child (dropout and similar layers read it).
  void train(bool on = true);
  void eval() { train(false); }
  bool training() const { return training_; }

 private:
  bool training_ = true;
};

}  // namespace nn
