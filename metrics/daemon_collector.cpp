#include "metrics/daemon_collector.h"

#include "metrics/family_util.h"

namespace gilstat::metrics {

using prometheus::MetricType;

namespace {

double D(uint64_t v) { return static_cast<double>(v); }

prometheus::MetricFamily AttachErrors(const DaemonStats& s) {
  auto f = EmptyFamily("gilstat_attach_errors_total",
                       "Failed attaches to matching processes, by reason.", MetricType::Counter);
  for (const auto& [reason, n] : s.attach_errors) {
    f.metric.push_back(Sample(MetricType::Counter, {{"reason", reason}}, D(n)));
  }
  return f;
}

prometheus::MetricFamily ProcessEvents(const DaemonStats& s) {
  auto f = EmptyFamily("gilstat_process_events_total",
                       "Process events seen by the tracker, by type.", MetricType::Counter);
  for (auto [type, v] : {std::pair{"exec", s.exec_events}, std::pair{"exit", s.exit_events},
                         std::pair{"fork", s.fork_events}, std::pair{"rename", s.rename_events}}) {
    f.metric.push_back(Sample(MetricType::Counter, {{"type", type}}, D(v)));
  }
  return f;
}

prometheus::MetricFamily Reloads(const DaemonStats& s) {
  auto f = EmptyFamily("gilstat_config_reloads_total", "Configuration reloads (SIGHUP), by result.",
                       MetricType::Counter);
  f.metric.push_back(Sample(MetricType::Counter, {{"result", "success"}}, D(s.reloads_ok)));
  f.metric.push_back(Sample(MetricType::Counter, {{"result", "failure"}}, D(s.reloads_failed)));
  return f;
}

}  // namespace

std::vector<prometheus::MetricFamily> DaemonFamilies(const DaemonStats& s) {
  std::vector<prometheus::MetricFamily> out;
  out.push_back(SingleValue("gilstat_targets",
                            "Processes matching the targets (attached or retrying).",
                            MetricType::Gauge, D(s.attached + s.pending)));
  out.push_back(SingleValue("gilstat_probes_attached", "Processes with the lock probes attached.",
                            MetricType::Gauge, D(s.attached)));
  out.push_back(AttachErrors(s));
  out.push_back(ProcessEvents(s));
  out.push_back(SingleValue("gilstat_lost_events_total",
                            "Process events the kernel ring buffer dropped.", MetricType::Counter,
                            D(s.lost_events)));
  out.push_back(SingleValue("gilstat_detaches_total",
                            "Detaches from processes (exit, exec or reload).", MetricType::Counter,
                            D(s.detaches)));
  out.push_back(Reloads(s));
  out.push_back(SingleValue("gilstat_config_last_reload_successful",
                            "Whether the last configuration reload succeeded.", MetricType::Gauge,
                            s.last_reload_ok ? 1 : 0));
  return out;
}

}  // namespace gilstat::metrics
