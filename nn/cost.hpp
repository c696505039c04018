// Costs: the seed's squared error (batch mean of per-example sums), one-hot targets and cross-entropy on int64 labels.
#pragma once

#include "autodiff/tensor.hpp"
#include "enum_table.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

namespace nn {

/// Batch cost of the seed: mean over rows i of c_i = sum_j (y_ij - a_ij)^2 (no 1/2). a and y are [B,n] (or [n],
/// one example); the result is 0-d. Composite: sum((y - a) * (y - a)) / B.
/// @throws std::invalid_argument "squared_error: shapes differ (a [..], y [..])", on differing dtypes, or rank > 2.
autodiff::Tensor squared_error(const autodiff::Tensor& a, const autodiff::Tensor& y);

/// [N, classes] with row i all zeros except a 1 at labels[i].
/// @throws std::invalid_argument when classes <= 0 or a label is outside [0, classes).
autodiff::Tensor one_hot(const std::vector<std::int64_t>& labels, std::int64_t classes, autodiff::Dtype dtype);

/// Mean over rows i of -log_softmax(logits)_i,labels[i] (torch.nn.functional.cross_entropy): logits [B,C] float,
/// labels [B] int64 (Dtype::i64, e.g. autodiff::tensor_i64) with values in [0, C); 0-d, of the logits' dtype.
/// @throws std::invalid_argument "cross_entropy: ..." when logits are not [B,C] with B, C > 0 or not float, labels
/// are not int64 or not [B], or a label is outside [0, C) (naming the label, its row and C).
autodiff::Tensor cross_entropy(const autodiff::Tensor& logits, const autodiff::Tensor& labels);

/// cross_entropy with the labels as a vector, checked under this name.
/// @throws std::invalid_argument when logits are not 2-D, the batch is empty, the label count differs from B, or a
/// label is outside [0, C).
autodiff::Tensor softmax_cross_entropy(const autodiff::Tensor& logits, const std::vector<std::int64_t>& labels);

enum class Cost { squared_error, cross_entropy };
/// Names and stored codes of Cost (codes are those of checkpoint format 1 and never change).
inline constexpr EnumTable costs{"cost", std::array<EnumEntry<Cost>, 2>{{
    {Cost::squared_error, "squared_error", 0}, {Cost::cross_entropy, "cross_entropy", 1}}}};
static_assert(costs.valid());

/// "squared_error" or "cross_entropy". @throws std::invalid_argument naming the unknown value.
Cost parse_cost(std::string_view s);
std::string_view name(Cost c);

/// The cost of a network output for class labels: squared_error against one_hot(labels) (output = activations
/// a^(L)), or cross_entropy (output = logits, so use an identity output activation). labels: int64 [B].
autodiff::Tensor cost(Cost c, const autodiff::Tensor& output, const autodiff::Tensor& labels);
/// The same with the labels as a vector.
autodiff::Tensor cost(Cost c, const autodiff::Tensor& output, const std::vector<std::int64_t>& labels);

}  // namespace nn
