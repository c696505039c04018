// IDX reader/writer (plain or gzip via zlib) and MNIST-style dataset loading.
#include "nn/data.hpp"
#include "nn/file.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#define ZLIB_CONST  // next_in is const, so raw_ stays untouched
#include <zlib.h>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>

namespace nn {
namespace {

namespace fs = std::filesystem;

constexpr std::uint8_t idx_ubyte = 0x08;
// Deflate emits at least one bit per 258 repeated bytes, so one compressed byte inflates to at most about 1032.
constexpr std::size_t deflate_max_ratio = 1032;

std::string_view dtype_name(std::uint8_t dtype) {
  switch (dtype) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "short";
    case 0x0C: return "int";
    case 0x0D: return "float";
    case 0x0E: return "double";
    default: return "unknown";
  }
}

/// Sequential reader over a file's bytes, inflating them when the file is gzipped.
class ByteSource {
 public:
  ByteSource(std::vector<std::uint8_t> raw, std::string file) : raw_(std::move(raw)), file_(std::move(file)) {
    gzip_ = raw_.size() >= 2 && raw_[0] == 0x1f && raw_[1] == 0x8b;
    // 16 + MAX_WBITS: expect a gzip wrapper and verify its CRC and length trailer.
    if (gzip_ && inflateInit2(&zs_, 16 + MAX_WBITS) != Z_OK) fail("cannot initialise zlib");
  }
  ByteSource(const ByteSource&) = delete;
  ByteSource& operator=(const ByteSource&) = delete;
  ~ByteSource() {
    if (gzip_) inflateEnd(&zs_);
  }

  /// Fills out as far as the data allows; returns the count, which is short only at the end.
  std::size_t read(std::span<std::uint8_t> out) {
    if (!gzip_) {
      std::size_t n = std::min(out.size(), raw_.size() - pos_);
      std::copy_n(raw_.data() + pos_, n, out.data());
      pos_ += n;
      return n;
    }
    std::size_t done = 0;
    while (done < out.size()) {
      if (ended_ && !next_member()) break;
      if (zs_.avail_in == 0) refill();
      std::size_t want = std::min<std::size_t>(out.size() - done, std::numeric_limits<uInt>::max());
      zs_.next_out = out.data() + done;
      zs_.avail_out = static_cast<uInt>(want);
      int rc = inflate(&zs_, Z_NO_FLUSH);
      done += want - zs_.avail_out;
      if (rc == Z_STREAM_END) {
        ended_ = true;
      } else if (rc == Z_BUF_ERROR && zs_.avail_in == 0 && pos_ == raw_.size()) {
        fail("corrupt gzip data (compressed stream ends early)");
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        fail(fmt::format("corrupt gzip data ({})", zs_.msg ? zs_.msg : zError(rc)));
      }
    }
    return done;
  }

  /// Reads and discards the rest of the data, returning how many bytes it held.
  std::size_t skip_rest() {
    std::vector<std::uint8_t> scratch(1 << 16);
    std::size_t total = 0;
    for (std::size_t n; (n = read(scratch)) > 0;) total += n;
    return total;
  }

  bool gzip() const { return gzip_; }
  std::size_t raw_size() const { return raw_.size(); }

  [[noreturn]] void fail(const std::string& what) const {
    throw std::invalid_argument(fmt::format("read_idx: {}: {}", file_, what));
  }

 private:
  void refill() {
    std::size_t n = std::min<std::size_t>(raw_.size() - pos_, std::numeric_limits<uInt>::max());
    zs_.next_in = raw_.data() + pos_;
    zs_.avail_in = static_cast<uInt>(n);
    pos_ += n;
  }

  // After one gzip member ends, the file may hold another (as `cat a.gz b.gz` makes).
  bool next_member() {
    if (zs_.avail_in == 0) refill();
    if (zs_.avail_in == 0) return false;
    if (zs_.avail_in < 2 || zs_.next_in[0] != 0x1f || zs_.next_in[1] != 0x8b)
      fail(fmt::format("corrupt gzip data ({} bytes of trailing garbage after the stream)",
                       zs_.avail_in + (raw_.size() - pos_)));
    inflateReset(&zs_);
    ended_ = false;
    return true;
  }

  std::vector<std::uint8_t> raw_;
  std::string file_;
  std::size_t pos_ = 0;  // next unread byte of raw_ (for gzip: next byte not yet given to zlib)
  bool gzip_ = false, ended_ = false;
  z_stream zs_{};
};

std::uint32_t big_endian(const std::uint8_t* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}

// Product of dims; throws rather than wrap around when a lying header overflows size_t.
std::size_t element_count(const std::vector<std::uint32_t>& dims, std::string_view op,
                          const std::string& file) {
  std::size_t total = 1;
  for (std::uint32_t d : dims) {
    if (d != 0 && total > std::numeric_limits<std::size_t>::max() / d)
      throw std::invalid_argument(
          fmt::format("{}: {}: dimensions overflow size_t ([{}])", op, file, fmt::join(dims, ",")));
    total *= d;
  }
  return total;
}

// dir/name.gz or dir/name, whichever exists (the .gz first); an error that is not "missing" (a symlink loop, no
// permission) is reported as itself, not as a missing file.
fs::path resolve(const fs::path& dir, const std::string& name) {
  for (const fs::path& p : {dir / (name + ".gz"), dir / name}) {
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0) return p;
    if (errno != ENOENT)
      throw std::invalid_argument(fmt::format("load_dataset: {}: cannot use file ({})", p.string(), std::strerror(errno)));
  }
  throw std::invalid_argument(
      fmt::format("load_dataset: {}: missing {} (also tried {}.gz)", dir.string(), name, name));
}

}  // namespace

IdxFile read_idx(const fs::path& file, std::uint64_t max_bytes) {
  // The raw file may be a little larger than the data it holds: the header, and gzip's framing of stored blocks.
  const std::uint64_t raw_limit = max_bytes > std::numeric_limits<std::uint64_t>::max() / 2
                                      ? std::numeric_limits<std::uint64_t>::max()
                                      : max_bytes + max_bytes / 1024 + 4096;
  // A plain file larger than the limit is refused before it is read (a gzip file is bounded by its header below).
  if (std::error_code ec; fs::is_regular_file(file, ec)) {
    if (const std::uintmax_t size = fs::file_size(file, ec); !ec && size > raw_limit)
      throw std::invalid_argument(fmt::format("read_idx: {}: file has {} bytes, more than the limit of {} bytes of data "
                                              "allows",
                                              file.string(), size, max_bytes));
  }
  ByteSource src(detail::read_file("read_idx", file, raw_limit), file.string());
  std::uint8_t head[4 + 4 * 4];
  if (std::size_t n = src.read({head, 4}); n < 4)
    src.fail(fmt::format("file too short for an IDX header (expected 4 bytes, found {})", n));
  if (head[0] != 0 || head[1] != 0)
    src.fail(fmt::format("wrong magic (expected header 00 00 08 nd, found 0x{:08X})", big_endian(head)));
  if (head[2] != idx_ubyte)
    src.fail(fmt::format("unsupported data type (expected 0x08 unsigned byte, found 0x{:02X} {})", head[2],
                         dtype_name(head[2])));
  std::size_t nd = head[3];
  if (nd < 1 || nd > 4)
    src.fail(fmt::format("unsupported number of dimensions (expected 1..4, found {})", nd));
  if (std::size_t n = src.read({head + 4, 4 * nd}); n < 4 * nd)
    src.fail(
        fmt::format("file too short for an IDX header (expected {} bytes, found {})", 4 + 4 * nd, 4 + n));

  IdxFile idx;
  for (std::size_t i = 0; i < nd; ++i) idx.dims.push_back(big_endian(head + 4 + 4 * i));
  std::size_t expected = element_count(idx.dims, "read_idx", file.string());
  // Against a cap and against the file, before anything is allocated: a small gzip file may claim gigabytes.
  if (expected > max_bytes)
    src.fail(fmt::format("header claims {} bytes of data ([{}]), more than the limit of {} bytes", expected,
                         fmt::join(idx.dims, ","), max_bytes));
  if (src.gzip() && expected / deflate_max_ratio > src.raw_size())
    src.fail(fmt::format("header claims {} bytes of data ([{}]), more than a gzip stream of {} bytes can hold (at most "
                         "{} bytes per compressed byte)",
                         expected, fmt::join(idx.dims, ","), src.raw_size(), deflate_max_ratio));
  if (!src.gzip() && expected != src.raw_size() - 4 - 4 * nd)
    src.fail(fmt::format("expected {} bytes of data, found {} (dims [{}])", expected, src.raw_size() - 4 - 4 * nd,
                         fmt::join(idx.dims, ",")));

  // Grow in chunks so a lying header cannot make us allocate more than the file holds.
  constexpr std::size_t chunk = std::size_t{1} << 24;
  while (idx.bytes.size() < expected) {
    std::size_t old = idx.bytes.size(), want = std::min(chunk, expected - old);
    idx.bytes.resize(old + want);
    std::size_t got = src.read({idx.bytes.data() + old, want});
    idx.bytes.resize(old + got);
    if (got < want) break;
  }
  std::size_t found = idx.bytes.size() + src.skip_rest();
  if (found != expected)
    src.fail(fmt::format("expected {} bytes of data, found {} (dims [{}])", expected, found,
                         fmt::join(idx.dims, ",")));
  return idx;
}

void write_idx(const fs::path& file, const std::vector<std::uint32_t>& dims,
               std::span<const std::uint8_t> bytes, bool gzip) {
  if (dims.empty() || dims.size() > 4)
    throw std::invalid_argument(
        fmt::format("write_idx: {}: unsupported number of dimensions (expected 1..4, found {})",
                    file.string(), dims.size()));
  if (std::size_t n = element_count(dims, "write_idx", file.string()); n != bytes.size())
    throw std::invalid_argument(fmt::format("write_idx: {}: dims [{}] need {} bytes, found {}", file.string(),
                                            fmt::join(dims, ","), n, bytes.size()));
  std::vector<std::uint8_t> out = {0, 0, idx_ubyte, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(d >> shift));
  out.insert(out.end(), bytes.begin(), bytes.end());

  if (!gzip) {
    detail::write_file("write_idx", file, out);
    return;
  }
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::invalid_argument(fmt::format("write_idx: {}: cannot initialise zlib", file.string()));
  // deflateBound covers the whole output, so the loop only ever runs out of input; zlib counts in uInt, so at most
  // 1 GiB goes in or out per call.
  std::vector<std::uint8_t> packed(deflateBound(&zs, static_cast<uLong>(out.size())));
  std::size_t in_pos = 0;
  int rc = Z_OK;
  while (rc == Z_OK) {
    const std::size_t in_n = std::min<std::size_t>(out.size() - in_pos, 1u << 30);
    const bool last = in_pos + in_n == out.size();
    zs.next_in = out.data() + in_pos;
    zs.avail_in = static_cast<uInt>(in_n);
    zs.next_out = packed.data() + zs.total_out;
    zs.avail_out = static_cast<uInt>(std::min<std::size_t>(packed.size() - zs.total_out, 1u << 30));
    rc = deflate(&zs, last ? Z_FINISH : Z_NO_FLUSH);
    in_pos += in_n - zs.avail_in;
  }
  packed.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw std::invalid_argument(fmt::format("write_idx: {}: gzip compression failed ({})", file.string(), rc));
  detail::write_file("write_idx", file, packed);
}

Dataset load_idx_pair(const fs::path& images, const fs::path& labels, int classes, std::uint64_t max_bytes) {
  if (classes < 1)
    throw std::invalid_argument(
        fmt::format("load_idx_pair: {}: classes must be positive (found {})", labels.string(), classes));
  IdxFile img = read_idx(images, max_bytes), lab = read_idx(labels, max_bytes);
  if (img.dims.size() != 3)
    throw std::invalid_argument(fmt::format("load_idx_pair: {}: expected 3-D images, found {}-D [{}]",
                                            images.string(), img.dims.size(), fmt::join(img.dims, ",")));
  if (lab.dims.size() != 1)
    throw std::invalid_argument(fmt::format("load_idx_pair: {}: expected 1-D labels, found {}-D [{}]",
                                            labels.string(), lab.dims.size(), fmt::join(lab.dims, ",")));
  if (img.dims[1] == 0 || img.dims[2] == 0)
    throw std::invalid_argument(fmt::format("load_idx_pair: {}: images have no pixels ({}x{}, dims [{}])",
                                            images.string(), img.dims[1], img.dims[2], fmt::join(img.dims, ",")));
  if (img.dims[0] != lab.dims[0])
    throw std::invalid_argument(fmt::format("load_idx_pair: image and label counts differ ({}: {}, {}: {})",
                                            images.string(), img.dims[0], labels.string(), lab.dims[0]));
  for (std::size_t i = 0; i < lab.bytes.size(); ++i)
    if (lab.bytes[i] >= classes)
      throw std::invalid_argument(
          fmt::format("load_idx_pair: {}: label out of range (index {}, value {}, classes {})",
                      labels.string(), i, lab.bytes[i], classes));
  Dataset d;
  d.count = img.dims[0];
  d.rows = img.dims[1];
  d.cols = img.dims[2];
  d.images.resize(img.bytes.size());
  std::transform(img.bytes.begin(), img.bytes.end(), d.images.begin(),
                 [](std::uint8_t p) { return static_cast<float>(p) / 255.0f; });
  d.labels.assign(lab.bytes.begin(), lab.bytes.end());
  return d;
}

DatasetFiles dataset_files(const fs::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) throw std::invalid_argument(fmt::format("load_dataset: {}: directory does not exist", dir.string()));
    throw std::invalid_argument(fmt::format("load_dataset: {}: cannot use directory ({})", dir.string(), std::strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode)) throw std::invalid_argument(fmt::format("load_dataset: {}: not a directory", dir.string()));
  return {resolve(dir, "train-images-idx3-ubyte"), resolve(dir, "train-labels-idx1-ubyte"),
          resolve(dir, "t10k-images-idx3-ubyte"), resolve(dir, "t10k-labels-idx1-ubyte")};
}

Split load_dataset(const fs::path& dir, std::uint64_t max_bytes) {
  const DatasetFiles f = dataset_files(dir);
  Split s;
  s.train = load_idx_pair(f.train_images, f.train_labels, 10, max_bytes);
  s.test = load_idx_pair(f.test_images, f.test_labels, 10, max_bytes);
  // The halves must fit one model: found here, naming the file, rather than after a training epoch.
  if (s.train.count == 0)
    throw std::invalid_argument(fmt::format("load_dataset: {}: the training set is empty (0 images)", f.train_images.string()));
  if (s.test.count == 0)
    throw std::invalid_argument(fmt::format("load_dataset: {}: the test set is empty (0 images)", f.test_images.string()));
  if (s.test.rows != s.train.rows || s.test.cols != s.train.cols)
    throw std::invalid_argument(fmt::format("load_dataset: {}: test images are {}x{}, training images are {}x{} ({})",
                                            f.test_images.string(), s.test.rows, s.test.cols, s.train.rows,
                                            s.train.cols, f.train_images.string()));
  return s;
}

Dataset subset(const Dataset& d, std::size_t n) {
  if (n > d.count)
    throw std::invalid_argument(
        fmt::format("subset: n exceeds the dataset size (n {}, count {})", n, d.count));
  if (d.images.size() < n * d.features() || d.labels.size() < n)
    throw std::invalid_argument(
        fmt::format("subset: dataset holds fewer values than its count says (images {}, labels {}, count {})",
                    d.images.size(), d.labels.size(), d.count));
  Dataset s;
  s.count = n;
  s.rows = d.rows;
  s.cols = d.cols;
  auto f = static_cast<std::ptrdiff_t>(n * d.features());
  s.images.assign(d.images.begin(), d.images.begin() + f);
  s.labels.assign(d.labels.begin(), d.labels.begin() + static_cast<std::ptrdiff_t>(n));
  return s;
}

}  // namespace nn
