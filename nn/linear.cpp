// Linear: initialisation and the forward, one engine op addmm(b, a, W) (no backward code).
#include "nn/linear.hpp"

#include "autodiff/check.hpp"
#include "autodiff/ops.hpp"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

namespace nn {

using autodiff::Shape;
using autodiff::Tensor;

Init parse_init(std::string_view s) { return inits.parse(s); }

std::string_view name(Init init) { return inits.name(init); }

namespace {
Tensor draw(const Shape& shape, std::int64_t fan_in, std::mt19937_64& gen, Init init, autodiff::Dtype dtype) {
  if (init == Init::normal) return autodiff::normal(shape, 0.0, 1.0, gen, dtype, true);
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  return autodiff::uniform(shape, -bound, bound, gen, dtype, true);
}
}  // namespace

Linear::Linear(std::int64_t in, std::int64_t out, std::mt19937_64& gen, Init init, autodiff::Dtype dtype)
    : in_(in), out_(out) {
  if (in <= 0 || out <= 0)
    throw std::invalid_argument(fmt::format("Linear: sizes must be positive (in {}, out {})", in, out));
  weight_ = draw(Shape{in, out}, in, gen, init, dtype);
  bias_ = draw(Shape{out}, in, gen, init, dtype);
}

void Linear::list(ModuleVisitor& v) {
  v.parameter("weight", weight_);
  v.parameter("bias", bias_);
}

Tensor Linear::forward(const Tensor& a) const {
  const int r = a.rank();
  if ((r != 1 && r != 2) || a.shape()[r - 1] != in_)
    throw std::invalid_argument(fmt::format("Linear: input {} does not fit a layer of {} -> {} (expected [B,{}] or [{}])",
                                            autodiff::describe(a), in_, out_, in_, in_));
  if (a.dtype() != weight_.dtype())
    throw std::invalid_argument(fmt::format("Linear: input dtype {} differs from the layer's {} (input {})",
                                            autodiff::dtype_name(a.dtype()), autodiff::dtype_name(weight_.dtype()),
                                            autodiff::describe(a)));
  if (r == 1) return autodiff::reshape(forward(autodiff::reshape(a, Shape{1, in_})), Shape{out_});
  // b + [B,in] x [in,out] -> [B,out] in one GEMM onto the broadcast bias; its grad is summed back by the engine.
  return autodiff::addmm(bias_, a, weight_);
}

}  // namespace nn
