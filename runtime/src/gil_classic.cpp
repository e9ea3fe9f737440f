// The classic policy: CPython 2's GIL, one POSIX semaphore.
//
// Acquire is libc sem_wait (retried on EINTR), release is sem_post; nothing orders the waiters
// and nothing hands the lock over, so a thread that releases and immediately re-acquires (the
// forced release at every check interval) usually wins again while a waiter is still being
// woken: the "GIL battle" of multicore CPython 2. The check interval itself (the ticker) is
// handled by Runtime::Tick / SlowTick.
//
// "Contended" means: the semaphore's value was 0 (the GIL taken) just before sem_wait, read
// with sem_getvalue (a plain load in glibc, no system call). That is what decides whether
// sem_wait will block, so it matches the kernel-side view of the probes ("blocked in a futex
// wait") but for the nanoseconds between the read and the sem_wait. Reading a holder field
// instead would miss the common race of the GIL battle: a woken waiter takes the semaphore
// while the releaser is still returning from sem_post's wake-up call, before it records
// itself as the holder.
#include <semaphore.h>

#include <cerrno>

#include "gil.h"
#include "gilstat/check.h"

namespace gilstat::rt {

class ClassicGil final : public Gil {
 public:
  ClassicGil(Runtime& rt, LockStats& stats) : Gil(rt, stats) {
    GILSTAT_CHECK(sem_init(&sem_, 0, 1) == 0);
  }
  ~ClassicGil() override { sem_destroy(&sem_); }

  void Take(ThreadState& ts) override {
    const int64_t t0 = MonotonicNs();
    int value = 0;
    sem_getvalue(&sem_, &value);  // last before sem_wait: the window to a race stays tiny
    const bool contended = value <= 0;
    while (sem_wait(&sem_) != 0) GILSTAT_CHECK(errno == EINTR);
    const int64_t t1 = MonotonicNs();
    NoteAcquired(ts, t0, t1, contended);
  }

  void Drop(ThreadState& ts, ReleaseReason why) override {
    NoteReleasing(ts, why, MonotonicNs());
    GILSTAT_CHECK(sem_post(&sem_) == 0);
  }

  std::vector<NativeAddress> Addresses() const override {
    return {{"sem_t", "gil", reinterpret_cast<uintptr_t>(&sem_)}};
  }

 private:
  sem_t sem_;
};

std::unique_ptr<Gil> MakeClassicGil(Runtime& rt, LockStats& stats) {
  return std::make_unique<ClassicGil>(rt, stats);
}

}  // namespace gilstat::rt
