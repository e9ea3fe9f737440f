#include "metrics/process_collector.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace gilstat::metrics {
namespace {

namespace fs = std::filesystem;

double Get(const std::vector<prometheus::MetricFamily>& fams, const std::string& name) {
  for (const auto& f : fams) {
    if (f.name == name) {
      return f.type == prometheus::MetricType::Counter ? f.metric[0].counter.value
                                                       : f.metric[0].gauge.value;
    }
  }
  return -1;
}

TEST(ProcessCollector, ReadsAFakeProcTree) {
  const fs::path root = fs::temp_directory_path() / ("gilstat-proc-" + std::to_string(getpid()));
  fs::create_directories(root / "self" / "fd");
  for (int i = 0; i < 3; ++i) std::ofstream(root / "self" / "fd" / std::to_string(i)) << "";
  const long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
  // pid (comm with ") spaces") state ppid … utime=14 stime=15 … starttime=22 vsize=23 rss=24
  std::ofstream(root / "self" / "stat")
      << "42 (a) b) S 1 42 42 0 -1 4194560 100 0 0 0 " << 3 * tck << " " << tck << " 0 0 20 0 1 0 "
      << 50 * tck << " 123456789 1000 18446744073709551615\n";
  std::ofstream(root / "self" / "limits")
      << "Limit                     Soft Limit           Hard Limit           Units\n"
      << "Max open files            1024                 524288               files\n";
  std::ofstream(root / "stat") << "cpu 1 2 3\nbtime 1700000000\n";

  ProcessCollector c((root / "self").string(), root.string());
  const auto fams = c.Collect();
  fs::remove_all(root);
  EXPECT_DOUBLE_EQ(Get(fams, "process_cpu_seconds_total"), 4.0);
  EXPECT_DOUBLE_EQ(Get(fams, "process_start_time_seconds"), 1700000050.0);
  EXPECT_DOUBLE_EQ(Get(fams, "process_virtual_memory_bytes"), 123456789.0);
  EXPECT_DOUBLE_EQ(Get(fams, "process_resident_memory_bytes"), 1000.0 * page);
  EXPECT_DOUBLE_EQ(Get(fams, "process_open_fds"), 3.0);
  EXPECT_DOUBLE_EQ(Get(fams, "process_max_fds"), 1024.0);
}

TEST(ProcessCollector, ReadsTheRealProcess) {
  ProcessCollector c;
  const auto fams = c.Collect();
  EXPECT_GT(Get(fams, "process_resident_memory_bytes"), 1e5);
  EXPECT_GT(Get(fams, "process_start_time_seconds"), 1.5e9);
  EXPECT_GE(Get(fams, "process_open_fds"), 3.0);
}

TEST(BuildInfoCollector, ExportsVersion) {
  BuildInfoCollector c("1.2.3", "abc");
  const std::string text = prometheus::TextSerializer().Serialize(c.Collect());
  EXPECT_NE(text.find("gilstat_build_info{revision=\"abc\",version=\"1.2.3\"} 1"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace gilstat::metrics
