// The CPython GIL probes (bpf/pygil.bpf.c): per process, uprobes on the C library's
// pthread_cond_timedwait filtered by the GIL condvar's address (contended acquisitions only:
// the default), and on the interpreter's take_gil/drop_gil when the target names them (every
// acquisition: exact mode); the kernel's aggregates read into PyGilStats, one per GIL: the main
// interpreter's and those of sub-interpreters with their own GIL (3.12+), which daemon/host
// registers as it finds them (SetSubInterpreterGils). What to probe in a process (PyGilTarget)
// comes from daemon/host's plan.
// See docs/PYTHON.md.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bpf/gilwait.h"
#include "bpf/pygil.h"
#include "elf/mapped_file.h"
#include "gilstat/histogram.h"
#include "gilstat/lock_stats.h"
#include "gilstat/result.h"
#include "probes/libbpf_util.h"
#include "probes/probe_lifecycle.h"
#include "probes/py_stacks_raw.h"

namespace gilstat::probes {

// Where the GIL of one process is and how to observe it.
struct PyGilTarget {
  // The ELF holding take_gil/drop_gil: its path for people and its identity in the process's
  // maps (what is opened and probed: OpenMappedFileById), and their file offsets; empty path:
  // not probed (default mode, or a stripped interpreter).
  std::string interpreter_path;
  FileId interpreter_file;
  std::vector<uint64_t> take_gil_offsets;  // every copy of take_gil (compiler clones included)
  std::vector<uint64_t> drop_gil_offsets;
  // Addresses in the process: the condvar take_gil waits on (0: no condvar probe), gil->locked
  // and gil->switch_number (0: unknown).
  uint64_t cond_addr = 0;
  uint64_t locked_addr = 0;
  uint64_t switch_addr = 0;
  uint64_t interval_addr = 0;  // gil->interval (µs): bounds a forced-out thread's wait
  // take_gil/drop_gil attributed to the GIL their argument names (sub-interpreters with their
  // own GIL): tstate->interp at +tstate_interp, interp->ceval.gil at +interp_gil, the GIL
  // pointer at +drop_arg_gil from drop_gil's first argument, the condvar at +cond_in_gil in the
  // GIL state; a call for a GIL not registered (yet) is not counted. Without it every
  // take_gil/drop_gil is counted for the main GIL.
  bool by_argument = false;
  uint32_t tstate_interp = 0;
  uint32_t interp_gil = 0;
  uint32_t drop_arg_gil = 0;
  uint32_t cond_in_gil = 0;
  uint64_t main_interp = 0;    // the main interpreter: its threads' tstate->interp
  uint64_t main_drop_arg = 0;  // drop_gil's first argument for the main interpreter
  // Python stacks at contended waits (3.11+): where a thread's frames are; nullopt: not taken.
  // last_holder_addr: the main GIL's `last_holder` (whose stack is taken as the holder's).
  std::optional<pygil_frames> stacks;
  uint64_t last_holder_addr = 0;

  bool take_drop() const {
    return !interpreter_path.empty() && !take_gil_offsets.empty() && !drop_gil_offsets.empty();
  }
};

// The GIL of a sub-interpreter with its own GIL, as registered with SetSubInterpreterGils.
struct PyGilSubGil {
  int64_t interpreter = 0;  // its id (> 0)
  uint64_t cond_addr = 0;   // its GIL's condvar (the slot's key: must be non-zero)
  uint64_t locked_addr = 0;
  uint64_t switch_addr = 0;
  uint64_t interval_addr = 0;
  uint64_t last_holder_addr = 0;  // its `last_holder` (Python stacks)
  auto operator<=>(const PyGilSubGil&) const = default;
};

// Sums per-CPU values (max_wait_ns: the maximum). Exposed for tests.
PyGilStats AggregatePyGilStats(pid_t pid, std::span<const pygil_stats> cpus);
// The health from the PYGIL_NR_COUNTERS counters; read_errors = 1 (the others 0) when they could
// not be read, as for the semaphore probes. Exposed for tests.
PyGilHealth PyGilHealthOf(const Result<std::vector<uint64_t>>& counters);

class PyGilProbe {
 public:
  // Loads the programs (nothing is attached until Attach). With `shared` (the semaphore
  // probe's GilWaitMaps), the GIL condvar's wake-ups are stamped by the semaphore probe's
  // wake-up program and this probe loads none of its own; without, it loads gil_wakeup (its
  // link attached while a process of the condvar method is). Errors as SemlockProbe::Open.
  static Result<std::unique_ptr<PyGilProbe>> Open(uint32_t max_processes = PYGIL_MAX_PROCS,
                                                  GilWaitMaps shared = {});
  ~PyGilProbe();
  PyGilProbe(const PyGilProbe&) = delete;
  PyGilProbe& operator=(const PyGilProbe&) = delete;

  // Attaches what `target` names in process `pid`. Errors: kInvalidArgument (nothing to
  // probe), kNotFound (no such process / no libc for the condvar probe), kPermissionDenied,
  // kResourceExhausted (max_processes), kUnavailable (an attach failed). Re-attaching an
  // attached pid replaces its probes and starts its counts afresh.
  Status Attach(pid_t pid, const PyGilTarget& target);
  // The sub-interpreter GILs of attached process `pid` are now `gils` (its main GIL stays):
  // those no longer named are forgotten (their statistics end), new ones get a slot while one
  // is free (PYGIL_MAX_GILS - 1 per process) and the maps have room (PYGIL_MAX_SUB_GILS in
  // all). Returns how many of `gils` got no slot. kNotFound: not attached.
  Result<size_t> SetSubInterpreterGils(pid_t pid, const std::vector<PyGilSubGil>& gils);
  // Deletes the process's entries at once; its links are destroyed in the background.
  Status Detach(pid_t pid);

  // Why the condvar method measures no handoff latency (the scheduler program that sees the
  // GIL condvar's wake-ups did not load), or "" when it does.
  const std::string& HandoffLatencyUnavailable() const;
  // The threads counted as waiting on a GIL condvar (gil_waits' entries in use), which the
  // wake-up programs read first: 0 while none waits. A process that ended, or was detached,
  // with threads waiting is taken off once its links are gone.
  int64_t GilWaiting() const;

  // Thread-safe; they do not wait for an attach in progress.
  Result<std::vector<PyGilStats>> Read();
  PyGilHealth ReadHealth();
  // The attributed waits and their stacks so far (cumulative since each process's attach, or
  // since ClearStacks).
  Result<RawGilStacks> ReadStacks();
  // Forgets every attributed wait and stack (room for new ones in the kernel's maps).
  void ClearStacks();

 private:
  struct Impl;
  PyGilProbe();
  void DeleteEntries(pid_t pid);
  // Removes attached process `pid` (holding the processes' lock).
  Status Forget(pid_t pid);
  // Detaches the kernel-side program once no process is attached (holding the processes' lock).
  void ReleaseKernelPrograms();
  // Ends the GIL waits process `pid`'s threads left open, once its links are gone (reaper
  // thread).
  void EndGilWaitsOf(pid_t pid);

  // Attaches the probes `target` names into `links`.
  Status AttachTarget(pid_t pid, const PyGilTarget& target, std::vector<BpfLinkPtr>& links);

  std::unique_ptr<Impl> impl_;
};

}  // namespace gilstat::probes
