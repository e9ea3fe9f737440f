// Lock, RLock, Condition, Semaphore, Event: behaviour, timeouts, misuse errors and counters.
#include "gilstat/rt/primitives.h"

#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <thread>

#include "tests/unit/runtime/rt_test_util.h"

namespace gilstat::rt {
namespace {

using namespace std::chrono_literals;
using testing::MakeRuntime;
using testing::RunThreads;
using testing::WaitUntil;

// A copy, so that it may outlive the snapshot.
std::optional<LockSnapshot> Find(const Snapshot& s, const std::string& name) {
  for (const auto& l : s.locks) {
    if (l.name == name) return l;
  }
  return std::nullopt;
}

class PrimitivesTest : public ::testing::TestWithParam<Policy> {
 protected:
  void SetUp() override {
    rt_ = MakeRuntime(GetParam(), 10, 200us);
    auto ts = rt_->AttachThread("main");
    GILSTAT_CHECK(ts.ok());
    ts_ = *ts;
  }
  void TearDown() override { rt_->DetachThread(ts_); }
  Snapshot Snap() const { return rt_->TakeSnapshot(); }

  std::unique_ptr<Runtime> rt_;
  ThreadState* ts_ = nullptr;
};

TEST_P(PrimitivesTest, LockBasicsTryTimeoutAndMisuse) {
  Lock lock(*rt_, "l");
  EXPECT_FALSE(lock.locked());
  Status bad = lock.Release(*ts_);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.code(), ErrorCode::kFailedPrecondition);
  EXPECT_TRUE(lock.Acquire(*ts_));
  EXPECT_TRUE(lock.locked());
  EXPECT_FALSE(lock.Acquire(*ts_, 0ns));  // a try on a held lock (not reentrant)
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(lock.Acquire(*ts_, 30ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 30ms);
  EXPECT_TRUE(ts_->holds_gil());
  EXPECT_TRUE(lock.Release(*ts_).ok());
  EXPECT_FALSE(lock.locked());
  EXPECT_TRUE(lock.Acquire(*ts_, 0ns));
  EXPECT_TRUE(lock.Release(*ts_).ok());

  Snapshot s = Snap();
  const std::optional<LockSnapshot> l = Find(s, "l");
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->kind, LockKind::kLock);
  EXPECT_EQ(l->acquisitions, 2u);
  EXPECT_EQ(l->failed_tries, 1u);
  EXPECT_EQ(l->timeouts, 1u);
  EXPECT_EQ(l->contended, 0u);
  EXPECT_EQ(l->releases, 2u);
  EXPECT_EQ(l->wait.count, 2u);
  EXPECT_EQ(l->wait.sum_ns, l->wait_ns);
  EXPECT_EQ(l->hold.count, 2u);
  ASSERT_EQ(l->addresses.size(), 1u);
  EXPECT_EQ(l->addresses[0].type, "sem_t");
  // The timed wait released the GIL: one voluntary release.
  EXPECT_EQ(s.gil.voluntary_releases, 1u);
}

TEST_P(PrimitivesTest, NativeAddressesFollowObjectLifetime) {
  uintptr_t addr = 0;
  {
    Lock a(*rt_, "shared");
    Lock b(*rt_, "shared");
    Snapshot s = Snap();
    const std::optional<LockSnapshot> l = Find(s, "shared");
    ASSERT_TRUE(l.has_value());
    EXPECT_EQ(l->addresses.size(), 2u);
    addr = l->addresses[0].address;
    EXPECT_NE(addr, 0u);
    EXPECT_TRUE(a.Acquire(*ts_));
    EXPECT_TRUE(b.Acquire(*ts_));
    EXPECT_TRUE(a.Release(*ts_).ok());
    EXPECT_TRUE(b.Release(*ts_).ok());
  }
  Snapshot s = Snap();
  const std::optional<LockSnapshot> l = Find(s, "shared");
  ASSERT_TRUE(l.has_value());
  EXPECT_TRUE(l->addresses.empty());
  EXPECT_EQ(l->acquisitions, 2u);  // the series outlives its objects
}

TEST_P(PrimitivesTest, ContendedLockHandsOffAndCounts) {
  Lock lock(*rt_, "c");
  ASSERT_TRUE(lock.Acquire(*ts_));
  std::atomic<bool> got{false};
  std::thread other;
  {
    AllowThreads allow(*ts_);
    other = std::thread([&] {
      auto o = rt_->AttachThread("other");
      GILSTAT_CHECK(o.ok());
      EXPECT_TRUE(lock.Acquire(**o));  // blocks without the GIL
      got.store(true);
      EXPECT_TRUE(lock.Release(**o).ok());
      rt_->DetachThread(*o);
    });
    // Wait until the other thread is blocked in the lock.
    ASSERT_TRUE(WaitUntil([&] {
      return rt_->TakeSnapshot().gil.voluntary_releases >= 2;  // main + other's blocking wait
    }));
  }
  EXPECT_FALSE(got.load());
  EXPECT_TRUE(lock.Release(*ts_).ok());
  {
    AllowThreads allow(*ts_);
    other.join();
  }
  EXPECT_TRUE(got.load());
  const std::optional<LockSnapshot> l = Find(Snap(), "c");
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->acquisitions, 2u);
  EXPECT_EQ(l->contended, 1u);
  EXPECT_EQ(l->handoffs, 1u);
  EXPECT_EQ(l->wait.count, 2u);
  EXPECT_GE(l->max_wait_ns, 1u);
}

// Threads switch the GIL while holding the lock: the lock alone must keep them apart.
TEST_P(PrimitivesTest, LockMutualExclusionUnderStress) {
  Lock lock(*rt_, "stress");
  std::atomic<int> inside{0};
  std::atomic<int> violations{0};
  uint64_t plain = 0;
  constexpr int kThreads = 3, kIters = 1500;
  RunThreads(*rt_, *ts_, kThreads, [&](ThreadState& ts, int) {
    for (int i = 0; i < kIters; ++i) {
      ASSERT_TRUE(lock.Acquire(ts));
      if (inside.fetch_add(1) != 0) violations.fetch_add(1);
      const uint64_t v = plain;
      for (int k = 0; k < 12; ++k) rt_->Tick(ts);  // may switch the GIL inside
      plain = v + 1;
      inside.fetch_sub(1);
      ASSERT_TRUE(lock.Release(ts).ok());
      rt_->Tick(ts);
    }
  });
  EXPECT_EQ(violations.load(), 0);
  EXPECT_EQ(plain, uint64_t{kThreads} * kIters);
  const std::optional<LockSnapshot> l = Find(Snap(), "stress");
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->acquisitions, uint64_t{kThreads} * kIters);
  EXPECT_EQ(l->releases, l->acquisitions);
  EXPECT_EQ(l->wait.count, l->acquisitions);
  EXPECT_EQ(l->wait.sum_ns, l->wait_ns);
  EXPECT_EQ(l->failed_tries + l->timeouts, 0u);
}

TEST_P(PrimitivesTest, RLockRecursionAndOwnership) {
  RLock r(*rt_, "r");
  EXPECT_EQ(r.Release(*ts_).code(), ErrorCode::kFailedPrecondition);
  EXPECT_TRUE(r.Acquire(*ts_));
  EXPECT_TRUE(r.Acquire(*ts_));
  EXPECT_TRUE(r.Acquire(*ts_, 0ns));
  EXPECT_TRUE(r.owned_by(*ts_));
  std::atomic<int> other_try{-1};
  std::atomic<int> other_release{-1};
  RunThreads(*rt_, *ts_, 1, [&](ThreadState& ts, int) {
    EXPECT_FALSE(r.owned_by(ts));
    other_try.store(r.Acquire(ts, 0ns) ? 1 : 0);
    other_release.store(static_cast<int>(r.Release(ts).code()));
    EXPECT_FALSE(r.Acquire(ts, 10ms));
  });
  EXPECT_EQ(other_try.load(), 0);
  EXPECT_EQ(other_release.load(), static_cast<int>(ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(r.Release(*ts_).ok());
  EXPECT_TRUE(r.Release(*ts_).ok());
  EXPECT_TRUE(r.owned_by(*ts_));
  EXPECT_TRUE(r.Release(*ts_).ok());
  EXPECT_FALSE(r.owned_by(*ts_));
  EXPECT_FALSE(r.Release(*ts_).ok());
  const std::optional<LockSnapshot> l = Find(Snap(), "r");
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->kind, LockKind::kRLock);
  EXPECT_EQ(l->acquisitions, 1u);  // recursion does not re-acquire
  EXPECT_EQ(l->failed_tries, 1u);
  EXPECT_EQ(l->timeouts, 1u);
  EXPECT_EQ(l->releases, 1u);
}

TEST_P(PrimitivesTest, ConditionMisuseAndTimeout) {
  Condition c(*rt_, "cv");
  auto w = c.Wait(*ts_, 1ms);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(c.Notify(*ts_).code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(c.NotifyAll(*ts_).code(), ErrorCode::kFailedPrecondition);
  EXPECT_FALSE(c.Release(*ts_).ok());
  ASSERT_TRUE(c.Acquire(*ts_));
  ASSERT_TRUE(c.Acquire(*ts_));  // owns an RLock: recursive
  auto timed = c.Wait(*ts_, 20ms);
  ASSERT_TRUE(timed.ok());
  EXPECT_FALSE(*timed);
  auto tried = c.Wait(*ts_, 0ns);
  ASSERT_TRUE(tried.ok());
  EXPECT_FALSE(*tried);
  EXPECT_TRUE(c.Notify(*ts_).ok());  // nobody waits: fine
  EXPECT_TRUE(c.Release(*ts_).ok());
  EXPECT_TRUE(c.Release(*ts_).ok());  // the recursion count was restored after the waits
  EXPECT_FALSE(c.Release(*ts_).ok());
  Snapshot s = Snap();
  const std::optional<LockSnapshot> l = Find(s, "cv");
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->kind, LockKind::kCondition);
  EXPECT_EQ(l->timeouts, 2u);
  EXPECT_EQ(l->acquisitions, 0u);
  EXPECT_TRUE(l->addresses.empty());  // waiter semaphores are gone
  EXPECT_TRUE(Find(s, "cv.lock").has_value());
}

TEST_P(PrimitivesTest, ConditionOverPlainLockMisuse) {
  Lock lock(*rt_, "pl");
  Condition c(*rt_, lock, "plc");
  EXPECT_FALSE(c.Wait(*ts_, 1ms).ok());
  EXPECT_FALSE(c.Notify(*ts_).ok());
  ASSERT_TRUE(c.Acquire(*ts_));
  EXPECT_TRUE(lock.locked());
  auto w = c.Wait(*ts_, 5ms);
  ASSERT_TRUE(w.ok());
  EXPECT_FALSE(*w);
  EXPECT_TRUE(lock.locked());
  EXPECT_TRUE(c.Release(*ts_).ok());
  EXPECT_FALSE(lock.locked());
}

// Producer/consumer over a bounded buffer: a lost notification would stall a waiter until its
// (long) timeout and fail the test.
TEST_P(PrimitivesTest, ConditionNoLostWakeups) {
  RLock rl(*rt_, "buf.lock");
  Condition not_empty(*rt_, rl, "not_empty");
  Condition not_full(*rt_, rl, "not_full");
  int items = 0, produced = 0, consumed = 0;  // protected by rl
  constexpr int kItems = 800, kCap = 2;
  std::atomic<int> timeouts{0};
  RunThreads(*rt_, *ts_, 4, [&](ThreadState& ts, int idx) {
    const bool producer = idx % 2 == 0;
    for (int i = 0; i < kItems / 2; ++i) {
      ASSERT_TRUE(rl.Acquire(ts));
      if (producer) {
        while (items == kCap) {
          if (!*not_full.Wait(ts, 20s)) timeouts.fetch_add(1);
        }
        ++items;
        ++produced;
        ASSERT_TRUE(not_empty.Notify(ts).ok());
      } else {
        while (items == 0) {
          if (!*not_empty.Wait(ts, 20s)) timeouts.fetch_add(1);
        }
        --items;
        ++consumed;
        ASSERT_TRUE(not_full.Notify(ts).ok());
      }
      ASSERT_TRUE(rl.Release(ts).ok());
      rt_->Tick(ts);
    }
  });
  EXPECT_EQ(timeouts.load(), 0);
  EXPECT_EQ(produced, kItems);
  EXPECT_EQ(consumed, kItems);
  EXPECT_EQ(items, 0);
  Snapshot s = Snap();
  const std::optional<LockSnapshot> ne = Find(s, "not_empty");
  ASSERT_TRUE(ne.has_value());
  EXPECT_EQ(ne->wait.count, ne->acquisitions);
  EXPECT_EQ(ne->timeouts, 0u);
}

TEST_P(PrimitivesTest, NotifyWakesOneNotifyAllWakesAll) {
  Condition c(*rt_, "n");
  std::atomic<int> woken{0};
  std::atomic<int> waiting{0};
  std::thread waiters[3];
  {
    AllowThreads allow(*ts_);
    for (auto& w : waiters) {
      w = std::thread([&] {
        auto ts = rt_->AttachThread("waiter");
        GILSTAT_CHECK(ts.ok());
        GILSTAT_CHECK(c.Acquire(**ts));
        waiting.fetch_add(1);
        auto r = c.Wait(**ts, 20s);
        EXPECT_TRUE(r.ok() && *r);
        woken.fetch_add(1);
        GILSTAT_CHECK(c.Release(**ts).ok());
        rt_->DetachThread(*ts);
      });
    }
    ASSERT_TRUE(WaitUntil([&] { return waiting.load() == 3; }));
  }
  // All three are queued once each has released the lock inside Wait.
  ASSERT_TRUE(c.Acquire(*ts_));
  ASSERT_TRUE(c.Notify(*ts_, 1).ok());
  ASSERT_TRUE(c.Release(*ts_).ok());
  {
    AllowThreads allow(*ts_);
    ASSERT_TRUE(WaitUntil([&] { return woken.load() == 1; }));
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(woken.load(), 1);
  ASSERT_TRUE(c.Acquire(*ts_));
  ASSERT_TRUE(c.NotifyAll(*ts_).ok());
  ASSERT_TRUE(c.Release(*ts_).ok());
  {
    AllowThreads allow(*ts_);
    for (auto& w : waiters) w.join();
  }
  EXPECT_EQ(woken.load(), 3);
  const std::optional<LockSnapshot> l = Find(Snap(), "n");
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->acquisitions, 3u);
  EXPECT_EQ(l->wait.count, 3u);
}

TEST_P(PrimitivesTest, SemaphoreCountsAndErrors) {
  Semaphore sem(*rt_, 2, "s");
  EXPECT_EQ(sem.value(), 2);
  EXPECT_TRUE(sem.Acquire(*ts_));
  EXPECT_TRUE(sem.Acquire(*ts_, 0ns));
  EXPECT_FALSE(sem.Acquire(*ts_, 0ns));
  EXPECT_FALSE(sem.Acquire(*ts_, 10ms));
  EXPECT_EQ(sem.Release(*ts_, 0).code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(sem.Release(*ts_, 3).ok());  // unbounded, like threading.Semaphore
  EXPECT_EQ(sem.value(), 3);
  std::atomic<bool> got{false};
  RunThreads(*rt_, *ts_, 1, [&](ThreadState& ts, int) { got.store(sem.Acquire(ts, 1s)); });
  EXPECT_TRUE(got.load());
  const std::optional<LockSnapshot> l = Find(Snap(), "s");
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->kind, LockKind::kSemaphore);
  EXPECT_EQ(l->acquisitions, 3u);
  EXPECT_EQ(l->failed_tries, 1u);
  EXPECT_EQ(l->timeouts, 1u);
  EXPECT_EQ(l->releases, 3u);
}

TEST_P(PrimitivesTest, EventSetClearWait) {
  Event ev(*rt_, "e");
  EXPECT_FALSE(ev.IsSet());
  EXPECT_FALSE(ev.Wait(*ts_, 0ns));
  EXPECT_FALSE(ev.Wait(*ts_, 10ms));
  ev.Set(*ts_);
  EXPECT_TRUE(ev.IsSet());
  EXPECT_TRUE(ev.Wait(*ts_));
  ev.Clear(*ts_);
  EXPECT_FALSE(ev.IsSet());
  std::atomic<int> result{-1};
  std::atomic<bool> started{false};
  std::thread waiter;
  {
    AllowThreads allow(*ts_);
    waiter = std::thread([&] {
      auto ts = rt_->AttachThread("waiter");
      GILSTAT_CHECK(ts.ok());
      started.store(true);
      result.store(ev.Wait(**ts, 20s) ? 1 : 0);
      rt_->DetachThread(*ts);
    });
    ASSERT_TRUE(WaitUntil([&] { return started.load(); }));
  }
  ev.Set(*ts_);
  {
    AllowThreads allow(*ts_);
    waiter.join();
  }
  EXPECT_EQ(result.load(), 1);
  Snapshot s = Snap();
  const std::optional<LockSnapshot> l = Find(s, "e");
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->kind, LockKind::kEvent);
  EXPECT_EQ(l->timeouts, 2u);  // the 0 ns try and the 10 ms wait
  EXPECT_TRUE(Find(s, "e.lock").has_value());
}

INSTANTIATE_TEST_SUITE_P(Policies, PrimitivesTest, testing::kAllPolicies, testing::PolicyParamName);

}  // namespace
}  // namespace gilstat::rt
