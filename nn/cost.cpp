// Costs as compositions of engine ops: no backward code here.
#include "nn/cost.hpp"

#include "autodiff/check.hpp"
#include "autodiff/ops.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace nn {

using autodiff::Shape;
using autodiff::Tensor;

Tensor squared_error(const Tensor& a, const Tensor& y) {
  if (!(a.shape() == y.shape()))
    throw std::invalid_argument(fmt::format("squared_error: shapes differ (a {}, y {})", autodiff::describe(a),
                                            autodiff::describe(y)));
  if (a.dtype() != y.dtype())
    throw std::invalid_argument(fmt::format("squared_error: dtypes differ (a {}, y {})", autodiff::dtype_name(a.dtype()),
                                            autodiff::dtype_name(y.dtype())));
  if (a.rank() != 1 && a.rank() != 2)
    throw std::invalid_argument(
        fmt::format("squared_error: expected [B,n] or [n] (a {}, y {})", autodiff::describe(a), autodiff::describe(y)));
  const std::int64_t batch = a.rank() == 2 ? a.shape()[0] : 1;
  if (batch == 0 || a.numel() == 0)
    throw std::invalid_argument(fmt::format("squared_error: empty batch (a {})", autodiff::describe(a)));
  const Tensor d = autodiff::sub(y, a);
  // d/da = -2 (y - a) / B = 2 (a - y) / B: the seed's 2(a - y), and the batch mean's 1/B.
  return autodiff::mul(autodiff::sum(autodiff::mul(d, d)), autodiff::scalar(1.0 / static_cast<double>(batch), a.dtype()));
}

Tensor one_hot(const std::vector<std::uint8_t>& labels, std::int64_t classes, autodiff::Dtype dtype) {
  if (classes <= 0) throw std::invalid_argument(fmt::format("one_hot: classes must be positive (got {})", classes));
  const auto n = static_cast<std::int64_t>(labels.size());
  autodiff::Array out = autodiff::Array::zeros(Shape{n, classes}, dtype);
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t c = labels[static_cast<std::size_t>(i)];
    if (c >= classes)
      throw std::invalid_argument(fmt::format("one_hot: label {} at index {} out of range [0, {})", c, i, classes));
    out.set(i * classes + c, 1.0);
  }
  return Tensor(std::move(out));
}

// Composite on the engine's log_softmax (x - logsumexp, with the max shift, so it is stable for logits of any size),
// then a gather of each row's label with rows(). Kept composite because a primitive does not pay: measured in a
// release build (B = 128, 10 classes), its forward + backward takes about 0.1 ms, 2-3% of a 784-100-10 training
// step (about 4 ms) and the same as sigmoid + squared_error, so fusing could save at most those 2-3%.
Tensor softmax_cross_entropy(const Tensor& logits, const std::vector<std::uint8_t>& labels) {
  if (logits.rank() != 2)
    throw std::invalid_argument(
        fmt::format("softmax_cross_entropy: logits must be [B,C] (got {})", autodiff::describe(logits)));
  const std::int64_t batch = logits.shape()[0], classes = logits.shape()[1];
  if (batch == 0 || classes == 0)
    throw std::invalid_argument(fmt::format("softmax_cross_entropy: empty logits {}", autodiff::describe(logits)));
  if (static_cast<std::int64_t>(labels.size()) != batch)
    throw std::invalid_argument(fmt::format("softmax_cross_entropy: {} labels for {} rows (logits {})", labels.size(),
                                            batch, autodiff::describe(logits)));
  std::vector<std::int64_t> flat(labels.size());
  for (std::int64_t i = 0; i < batch; ++i) {
    const std::int64_t c = labels[static_cast<std::size_t>(i)];
    if (c >= classes)
      throw std::invalid_argument(fmt::format("softmax_cross_entropy: label {} at row {} out of range [0, {}) (logits {})",
                                              c, i, classes, autodiff::describe(logits)));
    flat[static_cast<std::size_t>(i)] = i * classes + c;
  }
  // [B,C] -> [B*C] -> the B entries log p(label_i | row i)
  const Tensor picked = autodiff::rows(autodiff::reshape(autodiff::log_softmax(logits, 1), Shape{batch * classes}), flat);
  return autodiff::mul(autodiff::sum(picked), autodiff::scalar(-1.0 / static_cast<double>(batch), logits.dtype()));
}

Cost parse_cost(std::string_view s) { return costs.parse(s); }

std::string_view name(Cost c) { return costs.name(c); }

Tensor cost(Cost c, const Tensor& output, const std::vector<std::uint8_t>& labels) {
  if (c == Cost::cross_entropy) return softmax_cross_entropy(output, labels);
  if (output.rank() != 2)
    throw std::invalid_argument(fmt::format("cost: output must be [B,C] (got {})", autodiff::describe(output)));
  return squared_error(output, one_hot(labels, output.shape()[1], output.dtype()));
}

}  // namespace nn
