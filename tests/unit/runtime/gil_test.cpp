// GIL behaviour common to every policy: mutual exclusion, threads, AllowThreads, pending calls,
// asynchronous exceptions, exact counters.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <thread>

#include "gilstat/rt/runtime.h"
#include "tests/unit/runtime/rt_test_util.h"

namespace gilstat::rt {
namespace {

using namespace std::chrono_literals;
using testing::MakeRuntime;
using testing::RunThreads;
using testing::WaitUntil;

class GilTest : public ::testing::TestWithParam<Policy> {
 protected:
  // Short intervals so that CPU-bound threads switch often.
  std::unique_ptr<Runtime> Make() { return MakeRuntime(GetParam(), 7, 100us); }
};

TEST(PolicyTest, NamesRoundTrip) {
  for (Policy p : {Policy::kClassic, Policy::kSwitching, Policy::kFair}) {
    auto parsed = ParsePolicy(PolicyName(p));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, p);
  }
  auto bad = ParsePolicy("newgil");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

TEST(RuntimeCreateTest, RejectsBadOptions) {
  RuntimeOptions o;
  o.check_interval = 0;
  EXPECT_FALSE(Runtime::Create(o).ok());
  o = {};
  o.switch_interval = 0ns;
  EXPECT_FALSE(Runtime::Create(o).ok());
  o = {};
  o.max_pending_calls = 0;
  EXPECT_FALSE(Runtime::Create(o).ok());
}

TEST_P(GilTest, AttachTakesGilAndDetachReleases) {
  auto rt = Make();
  EXPECT_EQ(Runtime::Current(), nullptr);
  auto ts = rt->AttachThread("main");
  ASSERT_TRUE(ts.ok());
  EXPECT_TRUE((*ts)->holds_gil());
  EXPECT_TRUE((*ts)->is_main());
  EXPECT_EQ((*ts)->id(), 1u);
  EXPECT_EQ(Runtime::Current(), *ts);
  auto again = rt->AttachThread("again");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kFailedPrecondition);
  Snapshot s = rt->TakeSnapshot();
  EXPECT_EQ(s.threads_attached, 1u);
  ASSERT_EQ(s.threads.size(), 1u);
  EXPECT_EQ(s.threads[0].name, "main");
  EXPECT_EQ(s.threads[0].tid, (*ts)->tid());
  rt->DetachThread(*ts);
  EXPECT_EQ(Runtime::Current(), nullptr);
  s = rt->TakeSnapshot();
  EXPECT_EQ(s.threads_attached, 0u);
  EXPECT_EQ(s.gil.acquisitions, 1u);
  EXPECT_EQ(s.gil.releases, 1u);
  EXPECT_EQ(s.gil.exit_releases, 1u);
  EXPECT_EQ(s.exited_threads.gil_acquisitions, 1u);
}

TEST_P(GilTest, SnapshotListsNativeAddresses) {
  auto rt = Make();
  auto ts = rt->AttachThread("main");
  ASSERT_TRUE(ts.ok());
  Snapshot s = rt->TakeSnapshot();
  EXPECT_EQ(s.gil.name, "gil");
  EXPECT_EQ(s.gil.kind, LockKind::kGil);
  auto has = [&](const std::string& type, const std::string& role) {
    for (const auto& a : s.gil.addresses) {
      if (a.type == type && a.role == role && a.address != 0) return true;
    }
    return false;
  };
  switch (GetParam()) {
    case Policy::kClassic:
      EXPECT_TRUE(has("sem_t", "gil"));
      EXPECT_EQ(s.gil.addresses.size(), 1u);
      break;
    case Policy::kSwitching:
      EXPECT_TRUE(has("pthread_mutex_t", "mutex"));
      EXPECT_TRUE(has("pthread_cond_t", "cond"));
      EXPECT_TRUE(has("pthread_mutex_t", "switch_mutex"));
      EXPECT_TRUE(has("pthread_cond_t", "switch_cond"));
      break;
    case Policy::kFair:
      EXPECT_TRUE(has("pthread_mutex_t", "mutex"));
      EXPECT_TRUE(has("pthread_cond_t", "waiter"));  // one per attached thread
      EXPECT_EQ(s.gil.addresses.size(), 2u);
      break;
  }
  rt->DetachThread(*ts);
}

// Two holders at once would make `inside` exceed 1 or lose increments of `plain`.
TEST_P(GilTest, MutualExclusionUnderStress) {
  auto rt = Make();
  auto self = rt->AttachThread("main");
  ASSERT_TRUE(self.ok());
  constexpr int kThreads = 4;
  constexpr int kIters = 20000;
  std::atomic<int> inside{0};
  std::atomic<int> violations{0};
  uint64_t plain = 0;  // protected by the GIL only
  RunThreads(*rt, **self, kThreads, [&](ThreadState& ts, int idx) {
    for (int i = 0; i < kIters; ++i) {
      if (inside.fetch_add(1) != 0) violations.fetch_add(1);
      const uint64_t v = plain;
      if (i % 16 == 0) std::this_thread::yield();  // widen the window
      plain = v + 1;
      inside.fetch_sub(1);
      rt->Tick(ts);
      if ((i + idx) % 500 == 0) {
        AllowThreads allow(ts);
        std::this_thread::yield();
      }
    }
  });
  EXPECT_EQ(violations.load(), 0);
  EXPECT_EQ(plain, uint64_t{kThreads} * kIters);
  Snapshot s = rt->TakeSnapshot();
  EXPECT_EQ(s.ticks, uint64_t{kThreads} * kIters);
  EXPECT_EQ(s.gil.acquisitions, s.gil.releases + 1);  // main holds it again
  rt->DetachThread(*self);
}

// Only CPU-bound workers: every release is followed by an acquisition by the same thread (only
// after a forced release) or by another thread (a handoff).
TEST_P(GilTest, CountersOfCpuBoundThreadsAreExact) {
  auto rt = Make();
  auto self = rt->AttachThread("main");
  ASSERT_TRUE(self.ok());
  constexpr int kThreads = 2;
  constexpr int kTicks = 30000;
  RunThreads(*rt, **self, kThreads, [&](ThreadState& ts, int) {
    for (int i = 0; i < kTicks; ++i) EXPECT_EQ(rt->Tick(ts), 0);
  });
  Snapshot s = rt->TakeSnapshot();
  const auto& g = s.gil;
  EXPECT_EQ(s.ticks, uint64_t{kThreads} * kTicks);
  EXPECT_EQ(g.voluntary_releases, 1u);  // main, around the joins
  EXPECT_EQ(g.exit_releases, uint64_t{kThreads});
  EXPECT_EQ(g.releases, g.forced_releases + g.voluntary_releases + g.exit_releases);
  EXPECT_EQ(g.acquisitions, g.releases + 1);
  EXPECT_EQ(g.handoffs + g.same_thread_reacquisitions, g.releases);
  EXPECT_LE(g.same_thread_reacquisitions, g.forced_releases);
  EXPECT_GE(g.handoffs, 1u + kThreads);  // main -> worker, worker exits
  EXPECT_EQ(g.wait.count, g.acquisitions);
  EXPECT_EQ(g.wait.sum_ns, g.wait_ns);
  EXPECT_EQ(g.hold.count, g.releases);
  uint64_t slot_total = 0;
  for (uint64_t c : g.wait.slots) slot_total += c;
  EXPECT_EQ(slot_total, g.wait.count);
  EXPECT_LE(g.contended, g.acquisitions);
  EXPECT_GE(g.max_wait_ns * g.acquisitions, g.wait_ns);
  // Per-thread counters add up to the GIL's.
  uint64_t acq = s.exited_threads.gil_acquisitions, forced = s.exited_threads.forced_releases;
  uint64_t wait = s.exited_threads.gil_wait_ns;
  for (const auto& t : s.threads) {
    acq += t.gil_acquisitions;
    forced += t.forced_releases;
    wait += t.gil_wait_ns;
  }
  EXPECT_EQ(acq, g.acquisitions);
  EXPECT_EQ(forced, g.forced_releases);
  EXPECT_EQ(wait, g.wait_ns);
  EXPECT_EQ(s.exited_threads.ticks, uint64_t{kThreads} * kTicks);
  if (GetParam() == Policy::kClassic) {
    // One runtime-wide ticker: exactly one forced release per 7 ticks, whoever ticks.
    EXPECT_EQ(g.forced_releases, uint64_t{kThreads} * kTicks / 7);
    EXPECT_EQ(s.drop_requests, 0u);
  } else {
    EXPECT_LE(g.forced_releases, s.drop_requests);
  }
  EXPECT_GE(s.switch_number, g.handoffs);
  rt->DetachThread(*self);
}

TEST_P(GilTest, CpuBoundThreadsBothMakeProgress) {
  auto rt = MakeRuntime(GetParam(), 100, 1ms);
  auto self = rt->AttachThread("main");
  ASSERT_TRUE(self.ok());
  std::atomic<uint64_t> done[2] = {0, 0};
  std::atomic<bool> stop{false};
  {
    AllowThreads allow(**self);
    std::thread watcher([&] {
      WaitUntil([&] { return done[0].load() >= 20000 && done[1].load() >= 20000; });
      stop.store(true);
    });
    std::vector<std::thread> workers;
    for (int w = 0; w < 2; ++w) {
      workers.emplace_back([&, w] {
        auto ts = rt->AttachThread("cpu");
        GILSTAT_CHECK(ts.ok());
        while (!stop.load(std::memory_order_relaxed)) {
          rt->Tick(**ts);
          done[w].fetch_add(1, std::memory_order_relaxed);
        }
        rt->DetachThread(*ts);
      });
    }
    for (auto& t : workers) t.join();
    watcher.join();
  }
  EXPECT_GE(done[0].load(), 20000u);
  EXPECT_GE(done[1].load(), 20000u);
  rt->DetachThread(*self);
}

TEST_P(GilTest, AllowThreadsReleasesAndRestores) {
  auto rt = Make();
  auto self = rt->AttachThread("main");
  ASSERT_TRUE(self.ok());
  ThreadState& ts = **self;
  std::atomic<bool> other_ran{false};
  std::thread other;
  {
    AllowThreads allow(ts);
    EXPECT_FALSE(ts.holds_gil());
    // Another thread can take the GIL meanwhile.
    other = std::thread([&] {
      auto o = rt->AttachThread("other");
      GILSTAT_CHECK(o.ok());
      other_ran.store(true);
      std::this_thread::sleep_for(5ms);
      rt->DetachThread(*o);
    });
    ASSERT_TRUE(WaitUntil([&] { return other_ran.load(); }));
    errno = ETIMEDOUT;  // as left by the blocking call
  }
  EXPECT_EQ(errno, ETIMEDOUT);
  EXPECT_TRUE(ts.holds_gil());
  EXPECT_TRUE(other_ran.load());
  EXPECT_EQ(ts.stats().voluntary_releases.Load(), 1u);
  other.join();
  Snapshot s = rt->TakeSnapshot();
  EXPECT_EQ(s.threads_attached, 1u);
  EXPECT_EQ(s.gil.voluntary_releases, 1u);
  EXPECT_EQ(s.gil.handoffs, 2u);  // main -> other -> main
  rt->DetachThread(&ts);
}

TEST_P(GilTest, PendingCallsRunOnMainThreadOnly) {
  auto rt = Make();
  auto self = rt->AttachThread("main");
  ASSERT_TRUE(self.ok());
  std::atomic<int> ran_on{0};
  std::atomic<int> runs{0};
  RunThreads(*rt, **self, 1, [&](ThreadState& ts, int) {
    ASSERT_TRUE(rt->AddPendingCall([&] {
                    ran_on.store(static_cast<int>(Runtime::Current()->id()));
                    runs.fetch_add(1);
                    return 0;
                  }).ok());
    for (int i = 0; i < 2000; ++i) rt->Tick(ts);  // the worker never runs it
    EXPECT_EQ(runs.load(), 0);
  });
  EXPECT_EQ(rt->TakeSnapshot().pending_calls_run, 0u);
  int ticks = 0;
  while (runs.load() == 0 && ticks < 1000) {
    EXPECT_EQ(rt->Tick(**self), 0);
    ++ticks;
  }
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(ran_on.load(), 1);
  EXPECT_LE(ticks, 2 * rt->check_interval() + 1);
  EXPECT_EQ(rt->TakeSnapshot().pending_calls_run, 1u);

  // A failing call becomes an asynchronous exception of the main thread.
  ASSERT_TRUE(rt->AddPendingCall([] { return 13; }).ok());
  int code = 0;
  for (ticks = 0; code == 0 && ticks < 1000; ++ticks) code = rt->Tick(**self);
  EXPECT_EQ(code, 13);
  Snapshot s = rt->TakeSnapshot();
  EXPECT_EQ(s.pending_calls_run, 2u);
  EXPECT_EQ(s.async_exc_delivered, 1u);
  rt->DetachThread(*self);
}

TEST_P(GilTest, PendingCallsFromUnattachedThreadAndQueueLimit) {
  RuntimeOptions o;
  o.policy = GetParam();
  o.max_pending_calls = 3;
  auto rt = std::move(Runtime::Create(o)).value();
  auto self = rt->AttachThread("main");
  ASSERT_TRUE(self.ok());
  std::atomic<int> runs{0};
  std::thread adder([&] {
    for (int i = 0; i < 3; ++i) {
      EXPECT_TRUE(rt->AddPendingCall([&] { return runs.fetch_add(1), 0; }).ok());
    }
    Status full = rt->AddPendingCall([] { return 0; });
    ASSERT_FALSE(full.ok());
    EXPECT_EQ(full.code(), ErrorCode::kResourceExhausted);
  });
  adder.join();
  for (int i = 0; i < 1000 && runs.load() < 3; ++i) rt->Tick(**self);
  EXPECT_EQ(runs.load(), 3);
  EXPECT_FALSE(rt->AddPendingCall(nullptr).ok());
  rt->DetachThread(*self);
}

TEST_P(GilTest, AsyncExceptionDeliveredToTargetThread) {
  auto rt = Make();
  auto self = rt->AttachThread("main");
  ASSERT_TRUE(self.ok());
  EXPECT_EQ(rt->SetAsyncExc(99, 1).code(), ErrorCode::kNotFound);
  EXPECT_EQ(rt->SetAsyncExc((*self)->id(), 0).code(), ErrorCode::kInvalidArgument);

  std::atomic<uint32_t> worker_id{0};
  std::atomic<int> got{0};
  std::atomic<uint64_t> main_ticks_with_code{0};
  {
    AllowThreads allow(**self);
    std::thread worker([&] {
      auto ts = rt->AttachThread("worker");
      GILSTAT_CHECK(ts.ok());
      worker_id.store((*ts)->id());
      int code = 0;
      const auto start = std::chrono::steady_clock::now();
      for (uint64_t i = 1; code == 0; ++i) {
        code = rt->Tick(**ts);
        if (i % 4096 == 0 && std::chrono::steady_clock::now() - start > 20s) break;
      }
      got.store(code);
      rt->DetachThread(*ts);
    });
    ASSERT_TRUE(WaitUntil([&] { return worker_id.load() != 0; }));
    ASSERT_TRUE(rt->SetAsyncExc(worker_id.load(), 42).ok());  // without the GIL
    worker.join();
  }
  EXPECT_EQ(got.load(), 42);
  // Not delivered to the main thread.
  for (int i = 0; i < 1000; ++i) {
    if (rt->Tick(**self) != 0) main_ticks_with_code.fetch_add(1);
  }
  EXPECT_EQ(main_ticks_with_code.load(), 0u);
  EXPECT_EQ(rt->TakeSnapshot().async_exc_delivered, 1u);

  // To itself, delivered at its next check.
  ASSERT_TRUE(rt->SetAsyncExc((*self)->id(), 7).ok());
  int code = 0, ticks = 0;
  while (code == 0 && ticks < 1000) {
    code = rt->Tick(**self);
    ++ticks;
  }
  EXPECT_EQ(code, 7);
  EXPECT_LE(ticks, rt->check_interval());
  EXPECT_EQ(rt->TakeSnapshot().async_exc_delivered, 2u);
  rt->DetachThread(*self);
}

// A ping-pong that would hang (and fail on the bound) if a wake-up of a GIL waiter were lost.
TEST_P(GilTest, NoLostWakeupsOnVoluntaryHandoffs) {
  auto rt = Make();
  auto self = rt->AttachThread("main");
  ASSERT_TRUE(self.ok());
  std::atomic<int> turn{0};
  constexpr int kRounds = 1000;
  RunThreads(*rt, **self, 2, [&](ThreadState& ts, int idx) {
    for (int r = 0; r < kRounds; ++r) {
      {
        AllowThreads allow(ts);  // wait for our turn without the GIL
        while (turn.load() % 2 != idx) std::this_thread::yield();
      }
      rt->Tick(ts);
      turn.fetch_add(1);
    }
  });
  EXPECT_EQ(turn.load(), 2 * kRounds);
  rt->DetachThread(*self);
}

INSTANTIATE_TEST_SUITE_P(Policies, GilTest, testing::kAllPolicies, testing::PolicyParamName);

}  // namespace
}  // namespace gilstat::rt
