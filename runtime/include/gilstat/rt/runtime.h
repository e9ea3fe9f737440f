// The GIL runtime: an interpreter lock with a choice of policies, the thread states that hold
// it, and the hooks an eval loop calls. See docs/RUNTIME.md.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gilstat/result.h"
#include "gilstat/rt/counters.h"

namespace gilstat::rt {

enum class Policy {
  kClassic,    // CPython 2: a POSIX semaphore released and re-acquired every N ticks
  kSwitching,  // CPython 3.2+: mutex + condvar, time-based switch interval, forced switching
  kFair,       // gilstat's own: FIFO direct handoff, priority for threads back from I/O
};
const char* PolicyName(Policy policy);
Result<Policy> ParsePolicy(std::string_view name);

struct RuntimeOptions {
  Policy policy = Policy::kClassic;
  int check_interval = 100;  // classic: ticks between forced releases (>= 1)
  std::chrono::nanoseconds switch_interval = std::chrono::milliseconds(5);  // switching, fair
  size_t max_pending_calls = 32;  // like CPython's NPENDINGCALLS
};

enum class ReleaseReason { kForced, kVoluntary, kExit };

class Runtime;
class Gil;

// Per-thread counters, written only by their own thread.
struct ThreadStats {
  Counter ticks;
  Counter gil_acquisitions;
  Counter gil_wait_ns;
  Counter gil_hold_ns;
  Counter forced_releases;
  Counter voluntary_releases;
};

struct ThreadSnapshot {
  uint32_t id = 0;
  pid_t tid = 0;
  std::string name;
  bool is_main = false;
  uint64_t ticks = 0, gil_acquisitions = 0, gil_wait_ns = 0, gil_hold_ns = 0;
  uint64_t forced_releases = 0, voluntary_releases = 0;
};

// The state of one OS thread attached to a runtime. Created by Runtime::AttachThread, owned by
// the runtime, valid until Runtime::DetachThread.
class ThreadState {
 public:
  ThreadState(const ThreadState&) = delete;
  ThreadState& operator=(const ThreadState&) = delete;
  ~ThreadState();

  uint32_t id() const { return id_; }  // 1, 2, … in attach order; never reused
  pid_t tid() const { return tid_; }
  const std::string& name() const { return name_; }
  bool is_main() const { return is_main_; }
  bool holds_gil() const { return holds_gil_; }
  Runtime& runtime() const { return *runtime_; }
  const ThreadStats& stats() const { return stats_; }

 private:
  friend class Runtime;
  friend class Gil;
  friend class ClassicGil;
  friend class SwitchingGil;
  friend class FairGil;
  ThreadState(Runtime* rt, uint32_t id, std::string name, bool is_main);

  Runtime* runtime_;
  uint32_t id_;
  pid_t tid_;
  std::string name_;
  bool is_main_;
  bool holds_gil_ = false;
  ReleaseReason last_release_ = ReleaseReason::kExit;
  int64_t acquired_at_ns_ = 0;
  std::atomic<int> async_exc_{0};
  ThreadStats stats_;
  struct PolicyData;  // per-thread state of the GIL policy (e.g. fair's wait node)
  std::unique_ptr<PolicyData> policy_data_;
};

struct Snapshot {
  Policy policy = Policy::kClassic;
  int check_interval = 0;
  int64_t switch_interval_ns = 0;
  uint64_t ticks = 0;  // all ticking instructions executed (attached + exited threads)
  uint64_t pending_calls_run = 0;
  uint64_t async_exc_delivered = 0;
  uint64_t drop_requests = 0;  // switching/fair: drop requests set by waiters
  uint64_t switch_number = 0;  // times the GIL holder changed
  uint32_t threads_attached = 0;
  LockSnapshot gil;
  std::vector<LockSnapshot> locks;      // named runtime locks, sorted by name
  std::vector<ThreadSnapshot> threads;  // attached threads, by id
  ThreadSnapshot exited_threads;        // sums over threads that have detached (id 0)
};

// Bits of Runtime's eval breaker (switching and fair policies): the holder's Tick takes its
// slow path while any bit is set.
inline constexpr uint32_t kEvalDropRequest = 1u << 0;   // a waiter asks the holder to yield
inline constexpr uint32_t kEvalPendingCalls = 1u << 1;  // pending calls are queued
inline constexpr uint32_t kEvalAsyncExc = 1u << 2;      // some thread may have an async exception

class Runtime {
 public:
  static Result<std::unique_ptr<Runtime>> Create(const RuntimeOptions& options);
  ~Runtime();  // every thread must have detached
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  Policy policy() const { return options_.policy; }

  // Makes a thread state for the calling OS thread and takes the GIL. The first thread attached
  // is the main thread (it runs pending calls). A thread attaches at most once at a time
  // (kFailedPrecondition otherwise).
  Result<ThreadState*> AttachThread(std::string name);
  // Releases the GIL (reason: exit) and destroys the state; folds its counters into the
  // exited-threads totals. Must be called by the thread itself, holding the GIL.
  void DetachThread(ThreadState* ts);
  // The state attached on the calling thread, or null.
  static ThreadState* Current();

  // The eval-loop hook, called by the holder once per ticking instruction. When
  // `next_enters_protected` is set no check happens here (the next instruction enters a
  // protected region; the check happens at the next ticking instruction). Returns the code of
  // an asynchronous exception delivered at this boundary, 0 when none. The fast path is inline:
  // one relaxed counter update and one relaxed load (classic: the ticker; others: the eval
  // breaker).
  int Tick(ThreadState& ts, bool next_enters_protected = false);

  // Release and re-acquire around a blocking call; prefer the AllowThreads scope.
  void ReleaseGil(ThreadState& ts, ReleaseReason why);
  void AcquireGil(ThreadState& ts);

  int check_interval() const;
  Status SetCheckInterval(int ticks);  // >= 1
  std::chrono::nanoseconds switch_interval() const;
  Status SetSwitchInterval(std::chrono::nanoseconds interval);  // > 0

  // Queues `fn` to run on the main thread at its next check (any thread may call this, with or
  // without the GIL). A non-zero return value is delivered to the main thread as an
  // asynchronous exception with that code. Fails with kResourceExhausted when the queue is full.
  Status AddPendingCall(std::function<int()> fn);
  // Asks thread `thread_id` to raise exception `code` (!= 0) at its next check.
  Status SetAsyncExc(uint32_t thread_id, int code);

  // The stats of the lock series `name` (created on first use, kept for the runtime's life; the
  // kind of the first use sticks). The GIL's series is not in this registry.
  LockStats& LockStatsFor(const std::string& name, LockKind kind);
  // Live objects register their native addresses so the snapshot can list them.
  void RegisterNative(const std::string& series, const NativeAddress& addr);
  void UnregisterNative(const std::string& series, uintptr_t address);

  // A consistent-enough copy of every counter: each value is exact at some moment during the
  // call; cheap (no GIL, no hot-path lock).
  Snapshot TakeSnapshot() const;

  // Internal (used by the GIL policies): the eval breaker and the drop-request counter.
  std::atomic<uint32_t>& eval_breaker() { return eval_breaker_; }
  Counter& drop_requests() { return drop_requests_; }

 private:
  explicit Runtime(const RuntimeOptions& options);
  int SlowTick(ThreadState& ts, bool next_enters_protected);
  bool RunPendingCalls(ThreadState& ts);  // true when calls remain queued

  RuntimeOptions options_;
  const bool classic_;
  // classic: ticks left until the next check; written by the GIL holder (and set to 0 by
  // AddPendingCall from any thread).
  std::atomic<int> ticker_{0};
  std::atomic<uint32_t> eval_breaker_{0};  // switching, fair: kEval* bits
  Counter drop_requests_;
  std::unique_ptr<Gil> gil_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

inline int Runtime::Tick(ThreadState& ts, bool next_enters_protected) {
  ts.stats_.ticks.AddExclusive(1);
  if (classic_) {
    const int left = ticker_.load(std::memory_order_relaxed) - 1;
    ticker_.store(left, std::memory_order_relaxed);
    if (__builtin_expect(left > 0, 1)) return 0;
  } else if (__builtin_expect(eval_breaker_.load(std::memory_order_relaxed) == 0, 1)) {
    return 0;
  }
  return SlowTick(ts, next_enters_protected);
}

// Releases the GIL for the scope (reason: voluntary) and re-acquires it at the end; errno as
// left by the blocking call is preserved across the re-acquisition.
class AllowThreads {
 public:
  explicit AllowThreads(ThreadState& ts) : ts_(ts) {
    ts_.runtime().ReleaseGil(ts_, ReleaseReason::kVoluntary);
  }
  ~AllowThreads();
  AllowThreads(const AllowThreads&) = delete;
  AllowThreads& operator=(const AllowThreads&) = delete;

 private:
  ThreadState& ts_;
};

}  // namespace gilstat::rt
