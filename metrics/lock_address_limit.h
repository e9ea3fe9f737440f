// Bounds the per-address lock series (labels.lock_address: "threading@0x…"): a process with
// thousands of contended locks would otherwise export one series per lock and family (16,000
// locks: a million series, 129 MB per scrape). Each process keeps at most `max_per_process`
// per-address series; the rest of its locks are summed into "<name>@other".
//
// Which locks get a series: the ones with the most wait time (then contended acquisitions) when
// a slot is free, and a lock keeps its series for as long as its process is read, so that a
// series never moves into "@other" and back (its counters stay monotonic). A process's state is
// dropped when it is no longer read.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "metrics/lock_families.h"

namespace gilstat::metrics {

class LockAddressLimit {
 public:
  static constexpr size_t kDefaultMaxPerProcess = 20;

  // Renames, in place, the per-address series of `series` beyond the limit (at least 1).
  void Apply(std::vector<LockSeries>& series, size_t max_per_process);

  // Locks (process, address) that got no series of their own, each counted once.
  uint64_t folded_total() const { return folded_total_; }

 private:
  struct Process {
    std::set<uint64_t> chosen;  // addresses with their own series
    std::set<uint64_t> folded;  // addresses counted in folded_total_
  };
  std::map<pid_t, Process> processes_;
  uint64_t folded_total_ = 0;
};

// Whether `lock` is a per-address label ("name@0x…", not "name@other").
bool IsPerAddressLock(const std::string& lock);

}  // namespace gilstat::metrics
