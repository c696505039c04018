// MultiHeadAttention as a composition of engine ops: projections, heads by reshape and transpose, masked softmax.
#include "nn/attention.hpp"

#include "autodiff/check.hpp"
#include "autodiff/ops.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

namespace nn {

using autodiff::Shape;
using autodiff::Tensor;

MultiHeadAttention::MultiHeadAttention(std::int64_t embed_dim, std::int64_t num_heads, std::mt19937_64& gen,
                                       const AttentionOptions& opt)
    : embed_dim_(embed_dim), num_heads_(num_heads), causal_(opt.causal) {
  if (embed_dim <= 0 || num_heads <= 0)
    throw std::invalid_argument(fmt::format("MultiHeadAttention: sizes must be positive (embed_dim {}, num_heads {})",
                                            embed_dim, num_heads));
  if (embed_dim % num_heads != 0)
    throw std::invalid_argument(fmt::format("MultiHeadAttention: embed_dim must be divisible by num_heads (embed_dim {}, "
                                            "num_heads {})",
                                            embed_dim, num_heads));
  const std::int64_t e = embed_dim;
  const double xavier = std::sqrt(6.0 / static_cast<double>(e + 3 * e));  // fan_in E, fan_out 3E
  in_proj_weight_ = autodiff::uniform(Shape{3 * e, e}, -xavier, xavier, gen, opt.dtype, true);
  const double linear = 1.0 / std::sqrt(static_cast<double>(e));
  out_proj_weight_ = autodiff::uniform(Shape{e, e}, -linear, linear, gen, opt.dtype, true);
  if (opt.bias) {
    in_proj_bias_ = autodiff::zeros(Shape{3 * e}, opt.dtype, true);
    out_proj_bias_ = autodiff::zeros(Shape{e}, opt.dtype, true);
  }
}

void MultiHeadAttention::list(ModuleVisitor& v) {
  v.parameter("in_proj_weight", in_proj_weight_);
  if (in_proj_bias_.defined()) v.parameter("in_proj_bias", in_proj_bias_);
  v.parameter("out_proj.weight", out_proj_weight_);
  if (out_proj_bias_.defined()) v.parameter("out_proj.bias", out_proj_bias_);
}

Tensor MultiHeadAttention::forward(const Tensor& x) const { return forward(x, x, x); }

namespace {

/// x W^T + b for W in PyTorch's [out, in] layout: [B,L,in] x [in,out] -> [B,L,out].
Tensor project(const Tensor& x, const Tensor& w, const Tensor& b) {
  Tensor y = autodiff::matmul(x, w, false, true);
  return b.defined() ? y + b : y;
}

/// Rows i < j of a [T, S] mask true: position i may not attend to a later position j.
Tensor causal_mask(std::int64_t t, std::int64_t s) {
  autodiff::Array m(Shape{t, s}, autodiff::Dtype::b8);
  bool* p = m.data<bool>();
  for (std::int64_t i = 0; i < t; ++i)
    for (std::int64_t j = 0; j < s; ++j) p[i * s + j] = j > i;
  return Tensor(std::move(m));
}

}  // namespace

Tensor MultiHeadAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value, const Tensor& mask) const {
  const std::int64_t e = embed_dim_, h = num_heads_, d = head_dim();
  const autodiff::Dtype dtype = in_proj_weight_.dtype();
  for (const auto& [what, t] : {std::pair{"query", &query}, std::pair{"key", &key}, std::pair{"value", &value}}) {
    if (t->rank() != 3 || t->shape()[2] != e)
      throw std::invalid_argument(fmt::format("MultiHeadAttention: {} must be [B, L, {}] (got {}, embed_dim {})", what, e,
                                              autodiff::describe(*t), e));
    if (t->dtype() != dtype)
      throw std::invalid_argument(fmt::format("MultiHeadAttention: {} dtype {} differs from the layer's {} ({} {})", what,
                                              autodiff::dtype_name(t->dtype()), autodiff::dtype_name(dtype), what,
                                              autodiff::describe(*t)));
  }
  const std::int64_t b = query.shape()[0], tq = query.shape()[1], s = key.shape()[1];
  if (key.shape()[0] != b || value.shape()[0] != b || !(value.shape() == key.shape()))
    throw std::invalid_argument(fmt::format("MultiHeadAttention: batch sizes or key and value lengths differ (query {}, "
                                            "key {}, value {})",
                                            autodiff::describe(query), autodiff::describe(key), autodiff::describe(value)));
  const Shape scores{b, h, tq, s};
  if (mask.defined()) {
    autodiff::check_mask("MultiHeadAttention", "mask", mask);
    const auto bs = autodiff::try_broadcast(mask.shape(), scores);
    if (!bs || !(*bs == scores))
      throw std::invalid_argument(fmt::format("MultiHeadAttention: mask does not broadcast to the scores [B, H, T, S] "
                                              "(mask {}, scores {})",
                                              autodiff::describe(mask), scores.str()));
  }

  Tensor q, k, v;
  if (query.is_same(key) && key.is_same(value)) {
    // Self-attention: one product for all three, [B,T,E] x [E,3E] -> [B,T,3E], then split.
    const std::vector<Tensor> qkv = autodiff::chunk(project(query, in_proj_weight_, in_proj_bias_), 3, -1);
    q = qkv[0], k = qkv[1], v = qkv[2];
  } else {
    const auto rows = [&](const Tensor& p, int i) { return p.defined() ? autodiff::narrow(p, 0, i * e, e) : Tensor(); };
    q = project(query, rows(in_proj_weight_, 0), rows(in_proj_bias_, 0));
    k = project(key, rows(in_proj_weight_, 1), rows(in_proj_bias_, 1));
    v = project(value, rows(in_proj_weight_, 2), rows(in_proj_bias_, 2));
  }
  // [B,L,E] -> [B,L,H,D] -> [B,H,L,D]: each head is a batch of its own.
  const auto heads = [&](const Tensor& t, std::int64_t len) { return autodiff::transpose(autodiff::reshape(t, Shape{b, len, h, d}), 1, 2); };
  q = heads(q * (1.0 / std::sqrt(static_cast<double>(d))), tq);
  k = heads(k, s);
  v = heads(v, s);
  Tensor logits = autodiff::matmul(q, k, false, true);  // [B,H,T,D] x [B,H,D,S] -> [B,H,T,S]
  Tensor masked = mask;
  if (causal_) masked = masked.defined() ? autodiff::logical_or(masked, causal_mask(tq, s)) : causal_mask(tq, s);
  if (masked.defined()) {
    const double lowest = dtype == autodiff::Dtype::f32 ? static_cast<double>(std::numeric_limits<float>::lowest())
                                                        : std::numeric_limits<double>::lowest();
    logits = autodiff::masked_fill(logits, masked, lowest);
  }
  const Tensor attended = autodiff::matmul(autodiff::softmax(logits, -1), v);  // [B,H,T,S] x [B,H,S,D] -> [B,H,T,D]
  // [B,H,T,D] -> [B,T,H,D] -> [B,T,E]
  const Tensor merged = autodiff::reshape(autodiff::transpose(attended, 1, 2), Shape{b, tq, e});
  return project(merged, out_proj_weight_, out_proj_bias_);
}

}  // namespace nn
