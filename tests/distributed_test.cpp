// Tests for the parts of data-parallel training that need no MPI: shards, buckets, shard loading, and the
// messages of a build without MPI. The equivalence over real ranks is tests/distributed_check.cpp (under mpirun).
#define BOOST_TEST_MODULE distributed_test
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include "synthetic_data.hpp"
#include "throws_with.hpp"

#include "nn/distributed.hpp"
#include "nn/trainer.hpp"

#include <fmt/format.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace utf = boost::unit_test;

namespace {

using testing::synthetic;

}  // namespace

BOOST_AUTO_TEST_CASE(shards_are_contiguous_and_even) {
  for (std::size_t total : {0u, 1u, 5u, 37u, 64u})
    for (int size : {1, 2, 3, 8}) {
      BOOST_TEST_CONTEXT("total " << total << ", size " << size) {
        std::size_t next = 0, smallest = total, largest = 0;
        for (int r = 0; r < size; ++r) {
          const nn::Shard s = nn::shard(total, r, size);
          BOOST_TEST(s.first == next);
          next += s.rows;
          smallest = std::min(smallest, s.rows);
          largest = std::max(largest, s.rows);
        }
        BOOST_TEST(next == total);
        BOOST_TEST(largest - smallest <= 1u);
      }
    }
  BOOST_TEST(nn::shard(37, 0, 2).rows == 19u);
  BOOST_TEST(nn::shard(37, 1, 2).first == 19u);
  BOOST_TEST(throws_with<std::invalid_argument>([] { nn::shard(10, 2, 2); }, {"shard", "rank 2"}));
  BOOST_TEST(throws_with<std::invalid_argument>([] { nn::shard(10, 0, 0); }, {"shard"}));
}

BOOST_AUTO_TEST_CASE(buckets_cover_the_gradient_once) {
  const auto b = nn::buckets(10, 4);
  BOOST_TEST(b.size() == 3u);
  BOOST_TEST(b[0].first == 0u);
  BOOST_TEST(b[0].second == 4u);
  BOOST_TEST(b[2].first == 8u);
  BOOST_TEST(b[2].second == 10u);
  BOOST_TEST(nn::buckets(0, 4).empty());
  BOOST_TEST(nn::buckets(8, 100).size() == 1u);
  BOOST_TEST(throws_with<std::invalid_argument>([] { nn::buckets(8, 0); }, {"buckets", "positive"}));
}

// A rank's part of a batch, augmented, is exactly those rows of the whole batch, and the generator ends where the
// whole batch's load leaves it (so every rank keeps drawing the same words).
BOOST_AUTO_TEST_CASE(shard_loads_equal_rows_of_the_whole_batch) {
  const nn::Dataset d = synthetic(11);
  nn::Batcher whole(d, 5, 3), part(d, 5, 3);
  std::mt19937_64 g0(4), g1(4);
  whole.shuffle(g0);
  part.shuffle(g1);
  for (std::size_t i = 0; i < whole.batches(); ++i) {
    const std::size_t rows = whole.rows(i);
    for (int size : {2, 3}) {
      for (int rank = 0; rank < size; ++rank) {
        BOOST_TEST_CONTEXT("batch " << i << ", rank " << rank << " of " << size) {
          const nn::Shard s = nn::shard(rows, rank, size);
          std::mt19937_64 a = g0, b = g1;
          whole.load(i, 0.5, 1, &a);
          part.load(i, s.first, s.rows, 0.5, 1, &b);
          BOOST_TEST((a == b));
          if (s.rows == 0) continue;
          BOOST_REQUIRE(part.x().shape()[0] == static_cast<std::int64_t>(s.rows));
          for (std::size_t r = 0; r < s.rows; ++r) {
            BOOST_TEST(part.labels()[r] == whole.labels()[s.first + r]);
            for (std::int64_t k = 0; k < 12; ++k)
              BOOST_TEST(part.x().at(static_cast<std::int64_t>(r) * 12 + k) ==
                         whole.x().at(static_cast<std::int64_t>(s.first + r) * 12 + k));
            for (std::int64_t c = 0; c < 3; ++c)
              BOOST_TEST(part.one_hot().at(static_cast<std::int64_t>(r) * 3 + c) ==
                         whole.one_hot().at(static_cast<std::int64_t>(s.first + r) * 3 + c));
          }
        }
      }
    }
  }
  BOOST_TEST(throws_with<std::invalid_argument>([&] { part.load(0, 3, 3, 0.0, 0, nullptr); }, {"Batcher::load", "outside"}));
}

BOOST_AUTO_TEST_CASE(without_mpi_the_errors_say_how_to_get_it) {
  if (nn::Distributed::available()) return;  // an MPI build: covered by distributed_check under mpirun
  BOOST_TEST(throws_with<std::logic_error>([] { nn::Distributed d; }, {"no MPI", "libopenmpi-dev", "-Dmpi=enabled"}));
  // The training program refuses --distributed with the usage exit code.
  const std::filesystem::path program = "../examples/train";
  if (!std::filesystem::exists(program)) return;
  std::FILE* p = popen(fmt::format("{} --distributed --epochs 1 2>&1", program.string()).c_str(), "r");
  BOOST_REQUIRE(p != nullptr);
  std::string out;
  std::array<char, 4096> buf{};
  for (std::size_t n; (n = std::fread(buf.data(), 1, buf.size(), p)) > 0;) out.append(buf.data(), n);
  const int status = pclose(p);
  BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) == 2));
  for (const char* w : {"--distributed", "libopenmpi-dev", "-Dmpi=enabled"})
    BOOST_TEST(out.find(w) != std::string::npos, "'" << w << "' in: " << out);
}
