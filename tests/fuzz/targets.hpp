// Fuzz target bodies, shared by the libFuzzer entry points (tests/fuzz/fuzz_*.cpp) and tests/fuzz_replay_test.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace fuzz {

/// An outcome the library must never produce for any input: a wrong result, an exception of an undocumented type,
/// or an error discovered in backward. The libFuzzer entries turn it into abort(); the replay test into a failure.
struct FuzzFailure : std::runtime_error {
  explicit FuzzFailure(const std::string& what) : std::runtime_error(what) {}
};

/// nn::read_idx (plain, gzip, or the input gzipped here first) and nn::load_idx_pair on a split input.
/// Input: byte 0 selects the mode (bit 0: gzip the rest; bit 1: pair mode, bytes 1-2 = image file length).
int fuzz_idx(const std::uint8_t* data, std::size_t size);

/// nn::load_arrays, nn::load into a small MLP, and nn::Trainer::checkpoint_config.
/// Input: byte 0 bit 0 set = patch the trailing CRC-32 so the parse gets past the checksum; the rest is the file.
int fuzz_checkpoint(const std::uint8_t* data, std::size_t size);

/// A random expression graph (tensor and scalar Var ops) interpreted from the input: the engine must either throw a
/// documented exception at op construction or produce gradients that pass gradcheck where the function is smooth.
int fuzz_graph(const std::uint8_t* data, std::size_t size);

/// Calls a target by name ("idx", "checkpoint", "graph"). @throws std::invalid_argument for another name.
int run_target(const std::string& name, const std::uint8_t* data, std::size_t size);

}  // namespace fuzz
