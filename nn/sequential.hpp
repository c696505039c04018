// Sequential: modules applied one after another, owned by the container and named "0", "1", ... as in PyTorch.
#pragma once

#include "autodiff/tensor.hpp"
#include "module.hpp"

#include <concepts>
#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

namespace nn {

/// A chain of one-tensor modules: forward(x) is m_n(...m_1(m_0(x))), and x itself when empty (PyTorch's nn.Sequential).
/// Children are named "0", "1", ..., so parameters are "0.weight", "2.bias", ... as PyTorch's state_dict keys.
///
///   nn::Sequential net(nn::Linear(784, 128, gen), nn::ReLU(), nn::Linear(128, 10, gen));
///   net.add(nn::Sigmoid());
///
/// Modules are moved in (or handed over as std::unique_ptr); a Sequential moves like any module.
class Sequential : public Module {
 public:
  Sequential() = default;
  /// Takes each module by value (moved from) or as a std::unique_ptr. To nest a Sequential, pass it as a
  /// std::unique_ptr or add() it: a lone Sequential argument is a move.
  template <class... M>
    requires(sizeof...(M) > 0 && (!std::is_same_v<std::remove_cvref_t<M>, Sequential> || ...))
  explicit Sequential(M&&... modules) {
    (add(std::forward<M>(modules)), ...);
  }

  /// Appends a module. @throws std::invalid_argument for a null pointer.
  Sequential& add(std::unique_ptr<Module> m);
  /// Appends a module moved into the container.
  template <class M>
    requires std::derived_from<std::remove_cvref_t<M>, Module> && (!std::is_lvalue_reference_v<M>)
  Sequential& add(M&& m) {
    return add(std::unique_ptr<Module>(std::make_unique<std::remove_cvref_t<M>>(std::move(m))));
  }

  void list(ModuleVisitor& v) override;
  /// Each module's forward in turn. @throws whatever a module throws (std::logic_error for a module that does not
  /// take one tensor).
  autodiff::Tensor forward(const autodiff::Tensor& x) const override;

  std::size_t size() const { return modules_.size(); }
  bool empty() const { return modules_.empty(); }
  /// Module i. @throws std::out_of_range naming the index and the size.
  Module& operator[](std::size_t i);
  const Module& operator[](std::size_t i) const;
  /// Module i as its own type, e.g. net.at<nn::Linear>(0).weight().
  /// @throws std::out_of_range as operator[], std::invalid_argument when module i is not an M.
  template <class M>
  M& at(std::size_t i) {
    if (auto* p = dynamic_cast<M*>(&(*this)[i])) return *p;
    throw_wrong_type(i);
  }

 private:
  [[noreturn]] void throw_wrong_type(std::size_t i) const;
  std::vector<std::unique_ptr<Module>> modules_;
};

}  // namespace nn
