#include "metrics/lock_address_limit.h"

#include <algorithm>
#include <string>

namespace gilstat::metrics {

bool IsPerAddressLock(const std::string& lock) {
  const auto at = lock.find(kLockAddressSeparator);
  return at != std::string::npos && lock.compare(at + 1, std::string::npos, kOtherAddresses) != 0;
}

void LockAddressLimit::Apply(std::vector<LockSeries>& series, size_t max_per_process) {
  max_per_process = std::max<size_t>(max_per_process, 1);
  std::map<pid_t, std::vector<LockSeries*>> by_pid;
  for (LockSeries& s : series) {
    if (IsPerAddressLock(s.labels.lock)) by_pid[s.origin_pid].push_back(&s);
  }
  std::erase_if(processes_, [&](const auto& p) { return !by_pid.count(p.first); });
  for (auto& [pid, locks] : by_pid) {
    Process& p = processes_[pid];
    // Free slots go to the locks that waited longest.
    std::sort(locks.begin(), locks.end(), [](const LockSeries* a, const LockSeries* b) {
      if (a->wait.sum_ns != b->wait.sum_ns) return a->wait.sum_ns > b->wait.sum_ns;
      if (a->contended != b->contended) return a->contended > b->contended;
      return a->origin_addr < b->origin_addr;
    });
    for (const LockSeries* s : locks) {
      if (p.chosen.size() >= max_per_process) break;
      if (!p.folded.count(s->origin_addr)) p.chosen.insert(s->origin_addr);
    }
    for (LockSeries* s : locks) {
      if (p.chosen.count(s->origin_addr)) continue;
      const auto at = s->labels.lock.find(kLockAddressSeparator);
      s->labels.lock.replace(at + 1, std::string::npos, kOtherAddresses);
      if (p.folded.insert(s->origin_addr).second) ++folded_total_;
    }
  }
}

}  // namespace gilstat::metrics
