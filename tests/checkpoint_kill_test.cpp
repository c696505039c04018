// A process killed (SIGKILL) in the middle of saving a checkpoint leaves the previous checkpoint loadable: killed at
// each phase of a save through the test-only write hook (deterministic), and also after timed delays (an extra with
// no count of where the kills landed); two processes saving one path never corrupt it.
#define BOOST_TEST_MODULE checkpoint_kill_test
#include <boost/test/unit_test.hpp>

#include "temp_dir.hpp"

#include "autodiff/autodiff.hpp"
#include "nn/mlp.hpp"
#include "nn/file.hpp"
#include "nn/serialize.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>
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


/// The child's side of the write hook: at the chosen phase, tell the parent through the pipe, then wait to be killed.
nn::detail::WritePhase stop_phase = nn::detail::WritePhase::encoded;
int stop_signal_fd = -1;
void stop_at_phase(nn::detail::WritePhase phase) {
  if (phase != stop_phase) return;
  const char c = 1;
  if (::write(stop_signal_fd, &c, 1) != 1) ::_exit(4);
  for (;;) ::pause();  // until SIGKILL
}

/// The temporaries a save of `file` may leave: "<name>.tmp-<pid>-<n>".
std::vector<fs::path> temporaries(const fs::path& file) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(file.parent_path()))
    if (e.path().filename().string().starts_with(file.filename().string() + ".tmp-")) out.push_back(e.path());
  return out;
}

}  // namespace

// A child saves version `next` over version `old` (or over no file) and is killed at each phase of the save, right
// after the write hook reports that phase: no timing is involved. Until the rename the file is the old version (or
// absent), from the rename on it is the new one; at no point is it torn. Writing the checkpoint in place instead, or
// renaming before the data is complete, fails these checks at the half_written or synced phase.
BOOST_AUTO_TEST_CASE(sigkill_at_each_phase_of_a_save) {
  using nn::detail::WritePhase;
  const TempDir dir("checkpoint_kill_test");
  nn::MLP model = big_model(), probe = big_model();
  struct Phase {
    WritePhase phase;
    const char* name;
    bool renamed;    // the new version is in place
    bool temporary;  // a temporary is left behind
  };
  const Phase phases[] = {{WritePhase::encoded, "after encoding", false, false},
                          {WritePhase::half_written, "mid-write", false, true},
                          {WritePhase::synced, "after fsync", false, true},
                          {WritePhase::renaming, "before rename", false, true},
                          {WritePhase::renamed, "after rename", true, false}};
  std::int64_t version = 0;
  for (const bool first_save : {false, true}) {
    for (const Phase& p : phases) {
      BOOST_TEST_CONTEXT("killed " << p.name << (first_save ? ", first save" : ", replacing a checkpoint")) {
        const fs::path file = dir.path / fmt::format("model-{}.ckpt", version);
        const std::int64_t old = ++version, next = ++version;
        if (!first_save) {
          fill(model, old);
          nn::save(model, file);
        }
        int fds[2];
        BOOST_TEST_REQUIRE(::pipe(fds) == 0);
        const pid_t pid = ::fork();
        BOOST_TEST_REQUIRE(pid >= 0);
        if (pid == 0) {
          // The child: only the save (no Boost.Test, no exit handlers), stopped by the hook.
          ::close(fds[0]);
          stop_phase = p.phase;
          stop_signal_fd = fds[1];
          nn::detail::write_hook.store(stop_at_phase);
          try {
            fill(model, next);
            nn::save(model, file);
          } catch (...) {
            ::_exit(2);
          }
          ::_exit(3);  // the save returned: the hook never stopped it
        }
        ::close(fds[1]);
        char c = 0;
        const ssize_t n = ::read(fds[0], &c, 1);  // blocks until the child is at the phase (or dies)
        ::close(fds[0]);
        if (n == 1) BOOST_TEST_REQUIRE(::kill(pid, SIGKILL) == 0);
        int status = 0;
        BOOST_TEST_REQUIRE(::waitpid(pid, &status, 0) == pid);
        BOOST_TEST_REQUIRE(n == 1, "the child ended without reaching the phase (status " << status << ")");
        BOOST_TEST_REQUIRE((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));

        BOOST_TEST(temporaries(file).size() == (p.temporary ? 1u : 0u));
        if (first_save && !p.renamed) {
          BOOST_TEST(!fs::exists(file));  // nothing half-written ever appears under the name
        } else {
          fill(probe, -1);
          try {
            nn::load(probe, file);  // checks magic, sizes and the CRC
          } catch (const std::exception& e) {
            BOOST_ERROR("load failed: " << e.what());
          }
          BOOST_TEST(version_of(probe).value_or(-1) == (p.renamed ? next : old));
        }
        // The next save works whatever was left behind, and leaves the stale temporary alone.
        fill(model, next + 1000);
        nn::save(model, file);
        nn::load(probe, file);
        BOOST_TEST(version_of(probe).value_or(-1) == next + 1000);
        BOOST_TEST(temporaries(file).size() == (p.temporary ? 1u : 0u));
      }
    }
  }
}

// An extra on top of the deterministic kills above: SIGKILL after delays spread over 0 to 3 save times, so kills also
// land wherever the machine's timing puts them (between saves, in the encoder, in the kernel). Only correctness is
// checked; how many kills landed where depends on the machine's load and is reported, never required.
BOOST_AUTO_TEST_CASE(sigkill_after_timed_delays_leaves_a_loadable_checkpoint) {
  const TempDir dir("checkpoint_kill_test");
  const fs::path file = dir.path / "model.ckpt";
  nn::MLP model = big_model();
  nn::MLP probe = big_model();

  // How long one save takes here (encode, CRC, write, fsync, rename): it only spreads the delays.
  constexpr int timed = 5;
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
  int mid_save = 0;
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
  BOOST_TEST_MESSAGE(fmt::format("{} kills: {} landed mid-save, {} stale temporaries in all; the children completed {} "
                                 "saves (reported, not required: it depends on the machine's load)",
                                 kills, mid_save, temporaries(file).size(), total_saves));
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

// Two processes saving checkpoints to one path while this one loads it: every load succeeds and finds one complete
// version, and the file ends as one writer's last version. Before, the writers shared "<file>.tmp": 2 runs in 30
// left a 0-byte or corrupt file, and a reader saw "checksum mismatch" 10 times in 2000 reads.
BOOST_AUTO_TEST_CASE(two_processes_saving_one_path_never_corrupt_it) {
  const TempDir dir("checkpoint_kill_test");
  const fs::path file = dir.path / "shared.ckpt";
  std::mt19937_64 gen(0);
  nn::MLP model({784, 64, 10}, gen), probe({784, 64, 10}, gen);
  fill(model, 0);
  nn::save(model, file);
  constexpr int saves = 40;
  std::vector<pid_t> children;
  for (int w = 1; w <= 2; ++w) {
    const pid_t pid = ::fork();
    BOOST_TEST_REQUIRE(pid >= 0);
    if (pid == 0) {
      try {
        for (int k = 1; k <= saves; ++k) {  // writer w saves versions 1000 w + k
          fill(model, 1000 * w + k);
          nn::save(model, file);
        }
      } catch (...) {
        ::_exit(2);
      }
      ::_exit(0);
    }
    children.push_back(pid);
  }
  std::size_t loads = 0, failures = 0;
  std::string first_failure;
  auto children_running = [&] {
    for (pid_t& pid : children) {
      int status = 0;
      if (pid > 0 && ::waitpid(pid, &status, WNOHANG) == pid) {
        BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) == 0), "writer exit status " << status);
        pid = 0;
      }
    }
    return std::any_of(children.begin(), children.end(), [](pid_t p) { return p > 0; });
  };
  while (children_running() || loads == 0) {
    try {
      fill(probe, -1);
      nn::load(probe, file);
      ++loads;
      const std::int64_t v = version_of(probe).value_or(-1);
      if (!(v == 0 || (v > 1000 && v <= 1000 + saves) || (v > 2000 && v <= 2000 + saves)))
        throw std::runtime_error(fmt::format("found a torn or unknown version ({})", v));
    } catch (const std::exception& e) {
      ++failures;
      if (first_failure.empty()) first_failure = e.what();
    }
  }
  BOOST_TEST(failures == 0u, "first failure: " << first_failure);
  BOOST_TEST_MESSAGE(loads << " loads during " << 2 * saves << " saves");
  nn::load(probe, file);
  const std::int64_t last = version_of(probe).value_or(-1);
  BOOST_TEST((last == 1000 + saves || last == 2000 + saves));  // the last complete write wins
  BOOST_TEST(temporaries(file).empty());
}
