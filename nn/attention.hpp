// MultiHeadAttention: scaled dot-product attention over several heads, with PyTorch's parameters, for batch-first input.
#pragma once

#include "autodiff/tensor.hpp"
#include "module.hpp"

#include <cstdint>
#include <random>

namespace nn {

struct AttentionOptions {
  bool bias = true;    ///< in_proj_bias and out_proj.bias (PyTorch's bias=True)
  bool causal = false; ///< position t attends to positions <= t only (PyTorch's is_causal, top-left aligned)
  autodiff::Dtype dtype = autodiff::Dtype::f32;
};

/// PyTorch's nn.MultiheadAttention(embed_dim, num_heads, bias, batch_first=True) without dropout, on [B, T, E] inputs:
///   q, k, v = query Wq^T + bq, key Wk^T + bk, value Wv^T + bv       (rows of in_proj_weight: Wq, Wk, Wv)
///   head h (of H, width D = E / H): a_h = softmax(q_h k_h^T / sqrt(D) with masked scores removed) v_h
///   out = concat_h(a_h) Wo^T + bo                                  -> [B, T, E]
///
/// Parameters, with PyTorch's names, shapes and layout, so a PyTorch state_dict maps to them one to one:
///   "in_proj_weight"  [3E, E]  xavier_uniform: U(-a, a), a = sqrt(6 / (E + 3E))
///   "in_proj_bias"    [3E]     zeros                         (only with bias)
///   "out_proj.weight" [E, E]   U(-1/sqrt(E), 1/sqrt(E)), nn.Linear's default
///   "out_proj.bias"   [E]      zeros                         (only with bias)
/// Unlike nn::Linear, whose weight is [in, out], both projections keep PyTorch's [out, in] layout (products use
/// matmul's transpose flag, so nothing is copied); out_proj is a pair of parameters, not a Linear child.
///
/// Masks are bool tensors in which true means "may not attend", as PyTorch's bool attn_mask: any shape that
/// broadcasts to the scores [B, H, T, S], such as [T, S] for every example and head or [B, 1, 1, S] for key padding.
/// Masked scores are set to the dtype's lowest finite value rather than -inf (as Hugging Face does), so their weights
/// are exactly 0 and AnomalyMode stays quiet; a row with every key masked therefore averages all of them (PyTorch
/// gives NaN there).
class MultiHeadAttention : public Module {
 public:
  /// Draws in_proj_weight, then out_proj.weight, from `gen`.
  /// @throws std::invalid_argument when a size is not positive or embed_dim is not divisible by num_heads.
  MultiHeadAttention(std::int64_t embed_dim, std::int64_t num_heads, std::mt19937_64& gen, const AttentionOptions& opt = {});

  void list(ModuleVisitor& v) override;
  /// Self-attention of x [B, T, E] (causal when the layer is): forward(x, x, x).
  autodiff::Tensor forward(const autodiff::Tensor& x) const override;
  /// Attention of query [B, T, E] over key and value [B, S, E]; `mask` (undefined for none) is combined with the
  /// causal mask when the layer is causal. Returns [B, T, E].
  /// @throws std::invalid_argument when a tensor is not 3-D with last size E, batches or key/value lengths differ,
  /// a dtype differs from the layer's, or the mask is not bool or does not broadcast to [B, H, T, S].
  autodiff::Tensor forward(const autodiff::Tensor& query, const autodiff::Tensor& key, const autodiff::Tensor& value,
                           const autodiff::Tensor& mask = {}) const;

  std::int64_t embed_dim() const { return embed_dim_; }
  std::int64_t num_heads() const { return num_heads_; }
  std::int64_t head_dim() const { return embed_dim_ / num_heads_; }
  bool causal() const { return causal_; }
  bool has_bias() const { return in_proj_bias_.defined(); }
  autodiff::Tensor& in_proj_weight() { return in_proj_weight_; }
  autodiff::Tensor& in_proj_bias() { return in_proj_bias_; }
  autodiff::Tensor& out_proj_weight() { return out_proj_weight_; }
  autodiff::Tensor& out_proj_bias() { return out_proj_bias_; }

 private:
  std::int64_t embed_dim_, num_heads_;
  bool causal_;
  autodiff::Tensor in_proj_weight_, in_proj_bias_, out_proj_weight_, out_proj_bias_;
};

}  // namespace nn
