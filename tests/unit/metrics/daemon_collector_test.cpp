#include "metrics/daemon_collector.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

namespace gilstat::metrics {
namespace {

std::string Text(const std::vector<prometheus::MetricFamily>& f) {
  return prometheus::TextSerializer().Serialize(f);
}

DaemonStats Sample() {
  DaemonStats s;
  s.attached = 3;
  s.pending = 1;
  s.attach_errors = {{"no_libc", 2}, {"permission", 5}};
  s.exec_events = 7;
  s.exit_events = 6;
  s.fork_events = 9;
  s.rename_events = 3;
  s.lost_events = 1;
  s.detaches = 4;
  s.reloads_ok = 2;
  s.reloads_failed = 1;
  s.last_reload_ok = false;
  return s;
}

TEST(DaemonFamilies, TargetsCountAttachedAndPending) {
  const std::string t = Text(DaemonFamilies(Sample()));
  EXPECT_NE(t.find("# TYPE gilstat_targets gauge\ngilstat_targets 4\n"), std::string::npos) << t;
  EXPECT_NE(t.find("# TYPE gilstat_probes_attached gauge\ngilstat_probes_attached 3\n"),
            std::string::npos);
}

TEST(DaemonFamilies, AttachErrorsOneSamplePerReasonInOrder) {
  const std::string t = Text(DaemonFamilies(Sample()));
  EXPECT_NE(t.find("gilstat_attach_errors_total{reason=\"no_libc\"} 2\n"
                   "gilstat_attach_errors_total{reason=\"permission\"} 5\n"),
            std::string::npos)
      << t;
}

TEST(DaemonFamilies, ProcessEventsByType) {
  const std::string t = Text(DaemonFamilies(Sample()));
  EXPECT_NE(t.find("gilstat_process_events_total{type=\"exec\"} 7\n"
                   "gilstat_process_events_total{type=\"exit\"} 6\n"
                   "gilstat_process_events_total{type=\"fork\"} 9\n"
                   "gilstat_process_events_total{type=\"rename\"} 3\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("# TYPE gilstat_lost_events_total counter\ngilstat_lost_events_total 1\n"),
            std::string::npos);
  EXPECT_NE(t.find("# TYPE gilstat_detaches_total counter\ngilstat_detaches_total 4\n"),
            std::string::npos);
}

TEST(DaemonFamilies, ReloadsByResultAndTheLastOne) {
  const std::string t = Text(DaemonFamilies(Sample()));
  EXPECT_NE(t.find("gilstat_config_reloads_total{result=\"success\"} 2\n"
                   "gilstat_config_reloads_total{result=\"failure\"} 1\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("gilstat_config_last_reload_successful 0\n"), std::string::npos);
}

TEST(DaemonFamilies, EveryFamilyHasHelp) {
  for (const auto& f : DaemonFamilies(DaemonStats{})) {
    EXPECT_FALSE(f.help.empty()) << f.name;
    EXPECT_EQ(f.name.rfind("gilstat_", 0), 0u) << f.name;
  }
}

TEST(DaemonCollector, ReadsAtEveryCollect) {
  uint64_t attached = 0;
  DaemonCollector c([&] {
    DaemonStats s;
    s.attached = attached;
    return s;
  });
  attached = 2;
  EXPECT_NE(Text(c.Collect()).find("gilstat_probes_attached 2\n"), std::string::npos);
  attached = 5;
  EXPECT_NE(Text(c.Collect()).find("gilstat_probes_attached 5\n"), std::string::npos);
}

}  // namespace
}  // namespace gilstat::metrics
