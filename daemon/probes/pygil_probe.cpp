#include "probes/pygil_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <utility>

#include "bpf/pygil.skel.h"
#include "elf/elf_symbols.h"
#include "elf/proc_maps.h"
#include "probes/libbpf_util.h"
#include "probes/probe_lifecycle.h"

namespace gilstat::probes {

PyGilStats AggregatePyGilStats(pid_t pid, std::span<const pygil_stats> cpus) {
  PyGilStats out;
  out.pid = pid;
  for (const pygil_stats& c : cpus) {
    out.acquisitions += c.acquisitions;
    out.contended += c.contended;
    out.handoffs += c.handoffs;
    out.forced += c.forced;
    out.voluntary += c.voluntary;
    out.drop_requests += c.drop_requests;
    out.cond_waits += c.cond_waits;
    out.cond_timeouts += c.cond_timeouts;
    out.max_wait_ns = std::max<uint64_t>(out.max_wait_ns, c.max_wait_ns);
    AddHistogram(out.wait, c.wait_hist, c.wait_hist_sum, c.wait_hist_count);
    AddHistogram(out.hold, c.hold_hist, c.hold_hist_sum, c.hold_hist_count);
    AddHistogram(out.handoff_latency, c.handoff_hist, c.handoff_hist_sum, c.handoff_hist_count);
  }
  return out;
}

namespace {

// What the probe keeps of an attached process: its procs entry as written, and the
// sub-interpreter GIL in each slot (slot 0: the main GIL; an empty cond_addr: free).
struct NoData {};

struct GilSlots {
  GilSlots() { std::fill(std::begin(cfg.gil_idx), std::end(cfg.gil_idx), PYGIL_IDX_NONE); }
  pygil_proc cfg{};
  std::array<PyGilSubGil, PYGIL_MAX_GILS> sub{};
};

}  // namespace

struct PyGilProbe::Impl {
  Impl(LoadedSkeleton<pygil> loaded, uint32_t entries, int cpus)
      : skel(std::move(loaded)), ncpus(cpus) {
    for (uint32_t i = 0; i < entries; ++i) free_idx.push_back(i);
  }

  // An entry of the arrays `gils` and `stats` for a GIL: `gil` written, its statistics zeroed.
  // Holding slots_mu.
  Result<uint32_t> TakeIdx(const pygil_gil& gil) {
    if (free_idx.empty()) {
      return MakeError(ErrorCode::kResourceExhausted, "the GIL probe's maps are full");
    }
    const uint32_t idx = free_idx.front();
    const std::vector<pygil_stats> zero(static_cast<size_t>(ncpus));
    if (bpf_map_update_elem(bpf_map__fd(skel->maps.gils), &idx, &gil, BPF_ANY) != 0 ||
        bpf_map_update_elem(bpf_map__fd(skel->maps.stats), &idx, zero.data(), BPF_ANY) != 0) {
      return MakeError(ErrorCode::kResourceExhausted,
                       std::string("cannot write the GIL probe's maps: ") + std::strerror(errno));
    }
    free_idx.pop_front();
    return idx;
  }
  // Holding slots_mu, once no process entry names `idx`. Given out again last: a program still
  // running with the entry it read before it changed (microseconds) does not meet a new GIL.
  void FreeIdx(uint32_t idx) {
    if (idx != PYGIL_IDX_NONE) free_idx.push_back(idx);
  }

  LoadedSkeleton<pygil> skel;
  const int ncpus;
  // The condvar method's handoff latency is measured: by the semaphore probes' futex_wakeup
  // (gil_waits shared) or by gil_wakeup (loaded); else why not.
  bool wakeup = false;
  bool wakeup_shared = false;
  std::string wakeup_why;
  // gil_wakeup's link (not shared) while some process is attached whose GIL only the condvar
  // shows (those processes), under the processes' lock.
  std::vector<BpfLinkPtr> kernel_links;
  std::set<pid_t> wakeup_pids;
  // The slots of the attached processes, under their own lock: SetSubInterpreterGils (scrapes)
  // never waits for an attach stuck behind the kernel's uprobe mutex.
  std::mutex slots_mu;
  std::map<pid_t, GilSlots> slots;
  // Sub-interpreter GILs registered, all processes together (bounded by PYGIL_MAX_SUB_GILS: the
  // main GIL of every process has its entry).
  size_t sub_gils = 0;
  // The free entries of `gils` and `stats`, under slots_mu.
  std::deque<uint32_t> free_idx;
  // The generation of the last process entry written (pygil_proc.gen), from 1 up: a thread's
  // cached slot is good only while its process entry keeps the generation it was found with
  // (a 32-bit count of entry writes does not come round while a thread keeps a slot).
  std::atomic<uint32_t> gen{0};
  uint32_t NextGen() { return ++gen; }
  // gil_waits and its count, mapped: the waits a process left open end with it.
  MappedBpfArray<gil_wait> gil_waits;
  MappedBpfArray<__s64> gil_waiting;
  bool waits_mapped() const { return gil_waits.mapped() && gil_waiting.mapped(); }
  // Last member: destroyed first (every link before the object).
  std::unique_ptr<ProbeProcesses<NoData>> processes;
};

PyGilProbe::PyGilProbe() = default;

// The processes first, while the rest of the probe is whole: the reaper's last callbacks use it,
// and every link goes before the object.
PyGilProbe::~PyGilProbe() {
  if (impl_) impl_->processes.reset();
}

Result<std::unique_ptr<PyGilProbe>> PyGilProbe::Open(uint32_t max_processes, GilWaitMaps shared) {
  if (max_processes == 0) {
    return MakeError(ErrorCode::kInvalidArgument, "pygil: max_processes must be positive");
  }
  const int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) return MakeError(ErrorCode::kInternal, "cannot count possible CPUs");
  const uint32_t entries = max_processes + PYGIL_MAX_SUB_GILS;
  bool reused = false;
  auto load = [&](bool wakeup, bool share) {
    return LoadedSkeleton<pygil>::Make(
        "pygil", {pygil__open, pygil__load, pygil__destroy}, [&](pygil& s) {
          bpf_map__set_max_entries(s.maps.procs, max_processes);
          bpf_map__set_max_entries(s.maps.gils, entries);
          bpf_map__set_max_entries(s.maps.stats, entries);
          reused = share && bpf_map__reuse_fd(s.maps.gil_waits, shared.waits) == 0 &&
                   bpf_map__reuse_fd(s.maps.gil_waiting, shared.waiting) == 0;
          bpf_program__set_autoload(s.progs.gil_wakeup, wakeup && !reused);
        });
  };
  // The GIL condvar's wake-ups seen by the semaphore probes' program where it shares its maps,
  // else by this object's own where it loads (bpf_task_pt_regs: Linux 5.15), else not at all:
  // the condvar method then has no handoff latency.
  std::string wakeup_why;
  auto skel = load(true, shared.waits >= 0 && shared.waiting >= 0);
  if (!skel.ok() && !reused) {
    wakeup_why = "the scheduler program did not load: " + skel.error().message;
    skel = load(false, false);
  }
  if (!skel.ok()) return skel.error();
  std::unique_ptr<PyGilProbe> probe(new PyGilProbe());
  probe->impl_ = std::make_unique<Impl>(std::move(skel).value(), entries, ncpus);
  probe->impl_->wakeup = wakeup_why.empty();
  probe->impl_->wakeup_shared = reused;
  probe->impl_->wakeup_why = std::move(wakeup_why);
  // Unmapped (the kernel refused), the waits a process left open stay counted: the wake-up
  // programs' cost, never a missed event.
  pygil* loaded = probe->impl_->skel.get();
  probe->impl_->gil_waits.Map(loaded->maps.gil_waits);
  probe->impl_->gil_waiting.Map(loaded->maps.gil_waiting);
  PyGilProbe* self = probe.get();
  probe->impl_->processes = std::make_unique<ProbeProcesses<NoData>>(
      "GIL", max_processes, [self](pid_t pid, bool attached_again) {
        if (pid == 0) return;  // the kernel-side program: no entries
        // Events between Detach and the links' end may have re-created entries.
        if (attached_again) return;
        self->EndGilWaitsOf(pid);
        self->DeleteEntries(pid);
      });
  return probe;
}

const std::string& PyGilProbe::HandoffLatencyUnavailable() const { return impl_->wakeup_why; }

int64_t PyGilProbe::GilWaiting() const {
  if (impl_->gil_waiting.mapped()) return __atomic_load_n(&impl_->gil_waiting[0], __ATOMIC_RELAXED);
  const uint32_t zero_key = 0;
  __s64 count = 0;
  bpf_map_lookup_elem(bpf_map__fd(impl_->skel.get()->maps.gil_waiting), &zero_key, &count);
  return count;
}

void PyGilProbe::DeleteEntries(pid_t pid) {
  pygil* s = impl_->skel.get();
  const uint32_t tgid = static_cast<uint32_t>(pid);
  bpf_map_delete_elem(bpf_map__fd(s->maps.procs), &tgid);
  DeleteMapKeysIf<uint64_t>(bpf_map__fd(s->maps.threads),
                            [tgid](uint64_t id) { return TgidOf(id) == tgid; });
  DeleteMapKeysIf<uint64_t>(bpf_map__fd(s->maps.tstates),
                            [tgid](uint64_t id) { return TgidOf(id) == tgid; });
  DeleteMapKeysIf<pygil_pair_key>(bpf_map__fd(s->maps.pairs),
                                  [tgid](const pygil_pair_key& k) { return k.tgid == tgid; });
  DeletePyStacks(bpf_map__fd(s->maps.stacks), tgid);
}

Status PyGilProbe::Attach(pid_t pid, const PyGilTarget& target) {
  if (Status st = CheckPid(pid); !st.ok()) return st;
  if (!target.take_drop() && target.cond_addr == 0) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "nothing to probe: neither take_gil/drop_gil nor the GIL condvar is known");
  }
  ProbeProcesses<NoData>& processes = *impl_->processes;
  auto lock = processes.Lock();
  // Attached already: replaced (its links destroyed in MakeRoom, its counts start afresh).
  if (processes.Find(pid)) (void)Forget(pid);
  if (Status st = processes.MakeRoom(pid); !st.ok()) return st;
  pygil* s = impl_->skel.get();
  // The scheduler program while some process is attached whose GIL only the condvar shows: the
  // last one's, handed to the reaper, is gone before a new one stamps (one stamp per wake-up).
  const bool wakeup = impl_->wakeup && target.cond_addr != 0 && !target.take_drop();
  if (wakeup && !impl_->wakeup_shared) {
    if (impl_->kernel_links.empty()) processes.reaper().DestroyNow(0);
    if (Status st = AttachKernelPrograms({s->progs.gil_wakeup}, impl_->kernel_links); !st.ok()) {
      return st;
    }
  }
  const uint32_t tgid = static_cast<uint32_t>(pid);
  ProbeProcesses<NoData>::Process proc;
  GilSlots slots;
  pygil_proc& cfg = slots.cfg;
  cfg.cond_addr[0] = target.cond_addr;
  cfg.flags = (target.take_drop() ? PYGIL_F_TAKE_DROP : 0u) |
              (target.cond_addr ? PYGIL_F_CONDVAR : 0u) |
              (target.take_drop() && target.by_argument ? PYGIL_F_BY_ARGUMENT : 0u) |
              (target.stacks ? PYGIL_F_STACKS : 0u);
  if (target.stacks) cfg.frames = *target.stacks;
  cfg.tstate_interp = target.tstate_interp;
  cfg.interp_gil = target.interp_gil;
  cfg.drop_arg_gil = target.drop_arg_gil;
  cfg.cond_in_gil = target.cond_in_gil;
  cfg.main_interp = target.main_interp;
  cfg.main_drop_arg = target.main_drop_arg;
  cfg.gen = impl_->NextGen();
  pygil_gil main{};
  main.locked_addr = target.locked_addr;
  main.switch_addr = target.switch_addr;
  main.interval_addr = target.interval_addr;
  main.last_holder_addr = target.last_holder_addr;
  // The GIL's entry before the process's: a program finding the process finds its main GIL.
  {
    std::lock_guard slots_lock(impl_->slots_mu);
    auto idx = impl_->TakeIdx(main);
    if (!idx) return idx.error();
    cfg.gil_idx[0] = *idx;
  }
  // Undoes the registration: the process entry first, then its GIL's entry is free.
  auto unregister = [&] {
    DeleteEntries(pid);
    std::lock_guard slots_lock(impl_->slots_mu);
    impl_->FreeIdx(cfg.gil_idx[0]);
  };
  if (bpf_map_update_elem(bpf_map__fd(s->maps.procs), &tgid, &cfg, BPF_ANY) != 0) {
    const int err = errno;
    unregister();
    return MakeError(ErrorCode::kResourceExhausted,
                     std::string("cannot register pid in the GIL probe: ") + std::strerror(err));
  }
  if (Status st = AttachTarget(pid, target, proc.links); !st.ok()) {
    proc.links.clear();
    unregister();
    ReleaseKernelPrograms();
    return st;
  }
  processes.Add(pid, std::move(proc));
  if (wakeup) impl_->wakeup_pids.insert(pid);
  std::lock_guard slots_lock(impl_->slots_mu);
  impl_->slots[pid] = slots;
  return Status::Ok();
}

Status PyGilProbe::AttachTarget(pid_t pid, const PyGilTarget& target,
                                std::vector<BpfLinkPtr>& links) {
  pygil* s = impl_->skel.get();
  // One uprobe_multi link per program where the kernel has them.
  auto add = [&](bpf_program* prog, const std::string& path, const std::vector<uint64_t>& offsets,
                 bool ret) -> Status {
    auto attached = AttachUprobes(prog, pid, path, offsets, ret);
    if (!attached) return attached.error();
    for (auto& l : *attached) links.push_back(std::move(l));
    return Status::Ok();
  };
  if (target.cond_addr) {
    auto libc = FindLibc(pid);
    if (!libc) return libc.error();
    auto file = OpenMappedFile(pid, libc->entry);
    if (!file) return file.error();
    auto elf = ElfFile::Open(std::move(file).value());
    if (!elf) return elf.error();
    auto fn = elf->FindFunction("pthread_cond_timedwait");
    if (!fn) return fn.error();
    const std::string libc_path = elf->file().path();  // this very file, while `elf` lives
    Status st = add(s->progs.cond_wait_entry, libc_path, {fn->file_offset}, false);
    if (st.ok()) st = add(s->progs.cond_wait_return, libc_path, {fn->file_offset}, true);
    if (!st.ok()) return st;
  }
  if (!target.take_drop()) return Status::Ok();
  auto interpreter = OpenMappedFileById(pid, target.interpreter_file);
  if (!interpreter) return interpreter.error();
  const std::string path = interpreter->path();  // this very file, while `interpreter` lives
  // drop_gil first: an acquisition must not see a holder whose release goes unseen. With the
  // condvar probed, take_gil's return is not (bpf/pygil.bpf.c counts an acquisition at the
  // condvar's return or at the thread's next release): one trap less per release and re-take.
  Status st = add(s->progs.drop_gil_entry, path, target.drop_gil_offsets, false);
  if (st.ok()) st = add(s->progs.take_gil_entry, path, target.take_gil_offsets, false);
  if (st.ok() && !target.cond_addr) {
    st = add(s->progs.take_gil_return, path, target.take_gil_offsets, true);
  }
  return st;
}

// Holding the processes' lock.
Status PyGilProbe::Forget(pid_t pid) {
  std::optional<GilSlots> gone;
  impl_->wakeup_pids.erase(pid);
  {
    std::lock_guard slots_lock(impl_->slots_mu);
    if (auto it = impl_->slots.find(pid); it != impl_->slots.end()) {
      gone = it->second;
      impl_->slots.erase(it);
    }
  }
  // Its entries go now (scrapes stop seeing it), its links in the background; its GILs' array
  // entries are free once no process entry names them.
  Status st = impl_->processes->Remove(pid, [this](pid_t p) { DeleteEntries(p); });
  if (gone) {
    std::lock_guard slots_lock(impl_->slots_mu);
    for (uint32_t slot = 0; slot < PYGIL_MAX_GILS; ++slot) {
      if (slot > 0 && gone->sub[slot].cond_addr != 0) --impl_->sub_gils;
      impl_->FreeIdx(gone->cfg.gil_idx[slot]);
    }
  }
  return st;
}

Status PyGilProbe::Detach(pid_t pid) {
  auto lock = impl_->processes->Lock();
  Status st = Forget(pid);
  ReleaseKernelPrograms();
  return st;
}

// Holding the processes' lock. With the last process that needs it, the scheduler program goes
// (as pid 0: no entries to delete).
void PyGilProbe::ReleaseKernelPrograms() {
  if (!impl_->wakeup_pids.empty() || impl_->kernel_links.empty()) return;
  impl_->processes->reaper().Hand(0, std::move(impl_->kernel_links));
  impl_->kernel_links.clear();
}

// On the reaper thread, under the processes' lock: the GIL waits that threads of process `pid` left
// open (it ended, or was detached, with threads waiting for its GIL, and its links are gone): freed
// and taken off the count that the wake-up programs read first. An entry is freed by
// compare-and-swap of its thread id: one that another thread (tid alike modulo GILWAIT_SLOTS) has
// taken over meanwhile is that thread's.
void PyGilProbe::EndGilWaitsOf(pid_t pid) {
  const MappedBpfArray<gil_wait>& waits = impl_->gil_waits;
  if (!impl_->waits_mapped()) return;
  const uint32_t tgid = static_cast<uint32_t>(pid);
  __s64 ended = 0;
  for (uint32_t i = 0; i < waits.size(); ++i) {
    __u64 id = __atomic_load_n(&waits[i].id, __ATOMIC_RELAXED);
    if (id == 0 || TgidOf(id) != tgid) continue;
    if (__atomic_compare_exchange_n(&waits[i].id, &id, __u64{0}, false, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED)) {
      ++ended;
    }
  }
  if (ended) __atomic_fetch_sub(&impl_->gil_waiting[0], ended, __ATOMIC_RELAXED);
}

Result<size_t> PyGilProbe::SetSubInterpreterGils(pid_t pid, const std::vector<PyGilSubGil>& gils) {
  std::lock_guard slots_lock(impl_->slots_mu);
  auto it = impl_->slots.find(pid);
  if (it == impl_->slots.end()) {
    return MakeError(ErrorCode::kNotFound, "pid " + std::to_string(pid) + " has no GIL probes");
  }
  pygil* s = impl_->skel.get();
  const uint32_t tgid = static_cast<uint32_t>(pid);
  GilSlots& slots = it->second;
  auto named = [&gils](const PyGilSubGil& g) {
    return std::find(gils.begin(), gils.end(), g) != gils.end();
  };
  // Gone (or changed): the condvar leaves the filter first, then the slot's entries are free.
  std::vector<uint32_t> freed;
  for (uint32_t slot = 1; slot < PYGIL_MAX_GILS; ++slot) {
    if (slots.sub[slot].cond_addr == 0 || named(slots.sub[slot])) continue;
    slots.cfg.cond_addr[slot] = 0;
    freed.push_back(slots.cfg.gil_idx[slot]);
    slots.cfg.gil_idx[slot] = PYGIL_IDX_NONE;
    slots.sub[slot] = {};
    --slots.cfg.nsubs;
    --impl_->sub_gils;
  }
  if (!freed.empty()) {
    slots.cfg.gen = impl_->NextGen();
    (void)bpf_map_update_elem(bpf_map__fd(s->maps.procs), &tgid, &slots.cfg, BPF_ANY);
  }
  for (uint32_t idx : freed) impl_->FreeIdx(idx);
  bool changed = false;
  // New: the GIL's entry first, then its condvar joins the filter.
  size_t dropped = 0;
  for (const PyGilSubGil& g : gils) {
    if (g.cond_addr == 0 || std::find(slots.sub.begin(), slots.sub.end(), g) != slots.sub.end()) {
      continue;
    }
    uint32_t slot = 1;
    while (slot < PYGIL_MAX_GILS && slots.sub[slot].cond_addr != 0) ++slot;
    pygil_gil entry{};
    entry.interpreter = g.interpreter;
    entry.locked_addr = g.locked_addr;
    entry.switch_addr = g.switch_addr;
    entry.interval_addr = g.interval_addr;
    entry.last_holder_addr = g.last_holder_addr;
    if (slot == PYGIL_MAX_GILS || impl_->sub_gils >= PYGIL_MAX_SUB_GILS) {
      ++dropped;
      continue;
    }
    auto idx = impl_->TakeIdx(entry);
    if (!idx) {
      ++dropped;
      continue;
    }
    slots.cfg.gil_idx[slot] = *idx;
    slots.sub[slot] = g;
    slots.cfg.cond_addr[slot] = g.cond_addr;
    ++slots.cfg.nsubs;
    ++impl_->sub_gils;
    changed = true;
  }
  if (changed) slots.cfg.gen = impl_->NextGen();
  if (changed && bpf_map_update_elem(bpf_map__fd(s->maps.procs), &tgid, &slots.cfg, BPF_EXIST)) {
    return MakeError(
        ErrorCode::kUnavailable,
        std::string("cannot update the GIL probe's process entry: ") + std::strerror(errno));
  }
  return dropped;
}

// Without the processes' lock: a scrape never waits for an attach stuck behind the kernel's
// uprobe mutex. Under slots_mu (held by attaches and detaches only around map writes): no GIL's
// entry is given to another while it is read.
Result<std::vector<PyGilStats>> PyGilProbe::Read() {
  const int fd = bpf_map__fd(impl_->skel->maps.stats);
  std::vector<pygil_stats> values(static_cast<size_t>(impl_->ncpus));
  std::vector<PyGilStats> out;
  std::lock_guard slots_lock(impl_->slots_mu);
  for (const auto& [pid, slots] : impl_->slots) {
    const pygil_proc& cfg = slots.cfg;
    for (uint32_t slot = 0; slot < PYGIL_MAX_GILS; ++slot) {
      const uint32_t idx = cfg.gil_idx[slot];
      if (idx == PYGIL_IDX_NONE || bpf_map_lookup_elem(fd, &idx, values.data()) != 0) continue;
      PyGilStats st = AggregatePyGilStats(pid, values);
      st.interpreter = slots.sub[slot].interpreter;
      const uint64_t cond = cfg.cond_addr[slot];
      st.gil = cond != 0 ? cond - cfg.cond_in_gil : 0;
      st.take_drop = (cfg.flags & PYGIL_F_TAKE_DROP) != 0;
      st.condvar = (cfg.flags & PYGIL_F_CONDVAR) != 0;
      st.handoff_latency_known = st.take_drop || (st.condvar && impl_->wakeup);
      out.push_back(std::move(st));
    }
  }
  std::sort(out.begin(), out.end(), [](const PyGilStats& a, const PyGilStats& b) {
    return std::pair(a.pid, a.interpreter) < std::pair(b.pid, b.interpreter);
  });
  return out;
}

// Without the processes' lock, as Read. A pair whose stacks were deleted meanwhile (a detach)
// keeps its ids; the caller shows such stacks as lost.
Result<RawGilStacks> PyGilProbe::ReadStacks() {
  pygil* s = impl_->skel.get();
  const int pairs_fd = bpf_map__fd(s->maps.pairs);
  const int stacks_fd = bpf_map__fd(s->maps.stacks);
  // The interpreter of each (process, slot), as registered now (0: the main one, or gone).
  std::map<std::pair<uint32_t, uint32_t>, int64_t> interpreters;
  {
    std::lock_guard slots_lock(impl_->slots_mu);
    for (const auto& [pid, slots] : impl_->slots) {
      for (uint32_t slot = 1; slot < PYGIL_MAX_GILS; ++slot) {
        if (slots.sub[slot].cond_addr != 0) {
          interpreters[{static_cast<uint32_t>(pid), slot}] = slots.sub[slot].interpreter;
        }
      }
    }
  }
  RawGilStacks out;
  ForEachPair<pygil_pair_key>(pairs_fd, [&](const pygil_pair_key& key, const pygil_pair& v) {
    const auto it = interpreters.find({key.tgid, key.slot});
    const int64_t interpreter = it == interpreters.end() ? 0 : it->second;
    out.pairs.push_back(
        {static_cast<pid_t>(key.tgid), interpreter, key.waiter, key.holder, v.wait_ns, v.count});
    ReadPyStack(stacks_fd, key.tgid, key.waiter, out);
    ReadPyStack(stacks_fd, key.tgid, key.holder, out);
  });
  return out;
}

void PyGilProbe::ClearStacks() {
  pygil* s = impl_->skel.get();
  ClearPyStacks<pygil_pair_key>(bpf_map__fd(s->maps.pairs), bpf_map__fd(s->maps.stacks));
}

PyGilHealth PyGilHealthOf(const Result<std::vector<uint64_t>>& counters) {
  return HealthFromCounters<PyGilHealth>(counters, PYGIL_NR_COUNTERS,
                                         [](PyGilHealth& h, const std::vector<uint64_t>& v) {
                                           h.threads_full = v[PYGIL_CNT_THREADS_FULL];
                                           h.stats_full = v[PYGIL_CNT_STATS_FULL];
                                           h.orphan_returns = v[PYGIL_CNT_ORPHAN_RETURNS];
                                           h.read_errors = v[PYGIL_CNT_READ_ERRORS];
                                           StackHealthFrom(v, PYGIL_CNT_STACKS, h);
                                         });
}

PyGilHealth PyGilProbe::ReadHealth() {
  return PyGilHealthOf(
      ReadPerCpuCounters(bpf_map__fd(impl_->skel->maps.counters), PYGIL_NR_COUNTERS));
}

}  // namespace gilstat::probes
