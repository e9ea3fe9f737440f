// Map reading with a fake in place of the BPF maps.
#include <unistd.h>

#include <cstring>
#include <map>
#include <vector>

#include <gtest/gtest.h>

#include "probes/libbpf_util.h"
#include "probes/semlock_probe.h"

namespace gilstat::probes {
namespace {

class FakeMaps : public SemlockMaps {
 public:
  std::vector<std::pair<semlock_key, std::vector<semlock_stats>>> locks;
  std::vector<uint64_t> counters = std::vector<uint64_t>(SEMLOCK_NR_COUNTERS);
  bool fail = false;

  Status ForEachLock(const LockFn& fn) override {
    if (fail) return MakeError(ErrorCode::kInternal, "boom");
    for (const auto& [k, v] : locks) fn(k, v);
    return Status::Ok();
  }
  Result<std::vector<uint64_t>> ReadCounters() override {
    if (fail) return MakeError(ErrorCode::kInternal, "boom");
    return counters;
  }
};

semlock_stats Cpu(uint64_t acq, uint64_t wait, uint64_t max_wait) {
  semlock_stats s{};
  s.max_wait_ns = max_wait;
  s.wait_hist[gilstat_log2_slot(max_wait)] = acq;
  s.wait_hist_sum = wait;
  s.wait_hist_count = acq;
  s.handoff_hist[3] = 1;
  s.handoff_hist_sum = 8;
  s.handoff_hist_count = 1;
  s.posts = acq;
  return s;
}

TEST(SemlockAggregate, SumsCpusAndTakesMax) {
  FakeMaps maps;
  maps.locks.push_back({{7, 0, 0x2000}, {Cpu(2, 300, 200), Cpu(3, 1000, 512)}});
  maps.locks.push_back({{5, 0, 0x1000}, {Cpu(1, 1, 1), Cpu(0, 0, 0)}});
  auto r = ReadSemlockStats(maps);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].pid, 5);  // sorted by pid, addr
  const SemLockStats& s = (*r)[1];
  EXPECT_EQ(s.pid, 7);
  EXPECT_EQ(s.addr, 0x2000u);
  EXPECT_EQ(s.acquisitions, 5u);
  EXPECT_EQ(s.wait_ns, 1300u);
  EXPECT_EQ(s.max_wait_ns, 512u);
  EXPECT_EQ(s.wait_hist.count, 5u);
  EXPECT_EQ(s.wait_hist.sum_ns, 1300u);
  EXPECT_EQ(s.wait_hist.slots[8], 2u);  // 200 -> (128, 256]
  EXPECT_EQ(s.wait_hist.slots[9], 3u);  // 512 = 2^9 -> slot 9
  EXPECT_EQ(s.handoffs, 2u);
  EXPECT_EQ(s.handoff_latency_hist.slots[3], 2u);
  EXPECT_EQ(s.handoff_latency_hist.sum_ns, 16u);
  EXPECT_EQ(s.posts, 5u);
}

TEST(SemlockAggregate, HealthCounters) {
  FakeMaps maps;
  maps.counters = {3, 4, 6, 0, 0, 0, 0};  // the last four: Python stacks' (ReadStackHealth)
  ProbeHealth h = ReadSemlockHealth(maps);
  EXPECT_EQ(h.locks_full, 3u);
  EXPECT_EQ(h.threads_full, 4u);
  EXPECT_EQ(h.orphan_returns, 6u);
  EXPECT_EQ(h.map_full_drops, 7u);
  EXPECT_EQ(h.read_errors, 0u);
}

TEST(SemlockAggregate, ErrorsPropagate) {
  FakeMaps maps;
  maps.fail = true;
  EXPECT_EQ(ReadSemlockStats(maps).status().code(), ErrorCode::kInternal);
  EXPECT_EQ(ReadSemlockHealth(maps).read_errors, 1u);
}

}  // namespace
}  // namespace gilstat::probes

namespace gilstat::probes {
namespace {

TEST(LibbpfUtil, VerifierLogSummary) {
  const std::string out =
      "libbpf: loading object\n"
      "libbpf: prog 'futex_enter': BPF program load failed: Permission denied\n"
      "libbpf: prog 'futex_enter': -- BEGIN PROG LOAD LOG --\n"
      "0: R1=ctx() R10=fp0\n"
      "1: (79) r2 = *(u64 *)(r1 +8)\n"
      "invalid mem access 'scalar'\n"
      "processed 2 insns\n"
      "-- END PROG LOAD LOG --\n";
  std::string msg = SummarizeLoadFailure(out, -13);
  EXPECT_NE(msg.find("prog 'futex_enter': BPF program load failed"), std::string::npos) << msg;
  EXPECT_NE(msg.find("invalid mem access 'scalar'"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("BEGIN PROG LOAD LOG"), std::string::npos) << msg;
  EXPECT_EQ(SummarizeLoadFailure("", -1), std::string(std::strerror(1)));
}

TEST(LibbpfUtil, CaptureCollectsMessages) {
  LibbpfLogCapture capture;
  // Opening a nonexistent object makes libbpf print a warning.
  bpf_object* obj = bpf_object__open("/nonexistent/x.bpf.o");
  EXPECT_EQ(obj, nullptr);
  EXPECT_NE(capture.text().find("libbpf"), std::string::npos) << capture.text();
}

}  // namespace
}  // namespace gilstat::probes

namespace gilstat::probes {
namespace {

// Without privileges, opening the probe fails with a clear error (root: covered by tests/bpf).
TEST(SemlockProbeOpen, UnprivilegedIsPermissionDenied) {
  if (geteuid() == 0) GTEST_SKIP() << "running as root: see tests/bpf";
  auto p = SemlockProbe::Open();
  ASSERT_FALSE(p.ok());
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
    EXPECT_EQ(p.error().code, ErrorCode::kUnavailable);
  } else {
    EXPECT_EQ(p.error().code, ErrorCode::kPermissionDenied) << p.error().message;
    EXPECT_NE(p.error().message.find("run as root"), std::string::npos) << p.error().message;
  }
}

}  // namespace
}  // namespace gilstat::probes
