// The CPython targets' own series: which interpreter each process group runs and how its GIL is
// measured (gilstat_python_info), whether the GIL is enabled, the interpreter's switch interval
// and its own GIL switch counter read from its memory, and the GIL probes' drop requests. The
// GIL lock series themselves (lock="gil") go through LockFamilyBuilder with the semaphore
// series, see PyGilLockSeries. See docs/PYTHON.md.
#pragma once

#include <prometheus/collectable.h>
#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gilstat/gil_method.h"
#include "gilstat/lock_stats.h"
#include "metrics/lock_families.h"
#include "metrics/lock_totals.h"

namespace gilstat::metrics {

// One watched CPython process as the collector sees it.
struct PythonProcess {
  pid_t pid = 0;
  std::string group;                    // process label
  std::string version;                  // "3.11.2"
  std::string build;                    // "unstripped", "stripped", "free-threaded"
  GilMethod method = GilMethod::kNone;  // label `method`: GilMethodLabel
  // label `layout`: "known", "assumed" (a newer minor version read with an older layout), or
  // "" (no GIL layout read: 2.x, method none) for no label
  std::string layout;
  bool gil_enabled = true;
  std::optional<uint64_t> switch_interval_us;    // read from the process (3.x)
  std::optional<uint64_t> interpreter_switches;  // gil->switch_number, read from the process
  std::optional<uint64_t> drop_requests;         // seen by the GIL condvar probe
  // 3.12+ with the GIL probes: sub-interpreter GILs found but not measured (no slot left, or an
  // interpreter list longer than what is walked); nullopt where sub-interpreters are not looked
  // for.
  std::optional<uint64_t> untracked_gils;
};

// With `totals`, the group counters (switches, drop requests) keep the counts of processes that
// left the group (see CounterTotals).
std::vector<prometheus::MetricFamily> PythonFamilies(const std::vector<PythonProcess>& procs,
                                                     bool pid_label,
                                                     CounterTotals* totals = nullptr);

// The lock series (source="ebpf") of one GIL's probe statistics: lock="gil" for the main
// interpreter's, lock="gil@interpreter-<id>" for a sub-interpreter's own GIL.
LockSeries PyGilLockSeries(const PyGilStats& stats, const std::string& group, bool pid_label);

// Errors of the GIL probes (gilstat_python_probe_errors_total{kind}).
struct PythonProbeErrors {
  uint64_t attach = 0;    // a process's GIL probes could not be attached
  uint64_t map_full = 0;  // a thread's or process's entry did not fit
  uint64_t read = 0;      // the GIL state could not be read from a process
  // Python stacks (probes.python_stacks): a stack, or a wait's entry, that did not fit in the
  // stack maps of the GIL or semaphore probes.
  uint64_t stacks_full = 0;
};

class PythonCollector : public prometheus::Collectable {
 public:
  // Both functions are called on scrape threads and must be thread-safe. `totals`: the group
  // counters' retained totals, shared across the collectors a reload rebuilds (null: its own).
  PythonCollector(std::function<std::vector<PythonProcess>()> processes,
                  std::function<PythonProbeErrors()> errors, bool pid_label,
                  std::shared_ptr<CounterTotals> totals = nullptr);
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::function<std::vector<PythonProcess>()> processes_;
  std::function<PythonProbeErrors()> errors_;
  bool pid_label_;
  std::shared_ptr<CounterTotals> totals_;
};

// GIL utilization by sampling (daemon/host/gil_sampler.h): the samples of one live process
// (pid set) or the totals of the processes of a group that left (pid 0).
struct GilUtilization {
  std::string group;
  pid_t pid = 0;
  uint64_t held = 0;        // samples that found the GIL held
  uint64_t free = 0;        // samples that found it free
  double held_seconds = 0;  // the intervals the held samples stand for, summed
};

// The sampler's own state.
struct GilSamplerHealth {
  uint64_t gone = 0;                 // reads that failed because the process was gone
  uint64_t unreadable = 0;           // reads that failed otherwise (or read a value no GIL has)
  size_t processes = 0;              // processes being sampled
  double mean_interval_seconds = 0;  // the mean time between two samples of one process
};

// gilstat_python_gil_samples_total{state}, gilstat_python_gil_held_seconds_total per group
// (with `pid_label`: per live process; the totals of processes that left are then not shown)
// and the sampler's health.
std::vector<prometheus::MetricFamily> GilUtilizationFamilies(
    const std::vector<GilUtilization>& rows, const GilSamplerHealth& health, bool pid_label);

class GilUtilizationCollector : public prometheus::Collectable {
 public:
  // Both functions are called on scrape threads and must be thread-safe.
  GilUtilizationCollector(std::function<std::vector<GilUtilization>()> rows,
                          std::function<GilSamplerHealth()> health, bool pid_label);
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::function<std::vector<GilUtilization>()> rows_;
  std::function<GilSamplerHealth()> health_;
  bool pid_label_;
};

}  // namespace gilstat::metrics
