// Keeps the lock series of a process group monotonic when processes leave it.
//
// A group's series is the sum of its processes' counters. When a process exits, is detached,
// or restarts its counters (an exec, probes opened again), its part would vanish from the sum
// and Prometheus would read a counter reset. LockTotals remembers the last values read of
// every origin (process and lock) and, when an origin is gone or its counters went down, adds
// its last values into a retained total of its label set, exported with the live series.
//
// Bounds: origins are kept while they are read (at most the probe maps' size); a label set's
// retained total is dropped once no live origin has had that label set for `retention` (the
// series then ends; if it comes back it starts again from its live value). The retained part of
// a per-address lock series ("threading@0x…") whose label set has no live origin left goes to
// the "<name>@other" series of its group, so that exited processes do not leave one series per
// address behind. What an origin counted after the last scrape before it left is not seen.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "metrics/lock_families.h"

namespace gilstat::metrics {

class LockTotals {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kDefaultRetention{3600};

  explicit LockTotals(std::chrono::seconds retention = kDefaultRetention) : retention_(retention) {}

  // `now`: the series of one read, one per origin (LockSeries::origin_*), not yet summed.
  // Returns them plus one series per label set holding the retained totals.
  std::vector<LockSeries> Keep(std::vector<LockSeries> now, Clock::time_point t);

  // `now` plus the retained totals, nothing updated (for a read that failed).
  std::vector<LockSeries> WithRetained(std::vector<LockSeries> now) const;

  size_t retained_series() const { return retained_.size(); }

 private:
  using OriginKey = std::tuple<SeriesLabels, pid_t, uint64_t>;
  struct Retained {
    LockSeries totals;
    Clock::time_point seen;
  };
  void Retain(const LockSeries& last, bool label_set_live, Clock::time_point t);

  std::chrono::seconds retention_;
  std::map<OriginKey, LockSeries> last_;
  std::map<SeriesLabels, Retained> retained_;
};

// The same for single counters summed over a group's processes (the interpreters' own GIL
// switch and drop request counts): per series key, the live values plus the last values of the
// origins that are gone or restarted. Same bounds as LockTotals.
class CounterTotals {
 public:
  using Clock = std::chrono::steady_clock;
  struct Reading {
    std::string series;  // any key naming the exported series
    pid_t origin = 0;
    uint64_t value = 0;
  };
  explicit CounterTotals(std::chrono::seconds retention = LockTotals::kDefaultRetention)
      : retention_(retention) {}
  // Thread-safe: collectors on several scrape threads may share one.
  std::map<std::string, uint64_t> Keep(const std::vector<Reading>& now, Clock::time_point t);

 private:
  struct Retained {
    uint64_t total = 0;
    Clock::time_point seen;
  };
  std::mutex mu_;
  std::chrono::seconds retention_;
  std::map<std::pair<std::string, pid_t>, uint64_t> last_;
  std::map<std::string, Retained> retained_;
};

// Whether any counter of `now` is below the same counter of `before` (the origin restarted).
bool AnyCounterDecreased(const LockSeries& now, const LockSeries& before);

}  // namespace gilstat::metrics
