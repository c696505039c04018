// MLP: activations by name, and the forward pass as a composition of Linear layers and engine activations.
#include "nn/mlp.hpp"

#include "autodiff/ops.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <stdexcept>
#include <string>

namespace nn {

using autodiff::Tensor;

Activation parse_activation(std::string_view s) { return activations.parse(s); }

std::string_view name(Activation act) { return activations.name(act); }


MLP::MLP(std::vector<std::int64_t> sizes, std::mt19937_64& gen, Activation hidden, Activation output, Init init,
         autodiff::Dtype dtype)
    : sizes_(std::move(sizes)), hidden_(hidden), output_(output), dtype_(dtype) {
  if (sizes_.size() < 2)
    throw std::invalid_argument(fmt::format("MLP: need at least two sizes (input and output), got {}", sizes_.size()));
  for (std::size_t i = 0; i < sizes_.size(); ++i)
    if (sizes_[i] <= 0)
      throw std::invalid_argument(fmt::format("MLP: size {} is {} (sizes {})", i, sizes_[i], fmt::join(sizes_, "-")));
  for (std::size_t l = 1; l < sizes_.size(); ++l) layers_.emplace_back(sizes_[l - 1], sizes_[l], gen, init, dtype);
}

void MLP::list(ModuleVisitor& v) {
  for (std::size_t i = 0; i < layers_.size(); ++i) v.child(fmt::format("layers.{}", i), layers_[i]);
}

Linear& MLP::layer(std::size_t l) {
  if (l < 1 || l > layers_.size())
    throw std::out_of_range(fmt::format("MLP::layer: layer {} out of range [1, {}]", l, layers_.size()));
  return layers_[l - 1];
}

const Linear& MLP::layer(std::size_t l) const { return const_cast<MLP*>(this)->layer(l); }

Tensor MLP::forward(const Tensor& x) const {
  Tensor a = x;
  for (std::size_t l = 0; l < layers_.size(); ++l)
    a = activate(layers_[l].forward(a), l + 1 == layers_.size() ? output_ : hidden_);
  return a;
}

Tensor MLP::forward(const Tensor& x, Trace& trace) const {
  trace.z.assign(layers_.size() + 1, Tensor());
  trace.a.assign(layers_.size() + 1, Tensor());
  trace.a[0] = x;
  for (std::size_t l = 1; l <= layers_.size(); ++l) {
    trace.z[l] = layers_[l - 1].forward(trace.a[l - 1]);
    trace.a[l] = activate(trace.z[l], l == layers_.size() ? output_ : hidden_);
  }
  return trace.a.back();
}

}  // namespace nn
