// Evaluation under NoGrad in fixed chunks, arg-max accuracy and the confusion table.
#include "nn/evaluation.hpp"

#include "autodiff/check.hpp"
#include "autodiff/tape.hpp"
#include "nn/batcher.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace nn {

using autodiff::Array;
using autodiff::Tensor;

std::size_t count_correct(const Array& scores, std::span<const std::int64_t> labels) {
  const auto rows = static_cast<std::size_t>(scores.shape()[0]), cols = static_cast<std::size_t>(scores.shape()[1]);
  std::size_t correct = 0;
  autodiff::dispatch(scores.dtype(), [&]<class T>(T) {
    const T* p = scores.data<T>();
    for (std::size_t r = 0; r < rows; ++r) {
      const T* row = p + r * cols;
      correct += static_cast<std::int64_t>(std::max_element(row, row + cols) - row) == labels[r];
    }
  });
  return correct;
}

double Evaluation::class_accuracy(std::size_t c) const {
  std::size_t total = 0;
  for (std::size_t p = 0; p < classes; ++p) total += at(c, p);
  return total ? static_cast<double>(at(c, c)) / static_cast<double>(total) : 0.0;
}

Evaluation evaluate(const MLP& model, Cost cost, const Dataset& data, std::size_t chunk) {
  const std::int64_t features = model.sizes().front(), classes = model.sizes().back();
  if (data.count == 0) throw std::invalid_argument("evaluate: the dataset is empty");
  if (static_cast<std::int64_t>(data.features()) != features)
    throw std::invalid_argument(
        fmt::format("evaluate: the data has {} features per example, the model takes {}", data.features(), features));
  return evaluate(static_cast<const Module&>(model), cost, data, classes, model.dtype(), chunk);
}

Evaluation evaluate(const Module& model, Cost cost, const Dataset& data, std::int64_t classes, autodiff::Dtype dtype,
                    std::size_t chunk) {
  if (data.count == 0) throw std::invalid_argument("evaluate: the dataset is empty");
  if (chunk == 0) throw std::invalid_argument("evaluate: chunk must be positive");
  Evaluation e;
  e.count = data.count;
  e.classes = static_cast<std::size_t>(classes);
  e.confusion.assign(e.classes * e.classes, 0);
  autodiff::NoGrad no_grad;
  Batcher batches(data, chunk, classes, dtype, false, cost == Cost::squared_error);  // in order (never shuffled), so not compacted
  double loss_sum = 0.0;
  std::size_t correct = 0;
  for (std::size_t i = 0; i < batches.batches(); ++i) {
    batches.load(i);
    const Tensor out = model.forward(batches.x());
    if (out.rank() != 2 || out.shape()[0] != static_cast<std::int64_t>(batches.labels().size()) ||
        out.shape()[1] != classes)
      throw std::invalid_argument(fmt::format("evaluate: the model gives {} for a batch of {}, expected [{},{}]",
                                              autodiff::describe(out), batches.labels().size(),
                                              batches.labels().size(), classes));
    const std::vector<std::int64_t>& labels = batches.labels();
    const Tensor loss = cost == Cost::squared_error ? squared_error(out, batches.one_hot())
                                                    : cross_entropy(out, batches.label_tensor());
    loss_sum += loss.at(0) * static_cast<double>(labels.size());
    autodiff::dispatch(out.dtype(), [&]<class T>(T) {
      const T* p = out.value().data<T>();
      for (std::size_t r = 0; r < labels.size(); ++r) {
        const T* row = p + r * e.classes;
        const auto predicted = static_cast<std::size_t>(std::max_element(row, row + e.classes) - row);
        const auto truth = static_cast<std::size_t>(labels[r]);
        ++e.confusion[truth * e.classes + predicted];
        correct += predicted == truth;
      }
    });
  }
  e.loss = loss_sum / static_cast<double>(data.count);
  e.accuracy = static_cast<double>(correct) / static_cast<double>(data.count);
  return e;
}

std::string format_confusion(const Evaluation& e, std::span<const std::string_view> names) {
  auto label = [&](std::size_t c) {
    return c < names.size() ? fmt::format("{} {}", c, names[c]) : fmt::format("{}", c);
  };
  std::size_t width = 10;
  for (std::size_t c = 0; c < e.classes; ++c) width = std::max(width, label(c).size());
  std::string s = "confusion matrix (rows: true class, columns: predicted class)\n";
  s += fmt::format("{:<{}}", "", width);
  for (std::size_t p = 0; p < e.classes; ++p) s += fmt::format(" {:>5}", p);
  s += "  accuracy\n";
  for (std::size_t t = 0; t < e.classes; ++t) {
    s += fmt::format("{:<{}}", label(t), width);
    for (std::size_t p = 0; p < e.classes; ++p) s += fmt::format(" {:>5}", e.at(t, p));
    s += fmt::format("  {:.4f}\n", e.class_accuracy(t));
  }
  return s;
}
}  // namespace nn
