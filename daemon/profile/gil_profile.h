// The faces of attributed GIL waits (gilstat/gil_stacks.h): the stacks that waited and the
// stacks that made them wait, as a table for people, folded stacks (the flame-graph tools'
// input), JSON, and pprof profiles (Pyroscope, Grafana Alloy, `go tool pprof`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gilstat/gil_stacks.h"

namespace gilstat::profile {

// Whose stacks: the waiting threads' (where the wait is), or the holders' (who is to blame).
enum class View { kWaiters, kHolders };
const char* ViewName(View v);  // "waiters", "holders"

// A stack and the waits attributed to it, over the pairs it appears in.
struct StackTotal {
  PyStackNames stack;
  uint64_t wait_ns = 0;
  uint64_t count = 0;
};

// The stacks of one process's waits for `lock` by total wait (largest first; ties by count, then
// by the stack's text, so the order is stable). Threading locks have waiters only (no holders).
std::vector<StackTotal> StacksBy(const ProcessGilStacks& p, View view,
                                 WaitLock lock = WaitLock::kGil);

// "function (file:line)"; an empty stack is "[no Python frame]" where it stands.
std::string FrameLabel(const PyFrameName& f);

// One line per (process, stack) of the waits for `lock`: "comm (pid N);outermost;...;innermost
// VALUE", VALUE the wait in microseconds (rounded; stacks below 1 µs are left out). A truncated
// stack starts with "[truncated]" below the process. ';' and newlines inside names become ':'
// and ' '.
std::string Folded(const std::vector<ProcessGilStacks>& procs, View view,
                   WaitLock lock = WaitLock::kGil);

// For people: per process, the top `top` waiting stacks of the GIL (leaf function, file:line,
// total wait, count, share of all the process's GIL wait) and the top blamed holders; then, when
// the process waited for threading locks, their top waiting stacks (share of all its
// threading-lock wait).
std::string Table(const std::vector<ProcessGilStacks>& procs, size_t top);

// Everything, as JSON (schema "gilstat.stacks/1", docs/CLI.md).
std::string Json(const std::vector<ProcessGilStacks>& procs, double duration_s);

// The name of `lock`'s pprof sample type: "gil_wait" (the GIL), "lock_wait" (threading locks).
const char* PprofSampleType(WaitLock lock);

// A gzipped pprof profile (profile.proto) of one view of the waits for `lock`: sample types
// PprofSampleType(lock)/nanoseconds and count/count, one sample per (process, stack), its
// locations innermost first, labelled with the process (pid, comm) and the lock ("gil",
// "threading"); `duration_ns` is the time the waits were collected over.
std::string Pprof(const std::vector<ProcessGilStacks>& procs, View view, uint64_t duration_ns,
                  WaitLock lock = WaitLock::kGil);

}  // namespace gilstat::profile
