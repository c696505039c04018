// A small decoder-only transformer learns to reverse digit sequences; --check gradchecks one attention block.
//
//   task:   d_1 .. d_L  SEP  d_L .. d_1     (L in [8, 16], digits 0-9), next-token prediction with a causal model;
//           the loss is the cross-entropy of the L reversed digits only (the prompt is random, so not learnable)
//   model:  token + position embeddings, pre-LN blocks (x += MHA(LN(x)), x += MLP(LN(x)) with tanh GELU), LN, Linear
//   train:  AdamW, linear warmup then cosine decay over the run (steps or seconds, whichever ends first)
//   report: held-out sequences, each output digit predicted from the true prefix (teacher forcing), and greedy
//           decoding of the whole answer from the prompt alone
//
//   examples/attention [--steps N] [--seconds S] [--seed K] [--check]   (--help for the rest)
#include "autodiff/autodiff.hpp"
#include "autodiff/gradcheck.hpp"
#include "nn/attention.hpp"
#include "nn/embedding.hpp"
#include "nn/linear.hpp"
#include "nn/module.hpp"
#include "nn/norm.hpp"
#include "nn/optim.hpp"

#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <numbers>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

using autodiff::Dtype;
using autodiff::Shape;
using autodiff::Tensor;

constexpr std::int64_t digits = 10, sep = 10, vocab = 11;  // tokens 0-9, then the separator
constexpr std::int64_t min_len = 8, max_len = 16;
constexpr std::int64_t context = 2 * max_len;  // inputs: L digits, SEP, the first L-1 answer digits

struct Config {
  std::int64_t d = 64, heads = 4, layers = 2, hidden = 256;
  std::int64_t batch = 64;
  double lr = 3e-3, weight_decay = 0.01;
  std::int64_t warmup = 100;
  std::int64_t steps = 600;
  double seconds = 110.0;  // a cap for a busy machine: the schedule then follows the clock
  int threads = 1;         // OpenBLAS threads: the matrices are small and the machine is shared
  std::int64_t log_every = 100;
  std::uint64_t seed = 0;
  std::int64_t eval_sequences = 1000;  // --eval
  bool check = false;
};

/// Pre-LN transformer block: x + MHA(LN(x)), then + MLP(LN(.)) with GELU. Children ln_1, attn, ln_2, fc, proj.
class Block : public nn::Module {
 public:
  Block(const Config& c, std::mt19937_64& gen, Dtype dtype = Dtype::f32)
      : ln_1_(c.d, 1e-5, dtype), attn_(c.d, c.heads, gen, {.bias = true, .causal = true, .dtype = dtype}),
        ln_2_(c.d, 1e-5, dtype), fc_(c.d, c.hidden, gen, nn::Init::uniform, dtype),
        proj_(c.hidden, c.d, gen, nn::Init::uniform, dtype) {}

  void list(nn::ModuleVisitor& v) override {
    v.child("ln_1", ln_1_);
    v.child("attn", attn_);
    v.child("ln_2", ln_2_);
    v.child("fc", fc_);
    v.child("proj", proj_);
  }

  /// The attention half alone: x + MHA(LN(x)), [B,T,d] -> [B,T,d] (what --check verifies).
  Tensor attend(const Tensor& x) const { return x + attn_.forward(ln_1_.forward(x)); }

  /// [B,T,d] -> [B,T,d].
  Tensor forward(const Tensor& x) const override {
    const Tensor h = attend(x);
    const Shape& s = h.shape();
    // nn::Linear takes [N,in]: tokens as rows, [B*T,d] -> [B*T,hidden] -> [B*T,d].
    const Tensor rows = autodiff::reshape(ln_2_.forward(h), Shape{s[0] * s[1], s[2]});
    // GPT-2's tanh form of GELU: exact GELU's erfc took about 30% of a step.
    const Tensor mlp = proj_.forward(autodiff::gelu(fc_.forward(rows), autodiff::GeluApproximate::tanh));
    return h + autodiff::reshape(mlp, s);
  }

  nn::LayerNorm& ln_1() { return ln_1_; }
  nn::MultiHeadAttention& attn() { return attn_; }

 private:
  nn::LayerNorm ln_1_;
  nn::MultiHeadAttention attn_;
  nn::LayerNorm ln_2_;
  nn::Linear fc_, proj_;
};

/// Token ids [B,T] (int64) -> logits [B,T,vocab].
class Transformer : public nn::Module {
 public:
  Transformer(const Config& c, std::mt19937_64& gen)
      : tok_(vocab, c.d, gen), pos_(context, c.d, gen), ln_f_(c.d), head_(c.d, vocab, gen) {
    for (std::int64_t i = 0; i < c.layers; ++i) blocks_.emplace_back(c, gen);
  }

  void list(nn::ModuleVisitor& v) override {
    v.child("tok", tok_);
    v.child("pos", pos_);
    for (std::size_t i = 0; i < blocks_.size(); ++i) v.child(fmt::format("blocks.{}", i), blocks_[i]);
    v.child("ln_f", ln_f_);
    v.child("head", head_);
  }

  Tensor forward(const Tensor& ids) const override {
    const std::int64_t b = ids.shape()[0], t = ids.shape()[1];
    const Tensor positions = autodiff::arange(0.0, static_cast<double>(t), 1.0, Dtype::i64);
    Tensor x = tok_.forward(ids) + pos_.forward(positions);  // [B,T,d] + [T,d]
    for (const Block& block : blocks_) x = block.forward(x);
    const std::int64_t d = x.shape()[2];
    const Tensor logits = head_.forward(autodiff::reshape(ln_f_.forward(x), Shape{b * t, d}));
    return autodiff::reshape(logits, Shape{b, t, vocab});
  }

 private:
  nn::Embedding tok_, pos_;
  std::vector<Block> blocks_;
  nn::LayerNorm ln_f_;
  nn::Linear head_;
};

/// A batch of reversal problems, padded to `context` inputs.
struct Batch {
  Tensor inputs;                      // [B, context] int64; after the last used input, padding (separators)
  Tensor targets;                     // [B, context, 1] int64: the next token (0 where not scored)
  Tensor weights;                     // [B, context, 1] float: 1 / (number of scored tokens) at answer positions
  std::vector<std::int64_t> lengths;  // L of each sequence
  std::vector<std::vector<std::int64_t>> prompts;
};

Batch make_batch(std::int64_t b, std::mt19937_64& gen) {
  std::vector<std::int64_t> in(static_cast<std::size_t>(b * context), sep), tgt(in.size(), 0);
  std::vector<double> w(in.size(), 0.0);
  Batch batch;
  std::int64_t scored = 0;
  for (std::int64_t i = 0; i < b; ++i) {
    const std::int64_t len = min_len + static_cast<std::int64_t>(gen() % (max_len - min_len + 1));
    std::vector<std::int64_t> seq;
    for (std::int64_t j = 0; j < len; ++j) seq.push_back(static_cast<std::int64_t>(gen() % digits));
    batch.prompts.push_back(seq);
    seq.push_back(sep);
    for (std::int64_t j = len - 1; j >= 0; --j) seq.push_back(seq[static_cast<std::size_t>(j)]);
    // Inputs seq[0 .. 2L-1], targets seq[1 .. 2L]; position p >= L (the separator onwards) predicts an answer digit.
    for (std::int64_t p = 0; p < 2 * len; ++p) {
      const auto at = static_cast<std::size_t>(i * context + p);
      in[at] = seq[static_cast<std::size_t>(p)];
      if (p >= len) {
        tgt[at] = seq[static_cast<std::size_t>(p + 1)];
        w[at] = 1.0;
        ++scored;
      }
    }
    batch.lengths.push_back(len);
  }
  for (double& x : w) x /= static_cast<double>(scored);
  batch.inputs = autodiff::tensor_i64(in, Shape{b, context});
  batch.targets = autodiff::tensor_i64(tgt, Shape{b, context, 1});
  batch.weights = autodiff::tensor(w, Shape{b, context, 1});
  return batch;
}

/// Mean cross-entropy over the answer digits: -sum(w * log_softmax(logits)[target]).
Tensor reversal_loss(const Tensor& logits, const Batch& batch) {
  const Tensor logp = autodiff::gather(autodiff::log_softmax(logits, -1), 2, batch.targets);  // [B,T,1]
  return -autodiff::sum(logp * batch.weights);
}

struct Accuracy {
  double teacher_forced = 0, greedy_tokens = 0, greedy_sequences = 0;
};

Accuracy evaluate(const Transformer& model, std::int64_t n, std::mt19937_64& gen) {
  autodiff::NoGrad no_grad;
  std::int64_t right = 0, total = 0, greedy_right = 0, seq_right = 0;
  const std::int64_t chunk = 250;
  for (std::int64_t done = 0; done < n; done += chunk) {
    const std::int64_t b = std::min(chunk, n - done);
    const Batch batch = make_batch(b, gen);
    // Teacher forcing: every answer digit from the true prefix, all in one pass.
    const std::vector<double> pred = autodiff::argmax(model.forward(batch.inputs), 2).to_vector();
    const std::vector<double> tgt = batch.targets.to_vector(), w = batch.weights.to_vector();
    for (std::size_t k = 0; k < pred.size(); ++k)
      if (w[k] > 0) {
        right += pred[k] == tgt[k];
        ++total;
      }
    // Greedy decoding: the answer from the prompt and separator alone, each predicted digit fed back in; position
    // L + k predicts answer digit k (one pass per digit, no cache: the model is small).
    std::vector<std::int64_t> cur(static_cast<std::size_t>(b * context), sep);
    std::vector<std::vector<std::int64_t>> answers(static_cast<std::size_t>(b));
    for (std::int64_t i = 0; i < b; ++i) {
      const auto& prompt = batch.prompts[static_cast<std::size_t>(i)];
      std::copy(prompt.begin(), prompt.end(), cur.begin() + i * context);
    }
    for (std::int64_t k = 0; k < max_len; ++k) {
      const std::vector<double> next =
          autodiff::argmax(model.forward(autodiff::tensor_i64(cur, Shape{b, context})), 2).to_vector();
      for (std::int64_t i = 0; i < b; ++i) {
        const std::int64_t len = batch.lengths[static_cast<std::size_t>(i)], p = len + k;
        if (k >= len) continue;
        const auto digit = static_cast<std::int64_t>(next[static_cast<std::size_t>(i * context + p)]);
        answers[static_cast<std::size_t>(i)].push_back(digit);
        if (p + 1 < context) cur[static_cast<std::size_t>(i * context + p + 1)] = digit;
      }
    }
    for (std::int64_t i = 0; i < b; ++i) {
      const auto& prompt = batch.prompts[static_cast<std::size_t>(i)];
      const auto& answer = answers[static_cast<std::size_t>(i)];
      bool all = true;
      for (std::size_t j = 0; j < prompt.size(); ++j) {
        const bool ok = answer[j] == prompt[prompt.size() - 1 - j];
        greedy_right += ok;
        all = all && ok;
      }
      seq_right += all;
    }
  }
  Accuracy a;
  a.teacher_forced = static_cast<double>(right) / static_cast<double>(total);
  a.greedy_tokens = static_cast<double>(greedy_right) / static_cast<double>(total);
  a.greedy_sequences = static_cast<double>(seq_right) / static_cast<double>(n);
  return a;
}

/// --check: gradcheck of x + MHA(LN(x)) in float64 w.r.t. x and every parameter of the LayerNorm and the attention,
/// at random values (LayerNorm's weight near 1, non-zero biases). Returns true when it passes.
bool check_attention_block(std::uint64_t seed) {
  Config c;
  c.d = 8, c.heads = 2, c.hidden = 16;
  std::mt19937_64 gen(seed);
  Block block(c, gen, Dtype::f64);
  const auto rnd = [&](const Shape& s, double lo, double hi) { return autodiff::uniform(s, lo, hi, gen, Dtype::f64); };
  nn::MultiHeadAttention& a = block.attn();
  const std::vector<Tensor> inputs = {rnd(Shape{2, 5, c.d}, -1, 1),   rnd(Shape{c.d}, 0.5, 1.5),
                                      rnd(Shape{c.d}, -0.5, 0.5),     a.in_proj_weight(),
                                      rnd(Shape{3 * c.d}, -0.5, 0.5), a.out_proj_weight(),
                                      rnd(Shape{c.d}, -0.5, 0.5)};
  const auto report = autodiff::gradcheck(
      [&](const std::vector<Tensor>& in) {
        block.ln_1().weight() = in[1];
        block.ln_1().bias() = in[2];
        a.in_proj_weight() = in[3];
        a.in_proj_bias() = in[4];
        a.out_proj_weight() = in[5];
        a.out_proj_bias() = in[6];
        return block.attend(in[0]);
      },
      inputs);
  fmt::print("attention block x + MHA(LN(x)), causal, E {}, {} heads, x [2,5,{}], float64\n", c.d, c.heads, c.d);
  fmt::print("inputs: x, ln_1.weight, ln_1.bias, attn.in_proj_weight, attn.in_proj_bias, attn.out_proj.weight, "
             "attn.out_proj.bias\n");
  fmt::print("{}\n", report);
  return report.ok;
}

int train(const Config& c) {
  openblas_set_num_threads(c.threads);
  std::mt19937_64 gen(c.seed);
  Transformer model(c, gen);
  std::int64_t count = 0;
  for (const Tensor& p : model.parameters()) count += p.numel();
  fmt::print("model: d {}, {} heads, {} layers, MLP {}, context {}, {} parameters\n", c.d, c.heads, c.layers, c.hidden,
             context, count);
  const std::int64_t warmup = std::min(c.warmup, std::max<std::int64_t>(1, c.steps / 10));
  fmt::print("train: batch {}, AdamW lr {} (warmup {} steps, cosine to 0), weight decay {}, {} steps (at most {} s), "
             "seed {}, {} BLAS thread(s)\n",
             c.batch, c.lr, warmup, c.weight_decay, c.steps, c.seconds, c.seed, c.threads);
  nn::Adam opt(model.parameters(), {.lr = c.lr, .weight_decay = c.weight_decay, .decoupled = true});
  autodiff::Tape tape;
  std::vector<double> losses;
  double window = 0;
  const auto start = std::chrono::steady_clock::now();
  const auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  std::int64_t step = 0;
  for (; step < c.steps; ++step) {
    const double progress = std::max(static_cast<double>(step) / static_cast<double>(c.steps), elapsed() / c.seconds);
    if (progress >= 1.0) break;
    const double warm = std::min(1.0, static_cast<double>(step + 1) / static_cast<double>(warmup));
    opt.set_lr(c.lr * warm * 0.5 * (1.0 + std::cos(std::numbers::pi * progress)));
    {
      autodiff::TapeScope scope(tape);  // clears the step's nodes at the end, keeping the memory
      const Batch batch = make_batch(c.batch, gen);
      const Tensor loss = reversal_loss(model.forward(batch.inputs), batch);
      autodiff::backward(loss);
      losses.push_back(loss.item());
    }
    opt.step();
    opt.zero_grad();
    window += losses.back();
    if ((step + 1) % c.log_every == 0) {
      fmt::print("step {:5}  loss {:.4f}  lr {:.2e}  {:6.1f} s\n", step + 1, window / static_cast<double>(c.log_every),
                 opt.lr(), elapsed());
      std::fflush(stdout);
      window = 0;
    }
  }
  const double trained = elapsed();
  fmt::print("trained {} steps in {:.1f} s ({:.1f} ms/step)\n", step, trained,
             1000.0 * trained / static_cast<double>(std::max<std::int64_t>(step, 1)));

  for (double l : losses)
    if (!std::isfinite(l)) {
      fmt::print(stderr, "attention: the loss is not finite ({})\n", l);
      return 1;
    }
  if (losses.size() >= 10) {
    // The first and last fifths: the short test run checks that training makes progress.
    const std::size_t k = losses.size() / 5;
    double first = 0, last = 0;
    for (std::size_t i = 0; i < k; ++i) first += losses[i], last += losses[losses.size() - 1 - i];
    fmt::print("mean loss: first {} steps {:.4f}, last {} steps {:.4f}\n", k, first / static_cast<double>(k), k,
               last / static_cast<double>(k));
    if (!(last < first)) {
      fmt::print(stderr, "attention: the loss did not decrease\n");
      return 1;
    }
  }

  std::mt19937_64 held_out(c.seed ^ 0x9e3779b97f4a7c15ULL);  // a stream of its own, apart from training's
  const Accuracy acc = evaluate(model, c.eval_sequences, held_out);
  fmt::print("held-out: {} sequences; greedy decoding from the prompt: token accuracy {:.4f}, whole answers {:.4f}\n",
             c.eval_sequences, acc.greedy_tokens, acc.greedy_sequences);
  fmt::print("teacher forcing (each answer digit from the true prefix):\n");
  fmt::print("token accuracy: {:.4f}\n", acc.teacher_forced);
  return 0;
}

double number(std::string_view flag, const char* text) {
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  if (end == text || *end != '\0' || !std::isfinite(v) || v <= 0)
    throw std::invalid_argument(fmt::format("attention: {} needs a positive number (got '{}')", flag, text));
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Config c;
    for (int i = 1; i < argc; ++i) {
      const std::string_view a = argv[i];
      const auto value = [&] {
        if (i + 1 >= argc) throw std::invalid_argument(fmt::format("attention: {} needs a value", a));
        return argv[++i];
      };
      if (a == "--check") c.check = true;
      else if (a == "--steps") c.steps = static_cast<std::int64_t>(number(a, value()));
      else if (a == "--seconds") c.seconds = number(a, value());
      else if (a == "--seed") c.seed = static_cast<std::uint64_t>(std::strtoull(value(), nullptr, 10));
      else if (a == "--threads") c.threads = static_cast<int>(number(a, value()));
      else if (a == "--lr") c.lr = number(a, value());
      else if (a == "--batch") c.batch = static_cast<std::int64_t>(number(a, value()));
      else if (a == "--eval") c.eval_sequences = static_cast<std::int64_t>(number(a, value()));
      else if (a == "--log-every") c.log_every = static_cast<std::int64_t>(number(a, value()));
      else if (a == "--help" || a == "-h") {
        const Config d;
        fmt::print("usage: attention [--steps N] [--seconds S] [--seed K] [--lr X] [--batch N] [--threads N] [--eval N]\n"
                   "                 [--log-every N] [--check]\n"
                   "  trains a 2-layer transformer to reverse 8-16 digits (defaults: {} steps capped at {} s, lr {},\n"
                   "  batch {}, seed 0, {} BLAS thread, {} held-out sequences); --check gradchecks one attention block\n"
                   "  in float64 instead (exit 0 when it passes)\n",
                   d.steps, d.seconds, d.lr, d.batch, d.threads, d.eval_sequences);
        return 0;
      } else
        throw std::invalid_argument(fmt::format("attention: unknown argument '{}' (see --help)", a));
    }
    if (c.check) return check_attention_block(c.seed) ? 0 : 1;
    return train(c);
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}\n", e.what());
    return 2;
  }
}
