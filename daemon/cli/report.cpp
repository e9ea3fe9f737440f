#include "cli/report.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "gilstat/format.h"

namespace gilstat::cli {
namespace {

std::string Hex(uint64_t v) { return Printf("0x%" PRIx64, v); }

uint64_t SlotLow(int i) { return i == 0 ? 0 : (uint64_t{1} << (i - 1)) + 1; }
uint64_t SlotHigh(int i) { return SlotUpperBoundNs(i); }

using Json = nlohmann::ordered_json;  // keys in the order written, as docs/CLI.md shows them

Json HistJson(const HistogramData& h) {
  Json buckets = Json::array();
  for (int i = 0; i < kHistSlots; ++i) {
    if (h.slots[i] == 0) continue;
    buckets.push_back({{"le_ns", SlotHigh(i)}, {"count", h.slots[i]}});
  }
  return {{"count", h.count}, {"sum_ns", h.sum_ns}, {"buckets", std::move(buckets)}};
}

Json LockJson(const SemLockStats& l) {
  Json j = {{"addr", Hex(l.addr)},
            {"acquisitions", l.acquisitions},
            {"contended", l.contended},
            {"failed_tries", l.failed_tries},
            {"timeouts", l.timeouts},
            {"wait_ns", l.wait_ns},
            {"max_wait_ns", l.max_wait_ns},
            {"blocked_ns", l.blocked_ns},
            {"handoffs", l.handoffs},
            {"posts", l.posts},
            {"wait_hist", HistJson(l.wait_hist)},
            {"handoff_latency_hist", HistJson(l.handoff_latency_hist)}};
  if (!l.name.empty()) j["name"] = l.name;
  return j;
}

Json ProcessJson(const ProcessReport& p) {
  Json locks = Json::array();
  for (const auto& l : p.locks) locks.push_back(LockJson(l));
  Json j = {{"pid", p.meta.pid},
            {"comm", p.meta.comm},
            {"exe", p.meta.exe},
            {"exited", p.meta.exited},
            {"total_wait_ns", p.total_wait_ns},
            {"acquisitions", p.acquisitions},
            {"locks", std::move(locks)}};
  if (!p.meta.python.empty()) j["python"] = p.meta.python;
  return j;
}

Json TrackerJson(const tracker::TrackerStats& t) {
  Json errors = Json::object();
  for (size_t i = 0; i < tracker::kAttachErrorCount; ++i) {
    errors[tracker::AttachErrorName(static_cast<tracker::AttachError>(i))] = t.attach_errors[i];
  }
  return {{"attached", t.attached},
          {"attaches", t.attaches},
          {"exited_detaches", t.exited_detaches},
          {"fork_events", t.fork_events},
          {"rename_events", t.rename_events},
          {"exec_events", t.exec_events},
          {"exit_events", t.exit_events},
          {"lost_events", t.lost_events},
          {"attach_errors", std::move(errors)}};
}

Json HealthJson(const ProbeHealth& h) {
  return {{"map_full_drops", h.map_full_drops}, {"lost_events", h.lost_events},
          {"locks_full", h.locks_full},         {"threads_full", h.threads_full},
          {"orphan_returns", h.orphan_returns}, {"read_errors", h.read_errors}};
}

}  // namespace

std::vector<ProcessReport> BuildProcessReports(const std::vector<SemLockStats>& locks,
                                               const std::map<pid_t, ProcessMeta>& meta,
                                               uint64_t min_acquisitions) {
  std::map<pid_t, ProcessReport> by_pid;
  for (const auto& [pid, m] : meta) by_pid[pid].meta = m;
  for (const auto& l : locks) {
    ProcessReport& r = by_pid[l.pid];
    if (r.meta.pid == 0) r.meta.pid = l.pid;
    if (l.acquisitions < min_acquisitions) continue;
    r.locks.push_back(l);
    r.total_wait_ns += l.wait_ns;
    r.acquisitions += l.acquisitions;
  }
  std::vector<ProcessReport> out;
  for (auto& [pid, r] : by_pid) {
    std::sort(r.locks.begin(), r.locks.end(), [](const auto& a, const auto& b) {
      return a.wait_ns != b.wait_ns ? a.wait_ns > b.wait_ns : a.addr < b.addr;
    });
    out.push_back(std::move(r));
  }
  std::stable_sort(out.begin(), out.end(), [](const ProcessReport& a, const ProcessReport& b) {
    return a.total_wait_ns > b.total_wait_ns;  // ties keep pid order
  });
  return out;
}

std::string FormatLog2Hist(const HistogramData& h, std::string_view unit) {
  int first = -1, last = -1;
  uint64_t max = 0;
  for (int i = 0; i < kHistSlots; ++i) {
    if (h.slots[i] == 0) continue;
    if (first < 0) first = i;
    last = i;
    max = std::max(max, h.slots[i]);
  }
  if (first < 0) return {};
  // Column widths as in libbpf-tools: wider when the bounds are large.
  const int num_w = std::max<int>(10, static_cast<int>(std::to_string(SlotHigh(last)).size()));
  const int bar_w = num_w > 10 ? 30 : 40;
  const int count_w = std::max<int>(8, static_cast<int>(std::to_string(max).size()));
  std::string out = Printf("%*s%-*s : %-*s distribution\n", num_w - 5, "", num_w + 9,
                           std::string(unit).c_str(), count_w, "count");
  for (int i = first; i <= last; ++i) {
    const uint64_t v = h.slots[i];
    const int stars = static_cast<int>(v * static_cast<uint64_t>(bar_w) / max);
    out += Printf("%*" PRIu64 " -> %-*" PRIu64 " : %-*" PRIu64 " |%s%*s|\n", num_w, SlotLow(i),
                  num_w, SlotHigh(i), count_w, v,
                  std::string(static_cast<size_t>(stars), '*').c_str(), bar_w - stars, "");
  }
  return out;
}

std::string FormatText(const Report& r) {
  std::string o;
  o += Printf("Traced %.1f s (%s mode)%s: %zu process%s.\n", r.duration_s, ProbeModeName(r.mode),
              r.interrupted ? ", interrupted" : "", r.processes.size(),
              r.processes.size() == 1 ? "" : "es");
  if (!SeesEveryAcquisition(r.mode)) {
    o += "Only the slow paths are probed in this mode: ACQUIRED counts the acquisitions that "
         "found\nthe semaphore taken, POSTS the posts that woke a waiter; tries are not seen.\n";
  }
  for (const ProcessReport& p : r.processes) {
    o += "\n";
    o += Printf("PID %d  %s", p.meta.pid, p.meta.comm.empty() ? "?" : p.meta.comm.c_str());
    if (!p.meta.exe.empty()) o += "  " + p.meta.exe;
    if (p.meta.exited) o += "  (exited)";
    if (!p.meta.python.empty()) o += "\n  " + p.meta.python;
    o += "\n";
    if (p.locks.empty()) {
      o += "  no semaphore activity seen\n";
      continue;
    }
    o += Printf("  %zu lock%s, %" PRIu64 " acquisitions, total wait %s\n\n", p.locks.size(),
                p.locks.size() == 1 ? "" : "s", p.acquisitions,
                FormatDuration(p.total_wait_ns).c_str());
    o += Printf("  %-18s %10s %10s %10s %9s %11s %11s %11s %11s %9s %10s  %s\n", "LOCK", "ACQUIRED",
                "CONTENDED", "FAILED_TRY", "TIMEOUTS", "TOTAL_WAIT", "AVG_WAIT", "MAX_WAIT",
                "BLOCKED", "HANDOFFS", "POSTS", "NAME");
    for (const auto& l : p.locks) {
      uint64_t avg = l.acquisitions ? l.wait_ns / l.acquisitions : 0;
      o += Printf("  %-18s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %9" PRIu64
                  " %11s %11s %11s %11s %9" PRIu64 " %10" PRIu64 "  %s\n",
                  Hex(l.addr).c_str(), l.acquisitions, l.contended, l.failed_tries, l.timeouts,
                  FormatDuration(l.wait_ns).c_str(), FormatDuration(avg).c_str(),
                  FormatDuration(l.max_wait_ns).c_str(), FormatDuration(l.blocked_ns).c_str(),
                  l.handoffs, l.posts, l.name.empty() ? "-" : l.name.c_str());
    }
    for (const auto& l : p.locks) {
      std::string wait = FormatLog2Hist(l.wait_hist);
      if (!wait.empty()) {
        o += "\n  lock " + Hex(l.addr) + ": wait time per acquisition\n" + wait;
      }
      std::string handoff = FormatLog2Hist(l.handoff_latency_hist);
      if (!handoff.empty()) {
        o += "\n  lock " + Hex(l.addr) + ": handoff latency (post to waiter owning it)\n" + handoff;
      }
    }
  }
  const auto& t = r.tracker;
  uint64_t errors = 0;
  for (uint64_t e : t.attach_errors) errors += e;
  if (errors || r.health.map_full_drops || r.health.lost_events || t.lost_events) {
    o += "\n";
    if (errors) {
      std::string line;
      for (size_t i = 0; i < tracker::kAttachErrorCount; ++i) {
        line += Printf("%s%" PRIu64 " %s", line.empty() ? "" : ", ", t.attach_errors[i],
                       tracker::AttachErrorName(static_cast<tracker::AttachError>(i)));
      }
      o += "Attach failures: " + line + "\n";
    }
    if (r.health.map_full_drops || r.health.lost_events || t.lost_events) {
      o += Printf("Dropped: %" PRIu64 " events (map full), %" PRIu64 " probe events lost, %" PRIu64
                  " process events lost\n",
                  r.health.map_full_drops, r.health.lost_events, t.lost_events);
    }
  }
  return o;
}

std::string FormatJson(const Report& r) {
  Json processes = Json::array();
  for (const ProcessReport& p : r.processes) processes.push_back(ProcessJson(p));
  Json doc = {{"schema", "gilstat.locks/2"},
              {"time_unit", "ns"},
              {"duration_s", std::round(r.duration_s * 1000) / 1000},  // to the millisecond
              {"mode", ProbeModeName(r.mode)},
              {"interrupted", r.interrupted},
              {"processes", std::move(processes)},
              {"tracker", TrackerJson(r.tracker)},
              {"health", HealthJson(r.health)}};
  // A name that is not UTF-8 (comm and exe are bytes) gets U+FFFD instead of an exception.
  return doc.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace gilstat::cli
