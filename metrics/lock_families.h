// One model for the lock series of both sources (the hosted runtime's counters and the eBPF
// maps) and the one piece of code that turns it into Prometheus metric families, so that both
// sources export exactly the same names, labels, buckets and help texts.
#pragma once

#include <prometheus/metric_family.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gilstat/histogram.h"

namespace gilstat::metrics {

// The labels of one series. `pid` is empty unless the per-pid label is enabled.
struct SeriesLabels {
  std::string process;  // process group name
  std::string lock;     // "gil", a runtime lock's name, or "other"
  std::string source;   // "ebpf" or "runtime"
  std::string pid;

  auto operator<=>(const SeriesLabels&) const = default;
};

// A per-address lock label is "<name>@<address>" (labels.lock_address); the locks of a process
// beyond its limit of per-address series, and those of processes gone, are summed in
// "<name>@other".
inline constexpr char kLockAddressSeparator = '@';
inline constexpr const char* kOtherAddresses = "other";

// The origin of the GIL probes' series (no semaphore address).
inline constexpr uint64_t kGilOrigin = ~uint64_t{0};

struct LockSeries {
  SeriesLabels labels;
  // Where it was read: the process and the lock's address (kGilOrigin for the GIL probes).
  // Not exported; LockTotals keeps the totals of origins that are gone.
  pid_t origin_pid = 0;
  uint64_t origin_addr = 0;
  // False where the source sees only contended acquisitions (the semaphore probes in default
  // mode, the GIL condvar of a stripped CPython): gilstat_lock_acquisitions_total and
  // gilstat_lock_failed_tries_total are then left out rather than understated.
  bool acquisitions_known = true;
  uint64_t acquisitions = 0;
  uint64_t contended = 0;
  uint64_t handoffs = 0;
  uint64_t failed_tries = 0;  // non-blocking attempts that found the lock held
  uint64_t timeouts = 0;      // timed attempts that gave up
  HistogramData wait;
  std::optional<uint64_t> blocked_ns;            // ebpf: time blocked in the kernel
  std::optional<HistogramData> handoff_latency;  // where the source measures it
  // GIL series only:
  std::optional<HistogramData> hold;
  std::optional<uint64_t> forced_switches;
  std::optional<uint64_t> voluntary_switches;
};

// Adds the counters and histograms of `s` into `into` (labels and origin unchanged).
void MergeSeries(LockSeries& into, const LockSeries& s);

// Adds series, summing those whose labels are equal (several processes of one group, several
// semaphores of the "other" lock), then builds the families.
class LockFamilyBuilder {
 public:
  void Add(const LockSeries& series);
  std::vector<prometheus::MetricFamily> Build() const;

 private:
  std::map<SeriesLabels, LockSeries> series_;
};

}  // namespace gilstat::metrics
