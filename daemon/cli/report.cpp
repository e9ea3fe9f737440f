#include "cli/report.h"

#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>

namespace gilstat::cli {
namespace {

__attribute__((format(printf, 1, 2))) std::string Printf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  va_list ap2;
  va_copy(ap2, ap);
  int n = std::vsnprintf(nullptr, 0, fmt, ap);
  va_end(ap);
  std::string out;
  if (n > 0) {
    out.resize(static_cast<size_t>(n) + 1);
    std::vsnprintf(out.data(), out.size(), fmt, ap2);
    out.resize(static_cast<size_t>(n));
  }
  va_end(ap2);
  return out;
}

std::string Hex(uint64_t v) { return Printf("0x%" PRIx64, v); }

uint64_t SlotLow(int i) { return i == 0 ? 0 : (uint64_t{1} << (i - 1)) + 1; }
uint64_t SlotHigh(int i) { return SlotUpperBoundNs(i); }

void JsonHist(std::string& o, const HistogramData& h) {
  o += "{\"count\": " + std::to_string(h.count) + ", \"sum_ns\": " + std::to_string(h.sum_ns) +
       ", \"buckets\": [";
  bool first = true;
  for (int i = 0; i < kHistSlots; ++i) {
    if (h.slots[i] == 0) continue;
    if (!first) o += ", ";
    first = false;
    o += "{\"le_ns\": " + std::to_string(SlotHigh(i)) +
         ", \"count\": " + std::to_string(h.slots[i]) + "}";
  }
  o += "]}";
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

std::string FormatDuration(uint64_t ns) {
  if (ns < 1000) return std::to_string(ns) + " ns";
  double v = static_cast<double>(ns);
  if (ns < 1000000) return Printf("%.3g us", v / 1e3);
  if (ns < 1000000000) return Printf("%.3g ms", v / 1e6);
  return Printf("%.3f s", v / 1e9);
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
    o += "\n";
    if (p.locks.empty()) {
      o += "  no semaphore activity seen\n";
      continue;
    }
    o += Printf("  %zu lock%s, %" PRIu64 " acquisitions, total wait %s\n\n", p.locks.size(),
                p.locks.size() == 1 ? "" : "s", p.acquisitions,
                FormatDuration(p.total_wait_ns).c_str());
    o += Printf("  %-18s %10s %10s %10s %9s %11s %11s %11s %11s %9s %10s\n", "LOCK", "ACQUIRED",
                "CONTENDED", "FAILED_TRY", "TIMEOUTS", "TOTAL_WAIT", "AVG_WAIT", "MAX_WAIT",
                "BLOCKED", "HANDOFFS", "POSTS");
    for (const auto& l : p.locks) {
      uint64_t avg = l.acquisitions ? l.wait_ns / l.acquisitions : 0;
      o += Printf("  %-18s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %9" PRIu64
                  " %11s %11s %11s %11s %9" PRIu64 " %10" PRIu64 "\n",
                  Hex(l.addr).c_str(), l.acquisitions, l.contended, l.failed_tries, l.timeouts,
                  FormatDuration(l.wait_ns).c_str(), FormatDuration(avg).c_str(),
                  FormatDuration(l.max_wait_ns).c_str(), FormatDuration(l.blocked_ns).c_str(),
                  l.handoffs, l.posts);
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
      o += Printf("Attach failures: %" PRIu64 " no_libc, %" PRIu64 " permission, %" PRIu64
                  " vanished, %" PRIu64 " other\n",
                  t.attach_errors_of(tracker::AttachError::kNoLibc),
                  t.attach_errors_of(tracker::AttachError::kPermission),
                  t.attach_errors_of(tracker::AttachError::kVanished),
                  t.attach_errors_of(tracker::AttachError::kOther));
    }
    if (r.health.map_full_drops || r.health.lost_events || t.lost_events) {
      o += Printf("Dropped: %" PRIu64 " events (map full), %" PRIu64 " probe events lost, %" PRIu64
                  " process events lost\n",
                  r.health.map_full_drops, r.health.lost_events, t.lost_events);
    }
  }
  return o;
}

std::string JsonEscape(std::string_view s) {
  std::string o;
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        o += "\\\"";
        break;
      case '\\':
        o += "\\\\";
        break;
      case '\n':
        o += "\\n";
        break;
      case '\t':
        o += "\\t";
        break;
      default:
        if (c < 0x20) {
          o += Printf("\\u%04x", c);
        } else {
          o += static_cast<char>(c);
        }
    }
  }
  return o;
}

std::string FormatJson(const Report& r) {
  std::string o = "{\"schema\": \"gilstat.locks/2\", \"time_unit\": \"ns\"";
  o += Printf(", \"duration_s\": %.3f", r.duration_s);
  o += std::string(", \"mode\": \"") + ProbeModeName(r.mode) + "\"";
  o += std::string(", \"interrupted\": ") + (r.interrupted ? "true" : "false");
  o += ", \"processes\": [";
  for (size_t pi = 0; pi < r.processes.size(); ++pi) {
    const ProcessReport& p = r.processes[pi];
    if (pi) o += ", ";
    o += "\n  {\"pid\": " + std::to_string(p.meta.pid) + ", \"comm\": \"" +
         JsonEscape(p.meta.comm) + "\", \"exe\": \"" + JsonEscape(p.meta.exe) +
         "\", \"exited\": " + (p.meta.exited ? "true" : "false") +
         ", \"total_wait_ns\": " + std::to_string(p.total_wait_ns) +
         ", \"acquisitions\": " + std::to_string(p.acquisitions) + ", \"locks\": [";
    for (size_t li = 0; li < p.locks.size(); ++li) {
      const auto& l = p.locks[li];
      if (li) o += ",";
      o += "\n    {\"addr\": \"" + Hex(l.addr) + "\"";
      o += ", \"acquisitions\": " + std::to_string(l.acquisitions);
      o += ", \"contended\": " + std::to_string(l.contended);
      o += ", \"failed_tries\": " + std::to_string(l.failed_tries);
      o += ", \"timeouts\": " + std::to_string(l.timeouts);
      o += ", \"wait_ns\": " + std::to_string(l.wait_ns);
      o += ", \"max_wait_ns\": " + std::to_string(l.max_wait_ns);
      o += ", \"blocked_ns\": " + std::to_string(l.blocked_ns);
      o += ", \"handoffs\": " + std::to_string(l.handoffs);
      o += ", \"posts\": " + std::to_string(l.posts);
      o += ", \"wait_hist\": ";
      JsonHist(o, l.wait_hist);
      o += ", \"handoff_latency_hist\": ";
      JsonHist(o, l.handoff_latency_hist);
      o += "}";
    }
    o += "]}";
  }
  o += "]";
  const auto& t = r.tracker;
  o += ",\n \"tracker\": {\"attached\": " + std::to_string(t.attached) +
       ", \"attaches\": " + std::to_string(t.attaches) +
       ", \"exited_detaches\": " + std::to_string(t.exited_detaches) +
       ", \"fork_events\": " + std::to_string(t.fork_events) +
       ", \"exec_events\": " + std::to_string(t.exec_events) +
       ", \"exit_events\": " + std::to_string(t.exit_events) +
       ", \"lost_events\": " + std::to_string(t.lost_events) + ", \"attach_errors\": {";
  for (size_t i = 0; i < tracker::kAttachErrorCount; ++i) {
    if (i) o += ", ";
    o += std::string("\"") + tracker::AttachErrorName(static_cast<tracker::AttachError>(i)) +
         "\": " + std::to_string(t.attach_errors[i]);
  }
  o += "}}";
  const auto& h = r.health;
  o += ",\n \"health\": {\"map_full_drops\": " + std::to_string(h.map_full_drops) +
       ", \"lost_events\": " + std::to_string(h.lost_events) +
       ", \"locks_full\": " + std::to_string(h.locks_full) +
       ", \"threads_full\": " + std::to_string(h.threads_full) +
       ", \"orphan_returns\": " + std::to_string(h.orphan_returns) +
       ", \"read_errors\": " + std::to_string(h.read_errors) + "}";
  o += "}\n";
  return o;
}

}  // namespace gilstat::cli
