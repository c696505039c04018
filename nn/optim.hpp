// Optimizers: SGD (momentum, Nesterov, weight decay) and Adam/AdamW, with PyTorch's update rules, on leaf storage.
#pragma once

#include "autodiff/array.hpp"
#include "autodiff/tensor.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace nn {

/// Base of the optimizers: holds parameter handles (sharing the model's storage) and the learning rate.
/// Updates write the leaves' values in place with plain loops (no tape). A parameter whose grad was never
/// written by a backward pass is skipped, as PyTorch skips a parameter whose .grad is None. zero_grad() zeroes grads
/// rather than unsetting them (PyTorch's set_to_none=False), so a parameter that has had a grad keeps being stepped.
/// The arithmetic runs in double and is stored in the parameter's dtype (float32 or float64).
class Optimizer {
 public:
  /// @throws std::invalid_argument when params is empty or holds a tensor that is not a leaf requiring grad.
  explicit Optimizer(std::vector<autodiff::Tensor> params);
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// One update of every parameter from its current grad.
  virtual void step() = 0;
  /// Zeroes every parameter's grad.
  void zero_grad();
  double lr() const { return lr_; }
  /// @throws std::invalid_argument when lr is negative or not finite.
  void set_lr(double lr);
  const std::vector<autodiff::Tensor>& params() const { return params_; }

  /// State for checkpoints: "lr" (0-d f64) and per-parameter buffers named "<i>.<buffer>" (i = parameter index).
  virtual std::vector<std::pair<std::string, autodiff::Array>> state() const;
  /// Restores state(); continues exactly as the optimizer that saved it. Validates everything before changing
  /// anything. @throws std::invalid_argument naming the entry on an unknown name or a shape or dtype mismatch.
  virtual void load_state(const std::vector<std::pair<std::string, autodiff::Array>>& state);

 protected:
  /// Validates and stores a learning rate; `who` names the optimizer in messages.
  void init_lr(const char* who, double lr);
  /// A per-parameter buffer: its name, and whether it is a 0-d f64 count (else it has the parameter's shape and dtype).
  struct BufferSpec {
    std::string name;
    bool count = false;
  };
  /// The buffers this optimizer keeps per parameter; a buffer stays undefined until the first step creates it.
  virtual std::vector<BufferSpec> buffer_specs() const = 0;
  /// True when parameter i received a grad from a backward pass (else step() skips it).
  bool has_grad(std::size_t i) const;
  /// Per-parameter buffers: buffers_[i][b] for parameter i and buffer_specs()[b] (undefined until first used).
  std::vector<std::vector<autodiff::Array>> buffers_;
  std::vector<autodiff::Tensor> params_;

 private:
  double lr_ = 0.0;
  const char* who_ = "Optimizer";
};

struct SGDOptions {
  double lr = 0.01;
  double momentum = 0.0;
  bool nesterov = false;
  double weight_decay = 0.0;
};

/// torch.optim.SGD with dampening 0:
///   g = grad + weight_decay * p
///   if momentum: buf = g on the first step, else buf = momentum * buf + g;  g = nesterov ? g + momentum * buf : buf
///   p -= lr * g
/// State buffers: "momentum_buffer" (when momentum != 0).
class SGD : public Optimizer {
 public:
  /// @throws std::invalid_argument on negative or non-finite lr, momentum or weight_decay, or Nesterov without momentum.
  SGD(std::vector<autodiff::Tensor> params, const SGDOptions& options = {});
  void step() override;
  const SGDOptions& options() const { return options_; }

 protected:
  std::vector<BufferSpec> buffer_specs() const override;

 private:
  SGDOptions options_;
};

struct AdamOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  bool decoupled = false;  ///< AdamW: decay the weights directly instead of adding weight_decay * p to the grad
};

/// torch.optim.Adam (decoupled = false) and torch.optim.AdamW (decoupled = true), amsgrad off:
///   t += 1
///   AdamW: p *= 1 - lr * weight_decay        Adam: g = grad + weight_decay * p
///   m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
///   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
/// State buffers: "step" (0-d f64 count t, per parameter as PyTorch), "exp_avg" (m), "exp_avg_sq" (v).
class Adam : public Optimizer {
 public:
  /// @throws std::invalid_argument on lr < 0, eps < 0, beta outside [0,1), weight_decay < 0, or a non-finite value.
  Adam(std::vector<autodiff::Tensor> params, const AdamOptions& options = {});
  void step() override;
  const AdamOptions& options() const { return options_; }
  /// Steps taken (by the first parameter that has been updated; 0 before any step).
  std::int64_t steps() const;

 protected:
  std::vector<BufferSpec> buffer_specs() const override;

 private:
  AdamOptions options_;
};

}  // namespace nn
