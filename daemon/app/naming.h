// Label values of the eBPF series: the process group of a pid (from the configured template)
// and the lock name of a semaphore ("gil", a runtime lock's name, "threading" in a CPython
// process, or "other"). Updated by the
// main loop (tracker callbacks, runtime snapshots), read by the scrape threads.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "config/config.h"
#include "gilstat/rt/runtime.h"
#include "host/python_host.h"
#include "metrics/semlock_collector.h"
#include "tracker/proc.h"
#include "tracker/tracker.h"

namespace gilstat {

// Expands {comm}, {exe} (base name), {unit} (systemd unit of the cgroup, "none" outside one)
// and {pid}. An empty result falls back to the comm. Bytes that are not UTF-8 (a process
// controls its name) are replaced with U+FFFD: the result is a valid label value.
std::string ExpandGroupTemplate(const std::string& tmpl, const tracker::ProcessInfo& info);

class Naming : public tracker::TrackerObserver {
 public:
  Naming(config::LabelsConfig labels, std::string proc_root);

  void Attached(const tracker::ProcessInfo& info) override;
  void Detaching(const tracker::ProcessInfo& info, bool exited) override;

  // A reload with other label settings renames every known process.
  void SetLabels(const config::LabelsConfig& labels);
  // The native addresses of the runtime hosted in process `pid` (the daemon itself).
  void SetRuntimeLocks(pid_t pid, const rt::Snapshot& snap);
  void ClearRuntimeLocks();
  // CPython targets name their semaphores ("gil" for 2.x's GIL, "threading"); null: none.
  void SetPython(host::PythonTargets* python);

  std::optional<std::string> GroupOf(pid_t pid) const;
  std::string LockOf(pid_t pid, uint64_t addr) const;
  metrics::SemlockNaming ForCollector() const;
  // The retained group counters of the CPython series (kept across reloads like ForCollector's).
  std::shared_ptr<metrics::CounterTotals> PythonTotals() const { return python_totals_; }

 private:
  mutable std::mutex mu_;
  config::LabelsConfig labels_;
  tracker::ProcFs procfs_;
  std::map<pid_t, tracker::ProcessInfo> infos_;
  std::map<pid_t, std::string> groups_;
  pid_t runtime_pid_ = 0;
  std::map<uint64_t, std::string> runtime_locks_;  // address -> lock label
  host::PythonTargets* python_ = nullptr;
  // Kept across the collectors a reload rebuilds: group totals stay monotonic.
  std::shared_ptr<metrics::SemlockState> series_state_ = std::make_shared<metrics::SemlockState>();
  std::shared_ptr<metrics::CounterTotals> python_totals_ =
      std::make_shared<metrics::CounterTotals>();
};

}  // namespace gilstat
