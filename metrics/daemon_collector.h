// The daemon's own series: the processes the targets match and how attaching to them went
// (gilstat_targets, gilstat_probes_attached, gilstat_attach_errors_total), the process events
// the tracker saw, detaches, and configuration reloads. It adapts a plain struct the daemon fills
// from its tracker and reload counters; see docs/METRICS.md.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace gilstat::metrics {

struct DaemonStats {
  uint64_t attached = 0;  // processes with the lock probes attached
  uint64_t pending = 0;   // matching processes waiting for an attach retry
  // Failed attaches by reason ("no_libc", "permission", ...), in the order to expose.
  std::vector<std::pair<std::string, uint64_t>> attach_errors;
  uint64_t exec_events = 0;
  uint64_t exit_events = 0;
  uint64_t fork_events = 0;
  uint64_t rename_events = 0;
  uint64_t lost_events = 0;  // process events the kernel ring buffer dropped
  uint64_t detaches = 0;     // exit, exec or reload
  uint64_t reloads_ok = 0;
  uint64_t reloads_failed = 0;
  bool last_reload_ok = true;
};

std::vector<prometheus::MetricFamily> DaemonFamilies(const DaemonStats& s);

class DaemonCollector : public prometheus::Collectable {
 public:
  // `read` is called on the scrape thread and must be thread-safe.
  explicit DaemonCollector(std::function<DaemonStats()> read) : read_(std::move(read)) {}
  std::vector<prometheus::MetricFamily> Collect() const override { return DaemonFamilies(read_()); }

 private:
  std::function<DaemonStats()> read_;
};

}  // namespace gilstat::metrics
