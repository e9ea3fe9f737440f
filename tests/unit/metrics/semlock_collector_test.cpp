#include "metrics/semlock_collector.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include "tests/unit/metrics/fake_lock_source.h"

namespace gilstat::metrics {
namespace {

SemLockStats Sem(pid_t pid, uint64_t addr, uint64_t acq) {
  SemLockStats s;
  s.pid = pid;
  s.addr = addr;
  s.acquisitions = acq;
  s.contended = 1;
  s.handoffs = 1;
  s.blocked_ns = 2'000'000'000;
  s.wait_hist.slots[12] = acq;
  s.wait_hist.count = acq;
  s.wait_hist.sum_ns = acq * 4000;
  return s;
}

SemlockNaming Naming(bool pid_label = false) {
  SemlockNaming n;
  n.group_of = [](pid_t pid) -> std::optional<std::string> {
    if (pid == 99) return std::nullopt;  // exited
    return pid < 200 ? "web" : "batch";
  };
  n.lock_of = [](pid_t, uint64_t addr) { return addr == 0x1000 ? "gil" : "other"; };
  n.pid_label = pid_label;
  return n;
}

TEST(SemlockCollector, GroupsProcessesAndNamesLocks) {
  FakeSource src;
  src.locks = {Sem(100, 0x1000, 5), Sem(101, 0x1000, 7), Sem(100, 0x2000, 1), Sem(300, 0x3000, 2),
               Sem(99, 0x1000, 1000)};
  SemlockCollector c(src, Naming());
  const std::string text = prometheus::TextSerializer().Serialize(c.Collect());
  EXPECT_NE(text.find("gilstat_lock_acquisitions_total{lock=\"gil\",process=\"web\","
                      "source=\"ebpf\"} 12"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("{lock=\"other\",process=\"web\",source=\"ebpf\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("{lock=\"other\",process=\"batch\",source=\"ebpf\"} 2\n"), std::string::npos);
  EXPECT_EQ(text.find("1000"), std::string::npos) << "an untracked pid was exported";
  EXPECT_NE(text.find("gilstat_lock_blocked_seconds_total{lock=\"gil\",process=\"web\","
                      "source=\"ebpf\"} 4"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("gilstat_lock_handoff_latency_seconds_count{lock=\"gil\""),
            std::string::npos);
}

// Default mode sees only the slow path: no acquisition or failed-try count is exported rather
// than an understated one; contention, wait and handoffs are.
TEST(SemlockCollector, ContendedOnlyLeavesOutAcquisitionsAndTries) {
  FakeSource src;
  src.locks = {Sem(100, 0x1000, 5), Sem(101, 0x1000, 7)};
  for (auto& l : src.locks) l.acquisitions_known = false;
  SemlockCollector c(src, Naming());
  const std::string text = prometheus::TextSerializer().Serialize(c.Collect());
  EXPECT_EQ(text.find("gilstat_lock_acquisitions_total"), std::string::npos) << text;
  EXPECT_EQ(text.find("gilstat_lock_failed_tries_total"), std::string::npos) << text;
  EXPECT_NE(
      text.find("gilstat_lock_contended_total{lock=\"gil\",process=\"web\",source=\"ebpf\"} 2"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find("gilstat_lock_wait_seconds_count{lock=\"gil\",process=\"web\",source=\"ebpf\"} 12"),
      std::string::npos)
      << text;
}

TEST(SemlockCollector, PidLabelIsOptIn) {
  FakeSource src;
  src.locks = {Sem(100, 0x1000, 5), Sem(101, 0x1000, 7)};
  SemlockCollector c(src, Naming(true));
  const std::string text = prometheus::TextSerializer().Serialize(c.Collect());
  EXPECT_NE(text.find("pid=\"100\"} 5"), std::string::npos) << text;
  EXPECT_NE(text.find("pid=\"101\"} 7"), std::string::npos) << text;
}

TEST(SemlockCollector, ReadFailureIsCountedAndHealthStillExported) {
  FakeSource src;
  src.fail = true;
  src.health.map_full_drops = 3;
  SemlockCollector c(src, Naming());
  const std::string text = prometheus::TextSerializer().Serialize(c.Collect());
  EXPECT_EQ(c.read_errors(), 1u);
  EXPECT_NE(text.find("gilstat_probe_map_full_total 3"), std::string::npos) << text;
  EXPECT_NE(text.find("gilstat_probe_read_errors_total 1"), std::string::npos) << text;
  EXPECT_EQ(text.find("gilstat_lock_acquisitions_total"), std::string::npos);
}

}  // namespace
}  // namespace gilstat::metrics
