// The GIL waits the probes attributed to Python stacks (probes::RawGilStacks: code object
// addresses), named for people (gilstat/gil_stacks.h): per process, each frame's code object
// named through a per-process cache of python::CodeNames.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "gilstat/gil_stacks.h"
#include "probes/pygil_probe.h"
#include "python/py_frames.h"

namespace gilstat::host {

// Names code object `code` of process `pid`, with the line of a frame of it whose instruction
// pointer is `instr` bytes past it (python::CodeNames::Lookup; python::kNoInstr: not known).
using CodeNamer = std::function<python::CodeName(pid_t pid, uint64_t code, uint32_t instr)>;

// Shown for a frame whose code object is gone (or never was one), and for a stack whose frames
// the kernel's map no longer holds.
inline constexpr const char* kGoneCode = "[code object gone]";
inline constexpr const char* kLostStack = "[stack lost]";

// pid -> every contended wait measured, of the GIL and of the threading locks.
struct WaitTotals {
  std::map<pid_t, uint64_t> gil;
  std::map<pid_t, uint64_t> threading;
};

// Per process (by pid): its pairs with named stacks, its health counts of unnamed frames, and
// total_wait_ns and threading_wait_ns from `totals` (a process missing there gets the sum of its
// pairs of that lock).
std::vector<ProcessGilStacks> NameGilStacks(const probes::RawGilStacks& raw, const CodeNamer& name,
                                            const WaitTotals& totals);

// `now` minus `before`: the pairs' waits and counts accumulated in between (pairs that did not
// grow are left out). The stacks are `now`'s.
probes::RawGilStacks GilStacksSince(const probes::RawGilStacks& before,
                                    const probes::RawGilStacks& now);

}  // namespace gilstat::host
