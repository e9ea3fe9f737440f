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

#include <bpf/bpf.h>

#include "bpf/pystack.h"
#include "gilstat/lock_stats.h"
#include "probes/libbpf_util.h"

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

// Calls fn(key, waits) for every entry of a probe's pairs map (keys of type PairKey, values
// struct pygil_pair).
template <typename PairKey, typename Fn>
void ForEachPair(int pairs_fd, Fn fn) {
  ForEachMapKey<PairKey>(pairs_fd, [&](const PairKey& key) {
    pygil_pair v{};
    if (bpf_map_lookup_elem(pairs_fd, &key, &v) == 0) fn(key, v);
  });
}

// A probe's stack capture counters (enum pystack_counter), from index `first` of its health
// counters (PYGIL_CNT_STACKS, SEMLOCK_CNT_STACKS), into `h`.
void StackHealthFrom(const std::vector<uint64_t>& counters, uint32_t first, PyGilHealth& h);

// Empties a probe's pairs map (keys of type PairKey) and its stack map.
template <typename PairKey>
void ClearPyStacks(int pairs_fd, int stacks_fd) {
  DeleteMapKeysIf<PairKey>(pairs_fd, [](const PairKey&) { return true; });
  DeletePyStacks(stacks_fd, std::nullopt);
}

}  // namespace gilstat::probes
