#include "host/gil_stacks.h"

#include <gtest/gtest.h>

namespace gilstat::host {
namespace {

// Process 7: stack 11 = [0x100 (waiter), 0x200 (main)], stack 22 = [0x300 (hog)]; 0x400 is gone.
// The waiter's frame is at instruction offset 0x40 (line 12), the others have no offset.
probes::RawGilStacks Raw() {
  probes::RawGilStacks r;
  r.stacks[{7, 11}] = {{0x100, 0x200}, false, {0x40, python::kNoInstr}};
  r.stacks[{7, 22}] = {{0x300, 0x400}, true};
  r.pairs = {{7, 0, 11, 22, 3000, 3}, {7, 0, 11, 0, 500, 1}, {7, 0, 99, 22, 100, 1}};
  return r;
}

python::CodeName Namer(pid_t pid, uint64_t code, uint32_t instr) {
  if (pid != 7) return {};
  switch (code) {
    case 0x100:
      return {true, "waiter", "/a.py", 10, instr == 0x40 ? 12 : 10, instr == 0x40};
    case 0x200:
      return {true, "<module>", "/a.py", 1, 1, false};
    case 0x300:
      return {true, "hog", "/a.py", 5, 5, false};
    default:
      return {};
  }
}

TEST(NameGilStacks, FramesNamedGoneAndLostShownAsSuch) {
  const auto procs = NameGilStacks(Raw(), Namer, {{{7, 4000}}, {}});
  ASSERT_EQ(procs.size(), 1u);
  const ProcessGilStacks& p = procs[0];
  EXPECT_EQ(p.pid, 7);
  EXPECT_EQ(p.total_wait_ns, 4000u);
  ASSERT_EQ(p.pairs.size(), 3u);
  const GilWaitStack& w = p.pairs[0];
  EXPECT_EQ(w.waiter.frames,
            (std::vector<PyFrameName>{{"waiter", "/a.py", 12, 10}, {"<module>", "/a.py", 1, 1}}));
  EXPECT_EQ(w.holder.frames,
            (std::vector<PyFrameName>{{"hog", "/a.py", 5, 5}, {kGoneCode, "", 0, 0}}));
  EXPECT_TRUE(w.holder.truncated);
  EXPECT_EQ(w.wait_ns, 3000u);
  EXPECT_TRUE(p.pairs[1].holder.frames.empty());  // id 0: no Python frame
  EXPECT_EQ(p.pairs[2].waiter.frames, (std::vector<PyFrameName>{{kLostStack, "", 0}}));
  EXPECT_EQ(p.health.unnamed, 2u);    // 0x400, in the two pairs with holder 22
  EXPECT_EQ(p.health.truncated, 2u);  // stack 22, twice
}

TEST(NameGilStacks, WithoutATotalThePairsAreSummed) {
  EXPECT_EQ(NameGilStacks(Raw(), Namer, {})[0].total_wait_ns, 3600u);
}

TEST(NameGilStacks, ThreadingLockWaitsAreTheirOwnLockWithTheirOwnTotal) {
  probes::RawGilStacks r = Raw();
  probes::RawGilPair lock_wait{7, 0, 11, 0, 900, 4};
  lock_wait.lock = 0x7f0000001000;
  r.pairs.push_back(lock_wait);
  const auto procs = NameGilStacks(r, Namer, {{{7, 4000}}, {}});
  ASSERT_EQ(procs.size(), 1u);
  ASSERT_EQ(procs[0].pairs.size(), 4u);
  EXPECT_EQ(procs[0].pairs[0].lock, WaitLock::kGil);
  EXPECT_EQ(procs[0].pairs[3].lock, WaitLock::kThreading);
  EXPECT_EQ(procs[0].pairs[3].waiter.frames.front().function, "waiter");
  EXPECT_EQ(procs[0].total_wait_ns, 4000u);     // the GIL's, as measured
  EXPECT_EQ(procs[0].threading_wait_ns, 900u);  // none measured: its pairs' sum
  EXPECT_EQ(NameGilStacks(r, Namer, {{}, {{7, 2000}}})[0].threading_wait_ns, 2000u);
}

TEST(GilStacksSince, OnlyWhatGrewInBetween) {
  probes::RawGilStacks before = Raw();
  probes::RawGilStacks now = Raw();
  now.pairs[0].wait_ns += 700;
  now.pairs[0].count += 2;
  now.pairs.push_back({7, 1, 11, 22, 50, 1});  // a new pair (a sub-interpreter's GIL)
  const probes::RawGilStacks d = GilStacksSince(before, now);
  ASSERT_EQ(d.pairs.size(), 2u);
  EXPECT_EQ(d.pairs[0].wait_ns, 700u);
  EXPECT_EQ(d.pairs[0].count, 2u);
  EXPECT_EQ(d.pairs[1].interpreter, 1);
  EXPECT_EQ(d.pairs[1].wait_ns, 50u);
  EXPECT_EQ(d.stacks.size(), now.stacks.size());
}

TEST(GilStacksSince, ALockWaitIsNotTheGilWaitOfTheSameStack) {
  probes::RawGilStacks before = Raw();
  probes::RawGilStacks now = Raw();
  probes::RawGilPair lock_wait = now.pairs[0];  // same stacks, a threading lock
  lock_wait.lock = 0x1000;
  now.pairs.push_back(lock_wait);
  const probes::RawGilStacks d = GilStacksSince(before, now);
  ASSERT_EQ(d.pairs.size(), 1u);
  EXPECT_EQ(d.pairs[0].lock, 0x1000u);
  EXPECT_EQ(d.pairs[0].wait_ns, 3000u);
}

TEST(GilStacksSince, APairThatStartedAgainCountsFromZero) {
  // The process was attached again (its counts restarted): the new counts are the difference.
  probes::RawGilStacks before = Raw();
  probes::RawGilStacks now = Raw();
  now.pairs[0].count = 1;
  now.pairs[0].wait_ns = 10;
  const auto d = GilStacksSince(before, now);
  ASSERT_FALSE(d.pairs.empty());
  EXPECT_EQ(d.pairs[0].count, 1u);
  EXPECT_EQ(d.pairs[0].wait_ns, 10u);
}

}  // namespace
}  // namespace gilstat::host
