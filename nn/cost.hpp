// Costs: the seed's squared error (batch mean of per-example sums), one-hot targets and softmax cross-entropy.
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
/// @throws std::invalid_argument when classes <= 0 or a label is >= classes.
autodiff::Tensor one_hot(const std::vector<std::uint8_t>& labels, std::int64_t classes, autodiff::Dtype dtype);

/// Mean over rows i of -log_softmax(logits)_i,labels[i] for logits [B,C]; 0-d.
/// @throws std::invalid_argument when logits are not 2-D, the batch is empty, the label count differs from B, or a
/// label is >= C.
autodiff::Tensor softmax_cross_entropy(const autodiff::Tensor& logits, const std::vector<std::uint8_t>& labels);

enum class Cost { squared_error, cross_entropy };
/// Names and stored codes of Cost (codes are those of checkpoint format 1 and never change).
inline constexpr EnumTable costs{"cost", std::array<EnumEntry<Cost>, 2>{{
    {Cost::squared_error, "squared_error", 0}, {Cost::cross_entropy, "cross_entropy", 1}}}};
static_assert(costs.valid());

/// "squared_error" or "cross_entropy". @throws std::invalid_argument naming the unknown value.
Cost parse_cost(std::string_view s);
std::string_view name(Cost c);

/// The cost of a network output for class labels: squared_error against one_hot(labels) (output = activations
/// a^(L)), or softmax_cross_entropy (output = logits, so use an identity output activation).
autodiff::Tensor cost(Cost c, const autodiff::Tensor& output, const std::vector<std::uint8_t>& labels);

}  // namespace nn
