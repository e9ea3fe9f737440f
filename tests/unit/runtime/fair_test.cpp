// Behaviour specific to the fair policy: priority classes, bounded barging, no starvation.
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

// A thread that releases the GIL voluntarily in a tight loop (and so usually takes it back
// before a woken waiter runs) cannot keep a waiter out for long: once the waiter has waited
// interval/5, the next voluntary release hands the GIL to it directly.
TEST(FairTest, VoluntaryReleaserCannotStarveWaiter) {
  auto rt = MakeRuntime(Policy::kFair, 100, 50ms);
  auto self = rt->AttachThread("io");
  ASSERT_TRUE(self.ok());
  std::atomic<bool> attached{false};
  std::thread waiter([&] {
    auto ts = rt->AttachThread("waiter");
    GILSTAT_CHECK(ts.ok());
    attached.store(true);
    rt->DetachThread(*ts);
  });
  const auto t0 = std::chrono::steady_clock::now();
  while (!attached.load() && std::chrono::steady_clock::now() - t0 < 20s) {
    { AllowThreads allow(**self); }
    rt->Tick(**self);
  }
  waiter.join();
  EXPECT_TRUE(attached.load());
  Snapshot s = rt->TakeSnapshot();
  EXPECT_EQ(s.gil.handoffs, 2u);  // io -> waiter -> io
  EXPECT_EQ(s.gil.forced_releases + s.gil.voluntary_releases + s.gil.exit_releases, s.gil.releases);
  rt->DetachThread(*self);
}

// A thread that held the GIL for longer than an interval before its blocking call is not
// treated as interactive when it comes back: it waits for a full interval like a CPU-bound
// thread.
TEST(FairTest, LongHolderLosesPriority) {
  constexpr auto kInterval = 200ms;
  auto rt = MakeRuntime(Policy::kFair, 100, kInterval);
  auto self = rt->AttachThread("main");
  ASSERT_TRUE(self.ok());
  const int64_t reacquire_ns = testing::ReacquireAfterBlockingCall(*rt, **self, kInterval + 50ms);
  ASSERT_GE(reacquire_ns, 0);
  EXPECT_GE(reacquire_ns, std::chrono::nanoseconds(kInterval).count());
  rt->DetachThread(*self);
}

// Direct handoff at a forced release: with several CPU-bound threads, a thread forced off the
// GIL never takes it straight back (no "GIL battle").
TEST(FairTest, ForcedReleaseNeverReacquiredBySameThread) {
  auto rt = MakeRuntime(Policy::kFair, 100, 200us);
  auto self = rt->AttachThread("main");
  ASSERT_TRUE(self.ok());
  const auto t0 = std::chrono::steady_clock::now();
  testing::RunThreads(*rt, **self, 3, [&](ThreadState& ts, int) {
    for (uint64_t i = 1;; ++i) {
      rt->Tick(ts);
      if (i % 4096 == 0 && (rt->TakeSnapshot().gil.forced_releases >= 50 ||
                            std::chrono::steady_clock::now() - t0 > 20s)) {
        break;
      }
    }
  });
  Snapshot s = rt->TakeSnapshot();
  EXPECT_GE(s.gil.forced_releases, 50u);
  EXPECT_EQ(s.gil.same_thread_reacquisitions, 0u);
  EXPECT_EQ(s.gil.handoffs, s.gil.releases);
  rt->DetachThread(*self);
}

}  // namespace
}  // namespace gilstat::rt
