// Architecture strings such as "conv32,pool,conv64,pool,fc128": parsed into layer specs and built into a Sequential.
#pragma once

#include "autodiff/tensor.hpp"
#include "enum_table.hpp"
#include "linear.hpp"
#include "mlp.hpp"
#include "module.hpp"
#include "sequential.hpp"

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace nn {

/// The layers an architecture string names: convN (Conv2d 3x3, padding 1, N channels, then the hidden activation),
/// pool (MaxPool2d 2) and fcN (Linear to N units, then the hidden activation).
enum class LayerKind { conv, pool, fc };
/// Names and stored codes of LayerKind (checkpoint format 2; the codes never change).
inline constexpr EnumTable layer_kinds{"layer", std::array<EnumEntry<LayerKind>, 3>{{
    {LayerKind::conv, "conv", 0}, {LayerKind::pool, "pool", 1}, {LayerKind::fc, "fc", 2}}}};
static_assert(layer_kinds.valid());

/// One layer of an architecture: its kind and size (channels for conv, units for fc, 0 for pool).
struct LayerSpec {
  LayerKind kind = LayerKind::fc;
  std::int64_t size = 0;
  bool operator==(const LayerSpec&) const = default;
};

namespace arch_limits {
inline constexpr std::int64_t max_channels = 4096;  ///< of a conv layer
inline constexpr std::int64_t max_units = 65536;    ///< of an fc layer (as train_limits::hidden_size)
inline constexpr std::size_t max_layers = 32;
}  // namespace arch_limits

/// Parses "conv32,pool,conv64,pool,fc128" (no spaces). `what` starts every message, e.g. "--arch".
/// @throws std::invalid_argument "<what>: unknown layer 'conv' at position 1 (expected convN, pool, fcN)", and
/// likewise for an empty string or layer, a size out of range, more than arch_limits::max_layers layers, or a conv
/// or pool layer after an fc layer.
std::vector<LayerSpec> parse_arch(std::string_view text, std::string_view what = "arch");
/// The string parse_arch reads back: "conv32,pool,fc128" (empty for no layers).
std::string arch_string(const std::vector<LayerSpec>& layers);
/// The fc-only architecture of hidden sizes {512, 256}: fc512,fc256 (the MLP presets).
std::vector<LayerSpec> fc_arch(const std::vector<std::int64_t>& hidden);
/// True when the architecture has a conv or pool layer (its input is then an image [B,1,rows,cols]).
bool is_convolutional(const std::vector<LayerSpec>& layers);

/// Reshapes rows of pixels [B, rows*cols] to single-channel images [B,1,rows,cols] (no parameters), so a
/// convolutional model takes the same flat batches as an MLP.
class ImageInput : public Module {
 public:
  /// @throws std::invalid_argument when rows or cols is not positive.
  ImageInput(std::int64_t rows, std::int64_t cols);
  void list(ModuleVisitor& v) override;
  /// @throws std::invalid_argument "ImageInput: ..." when x is not [B, rows*cols].
  autodiff::Tensor forward(const autodiff::Tensor& x) const override;

 private:
  std::int64_t rows_, cols_;
};

/// How to build a model from an architecture.
struct ModelShape {
  std::int64_t rows = 28, cols = 28;  ///< of the input images (the input rows hold rows * cols pixels)
  std::int64_t classes = 10;          ///< outputs of the final Linear layer, added after the listed layers
  Activation hidden = Activation::relu;  ///< after each conv and fc layer (identity: none)
  Activation output = Activation::identity;  ///< after the final layer (identity: none)
  Init init = Init::uniform;  ///< of the Linear layers (Conv2d layers use PyTorch's default, the same bound)
  autodiff::Dtype dtype = autodiff::Dtype::f32;
};

/// The model as a Sequential, drawing the parameters from gen layer by layer: for a convolutional architecture
/// ImageInput, then per layer Conv2d(c, N, 3, 1, 1) + activation or MaxPool2d(2), then Flatten before the first
/// fc layer (or the final one); each fcN is Linear + activation; last Linear(.., classes) + output activation. A
/// conv layer's activation is placed after the pools that follow it (the same function: the activations are
/// non-decreasing and commute with max pooling, and there it has a quarter of the values per pool).
/// An fc-only architecture draws exactly as nn::MLP with the same sizes and gives bit-identical outputs.
/// @throws std::invalid_argument "arch: ..." when a pool layer gets images smaller than 2x2, or a size is bad.
Sequential build_model(const std::vector<LayerSpec>& layers, const ModelShape& shape, std::mt19937_64& gen);

/// The sizes for a summary: "784-16-16-10" for an fc-only architecture, "1x28x28-conv32-pool-conv64-pool-fc128-10"
/// for a convolutional one.
std::string size_flow(const std::vector<LayerSpec>& layers, const ModelShape& shape);

}  // namespace nn
