// The semaphore probes (bpf/semlock.bpf.c): loading, per-process attachment to the libc each
// process maps (sites planned by semlock_sites.h, lifecycle of probe_lifecycle.h), and reading
// the kernel's aggregates into SemLockStats. See docs/PROBES.md.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/semlock.h"
#include "gilstat/lock_stats.h"
#include "gilstat/probe_mode.h"
#include "gilstat/result.h"
#include "probes/probe_lifecycle.h"
#include "probes/py_stacks_raw.h"
#include "probes/semlock_sites.h"

namespace gilstat::probes {

struct SemlockOptions {
  ProbeMode mode = ProbeMode::kDefault;    // see gilstat/probe_mode.h
  uint32_t max_locks = SEMLOCK_MAX_LOCKS;  // (process, semaphore) slots
  // Threads in a call while another holds their array entry; also the size of the CPython
  // parking-lot maps (threads that parked, their parking semaphores) and of the threads' waits
  // in progress with a Python stack.
  uint32_t max_threads = SEMLOCK_MAX_THREADS;
  uint32_t thread_slots = SEMLOCK_THREAD_SLOTS;  // thread array (entry: tid mod this), 2^n
  uint32_t wake_cache = SEMLOCK_WAKE_CACHE;      // futex word -> slot cache entries, 2^n
  uint32_t max_processes = SEMLOCK_MAX_PROCS;    // attached processes
};

struct AttachResult {
  pid_t pid = 0;
  std::string libc_path;          // as the process sees it
  std::vector<SiteStatus> sites;  // libc's functions, then CPython's _PySemaphore_Wait (3.13+)
  int links = 0;
};

// The kernel-side futex programs in use (chosen when the probe is opened): the scheduler's
// tracepoints (run per context switch and wake-up, never per syscall), or where they cannot
// load the raw syscall entry tracepoint (run for every syscall on the host). bpf/semlock.bpf.c.
inline constexpr const char* kFutexScheduler = "tp_btf/sched_switch+sched_waking";
inline constexpr const char* kFutexSysEnter = "tp_btf/sys_enter";
struct FutexProgramInfo {
  const char* program = kFutexScheduler;
  std::string fallback_reason;  // why not the scheduler's (empty with them)
  // By content: each translation unit may hold its own copy of the literal.
  int links() const { return std::string_view(program) == kFutexScheduler ? 2 : 1; }
};

// Map access behind an interface so the aggregation can be tested with fakes.
class SemlockMaps {
 public:
  virtual ~SemlockMaps() = default;
  // Calls `fn` once per (process, semaphore) with its per-CPU values.
  using LockFn = std::function<void(const semlock_key&, std::span<const semlock_stats>)>;
  virtual Status ForEachLock(const LockFn& fn) = 0;
  // SEMLOCK_NR_COUNTERS counters, each summed over CPUs.
  virtual Result<std::vector<uint64_t>> ReadCounters() = 0;
};

// Sums per-CPU values (max_wait_ns: the maximum) into one SemLockStats.
SemLockStats AggregateSemlockStats(const semlock_key& key, std::span<const semlock_stats> cpus);
// All locks of all processes, sorted by (pid, addr).
Result<std::vector<SemLockStats>> ReadSemlockStats(SemlockMaps& maps);
// The health counters; read_errors = 1 (the others 0) when they cannot be read.
ProbeHealth ReadSemlockHealth(SemlockMaps& maps);

class SemlockProbe : public LockStatsSource {
 public:
  // Loads and verifies the BPF programs. The kernel-side futex programs (FutexProgramInfo: the
  // scheduler's tracepoints, returning at once for tasks outside futex calls; the syscall entry
  // tracepoint where they cannot load) are attached with the first process and detached with
  // the last. GILSTAT_FUTEX_PROGRAM=sys_enter in the environment forces the fallback. Errors:
  // kUnavailable (no BTF, kernel too old), kPermissionDenied (gilstat/privileges.h),
  // kInternal (verifier: the message holds the end of the verifier log).
  static Result<std::unique_ptr<SemlockProbe>> Open(const SemlockOptions& options = {});
  ~SemlockProbe() override;
  SemlockProbe(const SemlockProbe&) = delete;
  SemlockProbe& operator=(const SemlockProbe&) = delete;

  // Attaches uprobes to the libc that `pid` maps, for that pid only, and to CPython's
  // _PySemaphore_Wait (3.13+) in the interpreter file it maps, if it has one (a site in
  // AttachResult::sites; one that cannot be probed says why there, and is not an error). Attaching
  // an attached pid returns its existing result. Errors: kNotFound (no such process, no libc),
  // kPermissionDenied, kResourceExhausted (max_processes reached), kUnavailable (attach failed,
  // e.g. it exited).
  Result<AttachResult> Attach(pid_t pid);
  // Deletes the pid's map entries at once and hands its links to a background thread that
  // destroys them (the kernel takes ~0.1 s per uprobe link; neither the caller nor scrapes
  // wait for that). kNotFound if not attached.
  Status Detach(pid_t pid);
  std::vector<pid_t> AttachedPids() const;

  // Python stacks at the contended waits of attached process `pid`, a CPython 3.11+ process:
  // where its threads' frames are, and the address of its main GIL's `last_holder` word (a thread
  // state of the main interpreter, whose thread list holds the waiters'). Only a lock's waiter
  // has a stack (a lock has no owner the probes know of). kNotFound: not attached.
  Status EnablePythonStacks(pid_t pid, const pygil_frames& frames, uint64_t last_holder_addr);
  // The contended waits attributed to waiter stacks so far (RawGilPair::lock set; cumulative
  // since each process's EnablePythonStacks, or since ClearStacks). Without the processes' lock.
  Result<RawGilStacks> ReadStacks();
  // Forgets every attributed wait and stack (room for new ones in the kernel's maps).
  void ClearStacks();
  // The stack capture's health: stacks_full, pairs_full, truncated, no_tstate (the rest 0).
  PyGilHealth ReadStackHealth();

  // Thread-safe; they do not wait for an attach in progress (attaching can take seconds while
  // the kernel destroys other uprobes).
  Result<std::vector<SemLockStats>> ReadLocks() override;
  ProbeHealth ReadHealth() override;
  // Which futex program this kernel took, and why not fentry when it is the fallback.
  const FutexProgramInfo& futex_program() const;
  // The GIL-wait maps whose waiters the scheduler's wake-up program stamps, for
  // PyGilProbe::Open; not shared ({-1, -1}) with the syscall tracepoint, which does not.
  GilWaitMaps gil_wait_maps() const;
  // The scheduler programs' gates: threads inside probed calls, and those asleep in their futex
  // wait. While both are 0 a context switch or wake-up on the host returns at once. A process
  // that ended with threads inside calls is taken off them once its links are gone.
  struct CallGates {
    int64_t in_calls = 0;
    int64_t asleep = 0;
  };
  CallGates ReadCallGates() const;

 private:
  struct Impl;
  explicit SemlockProbe(const SemlockOptions& options);
  // Deletes the pid's map entries; returns the lock slots it had (not yet free: see
  // RecycleSlots).
  std::vector<uint32_t> DeleteProcessEntries(pid_t pid);
  // Zeroes the slots and gives them back for new semaphores.
  void RecycleSlots(const std::vector<uint32_t>& slots);

  SemlockOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gilstat::probes
