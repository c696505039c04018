// Resident-set figures of this process from /proc (Linux), for the memory tests: current RSS, peak RSS, peak reset.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <fstream>
#include <string>

namespace rss {

/// Resident set size in bytes (the second field of /proc/self/statm, in pages); 0 when /proc is unavailable.
inline std::size_t current_bytes() {
  std::ifstream in("/proc/self/statm");
  std::size_t size = 0, resident = 0;
  if (!(in >> size >> resident)) return 0;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

/// Peak resident set size in bytes (VmHWM of /proc/self/status, in kB); 0 when unavailable.
inline std::size_t peak_bytes() {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == "VmHWM:") {
      std::size_t kb = 0;
      in >> kb;
      return kb * 1024;
    }
    std::getline(in, key);
  }
  return 0;
}

/// Resets the peak to the current RSS (writes 5 to /proc/self/clear_refs, Linux >= 4.0), so a later peak_bytes()
/// measures one phase. Returns false when the kernel refuses, in which case the peak covers the whole process.
inline bool reset_peak() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

/// Bytes as mebibytes, for messages.
inline double mib(std::size_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

}  // namespace rss
