// Anomaly reports and node descriptions for error messages, read from a tape's storage.
#pragma once

#include "autodiff/detail/tape_store.hpp"

#include <cstdint>
#include <string>

namespace autodiff::detail {

/// The tape whose backward is running on this thread (for forward anomalies raised while computing gradients).
extern constinit thread_local AUTODIFF_TLS const TapeStore* in_backward;

/// "mul 'h' #3 -> [2,2] (inputs [2,2], [2]) created at file:line", or "leaf 'W' [2,2]" for a leaf registration.
std::string describe_record(const TapeStore& s, std::size_t k);
/// A non-finite scalar value in forward. @throws AnomalyError.
[[noreturn]] void scalar_anomaly(ScalarOp op, double value, std::uint32_t pos, const Site& site);
/// A non-finite tensor gradient of record `target`: `before` is what it held (undefined if nothing) and `added` what
/// flowed in, from the backward of s.running (or the seed). @throws AnomalyError.
[[noreturn]] void grad_anomaly(const TapeStore& s, std::size_t target, const Array& before, const Array& added);
/// A non-finite scalar gradient at position `target`, added by the backward of scalar node `from`. @throws AnomalyError.
[[noreturn]] void scalar_grad_anomaly(const TapeStore& s, std::uint32_t from, std::uint32_t target, double before,
                                      double grad, double partial);

}  // namespace autodiff::detail
