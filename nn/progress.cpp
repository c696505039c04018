// ProgressBar drawing: throttled '\r' redraws sized to the terminal, nothing when redirected.
#include "nn/progress.hpp"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <utility>

namespace nn {
namespace {

constexpr std::size_t bar_width = 30;
constexpr auto redraw_interval = std::chrono::milliseconds(100);

std::string clock_time(double seconds) {
  auto s = static_cast<long long>(std::llround(std::clamp(seconds, 0.0, 359999.0)));
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

// A line longer than the terminal wraps, and '\r' would then redraw only its last row.
std::size_t terminal_columns(std::FILE* out) {
  winsize ws{};
  if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

}  // namespace

ProgressBar::ProgressBar(std::string title, std::size_t total_steps, std::FILE* out,
                         std::optional<bool> interactive)
    : title_(std::move(title)),
      total_(total_steps),
      out_(out),
      interactive_(interactive.value_or(out != nullptr && isatty(fileno(out)) == 1)) {}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::update(std::size_t step, double running_loss, std::size_t samples_done) {
  if (!interactive_ || out_ == nullptr) return;
  Clock::time_point now = Clock::now();
  if (width_ > 0 && step < total_ && now - last_draw_ < redraw_interval) return;
  last_draw_ = now;

  std::size_t done = std::min(step, total_);
  std::size_t filled = total_ == 0 ? bar_width : done * bar_width / total_;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  std::string rate = elapsed > 0 ? fmt::format("{:.0f}", static_cast<double>(samples_done) / elapsed) : "-";
  std::string eta = done > 0
                        ? clock_time(elapsed * static_cast<double>(total_ - done) / static_cast<double>(done))
                        : "-:--";
  std::string line =
      fmt::format("{} [{}{}] {}/{}  {} samples/s  loss {:.4f}  ETA {}", title_, std::string(filled, '#'),
                  std::string(bar_width - filled, '.'), step, total_, rate, running_loss, eta);
  line.resize(std::min(line.size(), terminal_columns(out_) - 1));
  std::size_t shown = line.size();
  if (shown < width_) line.append(width_ - shown, ' ');
  width_ = shown;
  std::fputc('\r', out_);
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

void ProgressBar::finish() {
  if (!interactive_ || out_ == nullptr || width_ == 0) return;
  std::fputc('\r', out_);
  std::fwrite(std::string(width_, ' ').data(), 1, width_, out_);
  std::fputc('\r', out_);
  std::fflush(out_);
  width_ = 0;
}

bool stdout_is_terminal() { return isatty(fileno(stdout)) == 1; }

}  // namespace nn
