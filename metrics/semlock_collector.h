// Reads the semaphore probes' maps (through LockStatsSource) at scrape time and exports them
// as lock series with source="ebpf" (with any further eBPF series, e.g. the CPython GIL
// probes'), plus the probes' health counters.
#pragma once

#include <prometheus/collectable.h>
#include <sys/types.h>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "gilstat/lock_stats.h"
#include "metrics/lock_address_limit.h"
#include "metrics/lock_families.h"
#include "metrics/lock_totals.h"

namespace gilstat::metrics {

// What the eBPF lock series keep from one scrape to the next: the retained totals of processes
// that left their group and the per-address series chosen per process. Owned outside the
// collector (which a reload rebuilds) so that counters stay monotonic across reloads.
struct SemlockState {
  std::mutex mu;
  LockTotals totals;
  LockAddressLimit addresses;
};

struct SemlockNaming {
  // The process-group label of a pid; nullopt when the pid is no longer tracked (its entries
  // are skipped: they are being cleaned up).
  std::function<std::optional<std::string>(pid_t)> group_of;
  // The lock label of a semaphore: "gil", a runtime lock's name, or "other".
  std::function<std::string(pid_t, uint64_t addr)> lock_of;
  bool pid_label = false;
  // Per-address lock series per process (see LockAddressLimit).
  size_t max_lock_series = LockAddressLimit::kDefaultMaxPerProcess;
  // Shared across collectors; null: the collector keeps its own.
  std::shared_ptr<SemlockState> state;
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
  // The series of one scrape: read, bounded per process, with the retained totals added.
  // Called with mu_ held.
  std::vector<LockSeries> ReadSeries() const;

  LockStatsSource& source_;
  SemlockNaming naming_;
  std::function<std::vector<LockSeries>()> more_;
  std::shared_ptr<SemlockState> state_;
  mutable std::mutex mu_;  // LockStatsSource is not required to be thread-safe
  mutable uint64_t read_errors_ = 0;
};

}  // namespace gilstat::metrics
