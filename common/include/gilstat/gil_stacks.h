// Plain structs of GIL waits attributed to Python stacks: the stack of the thread that waited
// and the stack of the thread that held the GIL when the wait began, with the wait time and count
// of each pair; and threading-lock waits attributed to the waiter's stack. The GIL probes fill them
// (docs/PYTHON.md, "Stacks"); the `gilstat stacks` command and gilstatd's /debug/pprof endpoints
// show them (daemon/profile/).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace gilstat {

// One Python frame as people read it.
struct PyFrameName {
  std::string function;  // the code object's qualified name: "Outer.method", "<module>"
  std::string file;      // its file name as compiled
  int line = 0;          // the frame's current line (its first line when that was not found)
  int first_line = 0;    // the code object's first line (co_firstlineno)
  bool operator==(const PyFrameName&) const = default;
};

// A Python stack, innermost frame first.
struct PyStackNames {
  std::vector<PyFrameName> frames;
  bool truncated = false;  // deeper than the probes read: the outermost frames are missing
  bool operator==(const PyStackNames&) const = default;
};

// What was waited for: the GIL, or a threading lock (threading.Lock, RLock, Condition,
// Semaphore..., and from 3.13 the interpreter's own PyMutex waits).
enum class WaitLock { kGil, kThreading };
inline const char* WaitLockName(WaitLock l) { return l == WaitLock::kGil ? "gil" : "threading"; }

// The waits of one (lock, waiter stack, holder stack). A threading lock has no holder stack (a
// Lock has no owner the probes know of).
struct GilWaitStack {
  PyStackNames waiter;  // empty: the waiting thread ran no Python code (or was not found)
  PyStackNames holder;  // empty: no holder, or its stack could not be read
  uint64_t wait_ns = 0;
  uint64_t count = 0;  // contended acquisitions
  WaitLock lock = WaitLock::kGil;
};

// Health of the stack capture: what was not attributed, and why.
struct GilStackHealth {
  uint64_t pairs_full = 0;   // waits whose pair found no room in the kernel's map
  uint64_t stacks_full = 0;  // stacks that found no room in the kernel's stack map
  uint64_t truncated = 0;    // stacks cut at the depth limit
  uint64_t unnamed = 0;      // frames whose code object was gone when read (shown as such)
};

// One process's attributed GIL waits.
struct ProcessGilStacks {
  pid_t pid = 0;
  std::string comm;
  std::string version;  // "3.12.1"
  std::vector<GilWaitStack> pairs;
  uint64_t total_wait_ns = 0;      // every contended GIL wait measured, attributed or not
  uint64_t threading_wait_ns = 0;  // every contended threading-lock wait measured
  GilStackHealth health;
};

}  // namespace gilstat
