#include "metrics/lock_families.h"

#include "metrics/family_util.h"
#include "metrics/histogram_buckets.h"

namespace gilstat::metrics {
namespace {

void MergeOptional(std::optional<HistogramData>& a, const std::optional<HistogramData>& b) {
  if (!b) return;
  if (!a) {
    a = b;
    return;
  }
  MergeHistogram(*a, *b);
}

void MergeOptional(std::optional<uint64_t>& a, const std::optional<uint64_t>& b) {
  if (b) a = a.value_or(0) + *b;
}

std::vector<prometheus::ClientMetric::Label> LabelsOf(const SeriesLabels& l,
                                                      const char* extra_name = nullptr,
                                                      const char* extra_value = nullptr) {
  std::vector<prometheus::ClientMetric::Label> out = {
      {"lock", l.lock}, {"process", l.process}, {"source", l.source}};
  if (!l.pid.empty()) out.push_back({"pid", l.pid});
  if (extra_name) out.push_back({extra_name, extra_value});
  return out;
}

prometheus::ClientMetric HistogramMetric(std::vector<prometheus::ClientMetric::Label> labels,
                                         const HistogramData& h) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  m.histogram = ToPrometheusHistogram(h);
  return m;
}

}  // namespace

void LockFamilyBuilder::Add(const LockSeries& s) {
  auto [it, inserted] = series_.try_emplace(s.labels, s);
  if (!inserted) MergeSeries(it->second, s);
}

void MergeSeries(LockSeries& t, const LockSeries& s) {
  t.acquisitions_known = t.acquisitions_known && s.acquisitions_known;
  t.acquisitions += s.acquisitions;
  t.contended += s.contended;
  t.handoffs += s.handoffs;
  t.failed_tries += s.failed_tries;
  t.timeouts += s.timeouts;
  MergeOptional(t.blocked_ns, s.blocked_ns);
  MergeHistogram(t.wait, s.wait);
  MergeOptional(t.handoff_latency, s.handoff_latency);
  MergeOptional(t.hold, s.hold);
  MergeOptional(t.forced_switches, s.forced_switches);
  MergeOptional(t.voluntary_switches, s.voluntary_switches);
}

std::vector<prometheus::MetricFamily> LockFamilyBuilder::Build() const {
  using prometheus::MetricType;
  auto acquisitions = EmptyFamily(
      "gilstat_lock_acquisitions_total",
      "Successful lock acquisitions (blocking, timed and non-blocking).", MetricType::Counter);
  auto contended =
      EmptyFamily("gilstat_lock_contended_total",
                  "Acquisitions that found the lock held and had to wait.", MetricType::Counter);
  auto wait = EmptyFamily("gilstat_lock_wait_seconds",
                          "Time from the start of an acquisition to owning the lock.",
                          MetricType::Histogram);
  auto handoffs = EmptyFamily("gilstat_lock_handoffs_total",
                              "Acquisitions by another thread than the one that released the lock.",
                              MetricType::Counter);
  auto latency =
      EmptyFamily("gilstat_lock_handoff_latency_seconds",
                  "Time from a release that wakes a waiter to that waiter owning the lock.",
                  MetricType::Histogram);
  auto failed = EmptyFamily("gilstat_lock_failed_tries_total",
                            "Non-blocking acquisition attempts that found the lock held.",
                            MetricType::Counter);
  auto timeouts = EmptyFamily("gilstat_lock_timeouts_total",
                              "Timed acquisition attempts that gave up.", MetricType::Counter);
  auto blocked = EmptyFamily(
      "gilstat_lock_blocked_seconds_total",
      "Time of the acquisition calls that blocked in the kernel (futex wait), call to return.",
      MetricType::Counter);
  auto hold = EmptyFamily("gilstat_gil_hold_seconds", "Time the GIL was held per acquisition.",
                          MetricType::Histogram);
  auto switches = EmptyFamily("gilstat_gil_switches_total",
                              "GIL releases: forced (check/switch interval, drop request) or "
                              "voluntary (around a blocking call).",
                              MetricType::Counter);

  for (const auto& [labels, s] : series_) {
    if (s.acquisitions_known) {
      acquisitions.metric.push_back(
          Sample(MetricType::Counter, LabelsOf(labels), static_cast<double>(s.acquisitions)));
    }
    contended.metric.push_back(
        Sample(MetricType::Counter, LabelsOf(labels), static_cast<double>(s.contended)));
    wait.metric.push_back(HistogramMetric(LabelsOf(labels), s.wait));
    handoffs.metric.push_back(
        Sample(MetricType::Counter, LabelsOf(labels), static_cast<double>(s.handoffs)));
    if (s.acquisitions_known) {
      failed.metric.push_back(
          Sample(MetricType::Counter, LabelsOf(labels), static_cast<double>(s.failed_tries)));
    }
    timeouts.metric.push_back(
        Sample(MetricType::Counter, LabelsOf(labels), static_cast<double>(s.timeouts)));
    if (s.blocked_ns) {
      prometheus::ClientMetric m;
      m.label = LabelsOf(labels);
      m.counter.value = static_cast<double>(*s.blocked_ns) * 1e-9;
      blocked.metric.push_back(std::move(m));
    }
    if (s.handoff_latency)
      latency.metric.push_back(HistogramMetric(LabelsOf(labels), *s.handoff_latency));
    if (s.hold) hold.metric.push_back(HistogramMetric(LabelsOf(labels), *s.hold));
    if (s.forced_switches) {
      switches.metric.push_back(Sample(MetricType::Counter, LabelsOf(labels, "reason", "forced"),
                                       static_cast<double>(*s.forced_switches)));
    }
    if (s.voluntary_switches) {
      switches.metric.push_back(Sample(MetricType::Counter, LabelsOf(labels, "reason", "voluntary"),
                                       static_cast<double>(*s.voluntary_switches)));
    }
  }

  std::vector<prometheus::MetricFamily> out;
  for (auto* f : {&acquisitions, &contended, &wait, &handoffs, &latency, &failed, &timeouts,
                  &blocked, &hold, &switches}) {
    if (!f->metric.empty()) out.push_back(std::move(*f));
  }
  return out;
}

}  // namespace gilstat::metrics
