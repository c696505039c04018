// A small deterministic dataset for training tests that need no data files.
#pragma once

#include "nn/data.hpp"

#include <cstddef>
#include <cstdint>

namespace testing {

/// `count` 4x3 images whose pixels are ((7 i + 13 k) mod 256) / 255, labels cycling through `classes`.
inline nn::Dataset synthetic(std::size_t count, int classes = 3) {
  nn::Dataset d;
  d.rows = 4;
  d.cols = 3;
  d.count = count;
  for (std::size_t i = 0; i < count; ++i) {
    for (std::size_t k = 0; k < d.features(); ++k)
      d.images.push_back(static_cast<float>((i * 7 + k * 13) % 256) / 255.0f);
    d.labels.push_back(static_cast<std::int64_t>(i % static_cast<std::size_t>(classes)));
  }
  return d;
}

}  // namespace testing
