// Random ops: dropout, with its mask drawn from the caller's generator.
#include "autodiff/ops/random.hpp"

#include "autodiff/check.hpp"
#include "autodiff/ops.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace autodiff {

/// forward:  training, 0 < p < 1: y = x * m, m = 0 where uniform01(gen) < p (one word per element), else 1 / (1 - p)
///           training, p == 1:    y = x * 0
///           !training or p == 0: y = x (a node of its own, sharing x's storage as reshape does)
/// backward: dx += grad * m (the forward's mask); dx += grad for the identity
Tensor dropout(const Tensor& x, double p, std::mt19937_64& gen, bool training, Site site) {
  check_float("dropout", x);
  if (!(p >= 0.0 && p <= 1.0))
    throw std::invalid_argument(fmt::format("dropout: probability p must be in [0, 1] (got {}, x {})", p, describe(x)));
  if (!training || p == 0.0)
    return make_op("dropout", x.value(), {x}, [](const Tensor& grad, const Tensor&, BackwardContext& dx) { dx[0] += grad; },
                   site);
  Array m(x.shape(), x.dtype()), y(x.shape(), x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    const T* px = x.value().data<T>();
    T* pm = m.data<T>();
    T* py = y.data<T>();
    const std::int64_t n = x.numel();
    if (p == 1.0) {
      for (std::int64_t i = 0; i < n; ++i) pm[i] = T(0);
    } else {
      const T scale = static_cast<T>(1.0 / (1.0 - p));
      for (std::int64_t i = 0; i < n; ++i) pm[i] = uniform01(gen) < p ? T(0) : scale;
    }
    for (std::int64_t i = 0; i < n; ++i) py[i] = px[i] * pm[i];
  });
  return make_op("dropout", std::move(y), {x},
                 [mask = Tensor(std::move(m))](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += grad * mask;
                 }, site);
}

}  // namespace autodiff
