// One-line training progress bar for terminals; silent when output is redirected.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <optional>
#include <string>

namespace nn {

/// Redraws a single line with '\r' (title, bar, step/total, samples/s, running loss, ETA),
/// at most about ten times per second. When not interactive it prints nothing at all.
class ProgressBar {
 public:
  /// interactive defaults to whether `out` is a terminal.
  ProgressBar(std::string title, std::size_t total_steps, std::FILE* out = stderr,
              std::optional<bool> interactive = std::nullopt);
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  /// Clears the line, as finish() does.
  ~ProgressBar();

  /// Reports that `step` of the total steps are done; the final step is always drawn.
  void update(std::size_t step, double running_loss, std::size_t samples_done);
  /// Erases the bar so the caller's next line starts at column 0. Safe to call twice.
  void finish();

 private:
  using Clock = std::chrono::steady_clock;
  std::string title_;
  std::size_t total_;
  std::FILE* out_;
  bool interactive_;
  Clock::time_point start_ = Clock::now(), last_draw_{};
  std::size_t width_ = 0;  // characters on the line now, to blank when redrawing shorter
};

/// True when standard output is a terminal (so a report can use colour or redraws).
bool stdout_is_terminal();

}  // namespace nn
