// Checkpoints: named arrays in a small checksummed little-endian binary file, and Module save/load on top of it.
//
// File format, version 1 (every integer little-endian):
//
//   offset  size        field
//   0       4           magic "ADNN"
//   4       4           u32 version = 1
//   8       4           u32 entry count N
//   12      ...         N entries, each:
//                         u32  name length n
//                         n    name bytes (UTF-8, no terminator), e.g. "layers.0.weight"
//                         u8   dtype: 0 = float32, 1 = float64
//                         u8   rank r (0..8)
//                         8*r  i64 dims
//                         ...  raw data, row-major, numel * (4 or 8) bytes, IEEE-754 little-endian
//   end-4   4           u32 CRC-32 (zlib crc32, polynomial 0xEDB88320) of every byte before it
//
// Entry names are unique. Saving writes only a regular file or a new path (following symlinks), through a temporary
// file of its own that is fsynced and renamed over the target, then fsyncs the directory (nn/file.hpp): a reader, a
// concurrent writer or a run killed mid-save sees the old file or a new complete one, never a mix, and once save
// returns the new one survives a power loss. Loading reads the whole file, bounds every length by the bytes that
// remain before allocating, and checks the CRC.
#pragma once

#include "autodiff/array.hpp"
#include "module.hpp"

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace nn {

/// Writes the arrays, in order, to `file` (atomically: see above).
/// @throws std::invalid_argument naming the file when it cannot be written (with the OS error), is not a regular file
/// or a new path, or on an undefined array or a repeated name.
void save_arrays(const std::filesystem::path& file, const std::vector<std::pair<std::string, autodiff::Array>>& arrays);

/// Reads every entry of `file`.
/// @throws std::invalid_argument naming the file on: a missing or unreadable file, wrong magic, unsupported version,
/// a truncated file, a bad field (dtype, rank, negative dimension), a repeated name, trailing bytes, or a checksum
/// mismatch.
std::vector<std::pair<std::string, autodiff::Array>> load_arrays(const std::filesystem::path& file);

/// Saves m.named_parameters().
void save(const Module& m, const std::filesystem::path& file);

/// Loads parameter values saved by save() into m, in place. Nothing is changed unless the whole file matches.
/// @throws std::invalid_argument naming the file and what differs (expected vs found): parameter count, names,
/// shapes or dtypes; and every error of load_arrays.
void load(Module& m, const std::filesystem::path& file);

}  // namespace nn
