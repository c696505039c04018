// Architecture strings: parsing with one-line messages, the canonical string, and the Sequential they describe.
#include "nn/arch.hpp"

#include "autodiff/check.hpp"
#include "autodiff/format.hpp"
#include "autodiff/ops.hpp"
#include "nn/activation.hpp"
#include "nn/conv.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <memory>
#include <stdexcept>
#include <system_error>

namespace nn {

using autodiff::Shape;
using autodiff::Tensor;

namespace {

constexpr const char* expected_layers = "(expected convN, pool, fcN)";

// The size after a layer name: digits only, in [1, max].
std::int64_t layer_size(std::string_view what, std::string_view token, std::size_t prefix, std::size_t position,
                        std::int64_t max) {
  const std::string_view digits = token.substr(prefix);
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec == std::errc::result_out_of_range || (ec == std::errc() && end == digits.data() + digits.size() && (v < 1 || v > max)))
    throw std::invalid_argument(fmt::format("{}: {} at position {}: size {} is out of range (expected 1 to {})", what,
                                            autodiff::quote(token), position, digits, max));
  return v;
}

bool digits_only(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

std::unique_ptr<Module> activation_module(Activation a) {
  switch (a) {
    case Activation::sigmoid: return std::make_unique<Sigmoid>();
    case Activation::relu: return std::make_unique<ReLU>();
    case Activation::tanh: return std::make_unique<Tanh>();
    case Activation::identity: return nullptr;
  }
  return nullptr;
}

void add_activation(Sequential& s, Activation a) {
  if (auto m = activation_module(a)) s.add(std::move(m));
}

}  // namespace

std::vector<LayerSpec> parse_arch(std::string_view text, std::string_view what) {
  if (text.empty()) throw std::invalid_argument(fmt::format("{}: the value is empty {}", what, expected_layers));
  std::vector<LayerSpec> layers;
  bool fc_seen = false;
  std::size_t start = 0;
  for (std::size_t position = 1;; ++position) {
    const std::size_t comma = text.find(',', start);
    const std::string_view token =
        text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (token.empty())
      throw std::invalid_argument(fmt::format("{}: empty layer at position {} {}", what, position, expected_layers));
    LayerSpec l;
    if (token == "pool") {
      l.kind = LayerKind::pool;
    } else if (token.starts_with("conv") && digits_only(token.substr(4))) {
      l.kind = LayerKind::conv;
      l.size = layer_size(what, token, 4, position, arch_limits::max_channels);
    } else if (token.starts_with("fc") && digits_only(token.substr(2))) {
      l.kind = LayerKind::fc;
      l.size = layer_size(what, token, 2, position, arch_limits::max_units);
    } else {
      throw std::invalid_argument(
          fmt::format("{}: unknown layer {} at position {} {}", what, autodiff::quote(token), position, expected_layers));
    }
    if (l.kind != LayerKind::fc && fc_seen)
      throw std::invalid_argument(fmt::format("{}: {} at position {} follows an fc layer (conv and pool layers come "
                                              "first)",
                                              what, autodiff::quote(token), position));
    fc_seen = fc_seen || l.kind == LayerKind::fc;
    layers.push_back(l);
    if (layers.size() > arch_limits::max_layers)
      throw std::invalid_argument(fmt::format("{}: more than {} layers", what, arch_limits::max_layers));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return layers;
}

std::string arch_string(const std::vector<LayerSpec>& layers) {
  std::string s;
  for (const LayerSpec& l : layers) {
    if (!s.empty()) s += ',';
    s += l.kind == LayerKind::pool ? std::string("pool") : fmt::format("{}{}", layer_kinds.name(l.kind), l.size);
  }
  return s;
}

std::vector<LayerSpec> fc_arch(const std::vector<std::int64_t>& hidden) {
  std::vector<LayerSpec> layers;
  for (std::int64_t h : hidden) layers.push_back({LayerKind::fc, h});
  return layers;
}

bool is_convolutional(const std::vector<LayerSpec>& layers) {
  for (const LayerSpec& l : layers)
    if (l.kind != LayerKind::fc) return true;
  return false;
}

ImageInput::ImageInput(std::int64_t rows, std::int64_t cols) : rows_(rows), cols_(cols) {
  if (rows < 1 || cols < 1)
    throw std::invalid_argument(fmt::format("ImageInput: image size must be positive ({}x{})", rows, cols));
}

void ImageInput::list(ModuleVisitor&) {}

Tensor ImageInput::forward(const Tensor& x) const {
  if (x.rank() != 2 || x.shape()[1] != rows_ * cols_)
    throw std::invalid_argument(fmt::format("ImageInput: input must be [B,{}] rows of {}x{} pixels (input {})",
                                            rows_ * cols_, rows_, cols_, autodiff::describe(x)));
  // [B, rows*cols] -> [B, 1, rows, cols]: the same bytes, one channel
  return autodiff::reshape(x, Shape{x.shape()[0], 1, rows_, cols_});
}

Sequential build_model(const std::vector<LayerSpec>& layers, const ModelShape& shape, std::mt19937_64& gen) {
  if (shape.rows < 1 || shape.cols < 1 || shape.classes < 1)
    throw std::invalid_argument(fmt::format("arch: bad model shape (images {}x{}, {} classes)", shape.rows, shape.cols,
                                            shape.classes));
  Sequential s;
  std::int64_t channels = 1, rows = shape.rows, cols = shape.cols, features = shape.rows * shape.cols;
  const bool conv = is_convolutional(layers);
  bool flat = !conv;
  if (conv) s.add(std::make_unique<ImageInput>(shape.rows, shape.cols));
  // A conv layer's activation goes after the pools that follow it. Every activation here is non-decreasing, so it
  // commutes with max pooling (relu(max(a, b, c, d)) = max(relu(a), ..., relu(d)), and the gradient reaches the same
  // element), and after a 2x2 pool it runs on a quarter of the values: the cnn preset's step is 4% shorter.
  bool pending = false;
  auto settle = [&] {
    if (pending) add_activation(s, shape.hidden);
    pending = false;
  };
  auto flatten = [&] {
    if (flat) return;
    s.add(std::make_unique<Flatten>());
    features = channels * rows * cols;
    flat = true;
  };
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const LayerSpec& l = layers[i];
    switch (l.kind) {
      case LayerKind::conv:
        settle();
        // 3x3 with padding 1 keeps the image size: [B,c,h,w] -> [B,N,h,w]
        s.add(std::make_unique<Conv2d>(channels, l.size, 3, 1, 1, gen, true, shape.dtype));
        pending = true;
        channels = l.size;
        break;
      case LayerKind::pool:
        if (rows < 2 || cols < 2)
          throw std::invalid_argument(fmt::format("arch: pool at position {} gets {}x{} images (it needs at least 2x2)",
                                                  i + 1, rows, cols));
        s.add(std::make_unique<MaxPool2d>(2));  // [B,c,h,w] -> [B,c,h/2,w/2] (rounded down)
        rows /= 2;
        cols /= 2;
        break;
      case LayerKind::fc:
        settle();
        flatten();
        s.add(std::make_unique<Linear>(features, l.size, gen, shape.init, shape.dtype));
        add_activation(s, shape.hidden);
        features = l.size;
        break;
    }
  }
  settle();
  flatten();
  s.add(std::make_unique<Linear>(features, shape.classes, gen, shape.init, shape.dtype));
  add_activation(s, shape.output);
  return s;
}

std::string size_flow(const std::vector<LayerSpec>& layers, const ModelShape& shape) {
  if (!is_convolutional(layers)) {
    std::string s = fmt::format("{}", shape.rows * shape.cols);
    for (const LayerSpec& l : layers) s += fmt::format("-{}", l.size);
    return s + fmt::format("-{}", shape.classes);
  }
  std::string a = arch_string(layers);
  std::replace(a.begin(), a.end(), ',', '-');
  return fmt::format("1x{}x{}-{}-{}", shape.rows, shape.cols, a, shape.classes);
}

}  // namespace nn
