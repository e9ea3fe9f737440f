#include "host/gil_stacks.h"

#include <tuple>

namespace gilstat::host {
namespace {

PyStackNames NameStack(const probes::RawGilStacks& raw, pid_t pid, uint64_t id,
                       const CodeNamer& name, uint64_t& unnamed) {
  PyStackNames out;
  if (id == 0) return out;  // no Python frame
  auto it = raw.stacks.find({pid, id});
  if (it == raw.stacks.end()) {
    out.frames.push_back({kLostStack, "", 0});
    return out;
  }
  const probes::RawPyStack& st = it->second;
  out.truncated = st.truncated;
  for (size_t i = 0; i < st.code.size(); ++i) {
    const python::CodeName n =
        name(pid, st.code[i], i < st.instr.size() ? st.instr[i] : python::kNoInstr);
    if (!n.valid) ++unnamed;
    out.frames.push_back(n.valid ? PyFrameName{n.qualname, n.filename, n.line, n.first_line}
                                 : PyFrameName{kGoneCode, "", 0, 0});
  }
  return out;
}

}  // namespace

std::vector<ProcessGilStacks> NameGilStacks(const probes::RawGilStacks& raw, const CodeNamer& name,
                                            const WaitTotals& totals) {
  std::map<pid_t, ProcessGilStacks> by_pid;
  for (const probes::RawGilPair& pair : raw.pairs) {
    ProcessGilStacks& p = by_pid[pair.pid];
    p.pid = pair.pid;
    GilWaitStack w;
    w.waiter = NameStack(raw, pair.pid, pair.waiter, name, p.health.unnamed);
    w.holder = NameStack(raw, pair.pid, pair.holder, name, p.health.unnamed);
    w.wait_ns = pair.wait_ns;
    w.count = pair.count;
    w.lock = pair.lock == 0 ? WaitLock::kGil : WaitLock::kThreading;
    p.health.truncated += (w.waiter.truncated ? 1 : 0) + (w.holder.truncated ? 1 : 0);
    p.pairs.push_back(std::move(w));
  }
  std::vector<ProcessGilStacks> out;
  for (auto& [pid, p] : by_pid) {
    for (auto [lock, total, known] :
         {std::tuple(WaitLock::kGil, &p.total_wait_ns, &totals.gil),
          std::tuple(WaitLock::kThreading, &p.threading_wait_ns, &totals.threading)}) {
      if (auto it = known->find(pid); it != known->end()) {
        *total = it->second;
        continue;
      }
      for (const GilWaitStack& w : p.pairs) *total += w.lock == lock ? w.wait_ns : 0;
    }
    out.push_back(std::move(p));
  }
  return out;
}

probes::RawGilStacks GilStacksSince(const probes::RawGilStacks& before,
                                    const probes::RawGilStacks& now) {
  auto key = [](const probes::RawGilPair& p) {
    return std::make_tuple(p.pid, p.interpreter, p.lock, p.waiter, p.holder);
  };
  std::map<std::tuple<pid_t, int64_t, uint64_t, uint64_t, uint64_t>, const probes::RawGilPair*> old;
  for (const probes::RawGilPair& p : before.pairs) old[key(p)] = &p;
  probes::RawGilStacks out;
  out.stacks = now.stacks;
  for (probes::RawGilPair p : now.pairs) {
    auto it = old.find(key(p));
    if (it != old.end() && it->second->count <= p.count) {
      p.wait_ns -= std::min(p.wait_ns, it->second->wait_ns);
      p.count -= it->second->count;
    }
    if (p.count > 0) out.pairs.push_back(p);
  }
  return out;
}

}  // namespace gilstat::host
