#include "cli/top_view.h"

#include <algorithm>

#include "gilstat/format.h"
#include "profile/gil_profile.h"

namespace gilstat::cli {
namespace {

uint64_t Delta(uint64_t now, uint64_t before) { return now >= before ? now - before : now; }

// The innermost function of the stack with the most wait in `p`'s view ("" when none): names
// only, so that both fit in 80 columns (`gilstat stacks` has the files and lines).
std::string TopLeaf(const ProcessGilStacks& p, profile::View view) {
  const auto stacks = profile::StacksBy(p, view);
  if (stacks.empty() || stacks.front().wait_ns == 0) return "";
  const PyStackNames& s = stacks.front().stack;
  return s.frames.empty() ? "[no Python frame]" : s.frames.front().function;
}

double SortKey(const TopRow& r, TopSort sort) {
  switch (sort) {
    case TopSort::kUtilization:
      return r.utilization;
    case TopSort::kHandoffs:
      return r.handoffs_per_s;
    case TopSort::kWait:
      break;
  }
  return r.wait_per_s;
}

std::string Cut(std::string s, size_t width) {
  if (s.size() > width) s.resize(width);
  return s;
}

}  // namespace

const char* TopSortName(TopSort s) {
  switch (s) {
    case TopSort::kUtilization:
      return "util";
    case TopSort::kHandoffs:
      return "handoffs";
    case TopSort::kWait:
      break;
  }
  return "wait";
}

std::map<pid_t, PyGilStats> GilByProcess(const std::vector<PyGilStats>& stats) {
  std::map<pid_t, PyGilStats> out;
  for (const PyGilStats& s : stats) {
    PyGilStats& p = out[s.pid];
    p.pid = s.pid;
    p.contended += s.contended;
    p.handoffs += s.handoffs;
    p.wait.sum_ns += s.wait.sum_ns;
    p.wait.count += s.wait.count;
  }
  return out;
}

std::vector<TopRow> TopRows(const TopReading& before, const TopReading& now,
                            const std::vector<ProcessGilStacks>& stacks,
                            const std::map<pid_t, std::pair<std::string, std::string>>& names,
                            double seconds, TopSort sort) {
  std::vector<TopRow> rows;
  const double s = seconds > 0 ? seconds : 1;
  for (const auto& [pid, g] : now.gil) {
    TopRow r;
    r.pid = pid;
    if (auto it = names.find(pid); it != names.end()) std::tie(r.comm, r.version) = it->second;
    const auto b = before.gil.find(pid);
    const PyGilStats zero;
    const PyGilStats& old = b != before.gil.end() ? b->second : zero;
    r.wait_per_s = static_cast<double>(Delta(g.wait.sum_ns, old.wait.sum_ns)) / 1e9 / s;
    r.handoffs_per_s = static_cast<double>(Delta(g.handoffs, old.handoffs)) / s;
    if (auto u = now.sampled.find(pid); u != now.sampled.end()) {
      const auto ub = before.sampled.find(pid);
      const uint64_t held = Delta(u->second.held, ub != before.sampled.end() ? ub->second.held : 0);
      const uint64_t free = Delta(u->second.free, ub != before.sampled.end() ? ub->second.free : 0);
      if (held + free > 0)
        r.utilization = static_cast<double>(held) / static_cast<double>(held + free);
    }
    for (const ProcessGilStacks& p : stacks) {
      if (p.pid != pid) continue;
      r.top_waiter = TopLeaf(p, profile::View::kWaiters);
      r.top_holder = TopLeaf(p, profile::View::kHolders);
    }
    rows.push_back(std::move(r));
  }
  std::stable_sort(rows.begin(), rows.end(), [sort](const TopRow& a, const TopRow& b) {
    return SortKey(a, sort) > SortKey(b, sort);
  });
  return rows;
}

std::string TopScreen(const std::vector<TopRow>& rows, const std::string& header, TopSort sort,
                      size_t width, size_t height) {
  std::vector<std::string> lines;
  lines.push_back(Cut(header, width));
  lines.push_back(Cut(std::string("sorted by ") + TopSortName(sort) +
                          "; keys: w wait, u utilization, h handoffs, q quit",
                      width));
  lines.push_back(Cut(Printf("%7s %-12s %-7s %8s %5s %9s  %s", "PID", "COMM", "PYTHON", "WAIT/s",
                             "UTIL", "HANDOFF/s", "TOP WAITER <- BLAMED HOLDER"),
                      width));
  for (const TopRow& r : rows) {
    const std::string util = r.utilization < 0 ? "-" : Printf("%.0f%%", 100 * r.utilization);
    std::string who = r.top_waiter.empty() ? "-" : r.top_waiter;
    if (!r.top_holder.empty()) who += " <- " + r.top_holder;
    lines.push_back(Cut(
        Printf("%7d %-12.12s %-7.7s %7.0fms %5s %9.0f  %s", r.pid, r.comm.c_str(),
               r.version.c_str(), 1000 * r.wait_per_s, util.c_str(), r.handoffs_per_s, who.c_str()),
        width));
  }
  if (rows.empty()) lines.push_back("(no CPython process attached yet)");
  std::string out;
  for (size_t i = 0; i < lines.size() && i < height; ++i) out += lines[i] + "\n";
  return out;
}

}  // namespace gilstat::cli
