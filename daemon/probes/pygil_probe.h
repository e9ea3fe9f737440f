// The CPython GIL probes (bpf/pygil.bpf.c): per process, uprobes on the C library's
// pthread_cond_timedwait filtered by the GIL condvar's address (contended acquisitions only:
// the default), and on the interpreter's take_gil/drop_gil when the target names them (every
// acquisition: exact mode); the kernel's aggregates read into PyGilStats. What to probe in a
// process (PyGilTarget) comes from daemon/host's plan.
// See docs/PYTHON.md.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bpf/pygil.h"
#include "elf/mapped_file.h"
#include "gilstat/histogram.h"
#include "gilstat/lock_stats.h"
#include "gilstat/result.h"
#include "probes/libbpf_util.h"

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

  bool take_drop() const {
    return !interpreter_path.empty() && !take_gil_offsets.empty() && !drop_gil_offsets.empty();
  }
};

// Sums per-CPU values (max_wait_ns: the maximum). Exposed for tests.
PyGilStats AggregatePyGilStats(pid_t pid, std::span<const pygil_stats> cpus);
// The health from the PYGIL_NR_COUNTERS counters; read_errors = 1 (the others 0) when they could
// not be read, as for the semaphore probes. Exposed for tests.
PyGilHealth PyGilHealthOf(const Result<std::vector<uint64_t>>& counters);

class PyGilProbe {
 public:
  // Loads the programs (nothing is attached until Attach). Errors as SemlockProbe::Open.
  static Result<std::unique_ptr<PyGilProbe>> Open(uint32_t max_processes = PYGIL_MAX_PROCS);
  ~PyGilProbe();
  PyGilProbe(const PyGilProbe&) = delete;
  PyGilProbe& operator=(const PyGilProbe&) = delete;

  // Attaches what `target` names in process `pid`. Errors: kInvalidArgument (nothing to
  // probe), kNotFound (no such process / no libc for the condvar probe), kPermissionDenied,
  // kResourceExhausted (max_processes), kUnavailable (an attach failed). Re-attaching an
  // attached pid replaces its probes and starts its counts afresh.
  Status Attach(pid_t pid, const PyGilTarget& target);
  // Deletes the process's entries at once; its links are destroyed in the background.
  Status Detach(pid_t pid);

  // Thread-safe; they do not wait for an attach in progress.
  Result<std::vector<PyGilStats>> Read();
  PyGilHealth ReadHealth();

 private:
  struct Impl;
  PyGilProbe();
  void DeleteEntries(pid_t pid);
  // Attaches the probes `target` names into `links`.
  Status AttachTarget(pid_t pid, const PyGilTarget& target, std::vector<BpfLinkPtr>& links);

  std::unique_ptr<Impl> impl_;
};

}  // namespace gilstat::probes
