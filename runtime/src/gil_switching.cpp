// The switching policy: the GIL of CPython 3.2+ (REFERENCE §2), written for gilstat.
//
// State: `locked` guarded by `mutex_`, waiters sleep on `cond_`; `switch_mutex_`/`switch_cond_`
// let a thread forced off the GIL wait until another thread has really taken it (forced
// switching). A waiter sleeps one switch interval at a time; if the wait timed out, the GIL is
// still locked and no switch happened meanwhile (switch number unchanged), it sets the drop
// request bit of the runtime's eval breaker. The holder sees the bit at its next ticking
// instruction (Runtime::SlowTick) and yields: a forced drop, during which it waits on
// `switch_cond_` until the switch happened, then a normal take.
#include <cerrno>

#include "gil.h"
#include "gilstat/check.h"

namespace gilstat::rt {

void InitMonotonicCond(pthread_cond_t* cond) {
  pthread_condattr_t attr;
  GILSTAT_CHECK(pthread_condattr_init(&attr) == 0);
  GILSTAT_CHECK(pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0);
  GILSTAT_CHECK(pthread_cond_init(cond, &attr) == 0);
  pthread_condattr_destroy(&attr);
}

class SwitchingGil final : public Gil {
 public:
  SwitchingGil(Runtime& rt, LockStats& stats) : Gil(rt, stats) {
    pthread_mutex_init(&mutex_, nullptr);
    pthread_mutex_init(&switch_mutex_, nullptr);
    InitMonotonicCond(&cond_);
    InitMonotonicCond(&switch_cond_);
  }
  ~SwitchingGil() override {
    pthread_cond_destroy(&switch_cond_);
    pthread_cond_destroy(&cond_);
    pthread_mutex_destroy(&switch_mutex_);
    pthread_mutex_destroy(&mutex_);
  }

  void Take(ThreadState& ts) override {
    auto& eb = rt_.eval_breaker();
    const int64_t t0 = MonotonicNs();
    pthread_mutex_lock(&mutex_);
    const bool contended = locked_;
    while (locked_) {
      const uint64_t saved = switch_number_.Load();
      const int64_t deadline = MonotonicNs() + rt_.switch_interval().count();
      const timespec abs = ToTimespec(deadline);
      const int rc = pthread_cond_timedwait(&cond_, &mutex_, &abs);
      if (rc == ETIMEDOUT && locked_ && switch_number_.Load() == saved) {
        if ((eb.fetch_or(kEvalDropRequest, std::memory_order_relaxed) & kEvalDropRequest) == 0) {
          rt_.drop_requests().Add(1);
        }
      }
    }
    locked_ = true;
    const int64_t t1 = MonotonicNs();
    NoteAcquired(ts, t0, t1, contended);  // updates last_holder_ and switch_number_
    pthread_mutex_lock(&switch_mutex_);
    pthread_cond_signal(&switch_cond_);
    pthread_mutex_unlock(&switch_mutex_);
    eb.fetch_and(~kEvalDropRequest, std::memory_order_relaxed);
    pthread_mutex_unlock(&mutex_);
  }

  void Drop(ThreadState& ts, ReleaseReason why) override {
    NoteReleasing(ts, why, MonotonicNs());
    pthread_mutex_lock(&mutex_);
    locked_ = false;
    pthread_cond_signal(&cond_);
    pthread_mutex_unlock(&mutex_);
    // Forced switching: when a waiter asked for the GIL, do not come back before it (or some
    // other thread) has taken it; otherwise the dropper would usually win the race again.
    if (why == ReleaseReason::kForced &&
        (rt_.eval_breaker().load(std::memory_order_relaxed) & kEvalDropRequest) != 0) {
      pthread_mutex_lock(&switch_mutex_);
      // A taker sets last_holder_ under mutex_ and then signals under switch_mutex_, so this
      // check under switch_mutex_ cannot miss the signal. The waiter that set the request is
      // still in Take (it leaves only by taking the GIL), so the wait ends.
      while (last_holder_.load(std::memory_order_relaxed) == ts.id_) {
        pthread_cond_wait(&switch_cond_, &switch_mutex_);
      }
      pthread_mutex_unlock(&switch_mutex_);
    }
  }

  std::vector<NativeAddress> Addresses() const override {
    return {{"pthread_mutex_t", "mutex", reinterpret_cast<uintptr_t>(&mutex_)},
            {"pthread_cond_t", "cond", reinterpret_cast<uintptr_t>(&cond_)},
            {"pthread_mutex_t", "switch_mutex", reinterpret_cast<uintptr_t>(&switch_mutex_)},
            {"pthread_cond_t", "switch_cond", reinterpret_cast<uintptr_t>(&switch_cond_)}};
  }

 private:
  pthread_mutex_t mutex_;
  pthread_cond_t cond_;
  pthread_mutex_t switch_mutex_;
  pthread_cond_t switch_cond_;
  bool locked_ = false;  // under mutex_
};

std::unique_ptr<Gil> MakeSwitchingGil(Runtime& rt, LockStats& stats) {
  return std::make_unique<SwitchingGil>(rt, stats);
}

}  // namespace gilstat::rt
