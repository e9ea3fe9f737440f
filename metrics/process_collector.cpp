#include "metrics/process_collector.h"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "metrics/family_util.h"

namespace gilstat::metrics {
ProcessCollector::ProcessCollector(std::string proc_self, std::string proc_root)
    : proc_self_(std::move(proc_self)), proc_root_(std::move(proc_root)) {}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));

  std::ifstream stat(proc_self_ + "/stat");
  std::string line;
  if (std::getline(stat, line)) {
    // Fields after the command (which may contain spaces) start after the last ')'.
    const auto close = line.rfind(')');
    std::istringstream rest(close == std::string::npos ? "" : line.substr(close + 2));
    std::string f[22];
    for (auto& x : f) rest >> x;
    // rest[0] is field 3 (state): utime=14, stime=15, starttime=22, vsize=23, rss=24.
    if (rest) {
      const double utime = std::stod(f[11]), stime = std::stod(f[12]);
      const double start_ticks = std::stod(f[19]);
      const double vsize = std::stod(f[20]), rss = std::stod(f[21]);
      out.push_back(SingleValue("process_cpu_seconds_total",
                                "Total user and system CPU time spent in seconds.",
                                MetricType::Counter, (utime + stime) / ticks));
      out.push_back(SingleValue("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                                MetricType::Gauge, vsize));
      out.push_back(SingleValue("process_resident_memory_bytes", "Resident memory size in bytes.",
                                MetricType::Gauge, rss * page));
      std::ifstream sys(proc_root_ + "/stat");
      std::string key;
      double btime = 0;
      while (sys >> key) {
        if (key == "btime") {
          sys >> btime;
          break;
        }
      }
      if (btime > 0) {
        out.push_back(SingleValue("process_start_time_seconds",
                                  "Start time of the process since unix epoch in seconds.",
                                  MetricType::Gauge, btime + start_ticks / ticks));
      }
    }
  }

  if (DIR* d = opendir((proc_self_ + "/fd").c_str())) {
    int n = 0;
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    closedir(d);
    out.push_back(
        SingleValue("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, n));
  }
  std::ifstream limits(proc_self_ + "/limits");
  while (std::getline(limits, line)) {
    if (line.rfind("Max open files", 0) == 0) {
      std::istringstream s(line.substr(14));
      double soft = 0;
      if (s >> soft) {
        out.push_back(SingleValue("process_max_fds", "Maximum number of open file descriptors.",
                                  MetricType::Gauge, soft));
      }
    }
  }
  return out;
}

BuildInfoCollector::BuildInfoCollector(std::string version, std::string revision)
    : version_(std::move(version)), revision_(std::move(revision)) {}

std::vector<prometheus::MetricFamily> BuildInfoCollector::Collect() const {
  return {SingleValue("gilstat_build_info",
                      "A metric with a constant '1' value labeled by version and revision of "
                      "gilstat.",
                      prometheus::MetricType::Gauge,
                      {{"revision", revision_}, {"version", version_}}, 1)};
}

}  // namespace gilstat::metrics
