// Python stacks as the kernel keeps them (bpf/pystack.h), read by the probes that take them: the
// GIL probes (waiter and holder stacks of contended GIL waits) and the semaphore probes (waiter
// stacks of contended threading-lock waits). Stacks are code object addresses, innermost first,
// by their id per process; daemon/host names them.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "bpf/pystack.h"

namespace gilstat::probes {

struct RawPyStack {
  std::vector<uint64_t> code;
  bool truncated = false;
  // Per frame: its instruction pointer's byte offset from its code object (pygil_stack.instr);
  // frames beyond its size have none.
  std::vector<uint32_t> instr;
};
// The waits of one (lock, waiter stack, holder stack) of a process.
struct RawGilPair {
  pid_t pid = 0;
  int64_t interpreter = 0;  // the GIL's interpreter (0: the main one)
  uint64_t waiter = 0;      // stack ids (0: none)
  uint64_t holder = 0;
  uint64_t wait_ns = 0;
  uint64_t count = 0;
  uint64_t lock = 0;  // 0: the GIL; else a threading lock's address (no holder stack)
};
struct RawGilStacks {
  std::vector<RawGilPair> pairs;
  std::map<std::pair<pid_t, uint64_t>, RawPyStack> stacks;  // (pid, id) -> stack
};

// Stack `id` of process `tgid` from the stack map `stacks_fd` into out.stacks (once; nothing for
// id 0 or a stack the map no longer holds).
void ReadPyStack(int stacks_fd, uint32_t tgid, uint64_t id, RawGilStacks& out);
// Deletes the stacks of process `tgid` (every process: all) from the stack map `stacks_fd`.
void DeletePyStacks(int stacks_fd, std::optional<uint32_t> tgid);

}  // namespace gilstat::probes
