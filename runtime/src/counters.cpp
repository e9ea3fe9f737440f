// Snapshots of the runtime's counters.
#include "gilstat/rt/counters.h"

namespace gilstat::rt {

HistogramSnapshot Log2Histogram::Snapshot() const {
  HistogramSnapshot out;
  for (int i = 0; i < kHistSlots; ++i) out.slots[i] = slots_[i].Load();
  out.sum_ns = sum_.Load();
  out.count = count_.Load();
  return out;
}

const char* LockKindName(LockKind kind) {
  switch (kind) {
    case LockKind::kGil:
      return "gil";
    case LockKind::kLock:
      return "lock";
    case LockKind::kRLock:
      return "rlock";
    case LockKind::kCondition:
      return "condition";
    case LockKind::kSemaphore:
      return "semaphore";
    case LockKind::kEvent:
      return "event";
  }
  return "unknown";
}

void LockStats::RecordMaxWait(uint64_t ns) {
  // Lock-free monotonic maximum; the first load is cheap and almost always ends it.
  auto& v = max_wait_ns;
  uint64_t cur = v.Load();
  while (ns > cur) {
    if (v.CompareExchange(cur, ns)) return;
  }
}

LockSnapshot SnapshotOf(const std::string& name, LockKind kind, const LockStats& stats) {
  LockSnapshot s;
  s.name = name;
  s.kind = kind;
  s.acquisitions = stats.acquisitions.Load();
  s.contended = stats.contended.Load();
  s.failed_tries = stats.failed_tries.Load();
  s.timeouts = stats.timeouts.Load();
  s.wait_ns = stats.wait_ns.Load();
  s.max_wait_ns = stats.max_wait_ns.Load();
  s.releases = stats.releases.Load();
  s.handoffs = stats.handoffs.Load();
  s.forced_releases = stats.forced_releases.Load();
  s.voluntary_releases = stats.voluntary_releases.Load();
  s.exit_releases = stats.exit_releases.Load();
  s.same_thread_reacquisitions = stats.same_thread_reacquisitions.Load();
  s.wait = stats.wait_hist.Snapshot();
  s.hold = stats.hold_hist.Snapshot();
  return s;
}

}  // namespace gilstat::rt
