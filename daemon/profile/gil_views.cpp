// The table, folded stacks and JSON of attributed GIL waits.
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "gilstat/format.h"
#include "profile/gil_profile.h"

namespace gilstat::profile {
namespace {

constexpr const char* kNoFrame = "[no Python frame]";
constexpr const char* kTruncated = "[truncated]";

const PyStackNames& StackOf(const GilWaitStack& w, View view) {
  return view == View::kWaiters ? w.waiter : w.holder;
}

// ';' separates frames and '\n' lines in folded stacks: neither may appear inside a name.
std::string FoldedSafe(std::string s) {
  for (char& c : s) {
    if (c == ';') c = ':';
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

// The stack as one line of ';'-separated frames, outermost first (the sort key, and the folded
// stacks' text: each frame made safe for that).
std::string StackKey(const PyStackNames& s) {
  std::string out = s.truncated ? kTruncated : "";
  for (auto it = s.frames.rbegin(); it != s.frames.rend(); ++it) {
    if (!out.empty()) out += ';';
    out += FoldedSafe(FrameLabel(*it));
  }
  return out.empty() ? kNoFrame : out;
}

std::string Leaf(const PyStackNames& s) {
  return s.frames.empty() ? kNoFrame : s.frames.front().function;
}

std::string LeafPlace(const PyStackNames& s) {
  if (s.frames.empty()) return "";
  return s.frames.front().file + ":" + std::to_string(s.frames.front().line);
}

// `s` in at most `width` characters: its head for names, its tail for paths ("..." marks the cut).
std::string Clip(const std::string& s, size_t width, bool keep_tail) {
  if (s.size() <= width) return s;
  return keep_tail ? "..." + s.substr(s.size() - (width - 3)) : s.substr(0, width - 3) + "...";
}

std::string Share(uint64_t part, uint64_t whole) {
  return whole ? Printf("%.1f%%", 100.0 * static_cast<double>(part) / static_cast<double>(whole))
               : "-";
}

void AppendTopTable(std::string& out, const ProcessGilStacks& p, View view, size_t top,
                    WaitLock lock = WaitLock::kGil) {
  out += view == View::kWaiters ? "  waiting stacks (leaf)\n" : "  blamed holders (leaf)\n";
  out +=
      Printf("    %-32s %-36s %12s %9s %7s\n", "function", "file:line", "wait", "count", "share");
  const std::vector<StackTotal> stacks = StacksBy(p, view, lock);
  const uint64_t total = lock == WaitLock::kGil ? p.total_wait_ns : p.threading_wait_ns;
  for (size_t i = 0; i < stacks.size() && i < top; ++i) {
    const StackTotal& s = stacks[i];
    out += Printf("    %-32s %-36s %12s %9llu %7s\n", Clip(Leaf(s.stack), 32, false).c_str(),
                  Clip(LeafPlace(s.stack), 36, true).c_str(), FormatDuration(s.wait_ns).c_str(),
                  static_cast<unsigned long long>(s.count), Share(s.wait_ns, total).c_str());
  }
  if (stacks.empty()) out += "    (none)\n";
}

nlohmann::json StackJson(const PyStackNames& s) {
  nlohmann::json frames = nlohmann::json::array();
  for (const PyFrameName& f : s.frames) {
    frames.push_back({{"function", f.function}, {"file", f.file}, {"line", f.line}});
  }
  return {{"frames", frames}, {"truncated", s.truncated}};
}

}  // namespace

const char* ViewName(View v) { return v == View::kWaiters ? "waiters" : "holders"; }

std::string FrameLabel(const PyFrameName& f) {
  return f.function + " (" + f.file + ":" + std::to_string(f.line) + ")";
}

std::vector<StackTotal> StacksBy(const ProcessGilStacks& p, View view, WaitLock lock) {
  std::map<std::string, StackTotal> by_key;
  for (const GilWaitStack& w : p.pairs) {
    // A threading lock's waits have no holder stack: no blame view.
    if (w.lock != lock || (lock == WaitLock::kThreading && view == View::kHolders)) continue;
    StackTotal& t = by_key[StackKey(StackOf(w, view))];
    t.stack = StackOf(w, view);
    t.wait_ns += w.wait_ns;
    t.count += w.count;
  }
  std::vector<std::pair<std::string, StackTotal>> sorted(by_key.begin(), by_key.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    if (a.second.wait_ns != b.second.wait_ns) return a.second.wait_ns > b.second.wait_ns;
    return a.second.count > b.second.count;  // then by the key: the map's order
  });
  std::vector<StackTotal> out;
  for (auto& [key, t] : sorted) out.push_back(std::move(t));
  return out;
}

std::string Folded(const std::vector<ProcessGilStacks>& procs, View view, WaitLock lock) {
  std::string out;
  for (const ProcessGilStacks& p : procs) {
    const std::string root = FoldedSafe(p.comm) + " (pid " + std::to_string(p.pid) + ")";
    for (const StackTotal& s : StacksBy(p, view, lock)) {
      const uint64_t us = (s.wait_ns + 500) / 1000;
      if (us == 0) continue;
      out += root + ";" + StackKey(s.stack) + " " + std::to_string(us) + "\n";
    }
  }
  return out;
}

std::string Table(const std::vector<ProcessGilStacks>& procs, size_t top) {
  std::string out;
  for (const ProcessGilStacks& p : procs) {
    uint64_t attributed = 0, lock_attributed = 0;
    for (const GilWaitStack& w : p.pairs) {
      (w.lock == WaitLock::kGil ? attributed : lock_attributed) += w.wait_ns;
    }
    out += Printf("%s (pid %d) CPython %s: GIL wait %s, %s of it attributed to stacks\n",
                  p.comm.c_str(), p.pid, p.version.c_str(), FormatDuration(p.total_wait_ns).c_str(),
                  Share(attributed, p.total_wait_ns).c_str());
    AppendTopTable(out, p, View::kWaiters, top);
    AppendTopTable(out, p, View::kHolders, top);
    if (p.threading_wait_ns > 0 || lock_attributed > 0) {
      out += Printf("  threading-lock wait %s, %s of it attributed to stacks\n",
                    FormatDuration(p.threading_wait_ns).c_str(),
                    Share(lock_attributed, p.threading_wait_ns).c_str());
      AppendTopTable(out, p, View::kWaiters, top, WaitLock::kThreading);
    }
    const GilStackHealth& h = p.health;
    if (h.pairs_full || h.stacks_full || h.truncated || h.unnamed) {
      out += Printf(
          "  not attributed: %llu waits (map full), %llu stacks (map full); %llu stacks "
          "truncated, %llu frames of code objects gone\n",
          static_cast<unsigned long long>(h.pairs_full),
          static_cast<unsigned long long>(h.stacks_full),
          static_cast<unsigned long long>(h.truncated), static_cast<unsigned long long>(h.unnamed));
    }
    out += "\n";
  }
  if (procs.empty()) out += "no contended GIL wait seen\n";
  return out;
}

std::string Json(const std::vector<ProcessGilStacks>& procs, double duration_s) {
  nlohmann::json processes = nlohmann::json::array();
  for (const ProcessGilStacks& p : procs) {
    nlohmann::json pairs = nlohmann::json::array();
    for (const GilWaitStack& w : p.pairs) {
      pairs.push_back({{"lock", WaitLockName(w.lock)},
                       {"waiter", StackJson(w.waiter)},
                       {"holder", StackJson(w.holder)},
                       {"wait_ns", w.wait_ns},
                       {"count", w.count}});
    }
    processes.push_back({{"pid", p.pid},
                         {"comm", p.comm},
                         {"version", p.version},
                         {"total_wait_ns", p.total_wait_ns},
                         {"threading_wait_ns", p.threading_wait_ns},
                         {"pairs", pairs},
                         {"health",
                          {{"pairs_full", p.health.pairs_full},
                           {"stacks_full", p.health.stacks_full},
                           {"truncated", p.health.truncated},
                           {"unnamed", p.health.unnamed}}}});
  }
  nlohmann::json doc = {{"schema", "gilstat.stacks/1"},
                        {"time_unit", "ns"},
                        {"duration_s", duration_s},
                        {"processes", processes}};
  // Names come from the targets (comm, code objects): bytes that are not UTF-8 become U+FFFD.
  return doc.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace gilstat::profile
