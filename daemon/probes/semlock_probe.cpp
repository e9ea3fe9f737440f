#include "probes/semlock_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string_view>

#include "bpf/semlock.skel.h"
#include "elf/elf_symbols.h"
#include "elf/proc_maps.h"
#include "probes/libbpf_util.h"
#include "probes/probe_lifecycle.h"

namespace gilstat::probes {

// ---------------------------------------------------------------------------------------------
// Aggregation (pure; unit-tested with fakes).

SemLockStats AggregateSemlockStats(const semlock_key& key, std::span<const semlock_stats> cpus) {
  SemLockStats out;
  out.pid = static_cast<pid_t>(key.tgid);
  out.addr = key.addr;
  for (const semlock_stats& c : cpus) {
    out.acquisitions += c.wait_hist_count;
    out.failed_tries += c.failed_tries;
    out.timeouts += c.timeouts;
    out.contended += c.contended;
    out.wait_ns += c.wait_hist_sum;
    out.max_wait_ns = std::max<uint64_t>(out.max_wait_ns, c.max_wait_ns);
    out.blocked_ns += c.blocked_ns;
    out.handoffs += c.handoff_hist_count;
    out.posts += c.posts;
    AddHistogram(out.wait_hist, c.wait_hist, c.wait_hist_sum, c.wait_hist_count);
    AddHistogram(out.handoff_latency_hist, c.handoff_hist, c.handoff_hist_sum,
                 c.handoff_hist_count);
  }
  return out;
}

Result<std::vector<SemLockStats>> ReadSemlockStats(SemlockMaps& maps) {
  std::vector<SemLockStats> out;
  Status st = maps.ForEachLock([&](const semlock_key& key, std::span<const semlock_stats> cpus) {
    out.push_back(AggregateSemlockStats(key, cpus));
  });
  if (!st.ok()) return st.error();
  std::sort(out.begin(), out.end(), [](const SemLockStats& a, const SemLockStats& b) {
    return a.pid != b.pid ? a.pid < b.pid : a.addr < b.addr;
  });
  return out;
}

ProbeHealth ReadSemlockHealth(SemlockMaps& maps) {
  return HealthFromCounters<ProbeHealth>(maps.ReadCounters(), SEMLOCK_NR_COUNTERS,
                                         [](ProbeHealth& h, const std::vector<uint64_t>& v) {
                                           h.locks_full = v[SEMLOCK_CNT_LOCKS_FULL];
                                           h.threads_full = v[SEMLOCK_CNT_THREADS_FULL];
                                           h.orphan_returns = v[SEMLOCK_CNT_ORPHAN_RETURNS];
                                           h.map_full_drops = h.locks_full + h.threads_full;
                                         });
}

// ---------------------------------------------------------------------------------------------
// Real maps.

namespace {

class BpfSemlockMaps : public SemlockMaps {
 public:
  BpfSemlockMaps(int index_fd, int locks_fd, int keys_fd, int counters_fd)
      : index_fd_(index_fd),
        locks_fd_(locks_fd),
        keys_fd_(keys_fd),
        counters_fd_(counters_fd),
        ncpus_(libbpf_num_possible_cpus()) {}

  Status ForEachLock(const LockFn& fn) override {
    if (ncpus_ <= 0) return MakeError(ErrorCode::kInternal, "cannot count possible CPUs");
    std::vector<semlock_stats> values(static_cast<size_t>(ncpus_));
    ForEachMapKey<semlock_key>(index_fd_, [&](const semlock_key& key) {
      uint32_t slot = 0;
      semlock_slot_key owner{};
      // Skipped when deleted meanwhile (a detach).
      if (bpf_map_lookup_elem(index_fd_, &key, &slot) != 0) return;
      if (bpf_map_lookup_elem(locks_fd_, &slot, values.data()) != 0) return;
      if (bpf_map_lookup_elem(keys_fd_, &slot, &owner) != 0) return;
      if (owner.tgid != key.tgid || owner.addr != key.addr) return;  // freed and given again
      fn(key, values);
    });
    return Status::Ok();
  }

  Result<std::vector<uint64_t>> ReadCounters() override {
    return ReadPerCpuCounters(counters_fd_, SEMLOCK_NR_COUNTERS);
  }

 private:
  int index_fd_;
  int locks_fd_;
  int keys_fd_;
  int counters_fd_;
  int ncpus_;
};

Status CheckOptions(const SemlockOptions& options) {
  if (options.max_locks == 0 || options.max_threads == 0 || options.max_processes == 0) {
    return MakeError(ErrorCode::kInvalidArgument, "semlock map sizes must be positive");
  }
  for (auto [size, what] : {std::pair{options.thread_slots, "thread array"},
                            std::pair{options.wake_cache, "wake cache"}}) {
    if (size == 0 || (size & (size - 1)) != 0) {
      return MakeError(ErrorCode::kInvalidArgument, std::string("the semlock ") + what +
                                                        " size must be a power of 2, not " +
                                                        std::to_string(size));
    }
  }
  return Status::Ok();
}

void SizeMaps(semlock& s, const SemlockOptions& options) {
  for (bpf_map* m :
       {s.maps.lock_index, s.maps.locks, s.maps.slots, s.maps.slot_keys, s.maps.free_slots}) {
    bpf_map__set_max_entries(m, options.max_locks);
  }
  bpf_map__set_max_entries(s.maps.threads, options.max_threads);
  bpf_map__set_max_entries(s.maps.wait_stacks, options.max_threads);
  bpf_map__set_max_entries(s.maps.park_sems, options.max_threads);
  bpf_map__set_max_entries(s.maps.thread_slots, options.thread_slots);
  s.rodata->thread_slot_mask = options.thread_slots - 1;
  bpf_map__set_max_entries(s.maps.wake_cache, options.wake_cache);
  s.rodata->wake_cache_mask = options.wake_cache - 1;
  bpf_map__set_max_entries(s.maps.procs, options.max_processes);
  // The programs hand out never-used slots below this in order: nothing to fill at load.
  s.rodata->max_locks = options.max_locks;
}

// Whether the environment asks for the syscall tracepoint (GILSTAT_FUTEX_PROGRAM=sys_enter).
bool SysEnterForced() {
  const char* v = std::getenv("GILSTAT_FUTEX_PROGRAM");
  return v != nullptr && std::string_view(v) == "sys_enter";
}

// Loads the object with the scheduler programs when `scheduler`, else with the syscall
// tracepoint's.
Result<LoadedSkeleton<semlock>> LoadSemlock(const SemlockOptions& options, bool scheduler) {
  return LoadedSkeleton<semlock>::Make("semlock", {semlock__open, semlock__load, semlock__destroy},
                                       [&](semlock& s) {
                                         SizeMaps(s, options);
                                         bpf_program__set_autoload(s.progs.futex_sleep, scheduler);
                                         bpf_program__set_autoload(s.progs.futex_wakeup, scheduler);
                                         bpf_program__set_autoload(s.progs.futex_enter, !scheduler);
                                       });
}

// The scheduler programs where they load, else the syscall tracepoint with the reason.
Result<LoadedSkeleton<semlock>> LoadWithFutexPrograms(const SemlockOptions& options,
                                                      FutexProgramInfo& futex) {
  if (SysEnterForced()) {
    futex = {kFutexSysEnter, "GILSTAT_FUTEX_PROGRAM=sys_enter"};
    return LoadSemlock(options, false);
  }
  auto skel = LoadSemlock(options, true);
  if (skel.ok()) {
    futex = {kFutexScheduler, ""};
    return skel;
  }
  futex = {kFutexSysEnter, "the scheduler programs did not load: " + skel.error().message};
  return LoadSemlock(options, false);
}

uint64_t PidBit(pid_t pid) { return uint64_t{1} << (static_cast<uint32_t>(pid) & 63); }

// Whether the process's semaphore waits read their parking-lot wait entries.
bool ReadsParkingLot(const AttachResult& p) {
  return std::any_of(p.sites.begin(), p.sites.end(),
                     [](const SiteStatus& s) { return s.method == SiteMethod::kReadAtWait; });
}

// The programs' process masks, bit (pid mod 64) of each attached process: the scheduler
// programs' attached_mask, and parking_mask of those with SEMLOCK_PROC_PARKING.
void SetProcessMasks(semlock& s, ProbeProcesses<AttachResult>& processes) {
  uint64_t attached = 0, parking = 0;
  for (pid_t pid : processes.Pids()) {
    attached |= PidBit(pid);
    const auto* p = processes.Find(pid);
    if (p && ReadsParkingLot(p->data)) parking |= PidBit(pid);
  }
  __atomic_store_n(&s.bss->attached_mask, attached, __ATOMIC_RELAXED);
  __atomic_store_n(&s.bss->parking_mask, parking, __ATOMIC_RELAXED);
}

bpf_program* ProgramOf(semlock& s, SemlockProgram program) {
  switch (program) {
    case SemlockProgram::kWaitEntry:
      return s.progs.sem_wait_entry;
    case SemlockProgram::kTimedwaitEntry:
      return s.progs.sem_timedwait_entry;
    case SemlockProgram::kTrywaitEntry:
      return s.progs.sem_trywait_entry;
    case SemlockProgram::kWaitReturn:
      return s.progs.sem_wait_return;
    case SemlockProgram::kPostEntry:
      return s.progs.sem_post_entry;
    case SemlockProgram::kTrywaitFailBranch:
      return s.progs.sem_trywait_fail_branch;
    case SemlockProgram::kTrywaitOkBranch:
      return s.progs.sem_trywait_ok_branch;
    case SemlockProgram::kPostOkBranch:
      return s.progs.sem_post_ok_branch;
  }
  return nullptr;
}

// Attaches the kernel-side program (with the first process), registers the process with its
// flags and attaches the planned uprobes (into `links`).
Status AttachPlan(semlock& s, const std::vector<bpf_program*>& futex_progs,
                  std::vector<BpfLinkPtr>& kernel_links, pid_t pid, const std::string& libc_path,
                  const SemlockPlan& plan, std::vector<BpfLinkPtr>& links) {
  if (Status st = AttachKernelPrograms(futex_progs, kernel_links); !st.ok()) return st;
  // Registered with its flags before its first uprobe can fire: a semaphore's slot copies the
  // flags when it is given.
  const uint32_t key = static_cast<uint32_t>(pid);
  semlock_proc proc{};
  proc.flags = plan.proc_flags;
  if (bpf_map_update_elem(bpf_map__fd(s.maps.procs), &key, &proc, BPF_ANY) != 0) {
    return MakeError(ErrorCode::kResourceExhausted,
                     std::string("cannot register pid in the probe: ") + std::strerror(errno));
  }
  __atomic_fetch_or(&s.bss->attached_mask, PidBit(pid), __ATOMIC_RELAXED);
  if (plan.proc_flags & SEMLOCK_PROC_PARKING) {
    __atomic_fetch_or(&s.bss->parking_mask, PidBit(pid), __ATOMIC_RELAXED);
  }
  // The sites of one (program, entry/return) are attached together: one uprobe_multi link
  // each where the kernel has them.
  std::map<std::pair<bpf_program*, bool>, std::vector<uint64_t>> sites_of;
  for (const PlannedUprobe& u : plan.uprobes) {
    sites_of[{ProgramOf(s, u.program), u.retprobe}].push_back(u.file_offset);
  }
  for (const auto& [what, offsets] : sites_of) {
    auto attached = AttachUprobes(what.first, pid, libc_path, offsets, what.second);
    if (!attached) return attached.error();
    for (auto& l : *attached) links.push_back(std::move(l));
  }
  return Status::Ok();
}

// A file that may hold a CPython interpreter: "python3.14", "libpython3.13.so.1.0".
bool IsInterpreterFile(std::string_view path) {
  const std::string_view name = path.substr(path.rfind('/') + 1);
  return name.starts_with("python") || name.starts_with("libpython");
}

// CPython's parking lot (3.13+) in the interpreter `pid` maps: the executable mappings of
// interpreter files, the first that exports _PySemaphore_Wait (ParkingLotSite); nullopt for a
// process without one (not CPython 3.13+). Nothing is attached: the process gets
// SEMLOCK_PROC_PARKING, and its semaphore waits read their wait entries.
std::optional<SiteStatus> FindParkingLot(pid_t pid) {
  auto maps = ReadProcMaps(pid);
  if (!maps) return std::nullopt;
  std::vector<uint64_t> seen;
  for (const MapsEntry& e : *maps) {
    if (e.perms.find('x') == std::string::npos || !IsInterpreterFile(e.path) ||
        std::find(seen.begin(), seen.end(), e.inode) != seen.end()) {
      continue;
    }
    seen.push_back(e.inode);
    auto file = OpenMappedFile(pid, e);
    if (!file) continue;
    auto elf = ElfFile::Open(std::move(file).value());
    if (!elf) continue;
    auto sym = elf->FindFunction(kSemaWaitFunction);
    if (!sym) continue;
    SiteStatus site = ParkingLotSite({kSemaWaitFunction, sym->name, sym->file_offset, {}});
    site.note = "parked waits counted for the address parked on (" + e.path + ")";
    return site;
  }
  return std::nullopt;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// SemlockProbe.

namespace {

// Ends the calls that threads of process `tgid` left open (it ended with threads waiting; its
// uprobes are gone): each entry of the thread array is made idle and taken off the programs'
// gates. The fields first, while the dead thread still owns the entry (no program writes them),
// then the owner, by compare-and-swap (another thread may count itself into `fallback`
// meanwhile).
void EndCallsOf(const MappedBpfArray<semlock_thread>& threads, uint32_t tgid, semlock& s) {
  int64_t in_calls = 0, asleep = 0;
  for (uint32_t i = 0; i < threads.size(); ++i) {
    semlock_thread& t = threads[i];
    __u64 owner = __atomic_load_n(&t.owner, __ATOMIC_ACQUIRE);
    if (!(owner & SEMLOCK_THREAD_BUSY) || TgidOf(owner & ~SEMLOCK_THREAD_BUSY) != tgid) continue;
    if (t.op != 0) ++in_calls;
    if (t.flags & SEMLOCK_T_ASLEEP) ++asleep;
    t.op = 0;
    t.flags = 0;
    t.addr = 0;
    __atomic_compare_exchange_n(&t.owner, &owner, owner & ~SEMLOCK_THREAD_BUSY, false,
                                __ATOMIC_RELEASE, __ATOMIC_RELAXED);
  }
  if (in_calls) __atomic_fetch_sub(&s.bss->threads_in_calls, in_calls, __ATOMIC_RELAXED);
  if (asleep) __atomic_fetch_sub(&s.bss->asleep_in_waits, asleep, __ATOMIC_RELAXED);
}

}  // namespace

struct SemlockProbe::Impl {
  explicit Impl(LoadedSkeleton<semlock> loaded) : skel(std::move(loaded)) {}

  LoadedSkeleton<semlock> skel;
  std::unique_ptr<BpfSemlockMaps> maps;
  FutexProgramInfo futex;
  std::vector<bpf_program*> futex_progs;  // futex.program's
  // Lock slots taken out of the index at a detach, per pid in detach order: they are zeroed and
  // given back once that detach's links are destroyed (a thread still inside a probed call may
  // write them until then).
  std::map<pid_t, std::deque<std::vector<uint32_t>>> retired;
  // The kernel-side program while some process is attached; handed to the reaper as pid 0.
  std::vector<BpfLinkPtr> kernel_links;
  // Processes with Python stacks on (their count is the programs' stacks_procs).
  std::mutex stacks_mu;
  std::set<pid_t> stack_pids;
  // The thread array, mapped: a process that ended inside calls is taken off the gates.
  MappedBpfArray<semlock_thread> thread_slots;
  // Last member: destroyed first (every link before the object).
  std::unique_ptr<ProbeProcesses<AttachResult>> processes;
};

SemlockProbe::SemlockProbe(const SemlockOptions& options) : options_(options) {}

// The processes first, while the rest of the probe is whole: the reaper's last callbacks use it,
// and every link goes before the object.
SemlockProbe::~SemlockProbe() {
  if (impl_) impl_->processes.reset();
}

Result<std::unique_ptr<SemlockProbe>> SemlockProbe::Open(const SemlockOptions& options) {
  if (Status st = CheckOptions(options); !st.ok()) return st.error();
  FutexProgramInfo futex;
  auto skel = LoadWithFutexPrograms(options, futex);
  if (!skel.ok()) return skel.error();
  std::unique_ptr<SemlockProbe> probe(new SemlockProbe(options));
  probe->impl_ = std::make_unique<Impl>(std::move(skel).value());
  Impl& impl = *probe->impl_;
  semlock* s = impl.skel.get();
  // Without the mapping, calls a process left open keep the scheduler programs' gates open
  // (their cost, never a missed event).
  impl.thread_slots.Map(s->maps.thread_slots);
  impl.futex = std::move(futex);
  impl.futex_progs = std::string_view(impl.futex.program) == kFutexScheduler
                         ? std::vector{s->progs.futex_sleep, s->progs.futex_wakeup}
                         : std::vector{s->progs.futex_enter};
  impl.maps = std::make_unique<BpfSemlockMaps>(
      bpf_map__fd(s->maps.lock_index), bpf_map__fd(s->maps.locks), bpf_map__fd(s->maps.slot_keys),
      bpf_map__fd(s->maps.counters));
  SemlockProbe* self = probe.get();
  impl.processes = std::make_unique<ProbeProcesses<AttachResult>>(
      "semaphore", options.max_processes, [self](pid_t pid, bool attached_again) {
        if (pid == 0) return;  // the kernel-side program: no entries
        // One batch per detach, destroyed in detach order: that detach's slots are free now.
        auto& retired = self->impl_->retired;
        if (auto it = retired.find(pid); it != retired.end()) {
          if (!it->second.empty()) {
            self->RecycleSlots(it->second.front());
            it->second.pop_front();
          }
          if (it->second.empty()) retired.erase(it);
        }
        // Events between Detach and now may have re-created entries; unless the pid was
        // attached again meanwhile, they go too.
        if (attached_again) return;
        EndCallsOf(self->impl_->thread_slots, static_cast<uint32_t>(pid), *self->impl_->skel.get());
        self->RecycleSlots(self->DeleteProcessEntries(pid));
      });
  return probe;
}

Result<AttachResult> SemlockProbe::Attach(pid_t pid) {
  if (Status st = CheckPid(pid); !st.ok()) return st.error();
  ProbeProcesses<AttachResult>& processes = *impl_->processes;
  auto lock = processes.Lock();
  if (const auto* attached = processes.Find(pid)) return attached->data;
  // No event may be counted by old and new links: an exec'd process attached again (MakeRoom),
  // a first process after the last one left.
  if (impl_->kernel_links.empty()) processes.reaper().DestroyNow(0);
  if (Status st = processes.MakeRoom(pid); !st.ok()) return st.error();
  auto libc = FindLibc(pid);
  if (!libc) return libc.error();
  auto file = OpenMappedFile(pid, libc->entry);
  if (!file) return file.error();
  auto elf = ElfFile::Open(std::move(file).value());
  if (!elf) return elf.error();
  auto functions = ReadSemFunctions(*elf);
  if (!functions) return functions.error();
  SemlockPlan plan = PlanSemlockSites(options_.mode, *functions, [&](uint64_t at) {
    auto code = elf->ReadBytes(at, 16);
    return code ? std::optional(std::move(*code)) : std::nullopt;
  });
  std::optional<SiteStatus> park = FindParkingLot(pid);
  if (park) plan.proc_flags |= SEMLOCK_PROC_PARKING;
  ProbeProcesses<AttachResult>::Process proc;
  proc.data.pid = pid;
  proc.data.libc_path = libc->path;
  proc.data.sites = plan.sites;
  Status st = AttachPlan(*impl_->skel.get(), impl_->futex_progs, impl_->kernel_links, pid,
                         elf->file().path(), plan, proc.links);
  if (!st.ok()) {
    proc.links.clear();  // destroyed here: nothing writes the process's slots any more
    RecycleSlots(DeleteProcessEntries(pid));
    SetProcessMasks(*impl_->skel.get(), processes);
    if (processes.empty()) impl_->kernel_links.clear();
    return st.error();
  }
  if (park) proc.data.sites.push_back(std::move(*park));
  proc.data.links = static_cast<int>(proc.links.size());
  AttachResult result = proc.data;
  processes.Add(pid, std::move(proc));
  return result;
}

std::vector<uint32_t> SemlockProbe::DeleteProcessEntries(pid_t pid) {
  semlock* s = impl_->skel.get();
  const uint32_t tgid = static_cast<uint32_t>(pid);
  bpf_map_delete_elem(bpf_map__fd(s->maps.procs), &tgid);
  {
    std::lock_guard lock(impl_->stacks_mu);
    if (impl_->stack_pids.erase(pid)) {
      __atomic_store_n(&s->bss->stacks_procs, impl_->stack_pids.size(), __ATOMIC_RELAXED);
    }
  }
  DeleteMapKeysIf<semlock_pair_key>(bpf_map__fd(s->maps.pairs),
                                    [tgid](const semlock_pair_key& k) { return k.tgid == tgid; });
  DeletePyStacks(bpf_map__fd(s->maps.stacks), tgid);
  std::vector<uint32_t> slots;
  const int index_fd = bpf_map__fd(s->maps.lock_index);
  DeleteMapKeysIf<semlock_key>(index_fd, [&](const semlock_key& k) {
    uint32_t slot = 0;
    if (k.tgid != tgid || bpf_map_lookup_elem(index_fd, &k, &slot) != 0) return false;
    slots.push_back(slot);
    return true;
  });
  DeleteMapKeysIf<semlock_key>(bpf_map__fd(s->maps.park_sems),
                               [tgid](const semlock_key& k) { return k.tgid == tgid; });
  for (bpf_map* m : {s->maps.threads, s->maps.tstates, s->maps.wait_stacks}) {
    DeleteMapKeysIf<__u64>(bpf_map__fd(m), [tgid](__u64 id) { return TgidOf(id) == tgid; });
  }
  return slots;
}

void SemlockProbe::RecycleSlots(const std::vector<uint32_t>& slots) {
  if (slots.empty()) return;
  semlock* s = impl_->skel.get();
  const int ncpus = libbpf_num_possible_cpus();
  const std::vector<semlock_stats> zero_stats(static_cast<size_t>(std::max(ncpus, 1)));
  const semlock_slot zero_slot{};
  const semlock_slot_key no_owner{};
  for (uint32_t slot : slots) {
    // Zeroed before it can be given again; a slot that cannot be zeroed is not reused.
    if (bpf_map_update_elem(bpf_map__fd(s->maps.locks), &slot, zero_stats.data(), BPF_ANY) != 0 ||
        bpf_map_update_elem(bpf_map__fd(s->maps.slots), &slot, &zero_slot, BPF_ANY) != 0 ||
        bpf_map_update_elem(bpf_map__fd(s->maps.slot_keys), &slot, &no_owner, BPF_ANY) != 0) {
      continue;
    }
    bpf_map_update_elem(bpf_map__fd(s->maps.free_slots), nullptr, &slot, BPF_ANY);
  }
}

Status SemlockProbe::Detach(pid_t pid) {
  ProbeProcesses<AttachResult>& processes = *impl_->processes;
  auto lock = processes.Lock();
  // Scrapes stop seeing it now; its slots are given back once its links are gone.
  Status st = processes.Remove(
      pid, [this](pid_t p) { impl_->retired[p].push_back(DeleteProcessEntries(p)); });
  if (!st.ok()) return st;
  SetProcessMasks(*impl_->skel.get(), processes);
  // The kernel-side programs go with the last process (as pid 0: no entries to delete).
  if (processes.empty() && !impl_->kernel_links.empty()) {
    processes.reaper().Hand(0, std::move(impl_->kernel_links));
    impl_->kernel_links.clear();
  }
  return Status::Ok();
}

std::vector<pid_t> SemlockProbe::AttachedPids() const {
  auto lock = impl_->processes->Lock();
  return impl_->processes->Pids();
}

// Without the processes' lock: the maps are read through their fds, which attaches and
// detaches do not change, so a scrape never waits for an attach stuck behind the kernel's
// uprobe mutex.
Result<std::vector<SemLockStats>> SemlockProbe::ReadLocks() {
  auto locks = ReadSemlockStats(*impl_->maps);
  if (locks && !SeesEveryAcquisition(options_.mode)) {
    for (SemLockStats& l : *locks) l.acquisitions_known = false;
  }
  return locks;
}

SemlockProbe::CallGates SemlockProbe::ReadCallGates() const {
  const semlock* s = impl_->skel.get();
  return {__atomic_load_n(&s->bss->threads_in_calls, __ATOMIC_RELAXED),
          __atomic_load_n(&s->bss->asleep_in_waits, __ATOMIC_RELAXED)};
}

ProbeHealth SemlockProbe::ReadHealth() { return ReadSemlockHealth(*impl_->maps); }

Status SemlockProbe::EnablePythonStacks(pid_t pid, const pygil_frames& frames,
                                        uint64_t last_holder_addr) {
  ProbeProcesses<AttachResult>& processes = *impl_->processes;
  auto lock = processes.Lock();
  if (!processes.Find(pid)) {
    return MakeError(ErrorCode::kNotFound, "pid " + std::to_string(pid) + " is not attached");
  }
  semlock* s = impl_->skel.get();
  const int fd = bpf_map__fd(s->maps.procs);
  const uint32_t key = static_cast<uint32_t>(pid);
  semlock_proc proc{};
  if (bpf_map_lookup_elem(fd, &key, &proc) != 0) {
    return MakeError(ErrorCode::kNotFound, "pid " + std::to_string(pid) + " has no entry");
  }
  proc.flags |= SEMLOCK_PROC_STACKS;
  proc.frames = frames;
  proc.last_holder_addr = last_holder_addr;
  if (bpf_map_update_elem(fd, &key, &proc, BPF_EXIST) != 0) {
    return MakeError(ErrorCode::kUnavailable,
                     std::string("cannot update the process entry: ") + std::strerror(errno));
  }
  std::lock_guard stacks_lock(impl_->stacks_mu);
  impl_->stack_pids.insert(pid);
  __atomic_store_n(&s->bss->stacks_procs, impl_->stack_pids.size(), __ATOMIC_RELAXED);
  return Status::Ok();
}

Result<RawGilStacks> SemlockProbe::ReadStacks() {
  semlock* s = impl_->skel.get();
  const int pairs_fd = bpf_map__fd(s->maps.pairs);
  const int stacks_fd = bpf_map__fd(s->maps.stacks);
  RawGilStacks out;
  ForEachPair<semlock_pair_key>(pairs_fd, [&](const semlock_pair_key& key, const pygil_pair& v) {
    RawGilPair p;
    p.pid = static_cast<pid_t>(key.tgid);
    p.waiter = key.waiter;
    p.wait_ns = v.wait_ns;
    p.count = v.count;
    p.lock = key.lock;
    out.pairs.push_back(p);
    ReadPyStack(stacks_fd, key.tgid, key.waiter, out);
  });
  return out;
}

void SemlockProbe::ClearStacks() {
  semlock* s = impl_->skel.get();
  ClearPyStacks<semlock_pair_key>(bpf_map__fd(s->maps.pairs), bpf_map__fd(s->maps.stacks));
}

PyGilHealth SemlockProbe::ReadStackHealth() {
  const auto counters =
      ReadPerCpuCounters(bpf_map__fd(impl_->skel->maps.counters), SEMLOCK_NR_COUNTERS);
  return HealthFromCounters<PyGilHealth>(counters, SEMLOCK_NR_COUNTERS,
                                         [](PyGilHealth& h, const std::vector<uint64_t>& v) {
                                           StackHealthFrom(v, SEMLOCK_CNT_STACKS, h);
                                         });
}

const FutexProgramInfo& SemlockProbe::futex_program() const { return impl_->futex; }

GilWaitMaps SemlockProbe::gil_wait_maps() const {
  if (std::string_view(impl_->futex.program) != kFutexScheduler) return {};
  semlock* s = impl_->skel.get();
  return {bpf_map__fd(s->maps.gil_waits), bpf_map__fd(s->maps.gil_waiting)};
}

}  // namespace gilstat::probes
