// The semaphore probes (bpf/semlock.bpf.c): loading, per-process attachment to the libc each
// process maps, and reading the kernel's aggregates into SemLockStats. See docs/PROBES.md.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bpf/semlock.h"
#include "gilstat/lock_stats.h"
#include "gilstat/probe_mode.h"
#include "gilstat/result.h"

namespace gilstat::probes {

using SemlockMode = gilstat::ProbeMode;  // see gilstat/probe_mode.h and docs/PROBES.md

struct SemlockOptions {
  SemlockMode mode = SemlockMode::kDefault;
  uint32_t max_locks = SEMLOCK_MAX_LOCKS;        // (process, semaphore) slots
  uint32_t max_threads = SEMLOCK_MAX_THREADS;    // in a call while another holds their array entry
  uint32_t thread_slots = SEMLOCK_THREAD_SLOTS;  // thread array (entry: tid mod this), 2^n
  uint32_t wake_cache = SEMLOCK_WAKE_CACHE;      // futex word -> slot cache entries, 2^n
  uint32_t max_processes = SEMLOCK_MAX_PROCS;    // attached processes
};

// How one function is observed in one process.
enum class SiteMethod {
  kEntryReturn,  // uprobe at the entry + uretprobe
  kEntry,        // uprobe at the entry (sem_post in exact mode)
  kBranch,       // uprobe(s) on emulated conditional jumps inside the function
  kSlowPath,     // entry + uretprobe on the function's slow path (default mode): the internal
                 // function it tail-calls when the semaphore is 0
  kNotProbed,    // default mode: sem_trywait is not observed
  kFutexWakes,   // not probed in user space: posts counted from futex wakes on known semaphores
  kAbsent,       // the libc has no such function (e.g. sem_clockwait before glibc 2.30)
};
const char* SiteMethodName(SiteMethod method);

struct SiteStatus {
  std::string function;  // "sem_wait"
  std::string symbol;    // resolved symbol, e.g. "sem_wait@@GLIBC_2.34"
  SiteMethod method = SiteMethod::kAbsent;
  std::vector<uint64_t> file_offsets;  // where uprobes were placed
  bool single_stepped = false;  // a probed instruction is single-stepped (~15 µs per hit here)
  std::string note;             // why this method (fallbacks say so)
};

struct AttachResult {
  pid_t pid = 0;
  std::string libc_path;  // as the process sees it
  std::vector<SiteStatus> sites;
  int links = 0;
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
ProbeHealth ReadSemlockHealth(SemlockMaps& maps);

// Code checks used at attach time (exposed for tests). Whether the x86 instruction at the
// start of `code` is emulated by the kernel's uprobe code (push, nop, jmp, call, jcc) rather
// than single-stepped.
bool IsEmulatedInstruction(std::span<const uint8_t> code);
// Offsets (from the function start) of sem_trywait's two branch sites (fail `je`, success
// `jne`) and of sem_post's success `jne`, if the code has the expected layout (glibc 2.34+
// x86-64, optionally behind an endbr64); nullopt otherwise.
std::optional<std::vector<uint64_t>> FindTrywaitBranches(std::span<const uint8_t> code);
std::optional<std::vector<uint64_t>> FindPostBranch(std::span<const uint8_t> code);
// Where a wait function (sem_wait, sem_timedwait, sem_clockwait of glibc 2.34+ x86-64, behind an
// optional endbr64) goes when its fast path fails: `lock cmpxchg; jne SLOW`, where SLOW moves
// registers, pops and tail-jumps (`jmp rel32`) to the internal __new_sem_wait_slow64. Returns
// the jump target as an offset from the function start (negative: before it), or nullopt when
// the code has another shape.
std::optional<int64_t> FindSlowPathTarget(std::span<const uint8_t> code);

class SemlockProbe : public LockStatsSource {
 public:
  // Loads and verifies the BPF programs. The kernel-side futex programs (raw syscall
  // tracepoints: they run for every syscall on the host, returning at once for other syscalls
  // and processes) are attached with the first process and detached with the last. Errors:
  // kUnavailable (no BTF, kernel too old), kPermissionDenied (not root / no CAP_BPF+CAP_PERFMON),
  // kInternal (verifier: the message holds the end of the verifier log).
  static Result<std::unique_ptr<SemlockProbe>> Open(const SemlockOptions& options = {});
  ~SemlockProbe() override;
  SemlockProbe(const SemlockProbe&) = delete;
  SemlockProbe& operator=(const SemlockProbe&) = delete;

  // Attaches uprobes to the libc that `pid` maps, for that pid only. Attaching an attached pid
  // returns its existing result. Errors: kNotFound (no such process, no libc), kPermissionDenied,
  // kResourceExhausted (max_processes reached), kUnavailable (attach failed, e.g. it exited).
  Result<AttachResult> Attach(pid_t pid);
  // Deletes the pid's map entries at once and hands its links to a background thread that
  // destroys them (the kernel takes ~0.1 s per uprobe link; neither the caller nor scrapes
  // wait for that). kNotFound if not attached.
  Status Detach(pid_t pid);
  std::vector<pid_t> AttachedPids() const;
  const SemlockOptions& options() const { return options_; }

  // Thread-safe; they do not wait for an attach in progress (attaching can take seconds while
  // the kernel destroys other uprobes).
  Result<std::vector<SemLockStats>> ReadLocks() override;
  ProbeHealth ReadHealth() override;

 private:
  struct Impl;
  explicit SemlockProbe(const SemlockOptions& options);
  // Deletes the pid's map entries; returns the lock slots it had (not yet free: see
  // RecycleSlots).
  std::vector<uint32_t> DeleteProcessEntries(pid_t pid);
  // Zeroes the slots and gives them back for new semaphores.
  void RecycleSlots(const std::vector<uint32_t>& slots);

  SemlockOptions options_;
  mutable std::mutex mu_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gilstat::probes
