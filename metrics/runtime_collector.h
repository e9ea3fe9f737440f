// Reads the hosted runtime's counters at scrape time and exports them: the lock series
// (source="runtime") through LockFamilyBuilder, plus the runtime's own gauges and counters.
#pragma once

#include <prometheus/collectable.h>

#include <functional>
#include <string>

#include "gilstat/rt/runtime.h"
#include "metrics/lock_families.h"

namespace gilstat::metrics {

// The lock series of one runtime snapshot: the GIL (lock="gil") and every named lock.
std::vector<LockSeries> RuntimeLockSeries(const rt::Snapshot& snap, const std::string& process);

// Runtime-specific families (policy info, ticks, intervals, pending calls, …).
std::vector<prometheus::MetricFamily> RuntimeFamilies(const rt::Snapshot& snap,
                                                      const std::string& process,
                                                      const std::string& workload);

class RuntimeCollector : public prometheus::Collectable {
 public:
  // `snapshot` is called on the scrape thread; it must be thread-safe (Runtime::TakeSnapshot is).
  RuntimeCollector(std::function<rt::Snapshot()> snapshot, std::string process,
                   std::string workload);
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::function<rt::Snapshot()> snapshot_;
  std::string process_;
  std::string workload_;
};

}  // namespace gilstat::metrics
