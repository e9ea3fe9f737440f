#include "metrics/runtime_collector.h"

#include <utility>

#include "metrics/family_util.h"

namespace gilstat::metrics {
namespace {

LockSeries SeriesOf(const rt::LockSnapshot& l, const std::string& process, bool is_gil) {
  LockSeries s;
  s.labels = {process, is_gil ? "gil" : l.name, "runtime", ""};
  s.acquisitions = l.acquisitions;
  s.contended = l.contended;
  s.handoffs = l.handoffs;
  s.failed_tries = l.failed_tries;
  s.timeouts = l.timeouts;
  s.wait = l.wait;
  if (is_gil) {
    s.hold = l.hold;
    s.forced_switches = l.forced_releases;
    s.voluntary_switches = l.voluntary_releases;
  }
  return s;
}

}  // namespace

std::vector<LockSeries> RuntimeLockSeries(const rt::Snapshot& snap, const std::string& process) {
  std::vector<LockSeries> out;
  out.push_back(SeriesOf(snap.gil, process, true));
  for (const auto& l : snap.locks) out.push_back(SeriesOf(l, process, false));
  return out;
}

std::vector<prometheus::MetricFamily> RuntimeFamilies(const rt::Snapshot& snap,
                                                      const std::string& process,
                                                      const std::string& workload) {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out;

  out.push_back(
      SingleValue("gilstat_runtime_info",
                  "The hosted GIL runtime: its lock policy and workload (value is always 1).",
                  MetricType::Gauge,
                  {{"policy", rt::PolicyName(snap.policy)},
                   {"process", process},
                   {"workload", workload.empty() ? "none" : workload}},
                  1));

  const Labels p = {{"process", process}};
  auto add = [&](const char* name, const char* help, MetricType type, double value) {
    out.push_back(SingleValue(name, help, type, p, value));
  };
  add("gilstat_runtime_ticks_total",
      "Ticking instructions executed by the hosted runtime's eval loop.", MetricType::Counter,
      static_cast<double>(snap.ticks));
  add("gilstat_runtime_check_interval_ticks", "Check interval of the classic policy, in ticks.",
      MetricType::Gauge, snap.check_interval);
  add("gilstat_runtime_switch_interval_seconds",
      "Switch interval of the switching and fair policies.", MetricType::Gauge,
      static_cast<double>(snap.switch_interval_ns) * 1e-9);
  add("gilstat_runtime_pending_calls_total", "Pending calls run by the runtime's main thread.",
      MetricType::Counter, static_cast<double>(snap.pending_calls_run));
  add("gilstat_runtime_async_exceptions_total",
      "Asynchronous exceptions delivered to runtime threads.", MetricType::Counter,
      static_cast<double>(snap.async_exc_delivered));
  add("gilstat_runtime_gil_drop_requests_total",
      "Drop requests set by GIL waiters whose wait timed out without a switch.",
      MetricType::Counter, static_cast<double>(snap.drop_requests));
  add("gilstat_runtime_gil_same_thread_reacquisitions_total",
      "Forced GIL releases won back by the releasing thread (the GIL battle).", MetricType::Counter,
      static_cast<double>(snap.gil.same_thread_reacquisitions));
  add("gilstat_runtime_threads", "Threads attached to the hosted runtime.", MetricType::Gauge,
      snap.threads_attached);
  return out;
}

RuntimeCollector::RuntimeCollector(std::function<rt::Snapshot()> snapshot, std::string process,
                                   std::string workload)
    : snapshot_(std::move(snapshot)),
      process_(std::move(process)),
      workload_(std::move(workload)) {}

std::vector<prometheus::MetricFamily> RuntimeCollector::Collect() const {
  const rt::Snapshot snap = snapshot_();
  LockFamilyBuilder builder;
  for (const auto& s : RuntimeLockSeries(snap, process_)) builder.Add(s);
  auto out = builder.Build();
  auto extra = RuntimeFamilies(snap, process_, workload_);
  out.insert(out.end(), std::make_move_iterator(extra.begin()),
             std::make_move_iterator(extra.end()));
  return out;
}

}  // namespace gilstat::metrics
