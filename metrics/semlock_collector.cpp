#include "metrics/semlock_collector.h"

#include <utility>

#include "metrics/family_util.h"

namespace gilstat::metrics {
std::vector<LockSeries> SemlockSeries(const std::vector<SemLockStats>& locks,
                                      const SemlockNaming& naming) {
  std::vector<LockSeries> out;
  out.reserve(locks.size());
  for (const auto& l : locks) {
    auto group = naming.group_of(l.pid);
    if (!group) continue;
    LockSeries s;
    s.labels = {*group, naming.lock_of(l.pid, l.addr), "ebpf",
                naming.pid_label ? std::to_string(l.pid) : ""};
    s.origin_pid = l.pid;
    s.origin_addr = l.addr;
    s.acquisitions_known = l.acquisitions_known;
    s.acquisitions = l.acquisitions;
    s.contended = l.contended;
    s.handoffs = l.handoffs;
    s.failed_tries = l.failed_tries;
    s.timeouts = l.timeouts;
    s.wait = l.wait_hist;
    s.blocked_ns = l.blocked_ns;
    s.handoff_latency = l.handoff_latency_hist;
    out.push_back(std::move(s));
  }
  return out;
}

SemlockCollector::SemlockCollector(LockStatsSource& source, SemlockNaming naming,
                                   std::function<std::vector<LockSeries>()> more)
    : source_(source),
      naming_(std::move(naming)),
      more_(std::move(more)),
      state_(naming_.state ? naming_.state : std::make_shared<SemlockState>()) {}

uint64_t SemlockCollector::read_errors() const {
  std::lock_guard<std::mutex> lock(mu_);
  return read_errors_;
}

std::vector<LockSeries> SemlockCollector::ReadSeries() const {
  std::vector<LockSeries> series;
  auto locks = source_.ReadLocks();
  if (locks.ok()) {
    series = SemlockSeries(*locks, naming_);
  } else {
    ++read_errors_;
  }
  if (more_) {
    for (auto& s : more_()) series.push_back(std::move(s));
  }
  std::lock_guard<std::mutex> state_lock(state_->mu);
  // A failed read is not every process leaving: the totals and choices are kept as they are.
  if (!locks.ok()) return state_->totals.WithRetained(std::move(series));
  state_->addresses.Apply(series, naming_.max_lock_series);
  return state_->totals.Keep(std::move(series), LockTotals::Clock::now());
}

std::vector<prometheus::MetricFamily> SemlockCollector::Collect() const {
  std::lock_guard<std::mutex> lock(mu_);
  LockFamilyBuilder builder;
  for (const auto& s : ReadSeries()) builder.Add(s);
  std::vector<prometheus::MetricFamily> out = builder.Build();
  uint64_t folded = 0;
  {
    std::lock_guard<std::mutex> state_lock(state_->mu);
    folded = state_->addresses.folded_total();
  }
  out.push_back(SingleValue(
      "gilstat_lock_series_dropped_total",
      "Locks (process, address) that got no per-address series of their own because the process "
      "has more than labels.max_lock_series; they are counted in lock=\"<name>@other\".",
      prometheus::MetricType::Counter, static_cast<double>(folded)));
  const ProbeHealth h = source_.ReadHealth();
  out.push_back(SingleValue("gilstat_probe_map_full_total",
                            "Probe events whose map entry could not be created (map full).",
                            prometheus::MetricType::Counter,
                            static_cast<double>(h.map_full_drops)));
  out.push_back(SingleValue("gilstat_probe_lost_events_total",
                            "Process events lost because the ring buffer was full.",
                            prometheus::MetricType::Counter, static_cast<double>(h.lost_events)));
  out.push_back(SingleValue("gilstat_probe_read_errors_total",
                            "Scrapes whose read of the probe maps failed.",
                            prometheus::MetricType::Counter, static_cast<double>(read_errors_)));
  return out;
}

}  // namespace gilstat::metrics
