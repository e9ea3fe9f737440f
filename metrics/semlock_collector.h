// Reads the semaphore probes' maps (through LockStatsSource) at scrape time and exports them
// as lock series with source="ebpf" (with any further eBPF series, e.g. the CPython GIL
// probes'), plus the probes' health counters.
#pragma once

#include <prometheus/collectable.h>
#include <sys/types.h>

#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "gilstat/lock_stats.h"
#include "metrics/lock_families.h"

namespace gilstat::metrics {

struct SemlockNaming {
  // The process-group label of a pid; nullopt when the pid is no longer tracked (its entries
  // are skipped: they are being cleaned up).
  std::function<std::optional<std::string>(pid_t)> group_of;
  // The lock label of a semaphore: "gil", a runtime lock's name, or "other".
  std::function<std::string(pid_t, uint64_t addr)> lock_of;
  bool pid_label = false;
};

// The lock series of one read of the maps.
std::vector<LockSeries> SemlockSeries(const std::vector<SemLockStats>& locks,
                                      const SemlockNaming& naming);

class SemlockCollector : public prometheus::Collectable {
 public:
  // `more`: further eBPF lock series (the CPython GIL probes') that go into the same families,
  // so that series with equal labels are summed rather than repeated. Called on scrape threads.
  SemlockCollector(LockStatsSource& source, SemlockNaming naming,
                   std::function<std::vector<LockSeries>()> more = {});
  std::vector<prometheus::MetricFamily> Collect() const override;

  // Map reads that failed (each logged once by the caller's logger is up to the daemon).
  uint64_t read_errors() const;

 private:
  LockStatsSource& source_;
  SemlockNaming naming_;
  std::function<std::vector<LockSeries>()> more_;
  mutable std::mutex mu_;  // LockStatsSource is not required to be thread-safe
  mutable uint64_t read_errors_ = 0;
};

}  // namespace gilstat::metrics
