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

Tensor one_hot(const std::vector<std::int64_t>& labels, std::int64_t classes, autodiff::Dtype dtype) {
  if (classes <= 0) throw std::invalid_argument(fmt::format("one_hot: classes must be positive (got {})", classes));
  const auto n = static_cast<std::int64_t>(labels.size());
  autodiff::Array out = autodiff::Array::zeros(Shape{n, classes}, dtype);
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t c = labels[static_cast<std::size_t>(i)];
    if (c < 0 || c >= classes)
      throw std::invalid_argument(fmt::format("one_hot: label {} at index {} out of range [0, {})", c, i, classes));
    out.set(i * classes + c, 1.0);
  }
  return Tensor(std::move(out));
}

// forward:  c = -(1/B) sum_i log_softmax(logits)[i, labels[i]]
// backward: none here; the engine differentiates log_softmax (a primitive, stable for logits of any size: x minus
//           logsumexp with the max shift), gather and the mean.
// Kept composite because a primitive does not pay: measured in a release build (B = 128, 10 classes), the forward +
// backward takes about 0.1 ms, 2-3% of a 784-100-10 training step (about 4 ms) and the same as sigmoid +
// squared_error, so fusing could save at most those 2-3%.
Tensor cross_entropy(const Tensor& logits, const Tensor& labels) {
  if (logits.rank() != 2 || !autodiff::is_float(logits.dtype()))
    throw std::invalid_argument(fmt::format("cross_entropy: logits must be float [B,C] (got {} {})",
                                            autodiff::dtype_name(logits.dtype()), autodiff::describe(logits)));
  const std::int64_t batch = logits.shape()[0], classes = logits.shape()[1];
  if (batch == 0 || classes == 0)
    throw std::invalid_argument(fmt::format("cross_entropy: empty logits {}", autodiff::describe(logits)));
  if (labels.dtype() != autodiff::Dtype::i64)
    throw std::invalid_argument(fmt::format("cross_entropy: labels must be int64 class indices (got {} {}); make "
                                            "them with autodiff::tensor_i64 or x.to(Dtype::i64)",
                                            autodiff::dtype_name(labels.dtype()), autodiff::describe(labels)));
  if (labels.rank() != 1 || labels.shape()[0] != batch)
    throw std::invalid_argument(fmt::format("cross_entropy: labels must be [B] = [{}] (labels {}, logits {})", batch,
                                            autodiff::describe(labels), autodiff::describe(logits)));
  const std::int64_t* l = labels.value().data<std::int64_t>();
  for (std::int64_t i = 0; i < batch; ++i)
    if (l[i] < 0 || l[i] >= classes)
      throw std::invalid_argument(fmt::format("cross_entropy: label {} at row {} out of range [0, {}) (logits {})", l[i],
                                              i, classes, autodiff::describe(logits)));
  // [B,C] -> gather along dim 1 at [B,1] indices -> the B entries log p(label_i | row i)
  const Tensor picked = autodiff::gather(autodiff::log_softmax(logits, 1), 1, autodiff::reshape(labels, Shape{batch, 1}));
  return autodiff::mul(autodiff::sum(picked), autodiff::scalar(-1.0 / static_cast<double>(batch), logits.dtype()));
}

Tensor softmax_cross_entropy(const Tensor& logits, const std::vector<std::int64_t>& labels) {
  if (logits.rank() != 2)
    throw std::invalid_argument(
        fmt::format("softmax_cross_entropy: logits must be [B,C] (got {})", autodiff::describe(logits)));
  const std::int64_t batch = logits.shape()[0], classes = logits.shape()[1];
  if (batch == 0 || classes == 0)
    throw std::invalid_argument(fmt::format("softmax_cross_entropy: empty logits {}", autodiff::describe(logits)));
  if (static_cast<std::int64_t>(labels.size()) != batch)
    throw std::invalid_argument(fmt::format("softmax_cross_entropy: {} labels for {} rows (logits {})", labels.size(),
                                            batch, autodiff::describe(logits)));
  for (std::int64_t i = 0; i < batch; ++i) {
    const std::int64_t c = labels[static_cast<std::size_t>(i)];
    if (c < 0 || c >= classes)
      throw std::invalid_argument(fmt::format("softmax_cross_entropy: label {} at row {} out of range [0, {}) (logits {})",
                                              c, i, classes, autodiff::describe(logits)));
  }
  return cross_entropy(logits, autodiff::tensor_i64(labels, Shape{batch}));
}

Cost parse_cost(std::string_view s) { return costs.parse(s); }

std::string_view name(Cost c) { return costs.name(c); }

Tensor cost(Cost c, const Tensor& output, const Tensor& labels) {
  if (c == Cost::cross_entropy) return cross_entropy(output, labels);
  if (output.rank() != 2)
    throw std::invalid_argument(fmt::format("cost: output must be [B,C] (got {})", autodiff::describe(output)));
  if (labels.dtype() != autodiff::Dtype::i64 || labels.rank() != 1)
    throw std::invalid_argument(fmt::format("cost: labels must be int64 [B] (got {})", autodiff::describe(labels)));
  const std::int64_t* l = labels.value().data<std::int64_t>();
  return squared_error(output, one_hot(std::vector<std::int64_t>(l, l + labels.numel()), output.shape()[1], output.dtype()));
}

Tensor cost(Cost c, const Tensor& output, const std::vector<std::int64_t>& labels) {
  return cost(c, output, autodiff::tensor_i64(labels, Shape{static_cast<std::int64_t>(labels.size())}));
}

}  // namespace nn
