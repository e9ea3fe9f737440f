// A LockStatsSource for the collector tests: returns `locks` and `health`, or fails.
#pragma once

#include <vector>

#include "gilstat/lock_stats.h"

namespace gilstat::metrics {

class FakeSource : public LockStatsSource {
 public:
  Result<std::vector<SemLockStats>> ReadLocks() override {
    if (fail) return MakeError(ErrorCode::kUnavailable, "map gone");
    return locks;
  }
  ProbeHealth ReadHealth() override { return health; }

  std::vector<SemLockStats> locks;
  ProbeHealth health;
  bool fail = false;
};

}  // namespace gilstat::metrics
