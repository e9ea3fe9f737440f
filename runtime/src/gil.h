// Internal: the interpreter lock and its three policies. Runtime owns one Gil; ThreadState
// holds per-thread policy data. Counter accounting common to every policy lives in Gil.
#pragma once

#include <pthread.h>
#include <time.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "gilstat/rt/counters.h"
#include "gilstat/rt/runtime.h"

namespace gilstat::rt {

// CLOCK_MONOTONIC in nanoseconds (vDSO, no system call).
inline int64_t MonotonicNs() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
}

inline timespec ToTimespec(int64_t ns) {
  timespec t;
  t.tv_sec = ns / 1'000'000'000;
  t.tv_nsec = ns % 1'000'000'000;
  return t;
}

// A condition variable that measures timeouts on CLOCK_MONOTONIC.
void InitMonotonicCond(pthread_cond_t* cond);

// Per-thread data of the GIL policies (only fair uses it: the thread's wait node).
struct ThreadState::PolicyData {
  pthread_cond_t cond;               // signalled when the GIL is handed to or freed for this thread
  std::atomic<bool> granted{false};  // the GIL was handed to this thread
  bool interactive = false;          // priority class of the next wait (set at each release)
  bool in_front = false;
  bool wake_pending = false;  // fair: signalled, not yet run (under the fair mutex)             //
                              // queued in the front (interactive) queue
  int64_t enqueued_ns = 0;
  ThreadState* ts = nullptr;
  PolicyData();
  ~PolicyData();
  PolicyData(const PolicyData&) = delete;
  PolicyData& operator=(const PolicyData&) = delete;
};

class Gil {
 public:
  Gil(Runtime& rt, LockStats& stats) : rt_(rt), stats_(stats) {}
  virtual ~Gil() = default;
  Gil(const Gil&) = delete;
  Gil& operator=(const Gil&) = delete;

  // Blocks until the calling thread holds the GIL.
  virtual void Take(ThreadState& ts) = 0;
  // The holder releases the GIL.
  virtual void Drop(ThreadState& ts, ReleaseReason why) = 0;
  // The holder gives others a chance: a forced release followed by a re-acquisition (fair: a
  // no-op when nobody waits).
  virtual void Yield(ThreadState& ts) {
    Drop(ts, ReleaseReason::kForced);
    Take(ts);
  }
  virtual void InitThread(ThreadState& /*ts*/) {}
  virtual void FiniThread(ThreadState& /*ts*/) {}
  virtual std::vector<NativeAddress> Addresses() const = 0;

  uint64_t switch_number() const { return switch_number_.Load(); }
  LockStats& stats() { return stats_; }

 protected:
  // Accounting of one acquisition, by the new holder (waiting began at t0, ended at t1).
  void NoteAcquired(ThreadState& ts, int64_t t0, int64_t t1, bool contended);
  // Accounting of one release, by the holder before it lets go of the lock.
  void NoteReleasing(ThreadState& ts, ReleaseReason why, int64_t now);
  // Thread-state accessors for the policies (ThreadState befriends Gil, not its subclasses'
  // helpers).
  static ThreadState::PolicyData* Data(ThreadState& ts) { return ts.policy_data_.get(); }
  static void SetData(ThreadState& ts, std::unique_ptr<ThreadState::PolicyData> d) {
    ts.policy_data_ = std::move(d);
  }

  Runtime& rt_;
  LockStats& stats_;
  // The id of the thread that held the GIL last (read by switching waiters without the GIL).
  std::atomic<uint32_t> last_holder_{0};
  Counter switch_number_;  // written by the new holder only

 private:
  // Written by the holder only.
  uint32_t last_releaser_ = 0;
  bool last_release_forced_ = false;
};

std::unique_ptr<Gil> MakeClassicGil(Runtime& rt, LockStats& stats);
std::unique_ptr<Gil> MakeSwitchingGil(Runtime& rt, LockStats& stats);
std::unique_ptr<Gil> MakeFairGil(Runtime& rt, LockStats& stats);

}  // namespace gilstat::rt
