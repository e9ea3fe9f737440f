// The classic GIL and the Lock primitive really go through libc's semaphore functions, the
// calls that gilstat's eBPF probes observe. This binary is linked with
// -Wl,--wrap=sem_wait,--wrap=sem_post,--wrap=sem_trywait: every call from the runtime library
// lands in the __wrap_ functions below, which count the calls per address and forward them.
#include <gtest/gtest.h>
#include <semaphore.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "gilstat/rt/primitives.h"
#include "gilstat/rt/runtime.h"
#include "tests/unit/runtime/rt_test_util.h"

extern "C" {
int __real_sem_wait(sem_t* sem);
int __real_sem_post(sem_t* sem);
int __real_sem_trywait(sem_t* sem);
int __wrap_sem_wait(sem_t* sem);
int __wrap_sem_post(sem_t* sem);
int __wrap_sem_trywait(sem_t* sem);
}

namespace {

struct Calls {
  uint64_t wait = 0, post = 0, trywait = 0, trywait_ok = 0;
};

std::mutex g_mu;
std::unordered_map<const sem_t*, Calls>& Table() {
  static auto* t = new std::unordered_map<const sem_t*, Calls>;
  return *t;
}

void ResetCalls() {
  std::lock_guard lock(g_mu);
  Table().clear();
}

Calls CallsOn(uintptr_t addr) {
  std::lock_guard lock(g_mu);
  auto it = Table().find(reinterpret_cast<const sem_t*>(addr));
  return it == Table().end() ? Calls{} : it->second;
}

}  // namespace

extern "C" int __wrap_sem_wait(sem_t* sem) {
  {
    std::lock_guard lock(g_mu);
    ++Table()[sem].wait;
  }
  return __real_sem_wait(sem);
}

extern "C" int __wrap_sem_post(sem_t* sem) {
  {
    std::lock_guard lock(g_mu);
    ++Table()[sem].post;
  }
  return __real_sem_post(sem);
}

extern "C" int __wrap_sem_trywait(sem_t* sem) {
  const int rc = __real_sem_trywait(sem);
  std::lock_guard lock(g_mu);
  auto& c = Table()[sem];
  ++c.trywait;
  if (rc == 0) ++c.trywait_ok;
  return rc;
}

namespace gilstat::rt {
namespace {

using testing::MakeRuntime;
using testing::RunThreads;

TEST(SemWrapTest, ClassicGilUsesLibcSemWaitAndSemPost) {
  ResetCalls();
  auto rt = MakeRuntime(Policy::kClassic, 5);
  const Snapshot before = rt->TakeSnapshot();
  ASSERT_EQ(before.gil.addresses.size(), 1u);
  ASSERT_EQ(before.gil.addresses[0].type, "sem_t");
  const uintptr_t gil = before.gil.addresses[0].address;

  auto self = rt->AttachThread("main");
  ASSERT_TRUE(self.ok());
  for (int i = 0; i < 1000; ++i) rt->Tick(**self);
  RunThreads(*rt, **self, 2, [&](ThreadState& ts, int) {
    for (int i = 0; i < 5000; ++i) rt->Tick(ts);
  });
  rt->DetachThread(*self);

  const Snapshot s = rt->TakeSnapshot();
  const Calls c = CallsOn(gil);
  EXPECT_GT(s.gil.acquisitions, 2000u);
  EXPECT_EQ(c.wait, s.gil.acquisitions);  // every acquisition is one sem_wait
  EXPECT_EQ(c.post, s.gil.releases);      // every release is one sem_post
  EXPECT_EQ(c.trywait, 0u);
  EXPECT_EQ(s.gil.forced_releases, (1000u + 2 * 5000u) / 5);
}

TEST(SemWrapTest, LockTriesThenBlocksInSemWait) {
  ResetCalls();
  auto rt = MakeRuntime(Policy::kSwitching);
  auto self = rt->AttachThread("main");
  ASSERT_TRUE(self.ok());
  {
    Lock lock(*rt, "wrapped");
    const uintptr_t addr = rt->TakeSnapshot().locks.at(0).addresses.at(0).address;
    ASSERT_TRUE(lock.Acquire(**self));                                // trywait succeeds
    EXPECT_FALSE(lock.Acquire(**self, std::chrono::nanoseconds(0)));  // trywait fails
    std::thread other;
    std::atomic<bool> done{false};
    {
      AllowThreads allow(**self);
      other = std::thread([&] {
        auto o = rt->AttachThread("other");
        GILSTAT_CHECK(o.ok());
        EXPECT_TRUE(lock.Acquire(**o));  // trywait fails, then sem_wait blocks
        EXPECT_TRUE(lock.Release(**o).ok());
        done.store(true);
        rt->DetachThread(*o);
      });
      while (CallsOn(addr).trywait < 3) std::this_thread::yield();
    }
    EXPECT_TRUE(lock.Release(**self).ok());
    {
      AllowThreads allow(**self);
      other.join();
    }
    const Calls c = CallsOn(addr);
    const LockSnapshot l = rt->TakeSnapshot().locks.at(0);
    EXPECT_EQ(c.trywait, 3u);
    EXPECT_EQ(c.trywait_ok, 1u);
    EXPECT_EQ(c.wait, 1u);
    EXPECT_EQ(c.post, 2u);
    EXPECT_EQ(l.acquisitions, c.trywait_ok + c.wait);
    EXPECT_EQ(l.contended, c.wait);
    EXPECT_EQ(l.failed_tries, 1u);
    EXPECT_EQ(l.releases, c.post);
  }
  rt->DetachThread(*self);
}

}  // namespace
}  // namespace gilstat::rt
