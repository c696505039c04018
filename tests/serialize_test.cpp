// Checkpoint files: exact round trips, every bad-file error once, and the write-then-rename property.
#define BOOST_TEST_MODULE serialize_test
#include <boost/test/unit_test.hpp>

#include "temp_dir.hpp"
#include "throws_with.hpp"

#include "autodiff/autodiff.hpp"
#include "nn/linear.hpp"
#include "nn/mlp.hpp"
#include "nn/module.hpp"
#include "nn/serialize.hpp"

#include <sys/stat.h>
#include <zlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using autodiff::Array;
using autodiff::Dtype;
using autodiff::Shape;

namespace {

using testing::TempDir;

std::vector<std::uint8_t> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& p, const std::vector<std::uint8_t>& b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

Array filled(const Shape& s, Dtype dtype, std::mt19937_64& gen) {
  Array a(s, dtype);
  for (std::int64_t i = 0; i < a.numel(); ++i) a.set(i, static_cast<double>(static_cast<std::int64_t>(gen())) * 0x1.0p-61);
  return a;
}

bool same_bits(const Array& a, const Array& b) {
  if (!(a.shape() == b.shape()) || a.dtype() != b.dtype()) return false;
  return autodiff::dispatch(a.dtype(), [&]<class T>(T) {
    return a.numel() == 0 || std::memcmp(a.data<T>(), b.data<T>(), static_cast<std::size_t>(a.numel()) * sizeof(T)) == 0;
  });
}

std::uint32_t le32(const std::vector<std::uint8_t>& b, std::size_t at) {
  return b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (static_cast<std::uint32_t>(b[at + 3]) << 24);
}

}  // namespace

BOOST_AUTO_TEST_CASE(round_trip_is_exact_for_f32_and_f64) {
  const TempDir dir("nn_serialize_test");
  std::mt19937_64 gen(1);
  const std::vector<std::pair<std::string, Array>> arrays = {
      {"a.f32", filled(Shape{3, 4}, Dtype::f32, gen)}, {"b.f64", filled(Shape{2, 3, 5}, Dtype::f64, gen)},
      {"scalar", filled(Shape{}, Dtype::f64, gen)},    {"empty", filled(Shape{0, 7}, Dtype::f32, gen)},
      {"", filled(Shape{1}, Dtype::f32, gen)},         {"subnormal and -0", Array::full(Shape{2}, -0.0, Dtype::f64)}};
  const_cast<Array&>(arrays[5].second).set(1, 4.9e-324);
  const fs::path file = dir.path / "arrays.adnn";
  nn::save_arrays(file, arrays);
  const auto back = nn::load_arrays(file);
  BOOST_REQUIRE(back.size() == arrays.size());
  for (std::size_t i = 0; i < arrays.size(); ++i) {
    BOOST_TEST(back[i].first == arrays[i].first);
    BOOST_TEST(same_bits(back[i].second, arrays[i].second), "entry " << i);
  }
  // The documented layout: magic, version 1, count, then the first entry's name length and name.
  const auto bytes = read_bytes(file);
  BOOST_TEST(std::string(bytes.begin(), bytes.begin() + 4) == "ADNN");
  BOOST_TEST(le32(bytes, 4) == 1u);
  BOOST_TEST(le32(bytes, 8) == 6u);
  BOOST_TEST(le32(bytes, 12) == 5u);
  BOOST_TEST(std::string(bytes.begin() + 16, bytes.begin() + 21) == "a.f32");
  BOOST_TEST(bytes[21] == 0);  // dtype f32
  BOOST_TEST(bytes[22] == 2);  // rank
  const std::size_t expected_size = 12 + (4 + 5 + 2 + 16 + 48) + (4 + 5 + 2 + 24 + 240) + (4 + 6 + 2 + 8) + (4 + 5 + 2 + 16) +
                                    (4 + 0 + 2 + 8 + 4) + (4 + 16 + 2 + 8 + 16) + 4;
  BOOST_TEST(bytes.size() == expected_size);
}

BOOST_AUTO_TEST_CASE(module_round_trip) {
  const TempDir dir("nn_serialize_test");
  for (const Dtype dtype : {Dtype::f32, Dtype::f64}) {
    std::mt19937_64 g1(1), g2(2);
    nn::MLP a({3, 5, 2}, g1, nn::Activation::sigmoid, nn::Activation::sigmoid, nn::Init::normal, dtype);
    nn::MLP b({3, 5, 2}, g2, nn::Activation::sigmoid, nn::Activation::sigmoid, nn::Init::normal, dtype);
    const auto held = b.parameters();  // handles held elsewhere (an optimizer) see the loaded values
    const fs::path file = dir.path / "model.adnn";
    nn::save(a, file);
    nn::load(b, file);
    const auto pa = a.named_parameters(), pb = b.named_parameters();
    for (std::size_t i = 0; i < pa.size(); ++i) {
      BOOST_TEST(same_bits(pa[i].second.value(), pb[i].second.value()), pa[i].first);
      BOOST_TEST(same_bits(pa[i].second.value(), held[i].value()), pa[i].first);
    }
  }
}

BOOST_AUTO_TEST_CASE(bad_files) {
  const TempDir dir("nn_serialize_test");
  std::mt19937_64 gen(3);
  nn::MLP model({2, 3, 1}, gen);
  const fs::path good = dir.path / "good.adnn";
  nn::save(model, good);
  const auto bytes = read_bytes(good);
  using E = std::invalid_argument;
  const fs::path bad = dir.path / "bad.adnn";

  BOOST_CHECK(throws_with<E>([&] { nn::load(model, dir.path / "missing.adnn"); }, {"missing.adnn", "does not exist"}));
  BOOST_CHECK(throws_with<E>([&] { nn::load_arrays(dir.path); }, {dir.path.string(), "directory"}));

  auto b = bytes;
  std::memcpy(b.data(), "PK\x03\x04", 4);
  write_bytes(bad, b);
  BOOST_CHECK(throws_with<E>([&] { nn::load(model, bad); }, {"bad.adnn", "wrong magic", "expected \"ADNN\"", "found \"PK\\x03\\x04\""}));

  b = bytes;
  b[4] = 2;
  write_bytes(bad, b);
  BOOST_CHECK(throws_with<E>([&] { nn::load(model, bad); }, {"bad.adnn", "unsupported version 2 (expected 1)"}));

  // Truncated: empty, inside the magic, inside the header, inside a name, inside the dims, inside the data, inside
  // the checksum, and the checksum missing entirely.
  for (const std::size_t keep : {std::size_t{0}, std::size_t{3}, std::size_t{10}, std::size_t{14}, std::size_t{20},
                                  std::size_t{40}, std::size_t{60}, bytes.size() - 2, bytes.size() - 4}) {
    BOOST_TEST_CONTEXT("truncated to " << keep << " of " << bytes.size() << " bytes") {
      write_bytes(bad, std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(keep)));
      BOOST_CHECK(throws_with<E>([&] { nn::load(model, bad); }, {"bad.adnn", "truncated"}));
    }
  }

  // One flipped bit in a weight: the structure still parses, so only the checksum can tell.
  b = bytes;
  b[bytes.size() - 6] ^= 0x10;
  write_bytes(bad, b);
  BOOST_CHECK(throws_with<E>([&] { nn::load(model, bad); }, {"bad.adnn", "checksum mismatch", "corrupt"}));
  b = bytes;
  b[bytes.size() - 1] ^= 0x01;  // in the stored checksum itself
  write_bytes(bad, b);
  BOOST_CHECK(throws_with<E>([&] { nn::load(model, bad); }, {"bad.adnn", "checksum mismatch"}));

  b = bytes;
  b.insert(b.end() - 4, {1, 2, 3});
  write_bytes(bad, b);
  BOOST_CHECK(throws_with<E>([&] { nn::load(model, bad); }, {"bad.adnn", "3 unexpected bytes"}));

  b = bytes;
  b[12 + 4 + 15] = 7;  // dtype code of the first entry ("layers.0.weight" has 15 characters)
  write_bytes(bad, b);
  BOOST_CHECK(throws_with<E>([&] { nn::load(model, bad); }, {"bad.adnn", "dtype code 7"}));

  // Garbage lengths are bounded by the file size: nothing is allocated from them.
  b = bytes;
  b[8] = b[9] = b[10] = b[11] = 0xff;  // entry count 2^32 - 1
  write_bytes(bad, b);
  BOOST_CHECK(throws_with<E>([&] { nn::load(model, bad); }, {"bad.adnn", "truncated", "4294967295 entries"}));
  b = bytes;
  b[12] = b[13] = b[14] = b[15] = 0xff;  // name length 2^32 - 1
  write_bytes(bad, b);
  BOOST_CHECK(throws_with<E>([&] { nn::load(model, bad); }, {"bad.adnn", "truncated", "name"}));
  b = bytes;
  for (std::size_t i = 0; i < 8; ++i) b[12 + 4 + 15 + 2 + i] = i == 7 ? 0x3f : 0xff;  // first dim 2^62 - 1
  write_bytes(bad, b);
  BOOST_CHECK(throws_with<E>([&] { nn::load(model, bad); }, {"bad.adnn", "truncated", "layers.0.weight"}));

  // A repeated name, with a valid checksum: a reader could not tell which value is meant. Saving one is refused too.
  const std::vector<std::pair<std::string, Array>> twice = {{"a", Array::full(Shape{}, 1.0, Dtype::f64)},
                                                            {"b", Array::full(Shape{}, 2.0, Dtype::f64)}};
  nn::save_arrays(bad, twice);
  b = read_bytes(bad);
  const auto second_name = static_cast<std::size_t>(12 + 4 + 1 + 2 + 8 + 4);  // after entry "a": len, name, dtype, rank, data
  BOOST_REQUIRE(b[second_name] == 'b');
  b[second_name] = 'a';
  const auto crc = static_cast<std::uint32_t>(crc32(crc32(0L, Z_NULL, 0), b.data(), static_cast<uInt>(b.size() - 4)));
  for (std::size_t i = 0; i < 4; ++i) b[b.size() - 4 + i] = static_cast<std::uint8_t>(crc >> (8 * i));
  write_bytes(bad, b);
  BOOST_CHECK(throws_with<E>([&] { nn::load_arrays(bad); }, {"load_arrays", "bad.adnn", "corrupt file: duplicate entry 'a' (entries 0 and 1)"}));
  BOOST_CHECK(throws_with<E>([&] { nn::save_arrays(bad, {twice[0], twice[0]}); }, {"save_arrays", "duplicate entry 'a' (entries 0 and 1)"}));
}

BOOST_AUTO_TEST_CASE(loading_into_a_different_model) {
  const TempDir dir("nn_serialize_test");
  std::mt19937_64 gen(4);
  nn::MLP saved({2, 3, 1}, gen);
  const fs::path file = dir.path / "m.adnn";
  nn::save(saved, file);
  using E = std::invalid_argument;

  nn::MLP wider({2, 4, 1}, gen);
  const auto before = wider.layer(2).weight().to_vector();
  BOOST_CHECK(throws_with<E>([&] { nn::load(wider, file); },
                             {"m.adnn", "'layers.0.weight' shape differs", "expected [2,4]", "found [2,3]"}));
  BOOST_TEST(wider.layer(2).weight().to_vector() == before, boost::test_tools::per_element());  // nothing changed

  nn::MLP deeper({2, 3, 3, 1}, gen);
  BOOST_CHECK(throws_with<E>([&] { nn::load(deeper, file); }, {"m.adnn", "parameter count differs", "expected 6, found 4"}));

  nn::MLP doubles({2, 3, 1}, gen, nn::Activation::sigmoid, nn::Activation::sigmoid, nn::Init::uniform, Dtype::f64);
  BOOST_CHECK(throws_with<E>([&] { nn::load(doubles, file); }, {"m.adnn", "dtype differs", "expected float64", "found float32"}));

  struct Renamed : nn::Module {
    nn::Linear a, b;
    explicit Renamed(std::mt19937_64& g) : a(2, 3, g), b(3, 1, g) {}
    void list(nn::ModuleVisitor& v) override {
      v.child("first", a);
      v.child("second", b);
    }
  } renamed(gen);
  BOOST_CHECK(throws_with<E>([&] { nn::load(renamed, file); },
                             {"m.adnn", "name differs", "expected 'first.weight'", "found 'layers.0.weight'"}));
}

BOOST_AUTO_TEST_CASE(save_writes_a_temporary_then_renames) {
  const TempDir dir("nn_serialize_test");
  std::mt19937_64 gen(5);
  nn::MLP a({2, 3, 1}, gen), b({2, 3, 1}, gen);
  const fs::path file = dir.path / "ckpt.adnn";
  nn::save(a, file);
  BOOST_TEST(fs::exists(file));
  auto only_the_file = [&] {
    std::vector<fs::path> names;
    for (const auto& e : fs::directory_iterator(dir.path)) names.push_back(e.path());
    return names == std::vector<fs::path>{file};
  };
  BOOST_TEST(only_the_file());  // the temporary was renamed over it

  // Replacing: the old file's inode lives on for a reader that opened it, and the name now points at a new inode.
  struct stat before {}, after {};
  BOOST_REQUIRE(::stat(file.c_str(), &before) == 0);
  std::ifstream reader(file, std::ios::binary);
  nn::save(b, file);
  BOOST_REQUIRE(::stat(file.c_str(), &after) == 0);
  BOOST_TEST(before.st_ino != after.st_ino);
  const std::vector<std::uint8_t> old_bytes{std::istreambuf_iterator<char>(reader), std::istreambuf_iterator<char>()};
  BOOST_TEST(old_bytes.size() == fs::file_size(file));
  nn::MLP c({2, 3, 1}, gen);
  nn::load(c, file);
  BOOST_TEST(c.layer(1).weight().to_vector() == b.layer(1).weight().to_vector(), boost::test_tools::per_element());
  BOOST_TEST(only_the_file());

  // The checkpoint writer goes through nn/file's checks (file_test covers each kind of path): a FIFO stays a FIFO.
  const fs::path fifo = dir.path / "fifo.adnn";
  BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
  BOOST_CHECK(throws_with<std::invalid_argument>([&] { nn::save(a, fifo); }, {"save_arrays", "fifo.adnn", "not a regular file (a FIFO)"}));
  BOOST_TEST(fs::is_fifo(fifo));
}
