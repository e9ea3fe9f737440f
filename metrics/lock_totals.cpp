#include "metrics/lock_totals.h"

#include <set>

namespace gilstat::metrics {
namespace {

bool Below(const HistogramData& now, const HistogramData& before) {
  return now.count < before.count || now.sum_ns < before.sum_ns;
}

bool Below(const std::optional<uint64_t>& now, const std::optional<uint64_t>& before) {
  return now && before && *now < *before;
}

bool Below(const std::optional<HistogramData>& now, const std::optional<HistogramData>& before) {
  return now && before && Below(*now, *before);
}

// Marks the retained entries whose key is live as seen at `t`, drops those unseen for longer
// than `retention` and passes every other one to `emit`.
template <typename Map, typename IsLive, typename Emit>
void ExpireRetained(Map& retained, IsLive is_live, std::chrono::steady_clock::time_point t,
                    std::chrono::seconds retention, Emit emit) {
  for (auto it = retained.begin(); it != retained.end();) {
    if (is_live(it->first)) it->second.seen = t;
    if (t - it->second.seen > retention) {
      it = retained.erase(it);
    } else {
      emit(it->first, it->second);
      ++it;
    }
  }
}

}  // namespace

bool AnyCounterDecreased(const LockSeries& n, const LockSeries& b) {
  return n.acquisitions < b.acquisitions || n.contended < b.contended || n.handoffs < b.handoffs ||
         n.failed_tries < b.failed_tries || n.timeouts < b.timeouts || Below(n.wait, b.wait) ||
         Below(n.blocked_ns, b.blocked_ns) || Below(n.handoff_latency, b.handoff_latency) ||
         Below(n.hold, b.hold) || Below(n.forced_switches, b.forced_switches) ||
         Below(n.voluntary_switches, b.voluntary_switches);
}

void LockTotals::Retain(const LockSeries& last, bool label_set_live, Clock::time_point t) {
  SeriesLabels labels = last.labels;
  const auto at = labels.lock.find(kLockAddressSeparator);
  if (!label_set_live && at != std::string::npos)
    labels.lock.replace(at + 1, std::string::npos, kOtherAddresses);
  auto [it, inserted] = retained_.try_emplace(labels);
  Retained& r = it->second;
  if (inserted) {
    r.totals = last;
    r.totals.labels = labels;
  } else {
    MergeSeries(r.totals, last);
  }
  r.totals.origin_pid = 0;
  r.totals.origin_addr = 0;
  r.seen = t;
}

std::vector<LockSeries> LockTotals::Keep(std::vector<LockSeries> now, Clock::time_point t) {
  auto key_of = [](const LockSeries& s) {
    return OriginKey{s.labels, s.origin_pid, s.origin_addr};
  };
  std::map<OriginKey, LockSeries> next;
  std::set<SeriesLabels> live;
  for (const LockSeries& s : now) {
    live.insert(s.labels);
    auto [it, inserted] = next.try_emplace(key_of(s), s);
    if (!inserted) MergeSeries(it->second, s);
  }
  for (const auto& [key, last] : last_) {
    auto it = next.find(key);
    if (it == next.end() || AnyCounterDecreased(it->second, last)) {
      Retain(last, live.count(last.labels) > 0, t);
    }
  }
  last_ = std::move(next);
  ExpireRetained(
      retained_, [&](const SeriesLabels& l) { return live.count(l) > 0; }, t, retention_,
      [&](const SeriesLabels&, const Retained& r) { now.push_back(r.totals); });
  return now;
}

std::map<std::string, uint64_t> CounterTotals::Keep(const std::vector<Reading>& now,
                                                    Clock::time_point t) {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::pair<std::string, pid_t>, uint64_t> next;
  std::map<std::string, uint64_t> out;
  for (const Reading& r : now) {
    next[{r.series, r.origin}] += r.value;
    out[r.series] += r.value;
  }
  for (const auto& [key, last] : last_) {
    auto it = next.find(key);
    if (it == next.end() || it->second < last) {
      Retained& r = retained_[key.first];
      r.total += last;
      r.seen = t;
    }
  }
  last_ = std::move(next);
  // `out` holds the live series only until the first retained one is added: look them up first.
  std::set<std::string> live;
  for (const auto& [series, v] : out) live.insert(series);
  ExpireRetained(
      retained_, [&](const std::string& k) { return live.count(k) > 0; }, t, retention_,
      [&](const std::string& k, const Retained& r) { out[k] += r.total; });
  return out;
}

std::vector<LockSeries> LockTotals::WithRetained(std::vector<LockSeries> now) const {
  for (const auto& [labels, r] : retained_) now.push_back(r.totals);
  return now;
}

}  // namespace gilstat::metrics
