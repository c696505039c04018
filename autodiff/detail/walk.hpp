// The one reverse walk over a tape's node stream, shared by backward, DOT export and anomaly reports.
#pragma once

#include "autodiff/detail/tape_store.hpp"

#include <cstdint>

namespace autodiff::detail {

/// The top position a walk from `pos` must start at: `pos` itself, or the last output of the record it belongs to.
inline std::uint32_t walk_top(const TapeStore& s, std::uint32_t pos) {
  const std::int64_t k = s.record_at_or_below(pos);
  if (k < 0) return pos;
  const Record& r = s.record(static_cast<std::size_t>(k));
  return pos < r.pos + r.count ? r.pos + r.count - 1 : pos;
}

/// Visits the stream from position `top` down to the start in reverse creation order, which is a reverse topological
/// order: each maximal run of scalar nodes as on_scalars(hi, lo) (positions hi down to lo, both included), and each
/// record as on_record(k). A plain loop: no recursion, no visited set. on_record may append records (create_graph).
template <class OnScalars, class OnRecord>
void reverse_walk(const TapeStore& s, std::uint32_t top, OnScalars&& on_scalars, OnRecord&& on_record) {
  std::int64_t k = s.record_at_or_below(top);
  std::int64_t i = top;
  for (;;) {
    const std::int64_t lo = k >= 0 ? std::int64_t{s.record(static_cast<std::size_t>(k)).pos} + s.record(static_cast<std::size_t>(k)).count : 0;
    if (i >= lo) on_scalars(static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(lo));
    if (k < 0) return;
    on_record(static_cast<std::uint32_t>(k));
    i = std::int64_t{s.record(static_cast<std::size_t>(k)).pos} - 1;
    --k;
  }
}

}  // namespace autodiff::detail
