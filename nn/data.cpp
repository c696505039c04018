// IDX reader/writer (plain or gzip via zlib) and MNIST-style dataset loading.
#include "nn/data.hpp"
#include "nn/file.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#define ZLIB_CONST  // next_in is const, so raw_ stays untouched
#include <zlib.h>

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

fs::path resolve(const fs::path& dir, const std::string& name) {
  std::error_code ec;
  if (fs::path gz = dir / (name + ".gz"); fs::exists(gz, ec)) return gz;
  if (fs::path plain = dir / name; fs::exists(plain, ec)) return plain;
  throw std::invalid_argument(
      fmt::format("load_dataset: {}: missing {} (also tried {}.gz)", dir.string(), name, name));
}

}  // namespace

IdxFile read_idx(const fs::path& file) {
  ByteSource src(detail::read_file("read_idx", file), file.string());
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

  bool ok = false;
  if (gzip) {
    if (gzFile gz = gzopen(file.c_str(), "wb")) {
      ok = true;
      for (std::size_t pos = 0; ok && pos < out.size();) {
        unsigned n = static_cast<unsigned>(std::min<std::size_t>(out.size() - pos, 1u << 30));
        ok = gzwrite(gz, out.data() + pos, n) == static_cast<int>(n);
        pos += n;
      }
      ok = gzclose(gz) == Z_OK && ok;
    }
  } else {
    std::ofstream f(file, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
    f.close();
    ok = !f.fail();
  }
  if (!ok) throw std::invalid_argument(fmt::format("write_idx: {}: cannot write file", file.string()));
}

Dataset load_idx_pair(const fs::path& images, const fs::path& labels, int classes) {
  if (classes < 1 || classes > 256)
    throw std::invalid_argument(fmt::format("load_idx_pair: classes must be in 1..256 (found {})", classes));
  IdxFile img = read_idx(images), lab = read_idx(labels);
  if (img.dims.size() != 3)
    throw std::invalid_argument(fmt::format("load_idx_pair: {}: expected 3-D images, found {}-D [{}]",
                                            images.string(), img.dims.size(), fmt::join(img.dims, ",")));
  if (lab.dims.size() != 1)
    throw std::invalid_argument(fmt::format("load_idx_pair: {}: expected 1-D labels, found {}-D [{}]",
                                            labels.string(), lab.dims.size(), fmt::join(lab.dims, ",")));
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
  d.labels = std::move(lab.bytes);
  return d;
}

Split load_dataset(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw std::invalid_argument(fmt::format("load_dataset: {}: not a directory", dir.string()));
  auto pair = [&](std::string_view prefix) {
    fs::path images = resolve(dir, fmt::format("{}-images-idx3-ubyte", prefix));
    fs::path labels = resolve(dir, fmt::format("{}-labels-idx1-ubyte", prefix));
    return load_idx_pair(images, labels);
  };
  Split s;
  s.train = pair("train");
  s.test = pair("t10k");
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
