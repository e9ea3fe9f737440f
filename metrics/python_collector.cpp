#include "metrics/python_collector.h"

#include <map>
#include <tuple>
#include <utility>

#include "metrics/family_util.h"

namespace gilstat::metrics {

using prometheus::MetricType;

namespace {

struct Group {
  bool gil_enabled = true;
  std::optional<uint64_t> interval_us;
  std::optional<uint64_t> switches;
  std::optional<uint64_t> drop_requests;
  std::optional<uint64_t> untracked_gils;
};
using GroupKey = std::pair<std::string, std::string>;  // (group, pid or "")

// The group counters with the last values of processes gone from the group added back, so that
// they never decrease (see CounterTotals).
void KeepGroupCounters(const std::vector<PythonProcess>& procs, bool pid_label,
                       CounterTotals& totals, std::map<GroupKey, Group>& groups) {
  auto key_of = [](const char* what, const GroupKey& g) {
    return std::string(what) + '\0' + g.first + '\0' + g.second;
  };
  std::vector<CounterTotals::Reading> readings;
  for (const PythonProcess& p : procs) {
    const GroupKey g{p.group, pid_label ? std::to_string(p.pid) : ""};
    if (p.interpreter_switches)
      readings.push_back({key_of("switches", g), p.pid, *p.interpreter_switches});
    if (p.drop_requests) readings.push_back({key_of("drops", g), p.pid, *p.drop_requests});
  }
  const auto kept = totals.Keep(readings, CounterTotals::Clock::now());
  for (auto& [key, g] : groups) {
    if (auto it = kept.find(key_of("switches", key)); it != kept.end()) g.switches = it->second;
    if (auto it = kept.find(key_of("drops", key)); it != kept.end()) g.drop_requests = it->second;
  }
}

Labels GroupLabels(const std::string& group, const std::string& pid) {
  Labels l = {{"process", group}};
  if (!pid.empty()) l.push_back({"pid", pid});
  return l;
}

// gilstat_python_untracked_gils of the groups that look for sub-interpreters.
prometheus::MetricFamily UntrackedGilsFamily(const std::map<GroupKey, Group>& groups) {
  auto f = EmptyFamily("gilstat_python_untracked_gils",
                       "GILs of sub-interpreters (3.12+) found in the group's processes but not "
                       "measured: more than the probe's slots per process or in all, or an "
                       "interpreter list longer than what is walked.",
                       MetricType::Gauge);
  for (const auto& [key, g] : groups) {
    if (!g.untracked_gils) continue;
    f.metric.push_back(Sample(MetricType::Gauge, GroupLabels(key.first, key.second),
                              static_cast<double>(*g.untracked_gils)));
  }
  return f;
}

}  // namespace

std::vector<prometheus::MetricFamily> PythonFamilies(const std::vector<PythonProcess>& procs,
                                                     bool pid_label, CounterTotals* totals) {
  // Summed per label set: several processes of one group are one series.
  using InfoKey =
      std::tuple<std::string, std::string, std::string, std::string, std::string, std::string>;
  std::map<InfoKey, double> info;
  std::map<GroupKey, Group> groups;
  for (const PythonProcess& p : procs) {
    const std::string pid = pid_label ? std::to_string(p.pid) : "";
    info[{p.group, pid, p.version, p.build, GilMethodLabel(p.method), p.layout}] += 1;
    Group& g = groups[{p.group, pid}];
    g.gil_enabled = g.gil_enabled && p.gil_enabled;
    // Several processes: the largest interval (the one that makes threads wait longest).
    if (p.switch_interval_us)
      g.interval_us = std::max(g.interval_us.value_or(0), *p.switch_interval_us);
    if (p.interpreter_switches) g.switches = g.switches.value_or(0) + *p.interpreter_switches;
    if (p.drop_requests) g.drop_requests = g.drop_requests.value_or(0) + *p.drop_requests;
    if (p.untracked_gils) g.untracked_gils = g.untracked_gils.value_or(0) + *p.untracked_gils;
  }
  if (totals) KeepGroupCounters(procs, pid_label, *totals, groups);
  const auto labels_of = GroupLabels;
  auto info_f = EmptyFamily("gilstat_python_info",
                            "Watched CPython processes by interpreter version, build (unstripped, "
                            "stripped, free-threaded), GIL measurement method and GIL layout "
                            "(known, or assumed for a version newer than the known ones).",
                            MetricType::Gauge);
  for (const auto& [k, n] : info) {
    const auto& [group, pid, version, build, method, layout] = k;
    Labels l = labels_of(group, pid);
    l.push_back({"version", version});
    l.push_back({"build", build});
    l.push_back({"method", method});
    if (!layout.empty()) l.push_back({"layout", layout});
    info_f.metric.push_back(Sample(MetricType::Gauge, std::move(l), n));
  }
  auto enabled = EmptyFamily("gilstat_python_gil_enabled",
                             "1 if the GIL is enabled in every process of the group, 0 if a "
                             "free-threaded build runs without it.",
                             MetricType::Gauge);
  auto interval = EmptyFamily("gilstat_python_switch_interval_seconds",
                              "The interpreter's switch interval (sys.getswitchinterval()), read "
                              "from its memory.",
                              MetricType::Gauge);
  auto switches = EmptyFamily("gilstat_python_gil_switches_total",
                              "The interpreter's own count of GIL holder changes "
                              "(gil->switch_number), read from its memory.",
                              MetricType::Counter);
  auto drops = EmptyFamily("gilstat_python_gil_drop_requests_total",
                           "GIL waits that timed out without a switch, so that the waiter asked "
                           "the holder to drop the GIL (CPython's drop request).",
                           MetricType::Counter);
  for (const auto& [key, g] : groups) {
    const Labels l = labels_of(key.first, key.second);
    enabled.metric.push_back(Sample(MetricType::Gauge, l, g.gil_enabled ? 1 : 0));
    if (g.interval_us) {
      interval.metric.push_back(
          Sample(MetricType::Gauge, l, static_cast<double>(*g.interval_us) * 1e-6));
    }
    if (g.switches) {
      switches.metric.push_back(Sample(MetricType::Counter, l, static_cast<double>(*g.switches)));
    }
    if (g.drop_requests) {
      drops.metric.push_back(Sample(MetricType::Counter, l, static_cast<double>(*g.drop_requests)));
    }
  }
  std::vector<prometheus::MetricFamily> out;
  auto untracked = UntrackedGilsFamily(groups);
  for (auto* f : {&info_f, &enabled, &interval, &switches, &drops, &untracked}) {
    if (!f->metric.empty()) out.push_back(std::move(*f));
  }
  return out;
}

LockSeries PyGilLockSeries(const PyGilStats& st, const std::string& group, bool pid_label) {
  LockSeries s;
  // A sub-interpreter's GIL is named like a per-address lock ("<name>@<where>"): its series is
  // bounded by labels.lock_address's per-process limit, and once the interpreter is gone its
  // totals go to "gil@other" (LockTotals).
  const std::string lock =
      st.interpreter == 0 ? "gil" : "gil@interpreter-" + std::to_string(st.interpreter);
  s.labels = {group, lock, "ebpf", pid_label ? std::to_string(st.pid) : ""};
  s.origin_pid = st.pid;
  s.origin_addr = st.interpreter == 0 || st.gil == 0 ? kGilOrigin : st.gil;
  s.acquisitions_known = st.take_drop;
  s.acquisitions = st.acquisitions;
  s.contended = st.contended;
  s.handoffs = st.handoffs;
  s.wait = st.wait;
  if (st.take_drop) s.hold = st.hold;
  if (st.handoff_latency_known) s.handoff_latency = st.handoff_latency;
  // Forced releases are told from voluntary ones by the drop requests the condvar probe sees:
  // every release (take_gil method) or every handoff to a waiting thread (condvar only).
  if (st.condvar) {
    s.forced_switches = st.forced;
    s.voluntary_switches = st.voluntary;
  }
  return s;
}

PythonCollector::PythonCollector(std::function<std::vector<PythonProcess>()> processes,
                                 std::function<PythonProbeErrors()> errors, bool pid_label,
                                 std::shared_ptr<CounterTotals> totals)
    : processes_(std::move(processes)),
      errors_(std::move(errors)),
      pid_label_(pid_label),
      totals_(totals ? std::move(totals) : std::make_shared<CounterTotals>()) {}

std::vector<prometheus::MetricFamily> PythonCollector::Collect() const {
  auto out = PythonFamilies(processes_(), pid_label_, totals_.get());
  const PythonProbeErrors e = errors_();
  auto f = EmptyFamily("gilstat_python_probe_errors_total",
                       "Errors of the CPython GIL probes: attach (a process's GIL probes could not "
                       "be attached), map_full (an entry did not fit), read (the GIL state could "
                       "not be read from a process), stacks_full (a Python stack or a wait's "
                       "stack entry did not fit: probes.python_stacks).",
                       MetricType::Counter);
  for (auto [kind, v] : {std::pair{"attach", e.attach}, std::pair{"map_full", e.map_full},
                         std::pair{"read", e.read}, std::pair{"stacks_full", e.stacks_full}}) {
    f.metric.push_back(Sample(MetricType::Counter, {{"kind", kind}}, static_cast<double>(v)));
  }
  out.push_back(std::move(f));
  return out;
}

std::vector<prometheus::MetricFamily> GilUtilizationFamilies(
    const std::vector<GilUtilization>& rows, const GilSamplerHealth& health, bool pid_label) {
  struct Sum {
    uint64_t held = 0, free = 0;
    double held_seconds = 0;
  };
  std::map<std::pair<std::string, pid_t>, Sum> sums;  // (group, pid or 0)
  for (const GilUtilization& r : rows) {
    // Per-pid series end with their process; per-group ones keep what left processes counted.
    if (pid_label && r.pid == 0) continue;
    Sum& s = sums[{r.group, pid_label ? r.pid : 0}];
    s.held += r.held;
    s.free += r.free;
    s.held_seconds += r.held_seconds;
  }
  auto samples = EmptyFamily("gilstat_python_gil_samples_total",
                             "Samples of the GIL's state (held or free) taken by the GIL sampler "
                             "at random times; held / all is the GIL's utilization.",
                             MetricType::Counter);
  auto held = EmptyFamily("gilstat_python_gil_held_seconds_total",
                          "Time the GIL was held, estimated by sampling: the intervals before "
                          "the samples that found it held, summed. Its rate is the utilization.",
                          MetricType::Counter);
  for (const auto& [key, s] : sums) {
    Labels l = {{"process", key.first}};
    if (pid_label) l.push_back({"pid", std::to_string(key.second)});
    for (auto [state, n] : {std::pair{"held", s.held}, std::pair{"free", s.free}}) {
      Labels ls = l;
      ls.push_back({"state", state});
      samples.metric.push_back(Sample(MetricType::Counter, std::move(ls), static_cast<double>(n)));
    }
    held.metric.push_back(Sample(MetricType::Counter, l, s.held_seconds));
  }
  auto errors = EmptyFamily("gilstat_python_gil_sampler_read_errors_total",
                            "GIL sampler reads that failed: gone (the process had exited), "
                            "unreadable (other errors, or a value no GIL has). The process is "
                            "not sampled any more.",
                            MetricType::Counter);
  for (auto [reason, v] :
       {std::pair{"gone", health.gone}, std::pair{"unreadable", health.unreadable}}) {
    errors.metric.push_back(
        Sample(MetricType::Counter, {{"reason", reason}}, static_cast<double>(v)));
  }
  std::vector<prometheus::MetricFamily> out;
  if (!samples.metric.empty()) out.push_back(std::move(samples));
  if (!held.metric.empty()) out.push_back(std::move(held));
  out.push_back(std::move(errors));
  out.push_back(SingleValue("gilstat_python_gil_sampler_interval_seconds",
                            "The GIL sampler's mean time between two samples of one process "
                            "(longer with many processes: reads are capped per second).",
                            MetricType::Gauge, health.mean_interval_seconds));
  return out;
}

GilUtilizationCollector::GilUtilizationCollector(std::function<std::vector<GilUtilization>()> rows,
                                                 std::function<GilSamplerHealth()> health,
                                                 bool pid_label)
    : rows_(std::move(rows)), health_(std::move(health)), pid_label_(pid_label) {}

std::vector<prometheus::MetricFamily> GilUtilizationCollector::Collect() const {
  return GilUtilizationFamilies(rows_(), health_(), pid_label_);
}

}  // namespace gilstat::metrics
