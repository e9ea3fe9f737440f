// The site planner on glibc 2.36's real semaphore functions: which uprobes each mode places,
// where, with which program, and the fallbacks when the code is not recognised.
#include "probes/semlock_sites.h"

#include <algorithm>
#include <map>
#include <optional>
#include <vector>

#include <gtest/gtest.h>

#include "bpf/semlock.h"
#include "tests/unit/elf/glibc236_code.h"

namespace gilstat::probes {
namespace {

using namespace ::gilstat::testing::glibc236;

std::vector<SemFunctionCode> Glibc236() {
  return {{"sem_wait", "sem_wait@@GLIBC_2.34", kWaitAt, kWait},
          {"sem_timedwait", "sem_timedwait@@GLIBC_2.34", kTimedwaitAt, kTimedwait},
          {"sem_clockwait", "sem_clockwait@@GLIBC_2.34", kClockwaitAt, kClockwait},
          {"sem_trywait", "sem_trywait@@GLIBC_2.34", kTrywaitAt, kTrywait},
          {"sem_post", "sem_post@@GLIBC_2.34", kPostAt, kPost}};
}

// The slow paths' first instructions: push %r12, %r13, %r14 (emulated).
std::map<uint64_t, std::vector<uint8_t>> SlowPathCode() {
  return {{kWaitSlowAt, {0x41, 0x54, 0x55}},
          {kTimedwaitSlowAt, {0x41, 0x55, 0x41, 0x54}},
          {kClockwaitSlowAt, {0x41, 0x56, 0x41, 0x55}}};
}

class SemlockSitesTest : public ::testing::Test {
 protected:
  SemlockPlan Plan(ProbeMode mode) { return PlanSemlockSites(mode, functions_, read_); }
  const SiteStatus& Site(const SemlockPlan& plan, const std::string& fn) {
    auto it = std::find_if(plan.sites.begin(), plan.sites.end(),
                           [&](const SiteStatus& s) { return s.function == fn; });
    EXPECT_NE(it, plan.sites.end()) << fn;
    return *it;
  }

  std::vector<SemFunctionCode> functions_ = Glibc236();
  std::map<uint64_t, std::vector<uint8_t>> code_at_ = SlowPathCode();
  ReadCodeAt read_ = [this](uint64_t at) -> std::optional<std::vector<uint8_t>> {
    auto it = code_at_.find(at);
    if (it == code_at_.end()) return std::nullopt;
    return it->second;
  };
};

using P = SemlockProgram;

// Counting and exact modes: the three wait functions at entry + return, then `rest`.
std::vector<PlannedUprobe> WaitsAtEntryThen(const std::vector<PlannedUprobe>& rest) {
  std::vector<PlannedUprobe> out = {
      {P::kWaitEntry, kWaitAt, false},           {P::kWaitReturn, kWaitAt, true},
      {P::kTimedwaitEntry, kTimedwaitAt, false}, {P::kWaitReturn, kTimedwaitAt, true},
      {P::kTimedwaitEntry, kClockwaitAt, false}, {P::kWaitReturn, kClockwaitAt, true}};
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}

TEST_F(SemlockSitesTest, DefaultModeProbesTheSlowPathsOnly) {
  const SemlockPlan plan = Plan(ProbeMode::kDefault);
  EXPECT_EQ(plan.uprobes, (std::vector<PlannedUprobe>{{P::kWaitEntry, kWaitSlowAt, false},
                                                      {P::kWaitReturn, kWaitSlowAt, true},
                                                      {P::kTimedwaitEntry, kTimedwaitSlowAt, false},
                                                      {P::kWaitReturn, kTimedwaitSlowAt, true},
                                                      {P::kTimedwaitEntry, kClockwaitSlowAt, false},
                                                      {P::kWaitReturn, kClockwaitSlowAt, true}}));
  EXPECT_EQ(plan.proc_flags, SEMLOCK_PROC_POSTS_FROM_WAKES);
  ASSERT_EQ(plan.sites.size(), 5u);
  const SiteStatus& wait = Site(plan, "sem_wait");
  EXPECT_EQ(wait.method, SiteMethod::kSlowPath);
  EXPECT_EQ(wait.symbol, "sem_wait@@GLIBC_2.34");
  EXPECT_EQ(wait.file_offsets, std::vector<uint64_t>{kWaitSlowAt});
  EXPECT_FALSE(wait.single_stepped);
  EXPECT_EQ(Site(plan, "sem_clockwait").file_offsets, std::vector<uint64_t>{kClockwaitSlowAt});
  EXPECT_EQ(Site(plan, "sem_trywait").method, SiteMethod::kNotProbed);
  EXPECT_TRUE(Site(plan, "sem_trywait").file_offsets.empty());
  EXPECT_EQ(Site(plan, "sem_post").method, SiteMethod::kFutexWakes);
  EXPECT_NE(Site(plan, "sem_post").note.find("futex wakes"), std::string::npos);
}

TEST_F(SemlockSitesTest, CountingModeUsesTheBranchSites) {
  const SemlockPlan plan = Plan(ProbeMode::kCounting);
  EXPECT_EQ(plan.uprobes, WaitsAtEntryThen({{P::kTrywaitFailBranch, kTrywaitAt + 0x5},
                                            {P::kTrywaitOkBranch, kTrywaitAt + 0x10},
                                            {P::kPostOkBranch, kPostAt + 0x16}}));
  EXPECT_EQ(plan.proc_flags, SEMLOCK_PROC_POST_BRANCH);
  // sem_wait starts with push %rbx (emulated); sem_timedwait with a cmpq (single-stepped).
  EXPECT_FALSE(Site(plan, "sem_wait").single_stepped);
  EXPECT_TRUE(Site(plan, "sem_timedwait").single_stepped);
  EXPECT_EQ(Site(plan, "sem_timedwait").note, "entry instruction is single-stepped");
  EXPECT_EQ(Site(plan, "sem_trywait").method, SiteMethod::kBranch);
  EXPECT_EQ(Site(plan, "sem_trywait").file_offsets,
            (std::vector<uint64_t>{kTrywaitAt + 0x5, kTrywaitAt + 0x10}));
  EXPECT_FALSE(Site(plan, "sem_trywait").single_stepped);
  EXPECT_EQ(Site(plan, "sem_post").method, SiteMethod::kBranch);
}

TEST_F(SemlockSitesTest, ExactModeProbesEveryEntry) {
  const SemlockPlan plan = Plan(ProbeMode::kExact);
  EXPECT_EQ(plan.uprobes, WaitsAtEntryThen({{P::kTrywaitEntry, kTrywaitAt, false},
                                            {P::kWaitReturn, kTrywaitAt, true},
                                            {P::kPostEntry, kPostAt, false}}));
  EXPECT_EQ(plan.proc_flags, 0u);
  EXPECT_EQ(Site(plan, "sem_trywait").method, SiteMethod::kEntryReturn);
  EXPECT_TRUE(Site(plan, "sem_trywait").single_stepped);
  EXPECT_TRUE(Site(plan, "sem_trywait").note.empty());
  EXPECT_EQ(Site(plan, "sem_post").method, SiteMethod::kEntry);
  EXPECT_TRUE(Site(plan, "sem_post").single_stepped);
}

TEST_F(SemlockSitesTest, UnrecognisedWaitFallsBackToEntryReturn) {
  functions_[0].code[0xf] = 0x12;  // sem_wait's zero test jumps elsewhere
  const SemlockPlan plan = Plan(ProbeMode::kDefault);
  const SiteStatus& wait = Site(plan, "sem_wait");
  EXPECT_EQ(wait.method, SiteMethod::kEntryReturn);
  EXPECT_EQ(wait.file_offsets, std::vector<uint64_t>{kWaitAt});
  EXPECT_EQ(wait.note, "slow path not recognised: every call probed at entry+return");
  EXPECT_EQ(plan.uprobes[0], (PlannedUprobe{P::kWaitEntry, kWaitAt, false}));
  EXPECT_EQ(plan.uprobes[1], (PlannedUprobe{P::kWaitReturn, kWaitAt, true}));
  EXPECT_EQ(Site(plan, "sem_timedwait").method, SiteMethod::kSlowPath);  // the others keep theirs
}

TEST_F(SemlockSitesTest, SlowPathMustStartWithAnEmulatedInstruction) {
  code_at_[kWaitSlowAt] = {0x83, 0xfe, 0x01};  // cmp $1,%esi: single-stepped
  code_at_.erase(kTimedwaitSlowAt);            // unreadable
  const SemlockPlan plan = Plan(ProbeMode::kDefault);
  EXPECT_EQ(Site(plan, "sem_wait").method, SiteMethod::kEntryReturn);
  EXPECT_EQ(Site(plan, "sem_timedwait").method, SiteMethod::kEntryReturn);
  EXPECT_EQ(Site(plan, "sem_clockwait").method, SiteMethod::kSlowPath);
}

TEST_F(SemlockSitesTest, SharedSlowPathIsProbedOnce) {
  // sem_timedwait made to jump to sem_wait's slow path.
  const int64_t rel = static_cast<int64_t>(kWaitSlowAt) - static_cast<int64_t>(kTimedwaitAt) -
                      static_cast<int64_t>(kTimedwait.size());
  auto& code = functions_[1].code;
  for (int i = 0; i < 4; ++i) code[code.size() - 4 + i] = static_cast<uint8_t>(rel >> (8 * i));
  const SemlockPlan plan = Plan(ProbeMode::kDefault);
  const SiteStatus& timed = Site(plan, "sem_timedwait");
  EXPECT_EQ(timed.method, SiteMethod::kSlowPath);
  EXPECT_EQ(timed.file_offsets, std::vector<uint64_t>{kWaitSlowAt});
  EXPECT_EQ(timed.note, "shares the slow path of sem_wait");
  EXPECT_EQ(std::count_if(plan.uprobes.begin(), plan.uprobes.end(),
                          [](const PlannedUprobe& u) { return u.file_offset == kWaitSlowAt; }),
            2);
  EXPECT_EQ(plan.uprobes.size(), 4u);
}

TEST_F(SemlockSitesTest, UnrecognisedTrywaitAndPostInCountingMode) {
  functions_[3].code[0xd] = 0x0e;   // cmpxchg with another register
  functions_[4].code[0x14] = 0x0e;  // not a cmpxchg
  const SemlockPlan plan = Plan(ProbeMode::kCounting);
  const SiteStatus& trywait = Site(plan, "sem_trywait");
  EXPECT_EQ(trywait.method, SiteMethod::kEntryReturn);
  EXPECT_TRUE(trywait.single_stepped);
  EXPECT_EQ(trywait.note, "code layout not recognised: entry+return fallback");
  EXPECT_NE(std::find(plan.uprobes.begin(), plan.uprobes.end(),
                      PlannedUprobe{P::kTrywaitEntry, kTrywaitAt, false}),
            plan.uprobes.end());
  const SiteStatus& post = Site(plan, "sem_post");
  EXPECT_EQ(post.method, SiteMethod::kFutexWakes);
  EXPECT_NE(post.note.find("code layout not recognised"), std::string::npos);
  EXPECT_EQ(plan.proc_flags, SEMLOCK_PROC_POSTS_FROM_WAKES);
}

TEST_F(SemlockSitesTest, EndbrPrefixShiftsBranchSites) {
  for (SemFunctionCode& fn : functions_) {
    fn.code.insert(fn.code.begin(), {0xf3, 0x0f, 0x1e, 0xfa});
  }
  const SemlockPlan plan = Plan(ProbeMode::kCounting);
  EXPECT_EQ(Site(plan, "sem_trywait").file_offsets,
            (std::vector<uint64_t>{kTrywaitAt + 0x9, kTrywaitAt + 0x14}));
  EXPECT_EQ(Site(plan, "sem_post").file_offsets, std::vector<uint64_t>{kPostAt + 0x1a});
}

TEST_F(SemlockSitesTest, AbsentFunctionIsReportedNotProbed) {
  functions_[2].symbol.clear();  // a libc before glibc 2.30: no sem_clockwait
  for (ProbeMode mode : {ProbeMode::kDefault, ProbeMode::kCounting, ProbeMode::kExact}) {
    const SemlockPlan plan = Plan(mode);
    const SiteStatus& clock = Site(plan, "sem_clockwait");
    EXPECT_EQ(clock.method, SiteMethod::kAbsent) << ProbeModeName(mode);
    EXPECT_EQ(clock.note, "not in this libc");
    for (const PlannedUprobe& u : plan.uprobes) {
      EXPECT_NE(u.file_offset, kClockwaitAt);
      EXPECT_NE(u.file_offset, kClockwaitSlowAt);
    }
  }
}

TEST(SemlockSites, MethodNames) {
  EXPECT_STREQ(SiteMethodName(SiteMethod::kBranch), "branch");
  EXPECT_STREQ(SiteMethodName(SiteMethod::kEntryReturn), "entry+return");
  EXPECT_STREQ(SiteMethodName(SiteMethod::kFutexWakes), "futex-wakes");
  EXPECT_STREQ(SiteMethodName(SiteMethod::kSlowPath), "slow-path");
  EXPECT_STREQ(SiteMethodName(SiteMethod::kNotProbed), "not-probed");
}

TEST(SemlockParkingLot, ReadAtTheWaitsWhereTheInterpreterHasIt) {
  const SiteStatus site = ParkingLotSite({kSemaWaitFunction, "_PySemaphore_Wait", 0x34e1c0, {}});
  EXPECT_EQ(site.method, SiteMethod::kReadAtWait);
  EXPECT_STREQ(SiteMethodName(site.method), "read-at-wait");
  EXPECT_TRUE(site.file_offsets.empty());
  EXPECT_FALSE(site.return_probe);
  const SiteStatus absent = ParkingLotSite({kSemaWaitFunction, "", 0, {}});
  EXPECT_EQ(absent.method, SiteMethod::kAbsent);
  EXPECT_NE(absent.note.find("before 3.13"), std::string::npos) << absent.note;
}

}  // namespace
}  // namespace gilstat::probes
