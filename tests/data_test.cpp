// Tests for the IDX reader/writer and dataset loading, including every malformed-file error.
#define BOOST_TEST_MODULE data_test
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "temp_dir.hpp"

#include "nn/data.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iostream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;
using Labels = std::vector<std::int64_t>;

namespace {

using testing::TempDir;

Bytes idx_bytes(std::uint8_t dtype, const std::vector<std::uint32_t>& dims, const Bytes& payload) {
  Bytes out = {0, 0, dtype, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(d >> shift));
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

void write_raw(const fs::path& file, const Bytes& bytes, bool gzip = false) {
  if (gzip) {
    gzFile gz = gzopen(file.c_str(), "wb");
    BOOST_REQUIRE(gz != nullptr);
    BOOST_REQUIRE_EQUAL(gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size())),
                        static_cast<int>(bytes.size()));
    BOOST_REQUIRE_EQUAL(gzclose(gz), Z_OK);
    return;
  }
  std::ofstream f(file, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  BOOST_REQUIRE(f.good());
}

Bytes read_raw(const fs::path& file) {
  std::ifstream f(file, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), {});
}

/// Predicate for BOOST_CHECK_EXCEPTION: the message holds every key word.
auto message_has(std::initializer_list<std::string> words) {
  return [words = std::vector<std::string>(words)](const std::invalid_argument& e) {
    std::string msg = e.what();
    BOOST_TEST_MESSAGE("message: " << msg);
    for (const std::string& w : words)
      if (msg.find(w) == std::string::npos) {
        BOOST_TEST_MESSAGE("missing '" << w << "' in: " << msg);
        return false;
      }
    return true;
  };
}

Bytes pattern(std::size_t n) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i * 37 + 11);
  return b;
}

}  // namespace

BOOST_AUTO_TEST_CASE(round_trip_plain_and_gzip) {
  const TempDir tmp("data_test");
  const std::vector<std::uint32_t> dims = {3, 2, 4};
  const Bytes payload = pattern(24);
  for (bool gzip : {false, true}) {
    BOOST_TEST_CONTEXT("gzip " << gzip) {
      fs::path file = tmp.path / (gzip ? "a.idx.gz" : "a.idx");
      nn::write_idx(file, dims, payload, gzip);
      Bytes raw = read_raw(file);
      BOOST_REQUIRE_GE(raw.size(), 2u);
      BOOST_TEST((raw[0] == 0x1f && raw[1] == 0x8b) == gzip);
      if (!gzip) BOOST_TEST(raw == idx_bytes(0x08, dims, payload), boost::test_tools::per_element());
      nn::IdxFile idx = nn::read_idx(file);
      BOOST_TEST(idx.dims == dims, boost::test_tools::per_element());
      BOOST_TEST(idx.bytes == payload, boost::test_tools::per_element());
    }
  }
}

BOOST_AUTO_TEST_CASE(read_concatenated_gzip_members) {
  const TempDir tmp("data_test");
  Bytes whole = idx_bytes(0x08, {6}, {1, 2, 3, 4, 5, 6});
  fs::path a = tmp.path / "a.gz", b = tmp.path / "b.gz", file = tmp.path / "ab.gz";
  write_raw(a, Bytes(whole.begin(), whole.begin() + 7), true);
  write_raw(b, Bytes(whole.begin() + 7, whole.end()), true);
  Bytes joined = read_raw(a), tail = read_raw(b);
  joined.insert(joined.end(), tail.begin(), tail.end());
  write_raw(file, joined);
  BOOST_TEST(nn::read_idx(file).bytes == Bytes({1, 2, 3, 4, 5, 6}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(write_idx_rejects_size_mismatch) {
  const TempDir tmp("data_test");
  fs::path file = tmp.path / "w.idx";
  BOOST_CHECK_EXCEPTION(nn::write_idx(file, {2, 3}, pattern(5), false), std::invalid_argument,
                        message_has({"write_idx", file.string(), "need 6 bytes, found 5"}));
  BOOST_CHECK_EXCEPTION(nn::write_idx(tmp.path / "no_dir" / "w.idx", {1}, pattern(1), true),
                        std::invalid_argument, message_has({"write_idx", "no_dir' does not exist"}));
}

BOOST_AUTO_TEST_CASE(missing_file) {
  const TempDir tmp("data_test");
  fs::path file = tmp.path / "absent-idx1-ubyte.gz";
  BOOST_CHECK_EXCEPTION(nn::read_idx(file), std::invalid_argument,
                        message_has({"read_idx", file.string(), "does not exist"}));
}

BOOST_AUTO_TEST_CASE(wrong_magic) {
  const TempDir tmp("data_test");
  fs::path file = tmp.path / "magic.idx";
  write_raw(file, {0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 9});
  BOOST_CHECK_EXCEPTION(nn::read_idx(file), std::invalid_argument,
                        message_has({file.string(), "wrong magic", "found 0x12345678"}));
}

BOOST_AUTO_TEST_CASE(unsupported_dtype) {
  const TempDir tmp("data_test");
  fs::path file = tmp.path / "float.idx";
  write_raw(file, idx_bytes(0x0D, {1}, {0, 0, 0, 0}));
  BOOST_CHECK_EXCEPTION(nn::read_idx(file), std::invalid_argument,
                        message_has({file.string(), "expected 0x08", "found 0x0D float"}));
}

BOOST_AUTO_TEST_CASE(bad_dimension_count_and_overflow) {
  const TempDir tmp("data_test");
  fs::path five = tmp.path / "five.idx", huge = tmp.path / "huge.idx";
  write_raw(five, idx_bytes(0x08, {1, 1, 1, 1, 1}, {7}));
  BOOST_CHECK_EXCEPTION(nn::read_idx(five), std::invalid_argument,
                        message_has({five.string(), "expected 1..4, found 5"}));
  const std::uint32_t big = 0xFFFFFFFF;
  write_raw(huge, idx_bytes(0x08, {big, big, big, big}, {}));
  BOOST_CHECK_EXCEPTION(nn::read_idx(huge), std::invalid_argument,
                        message_has({huge.string(), "overflow", "4294967295"}));
}

BOOST_AUTO_TEST_CASE(truncated_header_and_payload) {
  const TempDir tmp("data_test");
  for (bool gzip : {false, true}) {
    BOOST_TEST_CONTEXT("gzip " << gzip) {
      fs::path head = tmp.path / "head.idx", body = tmp.path / "body.idx";
      write_raw(head, {0, 0, 8, 3, 0, 0}, gzip);
      BOOST_CHECK_EXCEPTION(nn::read_idx(head), std::invalid_argument,
                            message_has({head.string(), "expected 16 bytes, found 6"}));
      // A large claim with a tiny file must fail cleanly without allocating the claim (the cap raised past it).
      write_raw(body, idx_bytes(0x08, {1000000, 1000}, pattern(7)), gzip);
      BOOST_CHECK_EXCEPTION(nn::read_idx(body, std::uint64_t{1} << 40), std::invalid_argument,
                            message_has({body.string(), gzip ? "more than a gzip stream of" : "expected 1000000000 bytes of data, found 7"}));
      // A claim that a gzip stream can hold, with the data cut short.
      write_raw(body, idx_bytes(0x08, {100, 100}, pattern(7)), gzip);
      BOOST_CHECK_EXCEPTION(nn::read_idx(body), std::invalid_argument,
                            message_has({body.string(), "expected 10000 bytes of data, found 7"}));
    }
  }
}

BOOST_AUTO_TEST_CASE(trailing_bytes) {
  const TempDir tmp("data_test");
  for (bool gzip : {false, true}) {
    BOOST_TEST_CONTEXT("gzip " << gzip) {
      fs::path file = tmp.path / "trail.idx";
      write_raw(file, idx_bytes(0x08, {4}, pattern(6)), gzip);
      BOOST_CHECK_EXCEPTION(nn::read_idx(file), std::invalid_argument,
                            message_has({file.string(), "expected 4 bytes of data, found 6"}));
    }
  }
}

BOOST_AUTO_TEST_CASE(corrupt_gzip) {
  const TempDir tmp("data_test");
  fs::path good = tmp.path / "good.gz", bad = tmp.path / "bad.gz";
  write_raw(good, idx_bytes(0x08, {300}, pattern(300)), true);
  const Bytes raw = read_raw(good);
  BOOST_REQUIRE_GT(raw.size(), 30u);

  Bytes method = raw, crc = raw, cut(raw.begin(), raw.begin() + static_cast<long>(raw.size() / 2));
  Bytes garbage = raw;
  method[2] = 7;                // compression method must be 8 (deflate)
  crc[raw.size() - 8] ^= 0xFF;  // CRC-32 of the data, in the trailer
  garbage.push_back(0);
  const std::array<std::pair<const char*, Bytes>, 4> cases = {
      {{"method", method}, {"crc", crc}, {"cut", cut}, {"garbage", garbage}}};
  for (const auto& [name, bytes] : cases) {
    BOOST_TEST_CONTEXT(name) {
      write_raw(bad, bytes);
      BOOST_CHECK_EXCEPTION(nn::read_idx(bad), std::invalid_argument,
                            message_has({"read_idx", bad.string(), "corrupt gzip"}));
    }
  }
}

BOOST_AUTO_TEST_CASE(pixel_scaling_and_labels) {
  const TempDir tmp("data_test");
  fs::path images = tmp.path / "i.idx", labels = tmp.path / "l.gz";
  nn::write_idx(images, {2, 1, 3}, Bytes{0, 255, 51, 102, 0, 255}, false);
  nn::write_idx(labels, {2}, Bytes{9, 0}, true);
  nn::Dataset d = nn::load_idx_pair(images, labels);
  BOOST_TEST(d.count == 2u);
  BOOST_TEST(d.rows == 1u);
  BOOST_TEST(d.cols == 3u);
  BOOST_TEST(d.features() == 3u);
  const std::vector<float> expected = {0.0f, 1.0f, 0.2f, 0.4f, 0.0f, 1.0f};
  BOOST_REQUIRE_EQUAL(d.images.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i)
    BOOST_TEST(d.images[i] == expected[i], boost::test_tools::tolerance(1e-6f));
  BOOST_TEST(d.images[1] == 1.0f);  // exactly, not approximately
  BOOST_TEST(d.labels == Labels({9, 0}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(count_mismatch) {
  const TempDir tmp("data_test");
  fs::path images = tmp.path / "imgs.idx", labels = tmp.path / "labs.idx";
  nn::write_idx(images, {3, 2, 2}, pattern(12), false);
  nn::write_idx(labels, {4}, Bytes{1, 2, 3, 4}, false);
  BOOST_CHECK_EXCEPTION(nn::load_idx_pair(images, labels), std::invalid_argument,
                        message_has({images.string() + ": 3", labels.string() + ": 4", "differ"}));
}

BOOST_AUTO_TEST_CASE(wrong_rank) {
  const TempDir tmp("data_test");
  fs::path images = tmp.path / "imgs.idx", labels = tmp.path / "labs.idx";
  nn::write_idx(images, {3, 4}, pattern(12), false);
  nn::write_idx(labels, {3}, Bytes{1, 2, 3}, false);
  BOOST_CHECK_EXCEPTION(nn::load_idx_pair(images, labels), std::invalid_argument,
                        message_has({images.string(), "expected 3-D", "found 2-D [3,4]"}));
  BOOST_CHECK_EXCEPTION(nn::load_idx_pair(images, labels, 0), std::invalid_argument,
                        message_has({"classes", "found 0"}));
}

BOOST_AUTO_TEST_CASE(label_out_of_range) {
  const TempDir tmp("data_test");
  fs::path images = tmp.path / "imgs.idx", labels = tmp.path / "labs.idx";
  nn::write_idx(images, {3, 1, 1}, Bytes{1, 2, 3}, false);
  nn::write_idx(labels, {3}, Bytes{1, 10, 2}, false);
  BOOST_CHECK_EXCEPTION(nn::load_idx_pair(images, labels), std::invalid_argument,
                        message_has({labels.string(), "index 1", "value 10", "classes 10"}));
  BOOST_TEST(nn::load_idx_pair(images, labels, 11).labels[1] == 10);
  BOOST_CHECK_EXCEPTION(nn::load_idx_pair(images, labels, 1), std::invalid_argument,
                        message_has({"index 0", "value 1", "classes 1"}));
}

BOOST_AUTO_TEST_CASE(subset_takes_first_examples) {
  nn::Dataset d;
  d.count = 3;
  d.rows = 1;
  d.cols = 2;
  d.images = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};
  d.labels = {7, 8, 9};
  nn::Dataset s = nn::subset(d, 2);
  BOOST_TEST(s.count == 2u);
  BOOST_TEST(s.features() == 2u);
  BOOST_TEST(s.images == std::vector<float>({0.1f, 0.2f, 0.3f, 0.4f}), boost::test_tools::per_element());
  BOOST_TEST(s.labels == Labels({7, 8}), boost::test_tools::per_element());
  BOOST_CHECK_EXCEPTION(nn::subset(d, 4), std::invalid_argument, message_has({"subset", "n 4", "count 3"}));
}

BOOST_AUTO_TEST_CASE(load_dataset_names_and_missing_file) {
  const TempDir tmp("data_test");
  // The .gz name wins over the plain one; a plain name alone is used as a fallback.
  nn::write_idx(tmp.path / "train-images-idx3-ubyte.gz", {2, 1, 1}, Bytes{255, 0}, true);
  nn::write_idx(tmp.path / "train-images-idx3-ubyte", {1, 1, 1}, Bytes{0}, false);
  nn::write_idx(tmp.path / "train-labels-idx1-ubyte", {2}, Bytes{3, 4}, false);
  nn::write_idx(tmp.path / "t10k-labels-idx1-ubyte.gz", {1}, Bytes{5}, true);
  BOOST_CHECK_EXCEPTION(nn::load_dataset(tmp.path), std::invalid_argument,
                        message_has({"load_dataset", tmp.path.string(), "missing t10k-images-idx3-ubyte"}));
  BOOST_CHECK_EXCEPTION(nn::load_dataset(tmp.path / "nope"), std::invalid_argument,
                        message_has({"load_dataset", "nope: directory does not exist"}));
  BOOST_CHECK_EXCEPTION(nn::load_dataset(tmp.path / "train-labels-idx1-ubyte"), std::invalid_argument,
                        message_has({"load_dataset", "train-labels-idx1-ubyte: not a directory"}));

  nn::write_idx(tmp.path / "t10k-images-idx3-ubyte", {1, 1, 1}, Bytes{51}, false);
  nn::Split s = nn::load_dataset(tmp.path);
  BOOST_TEST(s.train.count == 2u);
  BOOST_TEST(s.train.images == std::vector<float>({1.0f, 0.0f}), boost::test_tools::per_element());
  BOOST_TEST(s.train.labels == Labels({3, 4}), boost::test_tools::per_element());
  BOOST_TEST(s.test.count == 1u);
  BOOST_TEST(s.test.labels[0] == 5);
}

BOOST_AUTO_TEST_CASE(fashion_mnist_class_names) {
  BOOST_TEST(nn::fashion_mnist_classes[0] == "T-shirt/top");
  BOOST_TEST(nn::fashion_mnist_classes[9] == "Ankle boot");
}

namespace {
const fs::path fashion_dir = "/usr/share/datasets/fashion-mnist";

boost::test_tools::assertion_result fashion_mnist_installed(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result ok(fs::is_directory(fashion_dir));
  if (!ok) {
    ok.message() << fashion_dir.string() << " not found (install dataset-fashion-mnist)";
    std::cerr << "skipping real_fashion_mnist: " << fashion_dir.string() << " not found\n";
  }
  return ok;
}
}  // namespace

BOOST_AUTO_TEST_CASE(real_fashion_mnist, *boost::unit_test::precondition(fashion_mnist_installed)) {
  nn::Split s = nn::load_dataset(fashion_dir);
  BOOST_TEST(s.train.count == 60000u);
  BOOST_TEST(s.test.count == 10000u);
  BOOST_TEST(s.train.rows == 28u);
  BOOST_TEST(s.train.cols == 28u);
  BOOST_TEST(s.test.features() == 784u);
  BOOST_TEST(s.train.images.size() == 60000u * 784u);
  BOOST_TEST(s.train.labels[0] == 9);  // the first training image is an ankle boot
  std::array<std::size_t, 10> per_class{};
  for (std::int64_t l : s.train.labels) ++per_class[static_cast<std::size_t>(l)];
  for (std::size_t c = 0; c < 10; ++c) BOOST_TEST(per_class[c] == 6000u);
  float lo = 1, hi = 0;
  for (float p : s.test.images) lo = std::min(lo, p), hi = std::max(hi, p);
  BOOST_TEST(lo == 0.0f);
  BOOST_TEST(hi == 1.0f);
}

// A gzip bomb: a header claiming [2^31, 28, 28] (1.7 TB) over 1 MiB of zeros, 1 KB gzipped. Before: loading reached
// 4.2 GB of RSS before it was rejected, and under a memory limit failed with a bare std::bad_alloc. Now the claim is
// checked against the cap (2^28 bytes by default) and against what the gzip stream can hold, before allocating.
BOOST_AUTO_TEST_CASE(claimed_size_is_capped_before_allocating) {
  const TempDir tmp("data_test");
  const fs::path bomb = tmp.path / "bomb-idx3-ubyte.gz";
  write_raw(bomb, idx_bytes(0x08, {2147483648u, 28, 28}, Bytes(1 << 20, 0)), true);
  BOOST_CHECK_EXCEPTION(nn::read_idx(bomb), std::invalid_argument,
                        message_has({"read_idx", bomb.string(), "header claims 1683627180032 bytes of data ([2147483648,28,28])",
                                     "more than the limit of 268435456 bytes"}));
  BOOST_CHECK_EXCEPTION(nn::read_idx(bomb, std::uint64_t{1} << 50), std::invalid_argument,
                        message_has({bomb.string(), "more than a gzip stream of", "at most 1032 bytes per compressed byte"}));
  // The cap is the caller's to raise: a file just over it is refused, and read once the cap allows it. A plain file
  // over the cap is refused before it is read.
  for (bool gzip : {false, true}) {
    BOOST_TEST_CONTEXT("gzip " << gzip) {
      const fs::path file = tmp.path / "images";
      write_raw(file, idx_bytes(0x08, {30, 28, 28}, pattern(30 * 784)), gzip);
      BOOST_CHECK_EXCEPTION(nn::read_idx(file, 20000), std::invalid_argument,
                            message_has({file.string(), "header claims 23520 bytes of data ([30,28,28]), more than the limit of 20000 bytes"}));
      if (!gzip)
        BOOST_CHECK_EXCEPTION(nn::read_idx(file, 10000), std::invalid_argument,
                              message_has({file.string(), "file has 23536 bytes, more than the limit of 10000 bytes of data allows"}));
      BOOST_TEST(nn::read_idx(file, 23520).bytes.size() == 23520u);
    }
  }
}

/// Writes a dataset folder: training images [n, rows, cols] and test images [m, test_rows, test_cols], labels 0.
void write_dataset(const fs::path& dir, std::uint32_t n, std::uint32_t rows, std::uint32_t cols, std::uint32_t m,
                   std::uint32_t test_rows, std::uint32_t test_cols) {
  fs::create_directories(dir);
  nn::write_idx(dir / "train-images-idx3-ubyte.gz", {n, rows, cols}, pattern(std::size_t{n} * rows * cols), true);
  nn::write_idx(dir / "train-labels-idx1-ubyte.gz", {n}, Bytes(n, 0), true);
  nn::write_idx(dir / "t10k-images-idx3-ubyte.gz", {m, test_rows, test_cols}, pattern(std::size_t{m} * test_rows * test_cols), true);
  nn::write_idx(dir / "t10k-labels-idx1-ubyte.gz", {m}, Bytes(m, 0), true);
}

// Train and test halves that cannot go through one model are refused when loading, naming the file. Before: a 32x32
// train set with a 28x28 test set, or an empty test set, failed only after a full epoch without naming a file; 0x0
// images reported a "shift" error; 14x56 test images were accepted with 28x28 training images (both 784 pixels).
BOOST_AUTO_TEST_CASE(load_dataset_checks_that_train_and_test_fit) {
  const TempDir tmp("data_test");
  const fs::path a = tmp.path / "a", b = tmp.path / "b", c = tmp.path / "c", d = tmp.path / "d";
  write_dataset(a, 4, 32, 32, 3, 28, 28);
  BOOST_CHECK_EXCEPTION(nn::load_dataset(a), std::invalid_argument,
                        message_has({"load_dataset", (a / "t10k-images-idx3-ubyte.gz").string(),
                                     "test images are 28x28, training images are 32x32", (a / "train-images-idx3-ubyte.gz").string()}));
  write_dataset(b, 4, 28, 28, 3, 14, 56);
  BOOST_CHECK_EXCEPTION(nn::load_dataset(b), std::invalid_argument, message_has({"test images are 14x56, training images are 28x28"}));
  write_dataset(c, 4, 28, 28, 0, 28, 28);
  BOOST_CHECK_EXCEPTION(nn::load_dataset(c), std::invalid_argument,
                        message_has({(c / "t10k-images-idx3-ubyte.gz").string(), "the test set is empty (0 images)"}));
  write_dataset(d, 0, 28, 28, 3, 28, 28);
  BOOST_CHECK_EXCEPTION(nn::load_dataset(d), std::invalid_argument,
                        message_has({(d / "train-images-idx3-ubyte.gz").string(), "the training set is empty (0 images)"}));
  write_dataset(d, 4, 0, 0, 3, 0, 0);
  BOOST_CHECK_EXCEPTION(nn::load_dataset(d), std::invalid_argument,
                        message_has({"load_idx_pair", (d / "train-images-idx3-ubyte.gz").string(), "images have no pixels (0x0, dims [4,0,0])"}));
  write_dataset(d, 4, 28, 28, 3, 28, 28);
  BOOST_TEST(nn::load_dataset(d).test.count == 3u);
}

// A symlink loop where a dataset file should be is reported with the OS error, not as a missing file.
BOOST_AUTO_TEST_CASE(symlink_loop_gives_the_os_error) {
  const TempDir tmp("data_test");
  write_dataset(tmp.path, 2, 2, 2, 1, 2, 2);
  const fs::path images = tmp.path / "train-images-idx3-ubyte.gz", other = tmp.path / "other";
  fs::remove(images);
  fs::create_symlink(other, images);
  fs::create_symlink(images, other);
  BOOST_CHECK_EXCEPTION(nn::load_dataset(tmp.path), std::invalid_argument,
                        message_has({"load_dataset", images.string(), "cannot use file (Too many levels of symbolic links)"}));
  BOOST_CHECK_EXCEPTION(nn::read_idx(images), std::invalid_argument,
                        message_has({"read_idx", images.string(), "cannot open file (Too many levels of symbolic links)"}));
}
