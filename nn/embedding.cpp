// Embedding: N(0, 1) initialisation and the forward lookup through autodiff::embedding.
#include "nn/embedding.hpp"

#include "autodiff/check.hpp"
#include "autodiff/ops/index.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace nn {

using autodiff::Tensor;

Embedding::Embedding(std::int64_t num_embeddings, std::int64_t embedding_dim, std::mt19937_64& gen, autodiff::Dtype dtype) {
  if (num_embeddings <= 0 || embedding_dim <= 0)
    throw std::invalid_argument(fmt::format("Embedding: sizes must be positive (num_embeddings {}, embedding_dim {})",
                                            num_embeddings, embedding_dim));
  weight_ = autodiff::normal(autodiff::Shape{num_embeddings, embedding_dim}, 0.0, 1.0, gen, dtype, true);
}

void Embedding::list(ModuleVisitor& v) { v.parameter("weight", weight_); }

Tensor Embedding::forward(const Tensor& idx) const {
  // The engine checks these too; checking here names the layer.
  autodiff::check_int("Embedding", "indices", idx);
  autodiff::check_index_values("Embedding", idx, 0, num_embeddings(), "weight", weight_);
  return autodiff::embedding(weight_, idx);
}

}  // namespace nn
