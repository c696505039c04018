// Module: the base of every layer and model; a registry of named parameters and child modules.
#pragma once

#include "autodiff/tensor.hpp"

#include <string>
#include <utility>
#include <vector>

namespace nn {

/// Base class of layers and models. A module registers pointers to its own parameter Tensors and child modules,
/// which gives hierarchical names ("layers.0.weight") as PyTorch's state_dict keys.
///
/// Ownership: Module is neither copyable nor movable, so a registered pointer can never dangle through a copy or
/// a move that forgot to re-register. A derived class may offer a move constructor; it must then start from a fresh
/// Module, register its own (moved) members again and clear_registry() the source, as Linear and MLP do. Hold children through
/// std::unique_ptr (or as members) so their addresses stay fixed.
class Module {
 public:
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  Module(Module&&) = delete;
  Module& operator=(Module&&) = delete;
  virtual ~Module();

  /// Parameters with hierarchical names: own parameters first, then each child's, in registration order.
  std::vector<std::pair<std::string, autodiff::Tensor>> named_parameters() const;
  /// The same tensors without names (handles sharing the parameters' storage).
  std::vector<autodiff::Tensor> parameters() const;
  /// Resets the accumulated grad of every parameter to zero.
  void zero_grad();
  /// Sets training mode on this module and every child.
  void train(bool on = true);
  void eval() { train(false); }
  bool training() const { return training_; }

 protected:
  /// Registers a parameter member under `name`. @throws std::invalid_argument on an empty or duplicate name.
  void register_parameter(std::string name, autodiff::Tensor* t);
  /// Registers a child module under `name`; its parameters appear as "name.<child name>".
  void register_module(std::string name, Module* m);
  /// Forgets every registration: for a move constructor to empty its moved-from source, whose pointers would
  /// otherwise refer to members that now belong to another object.
  void clear_registry() noexcept;

 private:
  void check_name(const std::string& name) const;

  std::vector<std::pair<std::string, autodiff::Tensor*>> params_;
  std::vector<std::pair<std::string, Module*>> children_;
  bool training_ = true;
};

}  // namespace nn
