// The process tracker: keeps the probes attached to exactly the processes that match the
// targets, as processes start, exec and exit.
//
// Inputs: an initial /proc scan, fork/exec/exit/rename events (ProcEventSource, e.g. the
// proctrack BPF ring buffer) and a periodic rescan (which alone suffices when no event source is
// available, and repairs what lost events missed). Output: Attach/Detach calls on an Attacher, and
// counters (TrackerStats) for the metrics.
//
// Single-threaded: the owner calls Rescan/HandleEvent/Tick from one loop (see Pump). Only
// Snapshot() may be called from other threads (e.g. a metrics collector at scrape time).
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gilstat/proc_event.h"
#include "gilstat/result.h"
#include "tracker/matchers.h"
#include "tracker/proc.h"

namespace gilstat::tracker {

// What the tracker drives: the probes of one kind, attached per process.
//
// Contract for Attach errors, so that they are counted by reason: kNotFound when the process
// maps no libc (nothing to probe), kPermissionDenied when the kernel refused, kInvalidArgument
// when a file the process maps was refused (not the mapped regular file, or an ELF file out of
// bounds: elf/mapped_file.h, elf/elf_symbols.h). Anything else is
// "other". Whether a failed process had vanished is decided by the tracker itself (it checks
// /proc after the failure), so an Attacher need not tell that apart.
class Attacher {
 public:
  virtual ~Attacher() = default;
  virtual Status Attach(pid_t pid) = 0;
  // Called when the process exited (it may be gone already) or exec'd a new image.
  virtual Status Detach(pid_t pid) = 0;
};

// Why an attach failed (label values of the attach-errors counter). kNoLibc: a statically linked
// program (or one whose loader could not be told apart); kLibcNotLoaded: a dynamically linked
// program whose loader had not mapped libc after every retry; kNoSuchProcess: a `pid` target
// that does not exist (counted once until it appears).
enum class AttachError : uint8_t {
  kNoLibc,
  kPermission,
  kVanished,
  kRefusedFile,
  kOther,
  kLibcNotLoaded,
  kNoSuchProcess
};
inline constexpr size_t kAttachErrorCount = 7;
// "no_libc", "permission", "vanished", "refused_file", "other", "libc_not_loaded",
// "no_such_process".
const char* AttachErrorName(AttachError e);

// Counters only grow; gauges (attached, pending) are the current state.
struct TrackerStats {
  uint64_t attached = 0;  // gauge: processes currently attached
  uint64_t pending = 0;   // gauge: attaches waiting for a retry (libc not mapped yet)
  uint64_t scans = 0;
  uint64_t fork_events = 0;    // forks of watched processes (ProcEventSource::Watch)
  uint64_t rename_events = 0;  // processes that renamed themselves
  uint64_t exec_events = 0;
  uint64_t exit_events = 0;
  uint64_t lost_events = 0;      // events the source dropped (each triggers a rescan)
  uint64_t attaches = 0;         // successful attaches
  uint64_t attach_retries = 0;   // attaches retried because libc was not mapped yet
  uint64_t detaches = 0;         // detaches of any cause (exit, exec, shutdown)
  uint64_t exited_detaches = 0;  // of which because the process exited
  std::array<uint64_t, kAttachErrorCount> attach_errors{};  // by AttachError

  uint64_t attach_errors_of(AttachError e) const { return attach_errors[static_cast<size_t>(e)]; }
};

// Told about attaches and detaches (e.g. to remember a process's name, or to read its numbers
// one last time before the probe forgets them).
class TrackerObserver {
 public:
  virtual ~TrackerObserver() = default;
  virtual void Attached(const ProcessInfo& info) { (void)info; }
  // Called before Attacher::Detach.
  virtual void Detaching(const ProcessInfo& info, bool exited) {
    (void)info;
    (void)exited;
  }
  // An attach failure was counted (not when it is retried): `message` is the Attacher's, or
  // "no such process" for a pid named by the targets that does not exist (told once, until it
  // appears).
  virtual void AttachFailed(pid_t pid, AttachError reason, const std::string& message) {
    (void)pid;
    (void)reason;
    (void)message;
  }
};

struct TrackerOptions {
  std::chrono::milliseconds rescan_interval{10000};
  // Right after an exec the new image has no libc mapped yet (the dynamic loader maps it a
  // moment later): an attach after an exec, or of a dynamically linked process (an ELF
  // interpreter, gilstat/auxv.h) found by a scan, that finds no libc is retried this
  // many times, this far apart, before it counts as an error. A statically linked program is
  // not retried.
  int exec_retries = 20;
  std::chrono::milliseconds exec_retry_delay{25};
  // A forked process (a copy of its parent, libc mapped) is looked at after this delay, unless
  // it exec'd or exited meanwhile.
  std::chrono::milliseconds fork_delay{50};
  // A process that renamed itself is looked at when its event comes and again this long after:
  // a source may report one rename per process per window (bpf/proctrack.bpf.c: 50 ms,
  // PROCTRACK_RENAME_WINDOW_NS), and the later ones are seen then. Not less than that window.
  std::chrono::milliseconds rename_recheck{100};
  // The process events Pump drains (nullptr: rescans alone). A process is watched on it
  // (ProcEventSource::Watch: its exit will be reported) before it is attached. Not owned.
  ProcEventSource* events = nullptr;
};

class Tracker {
 public:
  using Clock = std::chrono::steady_clock;

  // procfs, attacher and observer must outlive the tracker.
  Tracker(const ProcFs* procfs, TargetSet targets, Attacher* attacher, TrackerOptions options = {},
          TrackerObserver* observer = nullptr);
  Tracker(const Tracker&) = delete;
  Tracker& operator=(const Tracker&) = delete;

  // Looks at every process (or only the explicit pids when the targets are pids only):
  // attaches to new matches, detaches from processes that are gone, notices execs that events
  // missed. Idempotent: a second scan of an unchanged /proc changes nothing.
  void Rescan(Clock::time_point now = Clock::now());
  void HandleEvent(const ProcEvent& event, Clock::time_point now = Clock::now());
  // Runs due retries and, when due, the periodic rescan.
  void Tick(Clock::time_point now = Clock::now());
  // Drains options.events (if any) and runs Tick; lost events trigger a rescan.
  void Pump(Clock::time_point now = Clock::now());
  // When Tick next has work to do.
  Clock::time_point NextDeadline() const;
  // Detaches from everything (shutdown).
  void DetachAll();

  // The counters, on the tracker's thread.
  const TrackerStats& stats() const { return stats_; }
  // A copy of the counters as of the end of the last Rescan/HandleEvent/Tick/Pump/DetachAll;
  // thread-safe.
  TrackerStats Snapshot() const;
  bool IsAttached(pid_t pid) const { return attached_.count(pid) != 0; }
  std::vector<ProcessInfo> Attached() const;
  struct Failure {
    ProcessInfo info;
    AttachError reason = AttachError::kOther;
    std::string message;
  };
  // The last attach failure of a process that still exists (cleared when it exits or execs).
  std::optional<Failure> FailureOf(pid_t pid) const;
  const TargetSet& targets() const { return targets_; }

 private:
  // A process to attach to later: a retry after an exec (libc not mapped yet), or a fork
  // looked at only after fork_delay (most forks exec at once, and the exec event covers them).
  struct Pending {
    ProcessInfo info;
    int retries_left = 0;
    Clock::time_point due;
    bool fork = false;
  };

  unsigned ScanFields() const { return targets_.NeededFields() | kProcComm | kProcExe; }
  void Consider(const ProcessInfo& info, int retries, Clock::time_point now);
  // `first`: not a retry (a process a scan finds still loading gets exec_retries).
  void TryAttach(const ProcessInfo& info, int retries_left, Clock::time_point now,
                 bool first = true);
  // Counts a failed attach (and keeps its reason unless the process vanished).
  void CountFailure(const ProcessInfo& info, AttachError reason, const std::string& message);
  // The reason of a failed attach; may schedule a retry instead (then nullopt).
  std::optional<AttachError> Classify(const ProcessInfo& info, const Status& s, int retries_left,
                                      Clock::time_point now, bool first);
  // Counts, once, the explicit pids of the targets that a scan did not find.
  void NoteMissing(const std::set<pid_t>& seen);
  void DetachOne(pid_t pid, bool exited);
  void HandleRename(pid_t pid, Clock::time_point now);
  // Reads `pid` and matches it, unless it failed before and is the same process with the same
  // image and name (nothing to retry). False when it is gone.
  bool LookAgain(pid_t pid, Clock::time_point now);
  // Queues, as forks, the children of a process just attached (outside a rescan).
  void ConsiderChildren(pid_t parent, Clock::time_point now);
  void Forget(pid_t pid);
  // Drops a pending attach of a process that has gone; an attach retry counts as vanished.
  void DropPending(pid_t pid);
  void UpdateGauges();
  void Publish();

  const ProcFs* procfs_;
  TargetSet targets_;
  Attacher* attacher_;
  TrackerOptions options_;
  TrackerObserver* observer_;
  std::map<pid_t, ProcessInfo> attached_;
  std::map<pid_t, Pending> pending_;
  std::map<pid_t, Failure> failed_;
  std::set<pid_t> missing_;  // explicit target pids found absent (counted once)
  bool rescanning_ = false;  // in Rescan, which considers every process itself
  Clock::time_point next_rescan_{};
  uint64_t seen_lost_ = 0;
  TrackerStats stats_;
  mutable std::mutex published_mu_;
  TrackerStats published_;  // guarded by published_mu_
};

}  // namespace gilstat::tracker
