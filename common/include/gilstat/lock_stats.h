// Plain structs of what the semaphore probes measured, read from the BPF maps. Collectors, the
// `gilstat locks` command and tests use these through LockStatsSource, so they can be tested
// with fakes that need no BPF.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "gilstat/histogram.h"
#include "gilstat/result.h"

namespace gilstat {

// One semaphore (by its address in the target's memory) in one process.
struct SemLockStats {
  pid_t pid = 0;
  uint64_t addr = 0;  // address of the sem_t in the target process
  // False in default mode, which sees only the calls that reach the slow path: `acquisitions`
  // and `failed_tries` then count contended calls only, `posts` only the wakes.
  bool acquisitions_known = true;
  uint64_t acquisitions = 0;  // successful sem_wait/sem_timedwait/sem_clockwait/sem_trywait
  uint64_t failed_tries = 0;  // sem_trywait that returned EAGAIN
  uint64_t timeouts = 0;      // timed waits that returned ETIMEDOUT
  uint64_t contended = 0;     // acquisitions that blocked in the kernel (futex wait)
  uint64_t wait_ns = 0;       // total time inside the wait calls (entry to return)
  uint64_t max_wait_ns = 0;
  uint64_t blocked_ns = 0;  // of which blocked in futex wait
  uint64_t handoffs = 0;    // a post by one thread woke a waiter of another thread
  uint64_t posts = 0;       // sem_post calls seen (exact mode), or futex wakes (default mode)
  HistogramData wait_hist;  // per acquisition wait time
  HistogramData handoff_latency_hist;  // from the waking post/futex wake to the waiter running
  // For people, where the process is known: "gil" (a CPython GIL), "threading" (a CPython
  // threading lock); "" otherwise.
  std::string name;
};

// Health counters of the probes themselves.
struct ProbeHealth {
  uint64_t map_full_drops = 0;  // events whose map entry could not be created (map full)
  uint64_t lost_events = 0;     // ring-buffer records that did not fit
  // Semaphore probes (map_full_drops is their sum): entries that did not fit, per map.
  uint64_t locks_full = 0;      // a (process, semaphore) got no slot (all in use)
  uint64_t threads_full = 0;    // a thread's in-call state could not be stored
  uint64_t orphan_returns = 0;  // a wait returned whose entry was not seen (attached mid-call)
  uint64_t read_errors = 0;     // the health counters could not be read
};

// What the CPython GIL probes (bpf/pygil.bpf.c) measured in one process. See docs/PYTHON.md.
struct PyGilStats {
  pid_t pid = 0;
  // The interpreter whose GIL this is: 0 the main one, else a sub-interpreter with its own GIL.
  int64_t interpreter = 0;
  uint64_t gil = 0;        // the address of its GIL state in the process (0: unknown)
  bool take_drop = false;  // every acquisition seen (else: contended ones only, condvar)
  bool condvar = false;    // the GIL condvar is probed: drop requests (forced releases) seen
  // handoff_latency is measured (take_gil; condvar only: where the scheduler program loaded)
  bool handoff_latency_known = false;
  uint64_t acquisitions = 0;  // take_gil returns
  uint64_t contended = 0;
  uint64_t handoffs = 0;  // acquisitions by another thread than the last holder
  uint64_t forced = 0;    // releases while a drop request was pending
  uint64_t voluntary = 0;
  uint64_t drop_requests = 0;
  uint64_t cond_waits = 0;
  uint64_t cond_timeouts = 0;
  uint64_t max_wait_ns = 0;
  HistogramData wait;
  HistogramData hold;
  HistogramData handoff_latency;
};

struct PyGilHealth {
  uint64_t threads_full = 0;
  uint64_t stats_full = 0;
  uint64_t orphan_returns = 0;
  uint64_t read_errors = 0;  // the GIL state could not be read from a process
  // Python stacks at contended waits (probes.python_stacks): what was not attributed.
  uint64_t stacks_full = 0;  // a stack found no room in the kernel's stack map
  uint64_t pairs_full = 0;   // a wait found no room in the kernel's pair map
  uint64_t truncated = 0;    // stacks deeper than the depth read
  uint64_t no_tstate = 0;    // a waiting thread's thread state was not found
};

class LockStatsSource {
 public:
  virtual ~LockStatsSource() = default;
  virtual Result<std::vector<SemLockStats>> ReadLocks() = 0;
  virtual ProbeHealth ReadHealth() = 0;
};

}  // namespace gilstat
