#include "probes/py_stacks_raw.h"

#include <bpf/bpf.h>

#include <algorithm>

#include "probes/libbpf_util.h"

namespace gilstat::probes {

void ReadPyStack(int stacks_fd, uint32_t tgid, uint64_t id, RawGilStacks& out) {
  const auto key = std::pair(static_cast<pid_t>(tgid), id);
  if (id == 0 || out.stacks.count(key)) return;
  pygil_stack_key k{};
  k.tgid = tgid;
  k.id = id;
  pygil_stack v{};
  if (bpf_map_lookup_elem(stacks_fd, &k, &v) != 0) return;
  RawPyStack& st = out.stacks[key];
  const uint32_t depth = std::min<uint32_t>(v.depth, PYGIL_STACK_DEPTH);
  st.code.assign(v.code, v.code + depth);
  st.instr.assign(v.instr, v.instr + depth);
  st.truncated = v.truncated != 0;
}

void DeletePyStacks(int stacks_fd, std::optional<uint32_t> tgid) {
  DeleteMapKeysIf<pygil_stack_key>(
      stacks_fd, [tgid](const pygil_stack_key& k) { return !tgid || k.tgid == *tgid; });
}

void StackHealthFrom(const std::vector<uint64_t>& counters, uint32_t first, PyGilHealth& h) {
  if (counters.size() < first + PYSTACK_NR_COUNTERS) return;
  h.stacks_full = counters[first + PYSTACK_STACKS_FULL];
  h.pairs_full = counters[first + PYSTACK_PAIRS_FULL];
  h.truncated = counters[first + PYSTACK_TRUNCATED];
  h.no_tstate = counters[first + PYSTACK_NO_TSTATE];
}

}  // namespace gilstat::probes
