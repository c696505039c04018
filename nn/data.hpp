// IDX file reading and writing, and loading of MNIST-style image/label datasets.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

namespace nn {

/// Raw contents of an unsigned-byte IDX file: its dimensions and row-major payload.
struct IdxFile {
  std::vector<std::uint32_t> dims;
  std::vector<std::uint8_t> bytes;
};

/// Reads a plain or gzipped IDX file of unsigned bytes (dtype 0x08) with 1 to 4 dimensions.
/// @throws std::invalid_argument naming the file if it is missing, malformed, truncated,
///         has trailing bytes, or its gzip stream is corrupt.
IdxFile read_idx(const std::filesystem::path& file);

/// Writes an unsigned-byte IDX file, gzipped when `gzip` is set.
/// @throws std::invalid_argument if dims do not match bytes or the file cannot be written.
void write_idx(const std::filesystem::path& file, const std::vector<std::uint32_t>& dims,
               std::span<const std::uint8_t> bytes, bool gzip);

/// Images as row-major [count, rows*cols] floats in [0,1] (pixel/255), with one label each.
struct Dataset {
  std::vector<float> images;
  std::vector<std::uint8_t> labels;
  std::size_t count = 0, rows = 0, cols = 0;
  std::size_t features() const { return rows * cols; }
};

/// Loads a 3-D image file and a 1-D label file with matching counts and labels < classes.
/// @throws std::invalid_argument naming the file(s) and the offending values.
Dataset load_idx_pair(const std::filesystem::path& images, const std::filesystem::path& labels,
                      int classes = 10);

/// Training and test halves of a dataset.
struct Split {
  Dataset train, test;
};

/// Loads the four standard MNIST/Fashion-MNIST files from `dir`, preferring the `.gz` names.
/// @throws std::invalid_argument naming the directory and the missing file.
Split load_dataset(const std::filesystem::path& dir);

/// The first n examples of d.
/// @throws std::invalid_argument if n exceeds d.count.
Dataset subset(const Dataset& d, std::size_t n);

/// Fashion-MNIST class names, indexed by label.
inline constexpr std::array<std::string_view, 10> fashion_mnist_classes = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

}  // namespace nn
