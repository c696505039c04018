// Tests for nn/file: only regular files or new paths are written, atomically, and every failure names the OS error.
#define BOOST_TEST_MODULE file_test
#include <boost/test/unit_test.hpp>

#include "temp_dir.hpp"
#include "throws_with.hpp"

#include "nn/file.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
namespace utf = boost::unit_test;
using testing::TempDir;

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_text(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

Bytes bytes_of(const std::string& s) { return Bytes(s.begin(), s.end()); }

/// A bound Unix-domain socket at `path` (closed again: the socket file stays).
void make_socket(const fs::path& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  BOOST_REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  BOOST_REQUIRE(path.string().size() < sizeof addr.sun_path);
  std::strcpy(addr.sun_path, path.c_str());
  BOOST_REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  ::close(fd);
}

/// The names in a directory.
std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  return names;
}

}  // namespace

// Each kind of path that is not a regular file or a new path is refused, by the up-front check and by the writer
// alike, and is left exactly as it was. (Before: a FIFO, a symlink and a character device all became regular files,
// and as root `--save /dev/null` replaced the system's /dev/null.)
BOOST_AUTO_TEST_CASE(only_regular_files_and_new_paths_are_written) {
  const TempDir dir("file_test");
  const fs::path fifo = dir.path / "fifo", sock = dir.path / "sock", sub = dir.path / "sub";
  BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
  make_socket(sock);
  fs::create_directory(sub);
  const fs::path to_null = dir.path / "to-null", to_sub = dir.path / "to-sub", dangling = dir.path / "dangling";
  const fs::path loop_a = dir.path / "loop-a", loop_b = dir.path / "loop-b";
  fs::create_symlink("/dev/null", to_null);
  fs::create_symlink(sub, to_sub);
  fs::create_symlink(dir.path / "nowhere", dangling);
  fs::create_symlink(loop_b, loop_a);
  fs::create_symlink(loop_a, loop_b);

  struct Case {
    fs::path path;
    std::vector<std::string> words;
  };
  const std::vector<Case> cases = {
      {sub, {"not a regular file (a directory)", "only a regular file or a new path is written"}},
      {fifo, {"not a regular file (a FIFO)"}},
      {sock, {"not a regular file (a socket)"}},
      {"/dev/null", {"not a regular file (a character device)"}},
      {to_null, {"symlink target '/dev/null' is not a regular file (a character device)"}},
      {to_sub, {"symlink target", "is not a regular file (a directory)"}},
      {dangling, {"symlink target", "nowhere' is not a regular file (No such file or directory)"}},
      {loop_a, {"cannot follow the symlinks (Too many levels of symbolic links)"}},
      {dir.path / "missing" / "out.bin", {"directory '", "missing' does not exist"}},
      {fifo / "out.bin", {"cannot check the path (Not a directory)"}},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.path) {
      std::vector<std::string> words = c.words;
      words.insert(words.begin(), {"op: ", c.path.string() + ": "});
      auto has_words = [&](auto f) {
        try {
          f();
        } catch (const std::invalid_argument& e) {
          for (const auto& w : words) BOOST_TEST(std::string(e.what()).find(w) != std::string::npos, e.what() << " lacks " << w);
          return true;
        }
        return false;
      };
      BOOST_TEST(has_words([&] { nn::check_output_file("op", c.path); }));
      BOOST_TEST(has_words([&] { nn::detail::write_file("op", c.path, bytes_of("new")); }));
    }
  }
  BOOST_TEST(fs::is_fifo(fifo));
  BOOST_TEST(fs::is_socket(sock));
  BOOST_TEST(fs::is_character_file("/dev/null"));
  BOOST_TEST(fs::is_symlink(to_null));
  BOOST_TEST(fs::is_directory(sub));
  BOOST_TEST(fs::is_empty(sub));
  BOOST_TEST(!fs::exists(dir.path / "nowhere"));  // a dangling symlink is not followed to create its target
  // Nothing but what the test made: no temporary left behind by the refusals.
  BOOST_TEST(listing(dir.path).size() == 8u);
}

// A directory where no file can be created, even by root: the OS error from an actual attempt, up front.
BOOST_AUTO_TEST_CASE(unwritable_directory_is_found_up_front) {
  // /sys refuses new files to everyone (EACCES): a read-only place every Linux machine has, with no mount needed.
  BOOST_TEST(throws_with<std::invalid_argument>([] { nn::check_output_file("op", "/sys/out.svg"); },
                                                {"op: /sys/out.svg: ", "cannot create a file in '/sys' (Permission denied)"}));
}

// A symlink to a regular file is followed: the file it names is replaced, and the symlink stays a symlink. The new
// file keeps the permissions of the one it replaces.
BOOST_AUTO_TEST_CASE(symlink_to_a_regular_file_is_followed) {
  const TempDir dir("file_test");
  const fs::path real = dir.path / "real.bin", link = dir.path / "link.bin";
  write_text(real, "old");
  fs::permissions(real, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  fs::create_symlink(real, link);
  nn::check_output_file("op", link);
  nn::detail::write_file("op", link, bytes_of("new contents"));
  BOOST_TEST(fs::is_symlink(link));
  BOOST_TEST(fs::read_symlink(link) == real);
  BOOST_TEST((read_bytes(real) == bytes_of("new contents")));
  BOOST_TEST((fs::status(real).permissions() == (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read)));
  BOOST_TEST(listing(dir.path).size() == 2u);  // the temporary was renamed away
}

// A write that fails (here: over the file-size limit, EFBIG) names the OS error, removes its temporary and leaves the
// old file as it was.
BOOST_AUTO_TEST_CASE(failed_write_leaves_the_old_file) {
  const TempDir dir("file_test");
  const fs::path file = dir.path / "data.bin";
  write_text(file, "old");
  rlimit old_limit{};
  BOOST_REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
  auto* old_handler = ::signal(SIGXFSZ, SIG_IGN);  // else the kernel kills the process at the limit
  rlimit small = old_limit;
  small.rlim_cur = 1000;
  BOOST_REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  const bool threw = throws_with<std::invalid_argument>([&] { nn::detail::write_file("op", file, Bytes(5000, 7)); },
                                                        {"op: ", "data.bin: write to '", "failed (File too large)"});
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  ::signal(SIGXFSZ, old_handler);
  BOOST_TEST(threw);
  BOOST_TEST((read_bytes(file) == bytes_of("old")));
  BOOST_TEST(listing(dir.path).size() == 1u);
}

// Reading gives the OS error rather than "missing", and never waits on a FIFO.
BOOST_AUTO_TEST_CASE(reads_name_the_os_error) {
  const TempDir dir("file_test");
  const fs::path loop_a = dir.path / "loop-a", loop_b = dir.path / "loop-b", fifo = dir.path / "fifo";
  fs::create_symlink(loop_b, loop_a);
  fs::create_symlink(loop_a, loop_b);
  BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
  using E = std::invalid_argument;
  BOOST_TEST(throws_with<E>([&] { nn::detail::read_file("op", loop_a); },
                            {"op: ", "loop-a: cannot open file (Too many levels of symbolic links)"}));
  BOOST_TEST(throws_with<E>([&] { nn::detail::read_file("op", fifo); }, {"fifo: not a regular file (a FIFO)"}));
  BOOST_TEST(throws_with<E>([&] { nn::detail::read_file("op", dir.path / "absent"); }, {"absent: file does not exist"}));
  write_text(dir.path / "ten", "0123456789");
  BOOST_TEST(throws_with<E>([&] { nn::detail::read_file("op", dir.path / "ten", 9); },
                            {"ten: file too large (10 bytes, limit 9 bytes)"}));
  BOOST_TEST(nn::detail::read_file("op", dir.path / "ten", 10).size() == 10u);
}

// Two writers on one path, and a reader: every read sees one writer's complete file (the last rename wins), never a
// mix, a short file or a missing one, and no temporary is left. Each writer has a temporary of its own (before, they
// shared "<file>.tmp" and the file ended up empty or corrupt). Runs under ThreadSanitizer too.
BOOST_AUTO_TEST_CASE(concurrent_writers_and_a_reader, *utf::label("threads")) {
  const TempDir dir("file_test");
  const fs::path file = dir.path / "shared.bin";
  constexpr std::size_t size = 1 << 16;
  constexpr int writes = 150;
  nn::detail::write_file("op", file, Bytes(size, 0));
  std::atomic<int> running{2};
  std::vector<std::string> errors(3);
  auto writer = [&](int w) {
    try {
      // Version k of writer w: every byte is 2k + w (mod 256), with w in the first and last byte.
      for (int k = 1; k <= writes; ++k) {
        Bytes b(size, static_cast<std::uint8_t>(2 * k + w));
        b.front() = b.back() = static_cast<std::uint8_t>(w);
        nn::detail::write_file("op", file, b);
      }
    } catch (const std::exception& e) {
      errors[static_cast<std::size_t>(w)] = e.what();
    }
    --running;
  };
  std::thread a(writer, 0), b(writer, 1);
  std::size_t reads = 0, bad = 0;
  std::string first_bad;
  while (running.load() > 0 || reads == 0) {
    try {
      const Bytes got = nn::detail::read_file("op", file);
      ++reads;
      const bool initial = got == Bytes(size, 0);
      bool whole = got.size() == size;
      for (std::size_t i = 1; whole && i + 1 < size; ++i) whole = got[i] == got[1];
      if (!initial && !(whole && got.front() == got.back() && got[1] % 2 == got.front() % 2)) {
        ++bad;
        if (first_bad.empty()) first_bad = fmt::format("{} bytes, first {}, second {}", got.size(), got[0], got[1]);
      }
    } catch (const std::exception& e) {
      ++bad;
      if (first_bad.empty()) first_bad = e.what();
    }
  }
  a.join();
  b.join();
  BOOST_TEST(errors[0] == "");
  BOOST_TEST(errors[1] == "");
  BOOST_TEST(bad == 0u, "first bad read: " << first_bad);
  BOOST_TEST_MESSAGE(reads << " reads during " << 2 * writes << " writes");
  BOOST_TEST((listing(dir.path) == std::vector<std::string>{"shared.bin"}));
  // The last complete write wins: the file is one writer's final version.
  const Bytes last = read_bytes(file);
  BOOST_TEST((last == [&] {
    Bytes b(size, static_cast<std::uint8_t>(2 * writes + last.front()));
    b.front() = b.back() = last.front();
    return b;
  }()));
}
