// Embedding: a lookup table of learned vectors, indexed by int64 token ids.
#pragma once

#include "autodiff/tensor.hpp"
#include "module.hpp"

#include <cstdint>
#include <random>

namespace nn {

/// Row idx of a learned table for each index (PyTorch's nn.Embedding). Parameter "weight" [num_embeddings,
/// embedding_dim], drawn N(0, 1) from `gen` as PyTorch does.
class Embedding : public Module {
 public:
  /// @throws std::invalid_argument when a size is not positive.
  Embedding(std::int64_t num_embeddings, std::int64_t embedding_dim, std::mt19937_64& gen,
            autodiff::Dtype dtype = autodiff::Dtype::f32);

  void list(ModuleVisitor& v) override;
  /// idx.shape + [embedding_dim] for int64 indices of any shape; a repeated index accumulates its gradient.
  /// @throws std::invalid_argument when idx is not int64 or an index is outside [0, num_embeddings).
  autodiff::Tensor forward(const autodiff::Tensor& idx) const override;

  autodiff::Tensor& weight() { return weight_; }
  const autodiff::Tensor& weight() const { return weight_; }
  std::int64_t num_embeddings() const { return weight_.shape()[0]; }
  std::int64_t embedding_dim() const { return weight_.shape()[1]; }

 private:
  autodiff::Tensor weight_;
};

}  // namespace nn
