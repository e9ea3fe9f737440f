// Threading primitives on POSIX semaphores. See primitives.h and docs/RUNTIME.md.
#include "gilstat/rt/primitives.h"

#include <algorithm>
#include <cerrno>
#include <climits>

#include "gil.h"
#include "gilstat/check.h"

#if defined(__SANITIZE_THREAD__)
extern "C" void __tsan_acquire(void* addr);
#define GILSTAT_TSAN_ACQUIRE(addr) __tsan_acquire(addr)
#else
#define GILSTAT_TSAN_ACQUIRE(addr) ((void)0)
#endif

namespace gilstat::rt {

namespace {

// Blocks on `sem` without the GIL: sem_wait, or sem_clockwait(CLOCK_MONOTONIC) until
// `deadline_ns` when set. EINTR is retried. Returns true when acquired; `t1` receives the time
// the wait ended (before the GIL is taken back).
bool BlockOn(ThreadState& ts, sem_t* sem, std::optional<int64_t> deadline_ns, int64_t& t1) {
  AllowThreads allow(ts);
  bool ok;
  if (!deadline_ns) {
    while (sem_wait(sem) != 0) GILSTAT_CHECK(errno == EINTR);
    ok = true;
  } else {
    const timespec abs = ToTimespec(*deadline_ns);
    for (;;) {
      if (sem_clockwait(sem, CLOCK_MONOTONIC, &abs) == 0) {
        // Sanitizer runtimes may not intercept sem_clockwait: tell TSan about the acquire.
        GILSTAT_TSAN_ACQUIRE(sem);
        ok = true;
        break;
      }
      if (errno == EINTR) continue;
      GILSTAT_CHECK(errno == ETIMEDOUT);
      ok = false;
      break;
    }
  }
  t1 = MonotonicNs();
  return ok;
}

std::optional<int64_t> DeadlineOf(const Timeout& timeout, int64_t t0) {
  if (!timeout) return std::nullopt;
  return t0 + timeout->count();
}

}  // namespace

// ---- SemLock ----

namespace detail {

SemLock::SemLock(Runtime& rt, std::string series, LockKind kind, unsigned value, const char* role)
    : rt_(rt), series_(std::move(series)), stats_(rt.LockStatsFor(series_, kind)) {
  GILSTAT_CHECK(sem_init(&sem_, 0, value) == 0);
  rt_.RegisterNative(series_, {"sem_t", role, reinterpret_cast<uintptr_t>(&sem_)});
}

SemLock::~SemLock() {
  rt_.UnregisterNative(series_, reinterpret_cast<uintptr_t>(&sem_));
  sem_destroy(&sem_);
}

bool SemLock::Acquire(ThreadState& ts, Timeout timeout) {
  GILSTAT_CHECK(ts.holds_gil());
  const int64_t t0 = MonotonicNs();
  int64_t t1;
  bool contended = false;
  if (sem_trywait(&sem_) == 0) {
    t1 = MonotonicNs();
  } else {
    if (timeout && timeout->count() <= 0) {
      stats_.failed_tries.Add(1);
      return false;
    }
    contended = true;
    if (!BlockOn(ts, &sem_, DeadlineOf(timeout, t0), t1)) {
      stats_.timeouts.Add(1);
      return false;
    }
  }
  const uint64_t wait = static_cast<uint64_t>(t1 - t0);
  stats_.acquisitions.Add(1);
  if (contended) stats_.contended.Add(1);
  stats_.wait_ns.Add(wait);
  stats_.wait_hist.Record(wait);
  stats_.RecordMaxWait(wait);
  const uint32_t last = last_releaser_.load(std::memory_order_relaxed);
  if (last != 0 && last != ts.id()) stats_.handoffs.Add(1);
  acquired_at_ns_.store(t1, std::memory_order_relaxed);
  return true;
}

Status SemLock::Post(ThreadState& ts, bool record_hold) {
  if (record_hold) {
    const int64_t held = MonotonicNs() - acquired_at_ns_.load(std::memory_order_relaxed);
    stats_.hold_hist.Record(held > 0 ? static_cast<uint64_t>(held) : 0);
  }
  last_releaser_.store(ts.id(), std::memory_order_relaxed);
  if (sem_post(&sem_) != 0) {
    return MakeError(ErrorCode::kResourceExhausted,
                     "'" + series_ + "': semaphore value would overflow");
  }
  stats_.releases.Add(1);
  return Status::Ok();
}

}  // namespace detail

// ---- Lock ----

Lock::Lock(Runtime& rt, std::string name)
    : name_(std::move(name)), sem_(rt, name_, LockKind::kLock, 1, "lock") {}

bool Lock::Acquire(ThreadState& ts, Timeout timeout) {
  if (!sem_.Acquire(ts, timeout)) return false;
  locked_.store(true, std::memory_order_release);
  return true;
}

Status Lock::Release(ThreadState& ts) {
  bool expected = true;
  if (!locked_.compare_exchange_strong(expected, false, std::memory_order_acq_rel)) {
    return MakeError(ErrorCode::kFailedPrecondition, "release of unlocked lock '" + name_ + "'");
  }
  return sem_.Post(ts, /*record_hold=*/true);
}

// ---- RLock ----

RLock::RLock(Runtime& rt, std::string name)
    : name_(std::move(name)), sem_(rt, name_, LockKind::kRLock, 1, "rlock") {}

bool RLock::Acquire(ThreadState& ts, Timeout timeout) {
  if (owner_.load(std::memory_order_relaxed) == ts.id()) {
    GILSTAT_CHECK(count_ < UINT64_MAX);
    ++count_;  // recursion: not an acquisition of the underlying lock
    return true;
  }
  if (!sem_.Acquire(ts, timeout)) return false;
  owner_.store(ts.id(), std::memory_order_relaxed);
  count_ = 1;
  return true;
}

Status RLock::Release(ThreadState& ts) {
  if (owner_.load(std::memory_order_relaxed) != ts.id()) {
    return MakeError(ErrorCode::kFailedPrecondition,
                     "release of rlock '" + name_ + "' not owned by thread '" + ts.name() + "'");
  }
  if (--count_ > 0) return Status::Ok();
  owner_.store(0, std::memory_order_relaxed);
  return sem_.Post(ts, /*record_hold=*/true);
}

bool RLock::owned_by(const ThreadState& ts) const {
  return owner_.load(std::memory_order_relaxed) == ts.id();
}

// ---- Condition ----

struct Condition::Waiter {
  sem_t sem;
};

Condition::Condition(Runtime& rt, std::string name)
    : rt_(rt), name_(std::move(name)), stats_(rt.LockStatsFor(name_, LockKind::kCondition)) {
  own_.emplace(rt, name_ + ".lock");
  rlock_ = &*own_;
}

Condition::Condition(Runtime& rt, Lock& lock, std::string name)
    : Condition(rt, lock, std::move(name), LockKind::kCondition) {}

Condition::Condition(Runtime& rt, Lock& lock, std::string name, LockKind kind)
    : rt_(rt), name_(std::move(name)), stats_(rt.LockStatsFor(name_, kind)), lock_(&lock) {}

Condition::Condition(Runtime& rt, RLock& lock, std::string name)
    : rt_(rt),
      name_(std::move(name)),
      stats_(rt.LockStatsFor(name_, LockKind::kCondition)),
      rlock_(&lock) {}

Condition::~Condition() = default;

bool Condition::Acquire(ThreadState& ts, Timeout timeout) {
  return lock_ != nullptr ? lock_->Acquire(ts, timeout) : rlock_->Acquire(ts, timeout);
}

Status Condition::Release(ThreadState& ts) {
  return lock_ != nullptr ? lock_->Release(ts) : rlock_->Release(ts);
}

Status Condition::CheckOwned(ThreadState& ts, const char* what) const {
  // A plain Lock has no owner: as in Python, "owned" means "locked".
  const bool owned = lock_ != nullptr ? lock_->locked() : rlock_->owned_by(ts);
  if (owned) return Status::Ok();
  return MakeError(ErrorCode::kFailedPrecondition,
                   std::string(what) + " on condition '" + name_ + "' without owning its lock");
}

Result<bool> Condition::Wait(ThreadState& ts, Timeout timeout) {
  if (Status st = CheckOwned(ts, "wait"); !st) return st;
  Waiter w;
  GILSTAT_CHECK(sem_init(&w.sem, 0, 0) == 0);
  const auto addr = reinterpret_cast<uintptr_t>(&w.sem);
  rt_.RegisterNative(name_, {"sem_t", "waiter", addr});
  {
    std::lock_guard lock(waiters_mu_);
    waiters_.push_back(&w);
  }
  // Release the lock completely (an RLock may be held recursively).
  uint64_t saved_count = 0;
  if (lock_ != nullptr) {
    if (Status st = lock_->Release(ts); !st) {
      // Another thread released the plain Lock since the check above (misuse): undo.
      {
        // Notify posts under waiters_mu_: once here, no post to w.sem is still under way.
        std::lock_guard lock(waiters_mu_);
        auto it = std::find(waiters_.begin(), waiters_.end(), &w);
        if (it != waiters_.end()) waiters_.erase(it);
      }
      rt_.UnregisterNative(name_, addr);
      sem_destroy(&w.sem);
      return st;
    }
  } else {
    saved_count = rlock_->count_;
    rlock_->count_ = 1;
    GILSTAT_CHECK(rlock_->Release(ts).ok());
  }

  const int64_t t0 = MonotonicNs();
  int64_t t1 = t0;
  bool notified;
  if (sem_trywait(&w.sem) == 0) {
    notified = true;
  } else if (timeout && timeout->count() <= 0) {
    notified = false;
  } else {
    notified = BlockOn(ts, &w.sem, DeadlineOf(timeout, t0), t1);
  }

  // Re-acquire the lock (blocking), then restore the recursion count.
  if (lock_ != nullptr) {
    GILSTAT_CHECK(lock_->Acquire(ts));
  } else {
    GILSTAT_CHECK(rlock_->Acquire(ts));
    rlock_->count_ = saved_count;
  }
  if (!notified) {
    std::lock_guard lock(waiters_mu_);
    auto it = std::find(waiters_.begin(), waiters_.end(), &w);
    if (it != waiters_.end()) {
      waiters_.erase(it);
    } else {
      // A notifier dequeued this waiter after the timeout. Notify posts under waiters_mu_, so
      // the post has happened: take the notification instead of losing it.
      GILSTAT_CHECK(sem_trywait(&w.sem) == 0);
      notified = true;
    }
  }
  rt_.UnregisterNative(name_, addr);
  sem_destroy(&w.sem);

  if (notified) {
    const uint64_t wait = static_cast<uint64_t>(t1 - t0);
    stats_.acquisitions.Add(1);
    stats_.wait_ns.Add(wait);
    stats_.wait_hist.Record(wait);
    stats_.RecordMaxWait(wait);
  } else {
    stats_.timeouts.Add(1);
  }
  return notified;
}

Status Condition::Notify(ThreadState& ts, int n) {
  if (Status st = CheckOwned(ts, "notify"); !st) return st;
  if (n < 0) return MakeError(ErrorCode::kInvalidArgument, "notify count must be >= 0");
  std::lock_guard lock(waiters_mu_);
  for (int i = 0; i < n && !waiters_.empty(); ++i) {
    Waiter* w = waiters_.front();
    waiters_.pop_front();
    GILSTAT_CHECK(sem_post(&w->sem) == 0);
  }
  return Status::Ok();
}

Status Condition::NotifyAll(ThreadState& ts) { return Notify(ts, INT_MAX); }

// ---- Semaphore ----

namespace {
unsigned CheckedValue(int value) {
  GILSTAT_CHECK(value >= 0);
  return static_cast<unsigned>(value);
}
}  // namespace

Semaphore::Semaphore(Runtime& rt, int value, std::string name)
    : name_(std::move(name)), sem_(rt, name_, LockKind::kSemaphore, CheckedValue(value), "sem") {}

bool Semaphore::Acquire(ThreadState& ts, Timeout timeout) { return sem_.Acquire(ts, timeout); }

Status Semaphore::Release(ThreadState& ts, int n) {
  if (n < 1) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "semaphore '" + name_ + "': release count must be >= 1");
  }
  for (int i = 0; i < n; ++i) {
    if (Status st = sem_.Post(ts, /*record_hold=*/false); !st) return st;
  }
  return Status::Ok();
}

int Semaphore::value() const {
  int v = 0;
  sem_getvalue(const_cast<detail::SemLock&>(sem_).native(), &v);
  return v;
}

// ---- Event ----

Event::Event(Runtime& rt, std::string name)
    : lock_(rt, name + ".lock"), cond_(rt, lock_, std::move(name), LockKind::kEvent) {}

void Event::Set(ThreadState& ts) {
  GILSTAT_CHECK(lock_.Acquire(ts));
  flag_.store(true, std::memory_order_release);
  GILSTAT_CHECK(cond_.NotifyAll(ts).ok());
  GILSTAT_CHECK(lock_.Release(ts).ok());
}

void Event::Clear(ThreadState& ts) {
  GILSTAT_CHECK(lock_.Acquire(ts));
  flag_.store(false, std::memory_order_release);
  GILSTAT_CHECK(lock_.Release(ts).ok());
}

bool Event::Wait(ThreadState& ts, Timeout timeout) {
  GILSTAT_CHECK(lock_.Acquire(ts));
  bool signaled = flag_.load(std::memory_order_acquire);
  if (!signaled) signaled = cond_.Wait(ts, timeout).value();
  GILSTAT_CHECK(lock_.Release(ts).ok());
  return signaled;
}

}  // namespace gilstat::rt
