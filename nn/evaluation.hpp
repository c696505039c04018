// Evaluation of a model on a dataset: loss, accuracy and a confusion matrix, and its printed table.
#pragma once

#include "autodiff/array.hpp"
#include "cost.hpp"
#include "data.hpp"
#include "mlp.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nn {

/// Index of the largest entry of each row of a [B, C] array (the first one on ties), compared with labels:
/// the number of rows whose arg-max equals its label.
std::size_t count_correct(const autodiff::Array& scores, std::span<const std::int64_t> labels);

/// Loss, accuracy and confusion matrix of a model on a dataset.
struct Evaluation {
  double loss = 0.0;
  double accuracy = 0.0;
  std::size_t count = 0;
  std::size_t classes = 0;
  std::vector<std::size_t> confusion;  ///< [true label * classes + predicted]

  std::size_t at(std::size_t truth, std::size_t predicted) const { return confusion[truth * classes + predicted]; }
  /// Fraction of the examples of class c predicted as c (0 when the class has no examples).
  double class_accuracy(std::size_t c) const;
};

/// Evaluates under NoGrad in chunks of `chunk` rows (the cost is the batch mean, averaged over all rows).
/// @throws std::invalid_argument when the dataset is empty or its features differ from the model's input size.
Evaluation evaluate(const MLP& model, Cost cost, const Dataset& data, std::size_t chunk = 1000);
/// The same for any one-input model taking rows [B, features] to [B, classes] (e.g. Trainer::model()).
/// @throws std::invalid_argument when the dataset is empty, classes is not positive, a label is outside
/// [0, classes), or the model's output is not [B, classes]; and whatever the model's forward throws.
Evaluation evaluate(const Module& model, Cost cost, const Dataset& data, std::int64_t classes,
                    autodiff::Dtype dtype = autodiff::Dtype::f32, std::size_t chunk = 1000);

/// The confusion matrix as a table (rows: true class, columns: predicted class by index) with per-class accuracy.
/// `names` gives the class names (indices are used when it is shorter than the class count).
std::string format_confusion(const Evaluation& e, std::span<const std::string_view> names);

}  // namespace nn
