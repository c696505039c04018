// A fresh empty directory under the system temp dir, removed with everything in it at the end of its scope.
#pragma once

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string_view>
#include <system_error>

namespace testing {

struct TempDir {
  /// "<tmp>/<prefix>_<pid>_<n>": unique per process and per TempDir, so parallel test runs never share one.
  explicit TempDir(std::string_view prefix)
      : path(std::filesystem::temp_directory_path() / fmt::format("{}_{}_{}", prefix, ::getpid(), next()++)) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }

  std::filesystem::path path;

 private:
  static std::atomic<int>& next() {
    static std::atomic<int> n{0};
    return n;
  }
};

}  // namespace testing
