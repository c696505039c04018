// SVG line charts written by hand: nice ticks, legends, markers, gaps for non-finite points.
#include "nn/plot.hpp"
#include "nn/file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <iterator>
#include <limits>
#include <span>
#include <stdexcept>
#include <string_view>
#include <utility>

namespace nn {
namespace {

namespace fs = std::filesystem;

constexpr double panel_w = 440, panel_h = 320, title_h = 40;
constexpr double left = 70, right = 20, top = 36, bottom = 52;  // plot area inside a panel
constexpr double plot_w = panel_w - left - right, plot_h = panel_h - top - bottom;
constexpr std::array<std::string_view, 10> palette = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

// Values this large would overflow hi - lo; they are drawn as gaps like NaN.
bool drawable(double v) { return std::isfinite(v) && std::abs(v) < 1e300; }

/// A linear axis: the domain [lo, hi] (hi > lo) and round tick positions inside it.
struct Axis {
  double lo = 0, hi = 1, step = 1;
  std::vector<double> ticks;
  std::string label(double v) const {
    double mag = std::max(std::abs(lo), std::abs(hi));
    if (mag >= 1e6 || step < 1e-6) return fmt::format("{:.4g}", v);
    int decimals = std::clamp(static_cast<int>(-std::floor(std::log10(step) + 1e-9)), 0, 6);
    return fmt::format("{:.{}f}", v, decimals);
  }
  double map(double v, double length) const { return (v - lo) / (hi - lo) * length; }
};

// The smallest of 1, 2, 5 times a power of ten that is at least raw.
double nice_step(double raw) {
  double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0})
    if (m * p >= raw * (1 - 1e-9)) return m * p;
  return 10 * p;
}

// extend: round the domain out to whole ticks (y axes); otherwise keep the data range (x axes).
Axis make_axis(double lo, double hi, bool extend, double min_step) {
  Axis a;
  if (!(lo <= hi)) lo = 0, hi = 1;  // no drawable data
  if (hi - lo <= 1e-12 * std::max(std::abs(lo), std::abs(hi))) {
    double widen = lo == 0 ? 1.0 : std::abs(lo) * 0.1;  // constant data: centre it
    lo -= widen;
    hi += widen;
  }
  double step = std::max(nice_step((hi - lo) / 5), min_step);
  if (extend) {
    lo = std::floor(lo / step) * step;
    hi = std::ceil(hi / step) * step;
  }
  a.lo = lo;
  a.hi = hi;
  a.step = step;
  for (double k = std::ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9 && a.ticks.size() < 50; ++k)
    a.ticks.push_back(std::abs(k * step) < step * 1e-9 ? 0.0 : k * step);
  return a;
}

void draw_panel(std::string& out, const Panel& p, const std::string& x_label, double x_start, double ox) {
  auto put = [&out]<typename... A>(fmt::format_string<A...> f, A&&... args) {
    fmt::format_to(std::back_inserter(out), f, std::forward<A>(args)...);
  };
  std::size_t n = 0;
  double y_lo = std::numeric_limits<double>::infinity(), y_hi = -y_lo;
  for (const Series& s : p.series) {
    n = std::max(n, s.y.size());
    for (double v : s.y)
      if (drawable(v)) y_lo = std::min(y_lo, v), y_hi = std::max(y_hi, v);
  }
  bool whole = x_start == std::floor(x_start);
  Axis x = n <= 1 ? make_axis(x_start - 1, x_start + 1, false, whole ? 1.0 : 0.0)
                  : make_axis(x_start, x_start + static_cast<double>(n - 1), false, whole ? 1.0 : 0.0);
  Axis y = make_axis(y_lo, y_hi, true, 0.0);

  put("<g transform=\"translate({:.1f},{:.1f})\">\n", ox + left, title_h + top);
  put("<text x=\"{:.1f}\" y=\"-14\" text-anchor=\"middle\" font-size=\"14\">{}</text>\n", plot_w / 2,
      escape(p.title));
  for (double t : y.ticks) {
    double py = plot_h - y.map(t, plot_h);
    put("<line x1=\"0\" y1=\"{0:.1f}\" x2=\"{1:.1f}\" y2=\"{0:.1f}\" stroke=\"#e0e0e0\"/>\n", py, plot_w);
    put("<text x=\"-6\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", py + 4, y.label(t));
  }
  for (double t : x.ticks) {
    double px = x.map(t, plot_w);
    put("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#333\"/>\n", px, plot_h,
        plot_h + 5);
    put("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", px, plot_h + 18, x.label(t));
  }
  put("<rect x=\"0\" y=\"0\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"none\" stroke=\"#333\"/>\n", plot_w,
      plot_h);
  put("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", plot_w / 2, plot_h + 40,
      escape(x_label));
  put("<text transform=\"translate({:.1f},{:.1f}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n", -52.0,
      plot_h / 2, escape(p.y_label));

  // The legend goes top right, or bottom right when more points fall under the top box.
  std::size_t longest = 0, top_hits = 0, bottom_hits = 0;
  for (const Series& s : p.series) longest = std::max(longest, s.name.size());
  double lw = 36 + 7.0 * static_cast<double>(longest), lh = 18.0 * static_cast<double>(p.series.size()) + 6;
  double lx = plot_w - lw - 8;

  for (std::size_t si = 0; si < p.series.size(); ++si) {
    std::string_view colour = palette[si % palette.size()];
    std::string line, marks;
    auto flush = [&] {
      if (!line.empty())
        put("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>\n", colour, line);
      line.clear();
    };
    for (std::size_t i = 0; i < p.series[si].y.size(); ++i) {
      double v = p.series[si].y[i];
      if (!drawable(v)) {
        flush();  // a gap, so a diverged run does not draw NaN coordinates
        continue;
      }
      double px = x.map(x_start + static_cast<double>(i), plot_w), py = plot_h - y.map(v, plot_h);
      top_hits += px >= lx && py <= lh + 8;
      bottom_hits += px >= lx && py >= plot_h - lh - 8;
      fmt::format_to(std::back_inserter(line), "{}{:.1f},{:.1f}", line.empty() ? "" : " ", px, py);
      fmt::format_to(std::back_inserter(marks), "<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>\n",
                     px, py, colour);
    }
    flush();
    out += marks;
  }

  double ly0 = top_hits > bottom_hits ? plot_h - lh - 8 : 8;
  if (!p.series.empty())
    put("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"white\" "
        "fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n",
        lx, ly0, lw, lh);
  for (std::size_t si = 0; si < p.series.size(); ++si) {
    std::string_view colour = palette[si % palette.size()];
    double ly = ly0 + 12 + 18.0 * static_cast<double>(si);
    put("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"{3}\" "
        "stroke-width=\"2\"/>\n",
        lx + 6, ly, lx + 26, colour);
    put("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>\n", lx + 16, ly, colour);
    put("<text x=\"{:.1f}\" y=\"{:.1f}\">{}</text>\n", lx + 32, ly + 4, escape(p.series[si].name));
  }
  out += "</g>\n";
}

}  // namespace

void write_svg(const fs::path& file, const std::string& title, const std::string& x_label,
               const std::vector<Panel>& panels, double x_start) {
  if (panels.empty())
    throw std::invalid_argument(fmt::format("write_svg: {}: no panels to draw", file.string()));
  if (!std::isfinite(x_start))
    throw std::invalid_argument(
        fmt::format("write_svg: {}: x_start must be finite (found {})", file.string(), x_start));
  double w = panel_w * static_cast<double>(panels.size()), h = title_h + panel_h;
  std::string out = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"26\" text-anchor=\"middle\" font-size=\"18\">{3}</text>\n",
      w, h, w / 2, escape(title));
  for (std::size_t i = 0; i < panels.size(); ++i)
    draw_panel(out, panels[i], x_label, x_start, panel_w * static_cast<double>(i));
  out += "</svg>\n";

  detail::write_file("write_svg", file, std::span(reinterpret_cast<const std::uint8_t*>(out.data()), out.size()));
}

}  // namespace nn
