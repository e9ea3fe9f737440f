// What `gilstat locks` prints: per-process, per-lock tables with log2 histograms (text), or
// JSON for scripts (schema in docs/CLI.md). Pure functions over plain structs.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "cli/args.h"
#include "gilstat/format.h"
#include "gilstat/lock_stats.h"
#include "tracker/tracker.h"

namespace gilstat::cli {

struct ProcessMeta {
  pid_t pid = 0;
  std::string comm;
  std::string exe;
  bool exited = false;  // exited during the run (its numbers are those read just before)
  std::string python;   // "CPython 3.12.1, GIL measured by gil_condvar"; "" when not CPython
};

struct ProcessReport {
  ProcessMeta meta;
  uint64_t total_wait_ns = 0;       // over the locks shown
  uint64_t acquisitions = 0;        // over the locks shown
  std::vector<SemLockStats> locks;  // by wait_ns, descending
};

struct Report {
  double duration_s = 0;  // how long the run traced
  ProbeMode mode = ProbeMode::kDefault;
  bool interrupted = false;  // ended by SIGINT/SIGTERM before the duration
  std::vector<ProcessReport> processes;
  tracker::TrackerStats tracker;
  ProbeHealth health;
};

// Groups locks by process (every process in `meta` appears, even with no lock), hides locks
// acquired fewer than min_acquisitions times, and sorts processes by total wait (descending,
// then pid) and each process's locks by wait (descending, then address).
std::vector<ProcessReport> BuildProcessReports(const std::vector<SemLockStats>& locks,
                                               const std::map<pid_t, ProcessMeta>& meta,
                                               uint64_t min_acquisitions);

// A log2 histogram in the manner of libbpf-tools, one row per slot from the first to the last
// non-empty one; slot i holds values in (2^(i-1), 2^i], printed as "2^(i-1)+1 -> 2^i".
// Empty string for an empty histogram.
std::string FormatLog2Hist(const HistogramData& hist, std::string_view unit = "nsecs");
// "950 ns", "12.3 us", "4.56 ms", "1.20 s".
using gilstat::FormatDuration;

std::string FormatText(const Report& report);
// One line of JSON (schema gilstat.locks/2, docs/CLI.md); bytes of names that are not UTF-8
// become U+FFFD.
std::string FormatJson(const Report& report);

}  // namespace gilstat::cli
