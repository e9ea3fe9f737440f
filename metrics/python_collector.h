// The CPython targets' own series: which interpreter each process group runs and how its GIL is
// measured (gilstat_python_info), whether the GIL is enabled, the interpreter's switch interval
// and its own GIL switch counter read from its memory, and the GIL probes' drop requests. The
// GIL lock series themselves (lock="gil") go through LockFamilyBuilder with the semaphore
// series, see PyGilLockSeries. See docs/PYTHON.md.
#pragma once

#include <prometheus/collectable.h>
#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gilstat/gil_method.h"
#include "gilstat/lock_stats.h"
#include "metrics/lock_families.h"

namespace gilstat::metrics {

// One watched CPython process as the collector sees it.
struct PythonProcess {
  pid_t pid = 0;
  std::string group;                    // process label
  std::string version;                  // "3.11.2"
  std::string build;                    // "unstripped", "stripped", "free-threaded"
  GilMethod method = GilMethod::kNone;  // label `method`: GilMethodLabel
  bool gil_enabled = true;
  std::optional<uint64_t> switch_interval_us;    // read from the process (3.x)
  std::optional<uint64_t> interpreter_switches;  // gil->switch_number, read from the process
  std::optional<uint64_t> drop_requests;         // seen by the GIL condvar probe
};

std::vector<prometheus::MetricFamily> PythonFamilies(const std::vector<PythonProcess>& procs,
                                                     bool pid_label);

// The lock series (lock="gil", source="ebpf") of one process's GIL probe statistics.
LockSeries PyGilLockSeries(const PyGilStats& stats, const std::string& group, bool pid_label);

// Errors of the GIL probes (gilstat_python_probe_errors_total{kind}).
struct PythonProbeErrors {
  uint64_t attach = 0;    // a process's GIL probes could not be attached
  uint64_t map_full = 0;  // a thread's or process's entry did not fit
  uint64_t read = 0;      // the GIL state could not be read from a process
};

class PythonCollector : public prometheus::Collectable {
 public:
  // Both functions are called on scrape threads and must be thread-safe.
  PythonCollector(std::function<std::vector<PythonProcess>()> processes,
                  std::function<PythonProbeErrors()> errors, bool pid_label);
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::function<std::vector<PythonProcess>()> processes_;
  std::function<PythonProbeErrors()> errors_;
  bool pid_label_;
};

}  // namespace gilstat::metrics
