// Dependency-free SVG line charts for training curves (loss, accuracy per epoch).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace nn {

/// One named line; point i is drawn at x = x_start + i. Non-finite values leave a gap.
struct Series {
  std::string name;
  std::vector<double> y;
};

/// One chart with its own axes and legend.
struct Panel {
  std::string title;
  std::string y_label;
  std::vector<Series> series;
};

/// Writes the panels side by side as a standalone SVG, atomically: only a regular file or a new path (nn/file.hpp).
/// @throws std::invalid_argument naming the file if there are no panels or it cannot be written (with the OS error).
void write_svg(const std::filesystem::path& file, const std::string& title, const std::string& x_label,
               const std::vector<Panel>& panels, double x_start = 1.0);

}  // namespace nn
