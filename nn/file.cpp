// Reading whole regular files and replacing files atomically (own temporary file, fsync, rename, directory fsync).
#include "nn/file.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>

namespace nn {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(std::string_view op, const fs::path& file, const std::string& what) {
  throw std::invalid_argument(fmt::format("{}: {}: {}", op, file.string(), what));
}

std::string os_error(int err) { return std::strerror(err); }

/// "a directory", "a FIFO", ... for a file that is not regular.
std::string_view kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a file, directory, FIFO, socket or device";
}

/// Closes a descriptor on every path out.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(o.release()) {}
  Fd& operator=(Fd&&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  int release() {
    const int f = fd;
    fd = -1;
    return f;
  }
};

/// Where a write to `file` lands: `file` itself, or the end of the chain of symlinks that starts there.
struct Target {
  fs::path path;
  std::optional<struct stat> st;  // empty for a new path
};

constexpr int max_symlinks = 40;  // as Linux's own limit (ELOOP)

Target resolve_output(std::string_view op, const fs::path& file) {
  if (file.empty()) fail(op, file, "empty file name");
  fs::path p = file;
  for (int hops = 0;; ++hops) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) {
      const int err = errno;
      if (hops > 0)  // a dangling symlink (or one like /proc/self/fd/N to a file without a name): nothing to replace
        fail(op, file, fmt::format("symlink target '{}' is not a regular file ({}); only a regular file or a new path "
                                   "is written",
                                   p.string(), os_error(err)));
      if (err != ENOENT) fail(op, file, fmt::format("cannot check the path ({})", os_error(err)));
      // A new path: its directory must exist.
      const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
      struct stat ds {};
      if (::stat(dir.c_str(), &ds) != 0) {
        const int dir_err = errno;
        if (dir_err == ENOENT) fail(op, file, fmt::format("directory '{}' does not exist", dir.string()));
        fail(op, file, fmt::format("cannot use directory '{}' ({})", dir.string(), os_error(dir_err)));
      }
      if (!S_ISDIR(ds.st_mode)) fail(op, file, fmt::format("'{}' is not a directory ({})", dir.string(), kind_of(ds.st_mode)));
      return {p, std::nullopt};
    }
    if (!S_ISLNK(st.st_mode)) {
      if (!S_ISREG(st.st_mode)) {
        if (hops == 0)
          fail(op, file, fmt::format("not a regular file ({}); only a regular file or a new path is written", kind_of(st.st_mode)));
        fail(op, file, fmt::format("symlink target '{}' is not a regular file ({}); only a regular file or a new path is written",
                                   p.string(), kind_of(st.st_mode)));
      }
      return {p, st};
    }
    if (hops == max_symlinks) fail(op, file, fmt::format("cannot follow the symlinks ({})", os_error(ELOOP)));
    std::string link(4096, '\0');
    const ssize_t n = ::readlink(p.c_str(), link.data(), link.size());
    if (n < 0) {
      const int err = errno;
      fail(op, file, fmt::format("cannot read symlink '{}' ({})", p.string(), os_error(err)));
    }
    link.resize(static_cast<std::size_t>(n));
    const fs::path next(link);
    p = next.is_absolute() ? next : (p.has_parent_path() ? p.parent_path() / next : next);
  }
}

fs::path directory_of(const fs::path& p) { return p.has_parent_path() ? p.parent_path() : fs::path("."); }

struct Temporary {
  Fd fd;
  fs::path path;
};

/// Creates a new, empty temporary file beside `target` (O_EXCL: never one that exists, so never another writer's).
Temporary create_temporary(std::string_view op, const fs::path& file, const fs::path& target) {
  static std::atomic<unsigned long> counter{0};
  for (int attempt = 0;; ++attempt) {
    fs::path tmp = target;
    tmp += fmt::format(".tmp-{}-{}", ::getpid(), counter.fetch_add(1));
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd >= 0) return {Fd(fd), tmp};
    const int err = errno;
    if (err != EEXIST || attempt == 100)
      fail(op, file, fmt::format("cannot create a file in '{}' ({})", directory_of(target).string(), os_error(err)));
  }
}

void call_hook(detail::WritePhase phase) {
  if (const detail::WriteHook hook = detail::write_hook.load()) hook(phase);
}

bool write_all(int fd, const std::uint8_t* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

}  // namespace

namespace detail {
std::atomic<WriteHook> write_hook{nullptr};
}  // namespace detail

void check_output_file(std::string_view op, const fs::path& file) {
  const Target t = resolve_output(op, file);
  // The one sure test of writability (permissions, read-only mounts, quotas on inodes): create a file there.
  const Temporary probe = create_temporary(op, file, t.path);
  ::unlink(probe.path.c_str());
}

namespace detail {

std::vector<std::uint8_t> read_file(std::string_view op, const fs::path& file, std::uint64_t max_bytes) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below like any file that is not regular.
  Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.fd < 0) {
    const int err = errno;
    if (err == ENOENT) fail(op, file, "file does not exist");
    struct stat st {};
    if (::stat(file.c_str(), &st) == 0 && !S_ISREG(st.st_mode))  // e.g. a socket (ENXIO)
      fail(op, file, fmt::format("not a regular file ({})", kind_of(st.st_mode)));
    fail(op, file, fmt::format("cannot open file ({})", os_error(err)));
  }
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) fail(op, file, fmt::format("cannot open file ({})", os_error(errno)));
  if (!S_ISREG(st.st_mode)) fail(op, file, fmt::format("not a regular file ({})", kind_of(st.st_mode)));
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > max_bytes) fail(op, file, fmt::format("file too large ({} bytes, limit {} bytes)", size, max_bytes));
  std::vector<std::uint8_t> raw;
  raw.reserve(static_cast<std::size_t>(size));
  std::uint8_t buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(op, file, fmt::format("read error ({})", os_error(errno)));
    if (n == 0) break;
    // Files such as those in /proc report size 0 and grow as they are read: the limit holds for them too.
    if (raw.size() + static_cast<std::size_t>(n) > max_bytes)
      fail(op, file, fmt::format("file too large (more than the limit of {} bytes)", max_bytes));
    raw.insert(raw.end(), buf, buf + n);
  }
  return raw;
}

void write_file(std::string_view op, const fs::path& file, std::span<const std::uint8_t> bytes) {
  const Target target = resolve_output(op, file);
  call_hook(WritePhase::encoded);
  Temporary temporary = create_temporary(op, file, target.path);
  Fd& fd = temporary.fd;
  const fs::path& tmp = temporary.path;
  // Removes the temporary and fails: "<what> '<temporary>' failed (<OS error err>)".
  auto abandon = [&](const char* what, int err) {
    ::unlink(tmp.c_str());
    fail(op, file, fmt::format("{} '{}' failed ({})", what, tmp.string(), os_error(err)));
  };
  // The replacement keeps the permissions of the file it replaces.
  if (target.st) ::fchmod(fd.fd, target.st->st_mode & 07777);
  const std::size_t half = bytes.size() / 2;
  if (!write_all(fd.fd, bytes.data(), half)) abandon("write to", errno);
  call_hook(WritePhase::half_written);
  if (!write_all(fd.fd, bytes.data() + half, bytes.size() - half)) abandon("write to", errno);
  // The data is on disk before the rename makes it visible.
  if (::fsync(fd.fd) != 0) abandon("fsync of", errno);
  if (::close(fd.release()) != 0) abandon("close of", errno);
  call_hook(WritePhase::synced);
  // The target was checked before the bytes were encoded; if it has become something else meanwhile, leave it be.
  struct stat now {};
  if (::lstat(target.path.c_str(), &now) == 0 && !S_ISREG(now.st_mode)) {
    ::unlink(tmp.c_str());
    fail(op, file, fmt::format("'{}' became {} while it was being written; it is left as it is", target.path.string(),
                               kind_of(now.st_mode)));
  }
  call_hook(WritePhase::renaming);
  if (::rename(tmp.c_str(), target.path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail(op, file, fmt::format("cannot rename '{}' over '{}' ({})", tmp.string(), target.path.string(), os_error(err)));
  }
  call_hook(WritePhase::renamed);
  // The rename reaches the disk only with its directory: without this, power loss can bring back the old file (or
  // none). Best effort: the new file is already in place, and some filesystems refuse a directory fsync.
  const Fd dir(::open(directory_of(target.path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.fd >= 0) ::fsync(dir.fd);
}

}  // namespace detail
}  // namespace nn
