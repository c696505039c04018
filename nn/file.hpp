// Whole-file reading and atomic, durable writing, shared by the IDX files, checkpoints and plots.
//
// Writing never clobbers what is not ours: only a regular file (through any symlinks to it) or a new path is written.
// Each writer creates its own temporary file next to the target (O_EXCL, so two writers never share one), writes
// and fsyncs it, renames it over the target and fsyncs the directory. A reader sees the old file or a new complete
// one, the last rename wins, and a writer killed at any point leaves the target as it was (and perhaps a stale
// "<name>.tmp-<pid>-<n>" beside it, which nothing reads and which may be deleted).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

namespace nn {

/// Checks, before any long work, that write_file could write `file`: it is a regular file or a new path, or a symlink
/// (or chain of them) that ends at an existing regular file, and a file can be created in the directory of that file
/// (by creating and removing one). A dangling symlink is refused: it is not ours to create.
/// @throws std::invalid_argument "<op>: <file>: <reason>", with the OS error text where there is one, for a
/// directory, FIFO, socket or device, a symlink to one, a missing or unwritable directory, or a symlink loop.
void check_output_file(std::string_view op, const std::filesystem::path& file);

namespace detail {

/// Every byte of a regular file.
/// @throws std::invalid_argument "<op>: <file>: <reason>" when the file does not exist, is not a regular file (a
/// directory, a device, a FIFO), cannot be opened (with the OS error: a symlink loop, no permission), is larger
/// than max_bytes, or a read fails (e.g. EIO); never std::ios_base::failure.
std::vector<std::uint8_t> read_file(std::string_view op, const std::filesystem::path& file,
                                    std::uint64_t max_bytes = std::numeric_limits<std::uint64_t>::max());

/// Replaces `file` (or the regular file a symlink at `file` leads to) with `bytes`, atomically and durably (see the
/// top of this file). @throws std::invalid_argument "<op>: <file>: <reason>" as check_output_file, and when a
/// write, fsync or rename fails (with the OS error text); the target is then unchanged.
void write_file(std::string_view op, const std::filesystem::path& file, std::span<const std::uint8_t> bytes);

/// The points of write_file at which the test hook is called.
enum class WritePhase {
  encoded,       ///< the bytes are ready; nothing is created yet
  half_written,  ///< the temporary file holds the first half of the bytes
  synced,        ///< the temporary file is complete, fsynced and closed
  renaming,      ///< about to rename the temporary file over the target
  renamed,       ///< the target is the new file (its directory not yet fsynced)
};
using WriteHook = void (*)(WritePhase);

/// TEST ONLY (tests/checkpoint_kill_test.cpp): when set, write_file calls it at each phase, so a test can kill the
/// process at a known point of a save. Not part of the library's API; it is null and unused otherwise.
extern std::atomic<WriteHook> write_hook;

}  // namespace detail
}  // namespace nn
