// The classic policy's check interval: a forced release every N ticks, the setter, and no check
// right before a protected region.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "gilstat/rt/runtime.h"
#include "tests/unit/runtime/rt_test_util.h"

namespace gilstat::rt {
namespace {

using testing::MakeRuntime;

TEST(CheckIntervalTest, OneForcedReleaseEveryNTicks) {
  auto rt = MakeRuntime(Policy::kClassic);
  EXPECT_EQ(rt->check_interval(), 100);
  auto ts = rt->AttachThread("main");
  ASSERT_TRUE(ts.ok());
  for (int i = 1; i <= 1000; ++i) {
    EXPECT_EQ(rt->Tick(**ts), 0);
    // Exactly one forced release at each multiple of the interval, none in between.
    ASSERT_EQ((*ts)->stats().forced_releases.Load(), static_cast<uint64_t>(i / 100)) << i;
  }
  Snapshot s = rt->TakeSnapshot();
  EXPECT_EQ(s.ticks, 1000u);
  EXPECT_EQ(s.gil.forced_releases, 10u);
  EXPECT_EQ(s.gil.same_thread_reacquisitions, 10u);  // nobody else to take it
  EXPECT_EQ(s.gil.handoffs, 0u);
  EXPECT_EQ(s.gil.acquisitions, 11u);
  EXPECT_EQ(s.gil.contended, 0u);
  EXPECT_EQ(s.switch_number, 1u);
  rt->DetachThread(*ts);
}

TEST(CheckIntervalTest, SetterChangesIntervalAndRejectsBadValues) {
  auto rt = MakeRuntime(Policy::kClassic);
  auto ts = rt->AttachThread("main");
  ASSERT_TRUE(ts.ok());
  EXPECT_EQ(rt->SetCheckInterval(0).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(rt->SetCheckInterval(-5).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(rt->check_interval(), 100);
  for (int i = 0; i < 200; ++i) rt->Tick(**ts);
  EXPECT_EQ((*ts)->stats().forced_releases.Load(), 2u);
  ASSERT_TRUE(rt->SetCheckInterval(7).ok());
  EXPECT_EQ(rt->check_interval(), 7);
  EXPECT_EQ(rt->TakeSnapshot().check_interval, 7);
  for (int i = 0; i < 70; ++i) rt->Tick(**ts);
  EXPECT_EQ((*ts)->stats().forced_releases.Load(), 12u);
  ASSERT_TRUE(rt->SetCheckInterval(1).ok());
  for (int i = 0; i < 5; ++i) rt->Tick(**ts);
  EXPECT_EQ((*ts)->stats().forced_releases.Load(), 17u);
  // A larger value applies from the next check on.
  ASSERT_TRUE(rt->SetCheckInterval(50).ok());
  rt->Tick(**ts);
  EXPECT_EQ((*ts)->stats().forced_releases.Load(), 18u);
  for (int i = 0; i < 50; ++i) rt->Tick(**ts);
  EXPECT_EQ((*ts)->stats().forced_releases.Load(), 19u);
  rt->DetachThread(*ts);
}

TEST(CheckIntervalTest, NoCheckBeforeProtectedRegion) {
  auto rt = MakeRuntime(Policy::kClassic, 10);
  auto ts = rt->AttachThread("main");
  ASSERT_TRUE(ts.ok());
  for (int i = 0; i < 9; ++i) rt->Tick(**ts);
  // The 10th tick would check, but the next instruction enters a protected region.
  EXPECT_EQ(rt->Tick(**ts, /*next_enters_protected=*/true), 0);
  EXPECT_EQ((*ts)->stats().forced_releases.Load(), 0u);
  EXPECT_EQ(rt->Tick(**ts, true), 0);
  EXPECT_EQ((*ts)->stats().forced_releases.Load(), 0u);
  // The ticker stayed expired: the next ordinary tick checks.
  rt->Tick(**ts);
  EXPECT_EQ((*ts)->stats().forced_releases.Load(), 1u);
  // And the ticker restarted from the interval.
  for (int i = 0; i < 9; ++i) rt->Tick(**ts);
  EXPECT_EQ((*ts)->stats().forced_releases.Load(), 1u);
  rt->Tick(**ts);
  EXPECT_EQ((*ts)->stats().forced_releases.Load(), 2u);
  // An async exception waits for the check too.
  ASSERT_TRUE(rt->SetAsyncExc((*ts)->id(), 3).ok());
  for (int i = 0; i < 9; ++i) EXPECT_EQ(rt->Tick(**ts), 0);
  EXPECT_EQ(rt->Tick(**ts, true), 0);
  EXPECT_EQ(rt->Tick(**ts), 3);
  EXPECT_EQ(rt->TakeSnapshot().ticks, 33u);
  rt->DetachThread(*ts);
}

TEST(CheckIntervalTest, ProtectedTickDoesNotCheckOtherPolicies) {
  for (Policy p : {Policy::kSwitching, Policy::kFair}) {
    auto rt = MakeRuntime(p);
    auto ts = rt->AttachThread("main");
    ASSERT_TRUE(ts.ok());
    ASSERT_TRUE(rt->SetAsyncExc((*ts)->id(), 9).ok());
    EXPECT_EQ(rt->Tick(**ts, true), 0);
    EXPECT_EQ(rt->Tick(**ts), 9);
    rt->DetachThread(*ts);
  }
}

// The check releases the GIL unconditionally, so a waiting thread can take it: the "GIL
// battle" is visible as both handoffs and same-thread re-acquisitions.
TEST(CheckIntervalTest, WaiterGetsGilAtAForcedRelease) {
  auto rt = MakeRuntime(Policy::kClassic, 10);
  auto self = rt->AttachThread("main");
  ASSERT_TRUE(self.ok());
  std::atomic<bool> waiter_in{false};
  std::atomic<bool> waiter_started{false};
  std::thread waiter([&] {
    waiter_started.store(true);
    auto ts = rt->AttachThread("waiter");
    GILSTAT_CHECK(ts.ok());
    waiter_in.store(true);
    rt->DetachThread(*ts);
  });
  while (!waiter_started.load()) std::this_thread::yield();
  const auto start = std::chrono::steady_clock::now();
  while (!waiter_in.load() && std::chrono::steady_clock::now() - start < std::chrono::seconds(20)) {
    for (int i = 0; i < 64; ++i) rt->Tick(**self);
  }
  EXPECT_TRUE(waiter_in.load());
  // This thread holds the GIL again, so the waiter has detached already.
  waiter.join();
  Snapshot s = rt->TakeSnapshot();
  EXPECT_GE(s.gil.handoffs, 1u);
  EXPECT_EQ(s.gil.handoffs + s.gil.same_thread_reacquisitions, s.gil.releases);
  rt->DetachThread(*self);
}

}  // namespace
}  // namespace gilstat::rt
