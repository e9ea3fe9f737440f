// What `gilstat top` shows, as pure functions: per process, from two readings of the GIL probes,
// the GIL sampler and the stacks between them, one row (GIL wait per second, utilization,
// handoffs per second, the top waiting and the top blamed function), and the screen of rows
// fitted to a terminal's width and height.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "gilstat/gil_stacks.h"
#include "gilstat/lock_stats.h"
#include "metrics/python_collector.h"

namespace gilstat::cli {

struct TopRow {
  pid_t pid = 0;
  std::string comm;
  std::string version;
  double wait_per_s = 0;      // seconds of contended GIL wait per second (all its GILs)
  double utilization = -1;    // fraction of samples that found the GIL held; < 0: unknown
  double handoffs_per_s = 0;  // GIL handoffs per second
  std::string top_waiter;     // the innermost function of the stack that waited most; "" none
  std::string top_holder;     // that of the holder's stack blamed most; "" when none
};

enum class TopSort { kWait, kUtilization, kHandoffs };
const char* TopSortName(TopSort s);  // "wait", "util", "handoffs"

// One reading: the GIL probes' statistics and the sampler's counts, by pid.
struct TopReading {
  std::map<pid_t, PyGilStats> gil;  // summed over a process's GILs
  std::map<pid_t, metrics::GilUtilization> sampled;
};
// Sums `stats` per process (a process's sub-interpreter GILs into its main GIL's row).
std::map<pid_t, PyGilStats> GilByProcess(const std::vector<PyGilStats>& stats);

// The rows of the processes in `now`, over the `seconds` since `before`; `stacks` are the
// attributed waits of the same interval, `names` the (comm, version) of each pid. Sorted by
// `sort`, largest first (ties by pid).
std::vector<TopRow> TopRows(const TopReading& before, const TopReading& now,
                            const std::vector<ProcessGilStacks>& stacks,
                            const std::map<pid_t, std::pair<std::string, std::string>>& names,
                            double seconds, TopSort sort);

// The screen: a header (what is traced, the interval, the sort key and the keys), then one line
// per process, each cut to `width` columns, at most `height` lines in all.
std::string TopScreen(const std::vector<TopRow>& rows, const std::string& header, TopSort sort,
                      size_t width, size_t height);

}  // namespace gilstat::cli
