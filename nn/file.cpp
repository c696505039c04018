#include "nn/file.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace nn::detail {

std::vector<std::uint8_t> read_file(std::string_view op, const std::filesystem::path& file) {
  auto fail = [&](std::string_view what) {
    return std::invalid_argument(fmt::format("{}: {}: {}", op, file.string(), what));
  };
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) throw fail("file does not exist");
  if (std::filesystem::is_directory(file, ec)) throw fail("not a regular file (a directory)");
  if (!std::filesystem::is_regular_file(file, ec)) throw fail("not a regular file");
  std::ifstream in(file, std::ios::binary);
  if (!in) throw fail(fmt::format("cannot open file ({})", std::strerror(errno)));
  // istream::read turns the stream buffer's exceptions into badbit (istreambuf_iterator would let
  // std::ios_base::failure escape, with no file name in it).
  std::vector<std::uint8_t> raw;
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) raw.insert(raw.end(), buf, buf + in.gcount());
  if (in.bad()) throw fail("read error");
  return raw;
}

}  // namespace nn::detail
