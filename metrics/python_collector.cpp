#include "metrics/python_collector.h"

#include <map>
#include <tuple>
#include <utility>

#include "metrics/family_util.h"

namespace gilstat::metrics {

using prometheus::MetricType;

std::vector<prometheus::MetricFamily> PythonFamilies(const std::vector<PythonProcess>& procs,
                                                     bool pid_label) {
  // Summed per label set: several processes of one group are one series.
  using InfoKey = std::tuple<std::string, std::string, std::string, std::string, std::string>;
  std::map<InfoKey, double> info;
  struct Group {
    bool gil_enabled = true;
    std::optional<uint64_t> interval_us;
    std::optional<uint64_t> switches;
    std::optional<uint64_t> drop_requests;
  };
  std::map<std::pair<std::string, std::string>, Group> groups;  // (group, pid or "")
  for (const PythonProcess& p : procs) {
    const std::string pid = pid_label ? std::to_string(p.pid) : "";
    info[{p.group, pid, p.version, p.build, GilMethodLabel(p.method)}] += 1;
    Group& g = groups[{p.group, pid}];
    g.gil_enabled = g.gil_enabled && p.gil_enabled;
    // Several processes: the largest interval (the one that makes threads wait longest).
    if (p.switch_interval_us)
      g.interval_us = std::max(g.interval_us.value_or(0), *p.switch_interval_us);
    if (p.interpreter_switches) g.switches = g.switches.value_or(0) + *p.interpreter_switches;
    if (p.drop_requests) g.drop_requests = g.drop_requests.value_or(0) + *p.drop_requests;
  }
  auto labels_of = [](const std::string& group, const std::string& pid) {
    Labels l = {{"process", group}};
    if (!pid.empty()) l.push_back({"pid", pid});
    return l;
  };
  auto info_f = EmptyFamily("gilstat_python_info",
                            "Watched CPython processes by interpreter version, build (unstripped, "
                            "stripped, free-threaded) and GIL measurement method.",
                            MetricType::Gauge);
  for (const auto& [k, n] : info) {
    const auto& [group, pid, version, build, method] = k;
    Labels l = labels_of(group, pid);
    l.push_back({"version", version});
    l.push_back({"build", build});
    l.push_back({"method", method});
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
  for (auto* f : {&info_f, &enabled, &interval, &switches, &drops}) {
    if (!f->metric.empty()) out.push_back(std::move(*f));
  }
  return out;
}

LockSeries PyGilLockSeries(const PyGilStats& st, const std::string& group, bool pid_label) {
  LockSeries s;
  s.labels = {group, "gil", "ebpf", pid_label ? std::to_string(st.pid) : ""};
  s.acquisitions_known = st.take_drop;
  s.acquisitions = st.acquisitions;
  s.contended = st.contended;
  s.handoffs = st.handoffs;
  s.wait = st.wait;
  if (st.take_drop) {
    s.hold = st.hold;
    s.handoff_latency = st.handoff_latency;
    // Forced releases are told from voluntary ones by the drop requests the condvar probe sees.
    if (st.condvar) {
      s.forced_switches = st.forced;
      s.voluntary_switches = st.voluntary;
    }
  }
  return s;
}

PythonCollector::PythonCollector(std::function<std::vector<PythonProcess>()> processes,
                                 std::function<PythonProbeErrors()> errors, bool pid_label)
    : processes_(std::move(processes)), errors_(std::move(errors)), pid_label_(pid_label) {}

std::vector<prometheus::MetricFamily> PythonCollector::Collect() const {
  auto out = PythonFamilies(processes_(), pid_label_);
  const PythonProbeErrors e = errors_();
  auto f = EmptyFamily("gilstat_python_probe_errors_total",
                       "Errors of the CPython GIL probes: attach (a process's GIL probes could not "
                       "be attached), map_full (an entry did not fit), read (the GIL state could "
                       "not be read from a process).",
                       MetricType::Counter);
  for (auto [kind, v] : {std::pair{"attach", e.attach}, std::pair{"map_full", e.map_full},
                         std::pair{"read", e.read}}) {
    f.metric.push_back(Sample(MetricType::Counter, {{"kind", kind}}, static_cast<double>(v)));
  }
  out.push_back(std::move(f));
  return out;
}

}  // namespace gilstat::metrics
