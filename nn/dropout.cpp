// Dropout: the module around autodiff::dropout, reading the train/eval flag.
#include "nn/dropout.hpp"

#include "autodiff/check.hpp"
#include "autodiff/ops/random.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace nn {

Dropout::Dropout(double p, std::mt19937_64& gen) : p_(p), gen_(&gen) {
  if (!(p >= 0.0 && p <= 1.0)) throw std::invalid_argument(fmt::format("Dropout: p must be in [0, 1] (got {})", p));
}

void Dropout::list(ModuleVisitor&) {}

autodiff::Tensor Dropout::forward(const autodiff::Tensor& x) const {
  autodiff::check_float("Dropout", x);
  return autodiff::dropout(x, p_, *gen_, training());
}

}  // namespace nn
