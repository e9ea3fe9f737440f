// The switch interval of the switching and fair policies: drop requests, bounded waits, and the
// difference between the two for a thread coming back from a blocking call.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "gilstat/rt/runtime.h"
#include "tests/unit/runtime/rt_test_util.h"

namespace gilstat::rt {
namespace {

using namespace std::chrono_literals;
using testing::MakeRuntime;
using testing::WaitUntil;

class SwitchIntervalTest : public ::testing::TestWithParam<Policy> {};

TEST_P(SwitchIntervalTest, SetterRejectsNonPositive) {
  auto rt = MakeRuntime(GetParam());
  EXPECT_EQ(rt->switch_interval(), 5ms);
  EXPECT_EQ(rt->SetSwitchInterval(0ns).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(rt->SetSwitchInterval(-1ms).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(rt->switch_interval(), 5ms);
  ASSERT_TRUE(rt->SetSwitchInterval(250us).ok());
  EXPECT_EQ(rt->switch_interval(), 250us);
  EXPECT_EQ(rt->TakeSnapshot().switch_interval_ns, 250'000);
}

TEST_P(SwitchIntervalTest, NoForcedReleaseWithoutWaiters) {
  auto rt = MakeRuntime(GetParam(), 100, 1us);
  auto ts = rt->AttachThread("main");
  ASSERT_TRUE(ts.ok());
  for (int i = 0; i < 100000; ++i) rt->Tick(**ts);
  Snapshot s = rt->TakeSnapshot();
  EXPECT_EQ(s.gil.forced_releases, 0u);
  EXPECT_EQ(s.drop_requests, 0u);
  EXPECT_EQ(s.gil.acquisitions, 1u);
  rt->DetachThread(*ts);
}

// The holder does not tick (it sleeps holding the GIL): a waiter sets the drop request only
// after a full interval has passed without a switch.
TEST_P(SwitchIntervalTest, DropRequestOnlyAfterTimeoutWithoutSwitch) {
  constexpr auto kInterval = 300ms;
  auto rt = MakeRuntime(GetParam(), 100, kInterval);
  auto self = rt->AttachThread("main");
  ASSERT_TRUE(self.ok());
  std::atomic<bool> attached{false};
  const auto start = std::chrono::steady_clock::now();
  std::thread waiter([&] {
    auto ts = rt->AttachThread("waiter");
    GILSTAT_CHECK(ts.ok());
    attached.store(true);
    rt->DetachThread(*ts);
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(rt->TakeSnapshot().drop_requests, 0u);
  ASSERT_TRUE(WaitUntil([&] { return rt->TakeSnapshot().drop_requests == 1; }));
  EXPECT_GE(std::chrono::steady_clock::now() - start, kInterval);
  EXPECT_FALSE(attached.load());
  // The holder honours it at its next instruction boundary.
  EXPECT_EQ(rt->Tick(**self), 0);
  waiter.join();  // the waiter took the GIL and detached before this thread got it back
  EXPECT_TRUE(attached.load());
  Snapshot s = rt->TakeSnapshot();
  EXPECT_EQ(s.drop_requests, 1u);
  EXPECT_EQ(s.gil.forced_releases, 1u);
  EXPECT_EQ(s.gil.handoffs, 2u);
  EXPECT_EQ(s.gil.same_thread_reacquisitions, 0u);  // forced switching / direct handoff
  rt->DetachThread(*self);
}

// A voluntary release within the interval is a switch: no drop request.
TEST_P(SwitchIntervalTest, NoDropRequestWhenHolderReleasesInTime) {
  auto rt = MakeRuntime(GetParam(), 100, 10s);
  auto self = rt->AttachThread("main");
  ASSERT_TRUE(self.ok());
  std::thread waiter([&] {
    auto ts = rt->AttachThread("waiter");
    GILSTAT_CHECK(ts.ok());
    rt->DetachThread(*ts);
  });
  std::this_thread::sleep_for(20ms);
  {
    AllowThreads allow(**self);
    waiter.join();
  }
  EXPECT_EQ(rt->TakeSnapshot().drop_requests, 0u);
  rt->DetachThread(*self);
}

// Under a CPU-bound holder, a waiter gets the GIL after one drop request: within about one
// interval (bounded generously here for slow sanitizer builds).
TEST_P(SwitchIntervalTest, WaiterGetsGilWithinBoundedIntervals) {
  constexpr auto kInterval = 2ms;
  auto rt = MakeRuntime(GetParam(), 100, kInterval);
  auto self = rt->AttachThread("main");
  ASSERT_TRUE(self.ok());
  std::atomic<bool> attached{false};
  std::atomic<int64_t> waited_ns{0};
  std::thread waiter([&] {
    const auto t0 = std::chrono::steady_clock::now();
    auto ts = rt->AttachThread("waiter");
    GILSTAT_CHECK(ts.ok());
    waited_ns.store((std::chrono::steady_clock::now() - t0).count());
    attached.store(true);
    rt->DetachThread(*ts);
  });
  uint64_t ticks = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (!attached.load(std::memory_order_relaxed) && std::chrono::steady_clock::now() - t0 < 20s) {
    rt->Tick(**self);
    ++ticks;
  }
  waiter.join();
  ASSERT_TRUE(attached.load());
  Snapshot s = rt->TakeSnapshot();
  // One drop request got the waiter the GIL (this thread, waiting in turn, may add one if the
  // waiter is descheduled for an interval while holding the GIL).
  EXPECT_GE(s.drop_requests, 1u);
  EXPECT_EQ(s.gil.forced_releases, 1u);
  EXPECT_GE(waited_ns.load(), std::chrono::nanoseconds(kInterval).count());
  EXPECT_LT(waited_ns.load(), std::chrono::nanoseconds(1000 * kInterval).count());
  rt->DetachThread(*self);
}

// A thread back from a blocking call while another thread runs CPU-bound code: under switching
// it waits a full interval (the convoy effect); under fair it gets the GIL at once.
TEST_P(SwitchIntervalTest, ThreadBackFromBlockingCall) {
  constexpr auto kInterval = 1s;
  auto rt = MakeRuntime(GetParam(), 100, kInterval);
  auto self = rt->AttachThread("main");
  ASSERT_TRUE(self.ok());
  const int64_t reacquire_ns = testing::ReacquireAfterBlockingCall(*rt, **self, 0ns);
  ASSERT_GE(reacquire_ns, 0);
  if (GetParam() == Policy::kSwitching) {
    EXPECT_GE(reacquire_ns, std::chrono::nanoseconds(kInterval).count());
  } else {
    EXPECT_LT(reacquire_ns, std::chrono::nanoseconds(kInterval).count() / 2);
  }
  EXPECT_EQ(rt->TakeSnapshot().drop_requests, 1u);
  rt->DetachThread(*self);
}

INSTANTIATE_TEST_SUITE_P(Policies, SwitchIntervalTest,
                         ::testing::Values(Policy::kSwitching, Policy::kFair),
                         testing::PolicyParamName);

}  // namespace
}  // namespace gilstat::rt
