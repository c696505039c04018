// Batcher: seeded order, gathering rows (float or compact byte storage), flips and shifts drawn per row.
#include "nn/batcher.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace nn {

using autodiff::Array;
using autodiff::Dtype;
using autodiff::Shape;
using autodiff::Tensor;

void shuffle(std::span<std::uint32_t> order, std::mt19937_64& gen) {
  // gen() % (i + 1): the modulo bias is below n / 2^64, far under anything measurable.
  for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[gen() % i]);
}

namespace {
// p / 255 exactly as the IDX loader computes it.
float pixel(std::uint8_t p) { return static_cast<float>(p) / 255.0f; }

// The images as bytes p with pixel(p) == x, or nothing when some value is not of that form.
std::vector<std::uint8_t> compact_images(const std::vector<float>& images) {
  std::vector<std::uint8_t> bytes(images.size());
  for (std::size_t i = 0; i < images.size(); ++i) {
    const float x = images[i];
    if (!(x >= 0.0f && x <= 1.0f)) return {};
    const auto p = static_cast<std::uint8_t>(x * 255.0f + 0.5f);
    if (pixel(p) != x) return {};
    bytes[i] = p;
  }
  return bytes;
}
}  // namespace

Batcher::Batcher(const Dataset& data, std::size_t batch, std::int64_t classes, Dtype dtype, bool compact, bool one_hot)
    : data_(&data), batch_(batch), classes_(classes), dtype_(dtype), one_hot_(one_hot) {
  if (batch == 0) throw std::invalid_argument("Batcher: batch size must be positive");
  if (data.count == 0) throw std::invalid_argument("Batcher: the dataset is empty");
  if (classes <= 0) throw std::invalid_argument(fmt::format("Batcher: bad class count {}", classes));
  if (data.labels.size() < data.count)
    throw std::invalid_argument(fmt::format("Batcher: {} labels for {} examples", data.labels.size(), data.count));
  for (std::size_t i = 0; i < data.count; ++i)
    if (data.labels[i] < 0 || data.labels[i] >= classes)
      throw std::invalid_argument(
          fmt::format("Batcher: label {} of example {} out of range [0, {})", data.labels[i], i, classes));
  if (compact) bytes_ = compact_images(data.images);
  order_.resize(data.count);
  std::iota(order_.begin(), order_.end(), std::uint32_t{0});
  full_ = make(std::min(batch, data.count));
  if (data.count > batch && data.count % batch != 0) tail_ = make(data.count % batch);
}

void Batcher::shuffle(std::mt19937_64& gen) {
  std::iota(order_.begin(), order_.end(), std::uint32_t{0});
  nn::shuffle(order_, gen);
}

Batcher::Buffers Batcher::make(std::size_t rows) const {
  const auto r = static_cast<std::int64_t>(rows);
  return {Tensor(Array::zeros(Shape{r, static_cast<std::int64_t>(data_->features())}, dtype_)),
          one_hot_ ? Tensor(Array::zeros(Shape{r, classes_}, dtype_)) : Tensor(),
          Tensor(Array::zeros(Shape{r}, Dtype::i64)), std::vector<std::int64_t>(rows)};
}

const Tensor& Batcher::one_hot() const {
  if (!one_hot_) throw std::logic_error("Batcher::one_hot: this batcher was made without one-hot targets");
  return *y_;
}

std::size_t Batcher::rows(std::size_t i) const {
  if (i >= batches()) throw std::invalid_argument(fmt::format("Batcher::rows: batch {} of {}", i, batches()));
  return std::min(batch_, data_->count - i * batch_);
}

void Batcher::load(std::size_t i, double flip, int shift, std::mt19937_64* gen) {
  if (i >= batches()) throw std::invalid_argument(fmt::format("Batcher::load: batch {} of {}", i, batches()));
  load(i, 0, rows(i), flip, shift, gen);
}

void Batcher::load(std::size_t i, std::size_t part_first, std::size_t part_rows, double flip, int shift,
                   std::mt19937_64* gen) {
  if (i >= batches()) throw std::invalid_argument(fmt::format("Batcher::load: batch {} of {}", i, batches()));
  if ((flip > 0 || shift > 0) && gen == nullptr)
    throw std::invalid_argument("Batcher::load: augmentation needs a generator");
  const std::size_t first = i * batch_, rows = std::min(batch_, data_->count - first);
  if (part_first > rows || part_rows > rows - part_first)
    throw std::invalid_argument(
        fmt::format("Batcher::load: rows [{}, {}) outside batch {} of {} rows", part_first, part_first + part_rows, i, rows));
  const std::size_t part_end = part_first + part_rows;
  if (part_rows == 0) {  // nothing to load, but the same draws as below: one word per augmentation per row
    for (std::size_t r = 0; r < rows; ++r) {
      if (flip > 0) (*gen)();
      if (shift > 0) (*gen)();
    }
    return;
  }
  auto shard_buffers = [&]() -> Buffers& {
    auto it = shards_.find(part_rows);
    return it != shards_.end() ? it->second : shards_.emplace(part_rows, make(part_rows)).first->second;
  };
  Buffers& b = part_rows == full_.labels.size() ? full_ : part_rows == tail_.labels.size() ? tail_ : shard_buffers();
  const std::size_t f = data_->features(), cols = std::max<std::size_t>(data_->cols, 1), height = f / cols;
  // A flip compares one word with flip * 2^64.
  const bool always = flip >= 1.0;
  const std::uint64_t threshold = always || flip <= 0 ? 0 : static_cast<std::uint64_t>(std::ldexp(flip, 64));
  const auto span = static_cast<std::uint64_t>(2 * std::max(shift, 0) + 1);
  // Copies one image, moved by (dy, dx) and mirrored, from float or byte storage: out(r, c) = in(r - dy, m(c - dx)).
  auto copy = [&]<class T, class S>(T* dst, const S* src, bool mirror, std::ptrdiff_t dy, std::ptrdiff_t dx) {
    auto value = [](S v) { return static_cast<T>(std::is_same_v<S, float> ? v : pixel(static_cast<std::uint8_t>(v))); };
    if (!mirror && dy == 0 && dx == 0) {
      if constexpr (std::is_same_v<T, float> && std::is_same_v<S, float>)
        std::memcpy(dst, src, f * sizeof(float));
      else
        for (std::size_t k = 0; k < f; ++k) dst[k] = value(src[k]);
      return;
    }
    const auto h = static_cast<std::ptrdiff_t>(height), w = static_cast<std::ptrdiff_t>(cols);
    for (std::ptrdiff_t r = 0; r < h; ++r) {
      T* out = dst + r * w;
      const std::ptrdiff_t sr = r - dy;
      if (sr < 0 || sr >= h) {
        std::fill(out, out + w, T(0));
        continue;
      }
      const S* in = src + sr * w;
      for (std::ptrdiff_t c = 0; c < w; ++c) {
        std::ptrdiff_t sc = c - dx;
        if (mirror) sc = w - 1 - sc;
        out[c] = sc < 0 || sc >= w ? T(0) : value(in[sc]);
      }
    }
  };
  autodiff::dispatch(dtype_, [&]<class T>(T) {
    T* x = b.x.leaf_value().template data<T>();
    T* y = one_hot_ ? b.y.leaf_value().template data<T>() : nullptr;
    std::int64_t* labels = b.label_tensor.leaf_value().template data<std::int64_t>();
    if (y) std::fill(y, y + part_rows * static_cast<std::size_t>(classes_), T(0));
    const std::size_t image_bytes = f * (bytes_.empty() ? sizeof(float) : 1);
    const auto* base = bytes_.empty() ? reinterpret_cast<const char*>(data_->images.data())
                                      : reinterpret_cast<const char*>(bytes_.data());
    // Shuffled rows are scattered over the whole dataset, so each one is a cache miss: fetch a few rows ahead.
    constexpr std::size_t ahead = 2;
    auto prefetch = [&](std::size_t r) {
      const char* p = base + std::size_t{order_[first + r]} * image_bytes;
      for (std::size_t o = 0; o < image_bytes; o += 64) __builtin_prefetch(p + o);
    };
    for (std::size_t r = part_first; r < std::min(part_first + ahead, part_end); ++r) prefetch(r);
    // Every row of the batch draws its augmentation words; only the part's rows are copied (to row r - part_first).
    for (std::size_t r = 0; r < rows; ++r) {
      const bool mirror = flip > 0 && ((*gen)() < threshold || always);
      std::ptrdiff_t dy = 0, dx = 0;
      if (shift > 0) {
        const std::uint64_t word = (*gen)();
        dy = static_cast<std::ptrdiff_t>(word % span) - shift;
        dx = static_cast<std::ptrdiff_t>(word / span % span) - shift;
      }
      if (r < part_first || r >= part_end) continue;
      if (r + ahead < part_end) prefetch(r + ahead);
      const std::size_t e = order_[first + r], o = r - part_first;
      if (bytes_.empty())
        copy(x + o * f, data_->images.data() + e * f, mirror, dy, dx);
      else
        copy(x + o * f, bytes_.data() + e * f, mirror, dy, dx);
      const std::int64_t label = data_->labels[e];
      b.labels[o] = labels[o] = label;
      if (y) y[o * static_cast<std::size_t>(classes_) + static_cast<std::size_t>(label)] = T(1);
    }
  });
  x_ = &b.x;
  y_ = &b.y;
  label_tensor_ = &b.label_tensor;
  labels_ = &b.labels;
}

}  // namespace nn
