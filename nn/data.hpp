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

/// The largest payload read_idx accepts by default: 2^28 bytes (256 MiB; Fashion-MNIST's training images are 47 MB).
inline constexpr std::uint64_t default_max_data_bytes = std::uint64_t{1} << 28;

/// Reads a plain or gzipped IDX file of unsigned bytes (dtype 0x08) with 1 to 4 dimensions. The size its header
/// claims is checked against max_bytes, and against what the file can hold, before anything is allocated.
/// @throws std::invalid_argument naming the file if it is missing, malformed, truncated, claims more than max_bytes
///         or than its gzip stream can hold, has trailing bytes, or its gzip stream is corrupt.
IdxFile read_idx(const std::filesystem::path& file, std::uint64_t max_bytes = default_max_data_bytes);

/// Writes an unsigned-byte IDX file, gzipped when `gzip` is set, atomically (nn/file.hpp).
/// @throws std::invalid_argument if dims do not match bytes or the file cannot be written (with the OS error).
void write_idx(const std::filesystem::path& file, const std::vector<std::uint32_t>& dims,
               std::span<const std::uint8_t> bytes, bool gzip);

/// Images as row-major [count, rows*cols] floats in [0,1] (pixel/255), with one class label each (0 to classes - 1;
/// int64 as autodiff's indices, so any class count fits, although IDX label files hold bytes).
struct Dataset {
  std::vector<float> images;
  std::vector<std::int64_t> labels;
  std::size_t count = 0, rows = 0, cols = 0;
  std::size_t features() const { return rows * cols; }
};

/// Loads a 3-D image file and a 1-D label file with matching counts and labels < classes (classes >= 1).
/// @throws std::invalid_argument naming the file(s) and the offending values, also for images without pixels (0 rows
/// or columns), and every error of read_idx.
Dataset load_idx_pair(const std::filesystem::path& images, const std::filesystem::path& labels, int classes = 10,
                      std::uint64_t max_bytes = default_max_data_bytes);

/// Training and test halves of a dataset.
struct Split {
  Dataset train, test;
};

/// The four standard MNIST/Fashion-MNIST files in `dir`, each `.gz` when that exists.
struct DatasetFiles {
  std::filesystem::path train_images, train_labels, test_images, test_labels;
};
/// @throws std::invalid_argument naming the directory and the missing file, or the OS error (a symlink loop).
DatasetFiles dataset_files(const std::filesystem::path& dir);

/// Loads the four files of dataset_files(dir) (10 classes), and checks that the halves fit one model: neither is
/// empty and both have images of one size.
/// @throws std::invalid_argument naming the file: as dataset_files and load_idx_pair, and on a mismatch.
Split load_dataset(const std::filesystem::path& dir, std::uint64_t max_bytes = default_max_data_bytes);

/// The first n examples of d.
/// @throws std::invalid_argument if n exceeds d.count.
Dataset subset(const Dataset& d, std::size_t n);

/// Fashion-MNIST class names, indexed by label.
inline constexpr std::array<std::string_view, 10> fashion_mnist_classes = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

}  // namespace nn
