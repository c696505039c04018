// A training run killed (SIGKILL) in the middle of saving a checkpoint leaves the previous checkpoint loadable.
#define BOOST_TEST_MODULE checkpoint_kill_test
#include <boost/test/unit_test.hpp>

#include "temp_dir.hpp"

#include "autodiff/autodiff.hpp"
#include "nn/mlp.hpp"
#include "nn/serialize.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <new>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

namespace {

using testing::TempDir;

/// A model whose checkpoint (5.3 MB: 1.33 M float parameters) takes milliseconds to encode, checksum and write.
nn::MLP big_model() {
  std::mt19937_64 gen(0);
  return nn::MLP({784, 1024, 512, 10}, gen);
}

/// Sets every parameter of m to k: version k of the checkpoint.
void fill(nn::MLP& m, std::int64_t k) {
  for (autodiff::Tensor& p : m.parameters()) {
    autodiff::Array& a = p.leaf_value();
    float* d = a.data<float>();
    for (std::int64_t i = 0; i < a.numel(); ++i) d[i] = static_cast<float>(k);
  }
}

/// k when every parameter of m equals k (a complete version), otherwise nothing.
std::optional<std::int64_t> version_of(const nn::MLP& m) {
  std::optional<float> k;
  for (const autodiff::Tensor& p : m.parameters()) {
    const autodiff::Array& a = p.value();
    const float* d = a.data<float>();
    for (std::int64_t i = 0; i < a.numel(); ++i) {
      if (!k) k = d[i];
      if (d[i] != *k) return std::nullopt;
    }
  }
  if (!k) return std::nullopt;
  return static_cast<std::int64_t>(*k);
}

/// Progress of the saving child, in memory shared with the parent: `started` is the version being saved, `completed`
/// the last version whose save returned. They differ while a save is in flight.
struct Progress {
  std::atomic<std::int64_t> started{0}, completed{0}, saves{0};
};
static_assert(std::atomic<std::int64_t>::is_always_lock_free, "the counters must work across processes");

/// Version numbers of kill i start at base(i) + 1 (exact in float up to 2^24).
constexpr std::int64_t base(int i) { return 100000 * static_cast<std::int64_t>(i + 1); }

}  // namespace

// Without the temp file and rename (writing the checkpoint in place), a kill during the write leaves a truncated or
// half-old file: load throws (truncated, checksum mismatch) or finds mixed versions, and the checks below fail. A
// rename issued before the data is complete fails the same way.
BOOST_AUTO_TEST_CASE(sigkill_during_save_leaves_a_loadable_checkpoint) {
  const TempDir dir("checkpoint_kill_test");
  const fs::path file = dir.path / "model.ckpt";
  fs::path tmp = file;
  tmp += ".tmp";
  nn::MLP model = big_model();
  nn::MLP probe = big_model();

  // How long one save takes here (encode, CRC, write, fsync, rename).
  constexpr int timed = 10;
  const auto start = std::chrono::steady_clock::now();
  for (int k = 1; k <= timed; ++k) {
    fill(model, k);
    nn::save(model, file);
  }
  const double save_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / timed;
  BOOST_TEST_MESSAGE(fmt::format("one save of {} bytes: {:.2f} ms (mean of {})", fs::file_size(file), save_ms, timed));

  fill(model, 0);
  nn::save(model, file);  // version 0: what a child killed before its first save must leave

  void* mem = ::mmap(nullptr, sizeof(Progress), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  BOOST_TEST_REQUIRE(mem != MAP_FAILED);
  auto* progress = new (mem) Progress;

  const std::int64_t window_us = std::max<std::int64_t>(30000, static_cast<std::int64_t>(3000 * save_ms));
  constexpr int kills = 20;
  int mid_save = 0, stale_tmp = 0;
  std::int64_t total_saves = 0;
  for (int i = 0; i < kills; ++i) {
    const pid_t pid = ::fork();
    BOOST_TEST_REQUIRE(pid >= 0);
    if (pid == 0) {
      // The child: only the save loop (no Boost.Test, no exit handlers), until it is killed.
      try {
        for (std::int64_t k = base(i) + 1;; ++k) {
          fill(model, k);
          progress->started.store(k);
          nn::save(model, file);
          progress->completed.store(k);
          progress->saves.fetch_add(1);
        }
      } catch (...) {
        ::_exit(2);
      }
    }
    // Spread over 0 to 30 ms or 0 to 3 saves, whichever is longer, so kills land in every phase of a save (encoding,
    // writing, fsync, rename) and between saves however fast the disk is.
    const auto delay = std::chrono::microseconds((i * 15485863LL) % (window_us + 1));
    std::this_thread::sleep_for(delay);
    BOOST_TEST_REQUIRE(::kill(pid, SIGKILL) == 0);
    int status = 0;
    BOOST_TEST_REQUIRE(::waitpid(pid, &status, 0) == pid);
    BOOST_TEST_CONTEXT("kill " << i << " after " << delay.count() << " us") {
      // Exit status 2 would mean a save threw in the child.
      BOOST_TEST_REQUIRE((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
      const std::int64_t started = progress->started.load(), completed = progress->completed.load();
      const bool in_flight = started != completed;
      mid_save += in_flight;
      stale_tmp += fs::exists(tmp);
      total_saves = progress->saves.load();
      std::optional<std::int64_t> got;
      try {
        fill(probe, -1);
        nn::load(probe, file);  // checks magic, sizes and the CRC
        got = version_of(probe);
      } catch (const std::exception& e) {
        BOOST_ERROR("load failed: " << e.what());
      }
      BOOST_TEST_REQUIRE(got.has_value());  // every parameter from one version, none torn
      // The last completed version, or the one in flight when it died after its rename.
      BOOST_TEST((*got == completed || (in_flight && *got == started)),
                 "found version " << *got << ", completed " << completed << ", started " << started);
      // The next child may die before it records anything: the file's version is then the one to find again.
      progress->started.store(*got);
      progress->completed.store(*got);
    }
  }
  BOOST_TEST_MESSAGE(fmt::format("{} kills: {} landed mid-save, {} left a stale {}; the children completed {} saves",
                                 kills, mid_save, stale_tmp, tmp.filename().string(), total_saves));
  // The kills must hit saves in progress for the test to mean anything; a save is most of the child's loop.
  BOOST_TEST(mid_save >= kills / 2);
  BOOST_TEST(total_saves > 0);
  progress->~Progress();
  ::munmap(mem, sizeof(Progress));
}

// A temporary left by a killed save (partial, or garbage) does not disturb loading the checkpoint or saving it
// again, and is not touched: its name holds another writer's process id, so it is not this writer's to remove.
BOOST_AUTO_TEST_CASE(stale_tmp_file_does_not_break_save_or_load) {
  const TempDir dir("checkpoint_kill_test");
  const fs::path file = dir.path / "model.ckpt";
  fs::path tmp = file;
  tmp += ".tmp-999999999-0";
  nn::MLP model = big_model(), probe = big_model();
  fill(model, 7);
  nn::save(model, file);
  {
    // A stale temp file: the first half of a checkpoint of another version (longer than the next one would be).
    fill(model, 8);
    nn::save(model, tmp);
    fs::resize_file(tmp, fs::file_size(tmp) / 2);
    std::ofstream(tmp, std::ios::app | std::ios::binary) << std::string(4 << 20, 'x');
  }
  const auto stale_size = fs::file_size(tmp);
  nn::load(probe, file);
  BOOST_TEST(version_of(probe).value_or(-1) == 7);
  fill(model, 9);
  nn::save(model, file);
  nn::load(probe, file);
  BOOST_TEST(version_of(probe).value_or(-1) == 9);
  BOOST_TEST(fs::file_size(tmp) == stale_size);
}
