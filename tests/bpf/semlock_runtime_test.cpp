// The probes against the hosted runtime's classic GIL (a sem_t) in this very process: the
// runtime's own counters are the ground truth.
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "gilstat/rt/runtime.h"
#include "probes/semlock_probe.h"
#include "tests/bpf/bpf_test_util.h"

namespace gilstat::probes {
namespace {

class SemlockRuntimeTest : public ::testing::TestWithParam<ProbeMode> {
 protected:
  void SetUp() override { GILSTAT_SKIP_UNLESS_BPF(); }
};

// Two threads under the classic policy take turns: each holds the GIL for ~2 ms of ticks, then
// releases it around a 100 µs sleep (AllowThreads). When a thread comes back from its sleep the
// other one holds the GIL, so it blocks in sem_wait and is woken by the other's release: every
// acquisition after the first is contended and a handoff, in the runtime's sense (held by
// another thread when it began; acquired by another thread than the last releaser) and in the
// probe's (blocked in futex_wait; acquired right after another thread's post/wake). The check
// interval is too large for forced releases (those would start the classic "GIL battle", where
// the two definitions differ, see docs/PROBES.md).
//
// Acquisitions and posts: exact (default mode: see below). Contended: tolerance 10% of acquisitions
// + 5. The runtime's view of the holder has windows: it clears the holder before sem_post and sets
// it after sem_wait returns, so a thread arriving in between reads "free" and still blocks (probe:
// contended, runtime: not). Exact mode widens the first window by the single-stepped sem_post
// entry (~15 µs here), and a loaded machine preempts threads inside the windows.
// Handoffs: on a quiet machine both views agree to a few counts. On a loaded one a thread kept
// off the CPU for longer than the other's 2 ms hold time finds the GIL free when it returns: the
// runtime counts a handoff (another thread released last), the probe does not (nobody woke it).
// So: every probe handoff is a runtime handoff (probe <= runtime + 5), and every blocked
// acquisition is ended by the other thread's release (probe handoffs >= 90% of the runtime's
// contended acquisitions - 5).
TEST_P(SemlockRuntimeTest, ClassicGilMatchesRuntimeCounters) {
  SemlockOptions opts;
  opts.mode = GetParam();
  auto probe = SemlockProbe::Open(opts);
  ASSERT_TRUE(probe.ok()) << probe.status().ToString();
  auto attached = (*probe)->Attach(getpid());
  ASSERT_TRUE(attached.ok()) << attached.status().ToString();

  rt::RuntimeOptions ro;
  ro.policy = rt::Policy::kClassic;
  ro.check_interval = 1'000'000'000;
  auto runtime = rt::Runtime::Create(ro);
  ASSERT_TRUE(runtime.ok()) << runtime.status().ToString();
  rt::Runtime& r = **runtime;
  constexpr int kRounds = 150;
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&r, i] {
      auto ts = r.AttachThread("t" + std::to_string(i));
      GILSTAT_CHECK(ts.ok());
      for (int round = 0; round < kRounds; ++round) {
        const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(2000);
        while (std::chrono::steady_clock::now() < until) {
          for (int k = 0; k < 100; ++k) r.Tick(**ts);
        }
        rt::AllowThreads allow(**ts);
        usleep(100);
      }
      r.DetachThread(*ts);
    });
  }
  for (std::thread& t : threads) t.join();
  rt::Snapshot snap = r.TakeSnapshot();
  ASSERT_FALSE(snap.gil.addresses.empty());
  const uint64_t gil_addr = snap.gil.addresses[0].address;

  auto locks = (*probe)->ReadLocks();
  ASSERT_TRUE(locks.ok()) << locks.status().ToString();
  const SemLockStats* gil = nullptr;
  for (const SemLockStats& s : *locks) {
    if (s.pid == getpid() && s.addr == gil_addr) gil = &s;
  }
  ASSERT_NE(gil, nullptr) << "no probe entry for the GIL sem_t";
  std::fprintf(stderr,
               "runtime: acq %llu contended %llu handoffs %llu | probe: acq %llu contended %llu "
               "handoffs %llu posts %llu\n",
               (unsigned long long)snap.gil.acquisitions, (unsigned long long)snap.gil.contended,
               (unsigned long long)snap.gil.handoffs, (unsigned long long)gil->acquisitions,
               (unsigned long long)gil->contended, (unsigned long long)gil->handoffs,
               (unsigned long long)gil->posts);
  EXPECT_GT(snap.gil.acquisitions, uint64_t{3});
  if (SeesEveryAcquisition(GetParam())) {
    EXPECT_TRUE(gil->acquisitions_known);
    EXPECT_EQ(gil->acquisitions, snap.gil.acquisitions);
    EXPECT_EQ(gil->posts, snap.gil.releases);
  } else {
    // Default mode sees the acquisitions that blocked (here nearly every one that found the GIL
    // taken: the runtime's contended ones, with the same windows as below) and the releases
    // that woke a waiter.
    EXPECT_FALSE(gil->acquisitions_known);
    EXPECT_LE(gil->acquisitions, snap.gil.acquisitions);
    EXPECT_NEAR(static_cast<double>(gil->acquisitions), static_cast<double>(snap.gil.contended),
                0.10 * static_cast<double>(snap.gil.acquisitions) + 5);
    EXPECT_LE(gil->posts, snap.gil.releases);
    EXPECT_LE(gil->handoffs, gil->posts + 5);
  }
  EXPECT_GE(snap.gil.handoffs, static_cast<uint64_t>(kRounds));  // the workload works
  EXPECT_NEAR(static_cast<double>(gil->contended), static_cast<double>(snap.gil.contended),
              0.10 * static_cast<double>(snap.gil.acquisitions) + 5);
  EXPECT_LE(gil->handoffs, snap.gil.handoffs + 5);
  EXPECT_GE(static_cast<double>(gil->handoffs), 0.9 * static_cast<double>(snap.gil.contended) - 5);
  EXPECT_EQ(gil->wait_hist.count, gil->acquisitions);
  EXPECT_TRUE((*probe)->Detach(getpid()).ok());
}

INSTANTIATE_TEST_SUITE_P(Modes, SemlockRuntimeTest,
                         ::testing::Values(ProbeMode::kDefault, ProbeMode::kCounting,
                                           ProbeMode::kExact),
                         [](const auto& param_info) {
                           std::string mode = ProbeModeName(param_info.param);
                           mode[0] = static_cast<char>(std::toupper(mode[0]));
                           return mode;
                         });

}  // namespace
}  // namespace gilstat::probes
