// Fuzz target bodies, shared by the libFuzzer entry points (tests/fuzz/fuzz_*.cpp) and tests/fuzz_replay_test.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

namespace fuzz {

/// An outcome the library must never produce for any input: a wrong result, an exception of an undocumented type,
/// or an error discovered in backward. The libFuzzer entries turn it into abort(); the replay test into a failure.
struct FuzzFailure : std::runtime_error {
  explicit FuzzFailure(const std::string& what) : std::runtime_error(what) {}
};

/// Throws FuzzFailure(what).
[[noreturn]] void fail(const std::string& what);
/// With AUTODIFF_FUZZ_VERBOSE set, says what each input led to (for writing seeds and regressions).
void note(std::string_view what);
/// A documented error: exactly std::invalid_argument or std::logic_error, with an "<op>: <what>" message.
/// Anything else (another type, an empty or shapeless message) is a FuzzFailure.
void expect_documented(const std::exception& e, std::string_view where);
/// The message of the exception in flight.
std::string in_flight();
/// Classifies the exception in flight: FuzzFailure passes through, documented errors return, the rest fail.
void classify(std::string_view where);
/// A named file in /dev/shm (or the temp directory) for the library's writers, which replace a file by renaming a
/// new one over it and so need a real directory entry (a memfd's /proc/self/fd path has none, and is refused).
std::filesystem::path scratch_path(const char* name);

/// nn::read_idx (plain, gzip, or the input gzipped here first) and nn::load_idx_pair on a split input.
/// Input: byte 0 selects the mode (bit 0: gzip the rest; bit 1: pair mode, bytes 1-2 = image file length).
int fuzz_idx(const std::uint8_t* data, std::size_t size);

/// nn::load_arrays, nn::load into a small MLP, and nn::Trainer::checkpoint_config.
/// Input: byte 0 bit 0 set = patch the trailing CRC-32 so the parse gets past the checksum; the rest is the file.
int fuzz_checkpoint(const std::uint8_t* data, std::size_t size);

/// A random expression graph (tensor and scalar Var ops) interpreted from the input: the engine must either throw a
/// documented exception at op construction or produce gradients that pass gradcheck where the function is smooth.
int fuzz_graph(const std::uint8_t* data, std::size_t size);

/// The training program's command line (examples/train_cli.hpp) and a Trainer checkpoint's meaning
/// (Trainer::checkpoint_config, checkpoint_data, load). Byte 0 bit 0 picks: 0 = flags, the rest split at NUL bytes
/// into arguments; 1 = a checkpoint of a small trainer whose entries the rest of the input rewrites.
int fuzz_train(const std::uint8_t* data, std::size_t size);

/// Calls a target by name ("idx", "checkpoint", "graph", "train"). @throws std::invalid_argument for another name.
int run_target(const std::string& name, const std::uint8_t* data, std::size_t size);

}  // namespace fuzz
