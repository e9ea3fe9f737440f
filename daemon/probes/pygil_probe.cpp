#include "probes/pygil_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "bpf/pygil.skel.h"
#include "elf/elf_symbols.h"
#include "elf/proc_maps.h"
#include "probes/libbpf_util.h"
#include "probes/link_reaper.h"

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

struct SkelDeleter {
  void operator()(pygil* s) const { pygil__destroy(s); }
};

}  // namespace

struct PyGilProbe::Impl {
  std::unique_ptr<pygil, SkelDeleter> skel;
  struct Process {
    std::vector<BpfLinkPtr> links;
  };
  std::map<pid_t, Process> procs;
  uint32_t max_processes = PYGIL_MAX_PROCS;
  int ncpus = 0;
  std::unique_ptr<LinkReaper> reaper;  // last member: stopped first
};

PyGilProbe::PyGilProbe() : impl_(std::make_unique<Impl>()) {}

PyGilProbe::~PyGilProbe() {
  if (!impl_) return;
  impl_->reaper.reset();  // destroys every link handed over so far
  impl_->procs.clear();   // links before the object
}

Result<std::unique_ptr<PyGilProbe>> PyGilProbe::Open(uint32_t max_processes) {
  if (max_processes == 0) {
    return MakeError(ErrorCode::kInvalidArgument, "pygil: max_processes must be positive");
  }
  std::unique_ptr<PyGilProbe> probe(new PyGilProbe());
  Impl& impl = *probe->impl_;
  impl.max_processes = max_processes;
  impl.ncpus = libbpf_num_possible_cpus();
  if (impl.ncpus <= 0) return MakeError(ErrorCode::kInternal, "cannot count possible CPUs");
  LibbpfLogCapture capture;
  impl.skel.reset(pygil__open());
  if (!impl.skel) {
    const int err = errno;
    return MakeError(ErrorCode::kInternal,
                     std::string("opening the pygil BPF object failed: ") + std::strerror(err));
  }
  pygil* s = impl.skel.get();
  bpf_map__set_max_entries(s->maps.procs, max_processes);
  bpf_map__set_max_entries(s->maps.stats, max_processes);
  PrepareUprobeMulti(s->obj);
  if (int err = pygil__load(s); err != 0) {
    const ErrorCode code =
        err == -EPERM || err == -EACCES ? ErrorCode::kPermissionDenied : ErrorCode::kInternal;
    return MakeError(
        code, "loading the GIL BPF programs failed: " + SummarizeLoadFailure(capture.text(), err));
  }
  PyGilProbe* self = probe.get();
  impl.reaper = std::make_unique<LinkReaper>([self](pid_t pid) {
    std::lock_guard lock(self->mu_);
    // Events between Detach and the links' end may have re-created entries.
    if (!self->impl_->procs.count(pid)) self->DeleteEntries(pid);
  });
  return probe;
}

void PyGilProbe::DeleteEntries(pid_t pid) {
  pygil* s = impl_->skel.get();
  const uint32_t tgid = static_cast<uint32_t>(pid);
  bpf_map_delete_elem(bpf_map__fd(s->maps.procs), &tgid);
  bpf_map_delete_elem(bpf_map__fd(s->maps.stats), &tgid);
  DeleteMapKeysIf<uint64_t>(bpf_map__fd(s->maps.threads),
                            [tgid](uint64_t id) { return TgidOf(id) == tgid; });
}

Status PyGilProbe::Attach(pid_t pid, const PyGilTarget& target) {
  if (pid <= 0) return MakeError(ErrorCode::kInvalidArgument, "invalid pid " + std::to_string(pid));
  if (!target.take_drop() && target.cond_addr == 0) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "nothing to probe: neither take_gil/drop_gil nor the GIL condvar is known");
  }
  std::lock_guard lock(mu_);
  Impl& impl = *impl_;
  if (auto it = impl.procs.find(pid); it != impl.procs.end()) {
    impl.reaper->Hand(pid, std::move(it->second.links));
    impl.procs.erase(it);
    DeleteEntries(pid);
  }
  impl.reaper->DestroyNow(pid);
  if (impl.procs.size() >= impl.max_processes) {
    return MakeError(ErrorCode::kResourceExhausted, "GIL probes already attached to " +
                                                        std::to_string(impl.procs.size()) +
                                                        " processes (max_processes)");
  }
  pygil* s = impl.skel.get();
  const uint32_t tgid = static_cast<uint32_t>(pid);
  pygil_proc cfg{};
  cfg.cond_addr = target.cond_addr;
  cfg.locked_addr = target.locked_addr;
  cfg.switch_addr = target.switch_addr;
  cfg.interval_addr = target.interval_addr;
  cfg.flags =
      (target.take_drop() ? PYGIL_F_TAKE_DROP : 0u) | (target.cond_addr ? PYGIL_F_CONDVAR : 0u);
  if (bpf_map_update_elem(bpf_map__fd(s->maps.procs), &tgid, &cfg, BPF_ANY) != 0) {
    return MakeError(ErrorCode::kResourceExhausted,
                     std::string("cannot register pid in the GIL probe: ") + std::strerror(errno));
  }
  Impl::Process proc;
  auto fail = [&](const Error& e) -> Status {
    proc.links.clear();
    DeleteEntries(pid);
    return e;
  };
  // One uprobe_multi link per program where the kernel has them.
  auto add = [&](bpf_program* prog, const std::string& path, const std::vector<uint64_t>& offsets,
                 bool ret) -> Status {
    auto links = AttachUprobes(prog, pid, path, offsets, ret);
    if (!links) return links.error();
    for (auto& l : *links) proc.links.push_back(std::move(l));
    return Status::Ok();
  };
  if (target.cond_addr) {
    auto libc = FindLibc(pid);
    if (!libc) return fail(libc.error());
    auto elf = ElfFile::Open(libc->host_path);
    if (!elf) return fail(elf.error());
    auto fn = elf->FindFunction("pthread_cond_timedwait");
    if (!fn) return fail(fn.error());
    Status st = add(s->progs.cond_wait_entry, libc->host_path, {fn->file_offset}, false);
    if (st.ok()) st = add(s->progs.cond_wait_return, libc->host_path, {fn->file_offset}, true);
    if (!st.ok()) return fail(st.error());
  }
  if (target.take_drop()) {
    // drop_gil first: a take_gil return must not see a holder whose release goes unseen.
    Status st =
        add(s->progs.drop_gil_entry, target.interpreter_path, target.drop_gil_offsets, false);
    if (st.ok()) {
      st = add(s->progs.take_gil_entry, target.interpreter_path, target.take_gil_offsets, false);
    }
    if (st.ok()) {
      st = add(s->progs.take_gil_return, target.interpreter_path, target.take_gil_offsets, true);
    }
    if (!st.ok()) return fail(st.error());
  }
  impl.procs.emplace(pid, std::move(proc));
  return Status::Ok();
}

Status PyGilProbe::Detach(pid_t pid) {
  std::lock_guard lock(mu_);
  auto it = impl_->procs.find(pid);
  if (it == impl_->procs.end()) {
    return MakeError(ErrorCode::kNotFound, "pid " + std::to_string(pid) + " has no GIL probes");
  }
  std::vector<BpfLinkPtr> links = std::move(it->second.links);
  impl_->procs.erase(it);
  DeleteEntries(pid);  // scrapes stop seeing it now
  impl_->reaper->Hand(pid, std::move(links));
  return Status::Ok();
}

std::vector<pid_t> PyGilProbe::AttachedPids() const {
  std::lock_guard lock(mu_);
  std::vector<pid_t> out;
  for (const auto& [pid, p] : impl_->procs) out.push_back(pid);
  return out;
}

// Without mu_ (only the maps, through their fds): a scrape never waits for an attach stuck
// behind the kernel's uprobe mutex. A process is attached while its procs entry exists.
Result<std::vector<PyGilStats>> PyGilProbe::Read() {
  const int fd = bpf_map__fd(impl_->skel->maps.stats);
  const int procs_fd = bpf_map__fd(impl_->skel->maps.procs);
  std::vector<pygil_stats> values(static_cast<size_t>(impl_->ncpus));
  std::vector<PyGilStats> out;
  ForEachMapKey<uint32_t>(fd, [&](uint32_t tgid) {
    pygil_proc cfg{};
    if (bpf_map_lookup_elem(procs_fd, &tgid, &cfg) == 0 &&
        bpf_map_lookup_elem(fd, &tgid, values.data()) == 0) {
      PyGilStats st = AggregatePyGilStats(static_cast<pid_t>(tgid), values);
      st.take_drop = (cfg.flags & PYGIL_F_TAKE_DROP) != 0;
      st.condvar = (cfg.flags & PYGIL_F_CONDVAR) != 0;
      out.push_back(std::move(st));
    }
  });
  std::sort(out.begin(), out.end(),
            [](const PyGilStats& a, const PyGilStats& b) { return a.pid < b.pid; });
  return out;
}

PyGilHealth PyGilProbe::ReadHealth() {
  PyGilHealth h;
  const int fd = bpf_map__fd(impl_->skel->maps.counters);
  std::vector<uint64_t> cpus(static_cast<size_t>(impl_->ncpus));
  uint64_t* fields[PYGIL_NR_COUNTERS] = {&h.threads_full, &h.stats_full, &h.orphan_returns,
                                         &h.read_errors};
  for (uint32_t i = 0; i < PYGIL_NR_COUNTERS; ++i) {
    if (bpf_map_lookup_elem(fd, &i, cpus.data()) != 0) continue;
    for (uint64_t v : cpus) *fields[i] += v;
  }
  return h;
}

}  // namespace gilstat::probes
