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
  maps.counters = {3, 4, 6};
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

TEST(SemlockAggregate, SiteMethodNames) {
  EXPECT_STREQ(SiteMethodName(SiteMethod::kBranch), "branch");
  EXPECT_STREQ(SiteMethodName(SiteMethod::kEntryReturn), "entry+return");
  EXPECT_STREQ(SiteMethodName(SiteMethod::kFutexWakes), "futex-wakes");
  EXPECT_STREQ(SiteMethodName(SiteMethod::kSlowPath), "slow-path");
  EXPECT_STREQ(SiteMethodName(SiteMethod::kNotProbed), "not-probed");
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

// glibc 2.36 x86-64 (objdump of /lib/x86_64-linux-gnu/libc.so.6).
const std::vector<uint8_t> kTrywait236 = {0x48, 0x8b, 0x07, 0x85, 0xc0, 0x74, 0x11,
                                          0x48, 0x8d, 0x50, 0xff, 0xf0, 0x48, 0x0f,
                                          0xb1, 0x17, 0x75, 0xf1, 0x31, 0xc0, 0xc3};
const std::vector<uint8_t> kPost236 = {0x8b, 0x77, 0x08, 0x48, 0x8b, 0x07, 0x3d, 0xff, 0xff,
                                       0xff, 0x7f, 0x74, 0x33, 0x48, 0x8d, 0x50, 0x01, 0xf0,
                                       0x48, 0x0f, 0xb1, 0x17, 0x75, 0xee, 0x48, 0xc1};

TEST(SemlockSites, Glibc236Layouts) {
  auto t = FindTrywaitBranches(kTrywait236);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(*t, (std::vector<uint64_t>{0x5, 0x10}));
  auto p = FindPostBranch(kPost236);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(*p, (std::vector<uint64_t>{0x16}));
  // The branch sites are conditional jumps: emulated.
  EXPECT_TRUE(IsEmulatedInstruction(std::span(kTrywait236).subspan(0x5)));
  EXPECT_TRUE(IsEmulatedInstruction(std::span(kTrywait236).subspan(0x10)));
  EXPECT_TRUE(IsEmulatedInstruction(std::span(kPost236).subspan(0x16)));
  // Their entries are loads: single-stepped.
  EXPECT_FALSE(IsEmulatedInstruction(kTrywait236));
  EXPECT_FALSE(IsEmulatedInstruction(kPost236));
}

TEST(SemlockSites, EndbrPrefixShiftsSites) {
  std::vector<uint8_t> code = {0xf3, 0x0f, 0x1e, 0xfa};
  code.insert(code.end(), kTrywait236.begin(), kTrywait236.end());
  auto t = FindTrywaitBranches(code);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(*t, (std::vector<uint64_t>{0x9, 0x14}));
}

TEST(SemlockSites, OtherCodeIsRejected) {
  std::vector<uint8_t> code = kTrywait236;
  code[0xd] = 0x0e;  // cmpxchg with another register
  EXPECT_FALSE(FindTrywaitBranches(code).has_value());
  EXPECT_FALSE(FindPostBranch(kTrywait236).has_value());
  EXPECT_FALSE(
      FindTrywaitBranches(std::vector<uint8_t>(kTrywait236.begin(), kTrywait236.begin() + 10))
          .has_value());
}

// sem_wait, sem_timedwait, sem_clockwait of glibc 2.36 x86-64: each tail-jumps to its own copy
// of __new_sem_wait_slow64 (at 0x90d00, 0x90af0, 0x90070 for functions at 0x90dd0, 0x90bd0,
// 0x90160).
const std::vector<uint8_t> kWait236 = {
    0x53, 0x48, 0x89, 0xfb, 0xe8, 0xe7, 0xf1, 0xff, 0xff, 0x48, 0x8b, 0x03, 0x85, 0xc0,
    0x74, 0x10, 0x48, 0x8d, 0x50, 0xff, 0xf0, 0x48, 0x0f, 0xb1, 0x13, 0x75, 0x05, 0x31,
    0xc0, 0x5b, 0xc3, 0x90, 0x48, 0x89, 0xdf, 0x5b, 0xe9, 0x07, 0xff, 0xff, 0xff};
const std::vector<uint8_t> kTimedwait236 = {
    0x48, 0x81, 0x7e, 0x08, 0xff, 0xc9, 0x9a, 0x3b, 0x77, 0x4e, 0x55, 0x48, 0x89, 0xf5,
    0x53, 0x48, 0x89, 0xfb, 0x48, 0x83, 0xec, 0x08, 0xe8, 0xd5, 0xf3, 0xff, 0xff, 0x48,
    0x8b, 0x03, 0x85, 0xc0, 0x74, 0x1e, 0x48, 0x8d, 0x50, 0xff, 0xf0, 0x48, 0x0f, 0xb1,
    0x13, 0x75, 0x13, 0x48, 0x83, 0xc4, 0x08, 0x31, 0xc0, 0x5b, 0x5d, 0xc3, 0x66, 0x2e,
    0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00, 0x48, 0x83, 0xc4, 0x08, 0x48, 0x89,
    0xee, 0x48, 0x89, 0xdf, 0x5b, 0x5d, 0xe9, 0xcf, 0xfe, 0xff, 0xff};
const std::vector<uint8_t> kClockwait236 = {
    0x83, 0xfe, 0x01, 0x77, 0x2b, 0x48, 0x81, 0x7a, 0x08, 0xff, 0xc9, 0x9a, 0x3b, 0x77, 0x21,
    0x48, 0x8b, 0x07, 0x85, 0xc0, 0x74, 0x12, 0x48, 0x8d, 0x48, 0xff, 0xf0, 0x48, 0x0f, 0xb1,
    0x0f, 0x75, 0x07, 0x31, 0xc0, 0xc3, 0x0f, 0x1f, 0x40, 0x00, 0xe9, 0xe3, 0xfe, 0xff, 0xff};

TEST(SemlockSites, SlowPathTargets) {
  EXPECT_EQ(FindSlowPathTarget(kWait236), std::optional<int64_t>(0x90d00 - 0x90dd0));
  EXPECT_EQ(FindSlowPathTarget(kTimedwait236), std::optional<int64_t>(0x90af0 - 0x90bd0));
  EXPECT_EQ(FindSlowPathTarget(kClockwait236), std::optional<int64_t>(0x90070 - 0x90160));
  // Behind an endbr64 the target moves with the code: same absolute place, 4 bytes further
  // from the (earlier) function start.
  std::vector<uint8_t> code = {0xf3, 0x0f, 0x1e, 0xfa};
  code.insert(code.end(), kWait236.begin(), kWait236.end());
  EXPECT_EQ(FindSlowPathTarget(code), std::optional<int64_t>(0x90d00 - 0x90dd0 + 4));
}

TEST(SemlockSites, SlowPathOtherCodeIsRejected) {
  // The zero test jumps elsewhere than the cmpxchg's failure branch.
  std::vector<uint8_t> code = kWait236;
  code[0xf] = 0x12;
  EXPECT_FALSE(FindSlowPathTarget(code).has_value());
  // An instruction in the slow block that is not a move, pop or stack adjustment (a call).
  code = kWait236;
  code[0x20] = 0xe8;
  EXPECT_FALSE(FindSlowPathTarget(code).has_value());
  // Cut before the jump; no cmpxchg at all.
  EXPECT_FALSE(
      FindSlowPathTarget(std::vector<uint8_t>(kWait236.begin(), kWait236.end() - 3)).has_value());
  EXPECT_FALSE(FindSlowPathTarget(kPost236).has_value());
  EXPECT_FALSE(FindSlowPathTarget(kTrywait236).has_value());
}

TEST(SemlockSites, EmulatedInstructions) {
  EXPECT_TRUE(IsEmulatedInstruction(std::vector<uint8_t>{0x53}));                    // push %rbx
  EXPECT_TRUE(IsEmulatedInstruction(std::vector<uint8_t>{0x41, 0x54}));              // push %r12
  EXPECT_TRUE(IsEmulatedInstruction(std::vector<uint8_t>{0x90}));                    // nop
  EXPECT_TRUE(IsEmulatedInstruction(std::vector<uint8_t>{0x0f, 0x84, 0, 0, 0, 0}));  // je rel32
  EXPECT_FALSE(IsEmulatedInstruction(std::vector<uint8_t>{0x83, 0xfe, 0x01}));       // cmp $1,%esi
  EXPECT_FALSE(IsEmulatedInstruction(std::vector<uint8_t>{}));
}

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
