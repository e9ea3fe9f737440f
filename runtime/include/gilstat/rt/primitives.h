// Threading primitives of the runtime, built like CPython's threading module on one lock
// primitive (a POSIX semaphore, as CPython <= 3.12 on Linux). The caller holds the GIL. Each
// acquisition first tries without blocking (sem_trywait) while holding the GIL; only then does
// it release the GIL (AllowThreads) and block in sem_wait or, timed, sem_clockwait on
// CLOCK_MONOTONIC. Misuse returns an error, never undefined behaviour. See docs/RUNTIME.md.
#pragma once

#include <semaphore.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "gilstat/result.h"
#include "gilstat/rt/counters.h"
#include "gilstat/rt/runtime.h"

namespace gilstat::rt {

// nullopt: block; 0 (or negative): try once; > 0: give up after this long.
using Timeout = std::optional<std::chrono::nanoseconds>;

namespace detail {
// A named POSIX semaphore with the counters of its series; the building block of every
// primitive below.
class SemLock {
 public:
  SemLock(Runtime& rt, std::string series, LockKind kind, unsigned value, const char* role);
  ~SemLock();
  SemLock(const SemLock&) = delete;
  SemLock& operator=(const SemLock&) = delete;

  // Try, then release the GIL and block. Counts the acquisition or the failure.
  bool Acquire(ThreadState& ts, Timeout timeout);
  // sem_post; counts a release and the hold time since `acquired_at_ns`.
  Status Post(ThreadState& ts, bool record_hold);
  Runtime& runtime() const { return rt_; }
  LockStats& stats() const { return stats_; }
  sem_t* native() { return &sem_; }

 private:
  Runtime& rt_;
  std::string series_;
  LockStats& stats_;
  sem_t sem_;
  std::atomic<uint32_t> last_releaser_{0};
  std::atomic<int64_t> acquired_at_ns_{0};
};
}  // namespace detail

// threading.Lock. Any thread may release it (as in Python).
class Lock {
 public:
  explicit Lock(Runtime& rt, std::string name = "lock");
  bool Acquire(ThreadState& ts, Timeout timeout = std::nullopt);  // true = acquired
  Status Release(ThreadState& ts);  // kFailedPrecondition when not locked
  bool locked() const { return locked_.load(std::memory_order_acquire); }
  const std::string& name() const { return name_; }

 private:
  friend class Condition;
  std::string name_;
  detail::SemLock sem_;
  std::atomic<bool> locked_{false};
};

// threading.RLock: owner + recursion count on top of one semaphore.
class RLock {
 public:
  explicit RLock(Runtime& rt, std::string name = "rlock");
  bool Acquire(ThreadState& ts, Timeout timeout = std::nullopt);
  Status Release(ThreadState& ts);  // kFailedPrecondition when the caller does not own it
  bool owned_by(const ThreadState& ts) const;
  const std::string& name() const { return name_; }

 private:
  friend class Condition;
  std::string name_;
  detail::SemLock sem_;
  std::atomic<uint32_t> owner_{0};  // thread id, 0 when free
  uint64_t count_ = 0;              // written by the owner only
};

// threading.Condition. Waiters queue a private semaphore each (CPython's approach: the waiter
// takes its own lock, queues it, releases the condition's lock and blocks on its lock again).
// Waiter semaphores count in no series; their addresses are listed under the condition's series
// (role "waiter") while they exist.
class Condition {
 public:
  explicit Condition(Runtime& rt, std::string name = "condition");  // owns an RLock
  Condition(Runtime& rt, Lock& lock, std::string name = "condition");
  Condition(Runtime& rt, RLock& lock, std::string name = "condition");
  ~Condition();
  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;

  bool Acquire(ThreadState& ts, Timeout timeout = std::nullopt);
  Status Release(ThreadState& ts);
  // Releases the lock, waits for a notification, re-acquires the lock. Error when the caller does
  // not own the lock (for a plain Lock: when it is not locked); false on timeout.
  Result<bool> Wait(ThreadState& ts, Timeout timeout = std::nullopt);
  Status Notify(ThreadState& ts, int n = 1);
  Status NotifyAll(ThreadState& ts);

 private:
  friend class Event;
  struct Waiter;
  Condition(Runtime& rt, Lock& lock, std::string name, LockKind kind);
  Status CheckOwned(ThreadState& ts, const char* what) const;

  Runtime& rt_;
  std::string name_;
  LockStats& stats_;  // waits: acquisitions = notified waits, timeouts, wait time
  std::optional<RLock> own_;
  Lock* lock_ = nullptr;
  RLock* rlock_ = nullptr;
  std::mutex waiters_mu_;  // guards waiters_ (only touched while owning the lock, but kept safe)
  std::deque<Waiter*> waiters_;
};

// threading.Semaphore (unbounded release, like Python's Semaphore).
class Semaphore {
 public:
  Semaphore(Runtime& rt, int value, std::string name = "semaphore");  // value >= 0 (checked)
  bool Acquire(ThreadState& ts, Timeout timeout = std::nullopt);
  Status Release(ThreadState& ts, int n = 1);  // kInvalidArgument when n < 1
  int value() const;

 private:
  std::string name_;
  detail::SemLock sem_;
};

// threading.Event: a flag and a Condition over a plain Lock.
class Event {
 public:
  explicit Event(Runtime& rt, std::string name = "event");
  void Set(ThreadState& ts);
  void Clear(ThreadState& ts);
  bool IsSet() const { return flag_.load(std::memory_order_acquire); }
  bool Wait(ThreadState& ts, Timeout timeout = std::nullopt);

 private:
  Lock lock_;
  Condition cond_;
  std::atomic<bool> flag_{false};
};

}  // namespace gilstat::rt
