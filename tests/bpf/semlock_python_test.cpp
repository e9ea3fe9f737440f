// The probes on a real Python 3 process (Debian's python3: threading.Lock is a sem_t, acquired
// with sem_trywait then sem_wait, released with sem_post).
#include <unistd.h>

#include <cstdio>
#include <string>

#include <gtest/gtest.h>

#include "probes/semlock_probe.h"
#include "tests/bpf/bpf_test_util.h"

namespace gilstat::probes {
namespace {

using ::gilstat::testing::Child;

// pylock.py: two threads hand two locks to each other kN times, the releaser sleeping 1 ms
// first, so each acquire fails its trywait, blocks in sem_wait and is woken by the release.
// Tolerance 10% on contended/handoffs per lock: a thread delayed for > 1 ms by the scheduler
// before it blocks acquires without blocking.
TEST(SemlockPythonTest, ThreadingLockHandoffsAreSeen) {
  GILSTAT_SKIP_UNLESS_BPF();
  const char* python = "/usr/bin/python3";
  if (access(python, X_OK) != 0) {
    std::fprintf(stderr, "SKIPPED: %s not installed\n", python);
    GTEST_SKIP() << python << " not installed";
  }
  for (ProbeMode mode : {ProbeMode::kDefault, ProbeMode::kCounting, ProbeMode::kExact}) {
    SCOPED_TRACE(ProbeModeName(mode));
    SemlockOptions opts;
    opts.mode = mode;
    auto probe = SemlockProbe::Open(opts);
    ASSERT_TRUE(probe.ok()) << probe.status().ToString();
    constexpr uint64_t kN = 100;
    Child py({python, std::string(GILSTAT_TESTPROGS_DIR) + "/pylock.py", std::to_string(kN)});
    ASSERT_TRUE(py.WaitReady());
    auto a = (*probe)->Attach(py.pid());
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    py.Go();
    ASSERT_TRUE(py.ReadResults());
    EXPECT_EQ(py.Wait(), 0);
    auto locks = (*probe)->ReadLocks();
    ASSERT_TRUE(locks.ok());
    // The two handed-over locks: the entries with the most handoffs.
    int handed = 0;
    for (const SemLockStats& s : *locks) {
      if (s.pid != py.pid() || s.handoffs < kN * 90 / 100) continue;
      ++handed;
      EXPECT_GE(s.contended, kN * 90 / 100);
      if (SeesEveryAcquisition(mode)) {
        EXPECT_GE(s.acquisitions, kN);
        EXPECT_GE(s.failed_tries, kN * 90 / 100);
        EXPECT_GE(s.posts, kN);
      } else {
        // Default mode: the blocking acquisitions after the failed try (each found the lock
        // taken) and the releases that woke them; tries are not probed.
        EXPECT_GE(s.acquisitions, kN * 90 / 100);
        EXPECT_EQ(s.failed_tries, 0u);
        EXPECT_GE(s.posts, kN * 90 / 100);
      }
      EXPECT_GE(s.blocked_ns, kN * 500'000u);  // ~1 ms per blocked acquisition
      EXPECT_EQ(s.handoff_latency_hist.count, s.handoffs);
    }
    EXPECT_EQ(handed, 2) << "expected two threading.Lock semaphores with ~" << kN
                         << " handoffs each";
    EXPECT_TRUE((*probe)->Detach(py.pid()).ok());
  }
}

}  // namespace
}  // namespace gilstat::probes
