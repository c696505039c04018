// Tests for the SVG chart writer: degenerate data, escaping, well-formedness and write errors.
#define BOOST_TEST_MODULE plot_test
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "temp_dir.hpp"

#include "nn/plot.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>

namespace fs = std::filesystem;

namespace {

using testing::TempDir;

std::string slurp(const fs::path& file) {
  std::ifstream f(file, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

/// Writes the chart and checks the properties every chart must have; returns its text.
std::string write_and_check(const fs::path& file, const std::vector<nn::Panel>& panels) {
  nn::write_svg(file, "Training <run & test>", "epoch", panels);
  BOOST_TEST(!fs::exists(fs::path(file.string() + ".tmp")));
  std::string svg = slurp(file);
  BOOST_TEST(svg.rfind("<svg", 0) == 0u);
  BOOST_TEST(svg.find("xmlns=\"http://www.w3.org/2000/svg\"") != std::string::npos);
  BOOST_TEST(svg.find("viewBox=\"0 0 ") != std::string::npos);
  std::string trimmed = svg.substr(0, svg.find_last_not_of(" \n") + 1);
  BOOST_TEST(trimmed.ends_with("</svg>"));
  BOOST_TEST(count(svg, "<svg") == 1u);
  BOOST_TEST(count(svg, "<g") == count(svg, "</g>"));
  BOOST_TEST(count(svg, "<text") == count(svg, "</text>"));
  BOOST_TEST(count(svg, "<") == count(svg, ">"));
  for (const char* bad : {"nan", "inf", "NaN", "Inf"}) BOOST_TEST(svg.find(bad) == std::string::npos, bad);
  BOOST_TEST(svg.find("Training &lt;run &amp; test&gt;") != std::string::npos);
  BOOST_TEST(svg.find(">epoch</text>") != std::string::npos);
  for (const nn::Panel& p : panels) {
    BOOST_TEST(svg.find(">" + p.title + "</text>") != std::string::npos, p.title);
    BOOST_TEST(svg.find(">" + p.y_label + "</text>") != std::string::npos, p.y_label);
    for (const nn::Series& s : p.series)
      BOOST_TEST(svg.find(">" + s.name + "</text>") != std::string::npos, s.name);
  }
  if (std::system("command -v xmllint >/dev/null 2>&1") == 0) {
    std::string cmd = fmt::format("xmllint --noout '{}'", file.string());
    BOOST_TEST(std::system(cmd.c_str()) == 0, cmd);
  } else {
    BOOST_TEST_MESSAGE("xmllint not found: skipping the XML parser check");
  }
  return svg;
}

}  // namespace

BOOST_AUTO_TEST_CASE(single_point) {
  const TempDir tmp("plot_test");
  fs::path file = tmp.path / "one.svg";
  std::string svg = write_and_check(file, {{"Loss", "cross-entropy", {{"train", {0.7}}, {"test", {0.9}}}}});
  BOOST_TEST(count(svg, "<circle") == 4u);                 // one marker per series plus one per legend entry
  BOOST_TEST(svg.find(">1</text>") != std::string::npos);  // the x tick at epoch 1
}

BOOST_AUTO_TEST_CASE(constant_series_over_epochs) {
  const TempDir tmp("plot_test");
  fs::path file = tmp.path / "flat.svg";
  nn::Panel loss{
      "Loss", "mean loss", {{"train", std::vector<double>(8, 0.0)}, {"test", std::vector<double>(8, 0.0)}}};
  nn::Panel acc{"Accuracy", "fraction correct", {{"train acc", std::vector<double>(8, 0.5)}}};
  std::string svg = write_and_check(file, {loss, acc});
  BOOST_TEST(count(svg, "<polyline") == 3u);
  BOOST_TEST(count(svg, "<circle") == 3u * 8u + 3u);
  BOOST_TEST(count(svg, "<g ") == 2u);
  for (const char* tick : {">2</text>", ">4</text>", ">6</text>", ">8</text>"})
    BOOST_TEST(svg.find(tick) != std::string::npos, tick);
  // Distinct colours within a panel.
  BOOST_TEST(svg.find("#1f77b4") != std::string::npos);
  BOOST_TEST(svg.find("#ff7f0e") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(non_finite_points_leave_gaps) {
  const TempDir tmp("plot_test");
  fs::path file = tmp.path / "gap.svg";
  double nan = std::nan(""), inf = INFINITY;
  std::string svg =
      write_and_check(file, {{"Loss", "loss", {{"diverged", {1.0, 0.5, nan, 0.25, inf, 0.2, 0.1}}}}});
  BOOST_TEST(count(svg, "<polyline") == 3u);  // [1,0.5] [0.25] [0.2,0.1]
  BOOST_TEST(count(svg, "<circle") == 5u + 1u);
}

BOOST_AUTO_TEST_CASE(replaces_existing_file) {
  const TempDir tmp("plot_test");
  fs::path file = tmp.path / "old.svg";
  std::ofstream(file) << "stale";
  write_and_check(file, {{"Loss", "loss", {{"train", {3, 2, 1}}}}});
  BOOST_TEST(slurp(file).find("stale") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(errors_name_the_file) {
  const TempDir tmp("plot_test");
  fs::path file = tmp.path / "missing_dir" / "chart.svg";
  auto names = [&](const std::string& what) {
    return [&, what](const std::invalid_argument& e) {
      std::string msg = e.what();
      BOOST_TEST_MESSAGE("message: " << msg);
      return msg.find("write_svg") != std::string::npos && msg.find(file.string()) != std::string::npos &&
             msg.find(what) != std::string::npos;
    };
  };
  BOOST_CHECK_EXCEPTION(nn::write_svg(file, "t", "epoch", {{"Loss", "loss", {{"a", {1}}}}}),
                        std::invalid_argument, names("missing_dir' does not exist"));
  BOOST_CHECK_EXCEPTION(nn::write_svg(file, "t", "epoch", {}), std::invalid_argument, names("no panels"));
  BOOST_TEST(!fs::exists(file.parent_path()));
}
