// Whole-file reading shared by the IDX reader and the checkpoint loader.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

namespace nn::detail {

/// Every byte of a regular file.
/// @throws std::invalid_argument "<op>: <file>: <reason>" when the file does not exist, is not a regular file (a
/// directory, a device), cannot be opened, or a read fails (e.g. EIO); never std::ios_base::failure.
std::vector<std::uint8_t> read_file(std::string_view op, const std::filesystem::path& file);

}  // namespace nn::detail
