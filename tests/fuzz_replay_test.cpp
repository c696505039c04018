// Replays every fuzz seed and every kept crashing input (tests/fuzz/{corpus,regressions}/<target>/) through the
// fuzz target bodies, so the normal and sanitizer builds keep covering what the fuzzers found.
#define BOOST_TEST_MODULE fuzz_replay_test
#include <boost/test/unit_test.hpp>

#include "tests/fuzz/targets.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

fs::path source_root() {
  const char* root = std::getenv("AUTODIFF_SOURCE_ROOT");
  return root ? fs::path(root) : fs::path(__FILE__).parent_path().parent_path();
}

std::vector<std::uint8_t> read_all(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Runs every file of corpus/<target> and regressions/<target>; returns how many ran.
std::size_t replay(const std::string& target) {
  std::vector<fs::path> files;
  for (const char* kind : {"corpus", "regressions"}) {
    const fs::path dir = source_root() / "tests" / "fuzz" / kind / target;
    if (!fs::is_directory(dir)) continue;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files) {
    const std::vector<std::uint8_t> bytes = read_all(f);
    BOOST_TEST_CONTEXT(target << ": " << f.parent_path().parent_path().filename().string() << "/" << target << "/"
                              << f.filename().string()) {
      BOOST_CHECK_NO_THROW(fuzz::run_target(target, bytes.data(), bytes.size()));
    }
  }
  return files.size();
}

}  // namespace

BOOST_AUTO_TEST_CASE(idx_corpus) { BOOST_TEST(replay("idx") >= 4); }

BOOST_AUTO_TEST_CASE(checkpoint_corpus) { BOOST_TEST(replay("checkpoint") >= 2); }

BOOST_AUTO_TEST_CASE(graph_corpus) { BOOST_TEST(replay("graph") >= 3); }

BOOST_AUTO_TEST_CASE(train_corpus) { BOOST_TEST(replay("train") >= 4); }

// The oracle can fail: an input the targets must flag is reported as a FuzzFailure, not swallowed.
BOOST_AUTO_TEST_CASE(unknown_target_is_an_error) {
  const std::uint8_t b = 0;
  BOOST_CHECK_THROW(fuzz::run_target("nope", &b, 1), std::invalid_argument);
}
