// The lifecycle every per-process BPF probe shares: a loaded skeleton (kernel BTF checked, maps
// sized, programs prepared for uprobe_multi links, load errors mapped to ErrorCodes) and the
// table of attached processes with their links, handed to a LinkReaper on detach. SemlockProbe
// and PyGilProbe are built from these; see docs/PROBES.md "Loaders".
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gilstat/result.h"
#include "probes/libbpf_util.h"
#include "probes/link_reaper.h"

namespace gilstat::probes {

inline constexpr const char* kKernelBtfPath = "/sys/kernel/btf/vmlinux";

// kUnavailable when the kernel has no BTF at `btf_path` (the CO-RE programs need it).
Status CheckKernelBtf(const std::string& btf_path = kKernelBtfPath);

// The error of a failed skeleton open (`err`: errno) or load (`err`: libbpf's negative errno,
// `libbpf_log`: what libbpf printed meanwhile): kPermissionDenied when the kernel refused,
// saying which privileges are needed, else kInternal with the end of the verifier log.
Error SkeletonOpenError(std::string_view name, int err);
Error SkeletonLoadError(std::string_view name, int err, std::string_view libbpf_log);

// A probe's health from its `n` health counters (ReadPerCpuCounters): `fill(h, counters)` sets
// the fields; when the counters could not be read, read_errors is 1 and the others 0. Every
// probe's health reads this way: a failed read is counted, never skipped.
template <typename Health, typename Fill>
Health HealthFromCounters(const Result<std::vector<uint64_t>>& counters, uint32_t n, Fill fill) {
  Health h;
  if (!counters.ok() || counters->size() < n) {
    h.read_errors = 1;
    return h;
  }
  fill(h, *counters);
  return h;
}

// kInvalidArgument for a pid that cannot name a process.
Status CheckPid(pid_t pid);

// The maps of bpf/gilwait.bpf.h (the threads waiting on a GIL condvar) that the semaphore probe
// gives the GIL probe, so that one wake-up program serves both; -1: not shared.
struct GilWaitMaps {
  int waits = -1;
  int waiting = -1;
};

// Attaches the kernel-side programs `progs` (tracepoints: attached while some process is, not per
// process) into `links`, unless they are attached already. kPermissionDenied / kUnavailable.
Status AttachKernelPrograms(const std::vector<bpf_program*>& progs, std::vector<BpfLinkPtr>& links);

// A loaded BPF skeleton (bpftool's NAME__open/__load/__destroy), destroyed with this object.
template <typename Skel>
class LoadedSkeleton {
 public:
  struct Ops {
    Skel* (*open)();
    int (*load)(Skel*);
    void (*destroy)(Skel*);
  };

  // Checks the kernel's BTF, opens the object, lets `configure(Skel&)` size maps and set
  // read-only data, prepares uprobe_multi links where the kernel has them, and loads. Errors:
  // kUnavailable (no BTF), kPermissionDenied (the load was refused), kInternal (open failed,
  // verifier: the message ends with its log).
  template <typename Configure>
  static Result<LoadedSkeleton> Make(std::string_view name, const Ops& ops, Configure configure) {
    if (Status st = CheckKernelBtf(); !st.ok()) return st.error();
    LibbpfLogCapture capture;
    LoadedSkeleton skel(ops.open(), ops.destroy);
    if (!skel.get()) return SkeletonOpenError(name, errno);
    configure(*skel.get());
    PrepareUprobeMulti(skel->obj);
    if (int err = ops.load(skel.get()); err != 0) {
      return SkeletonLoadError(name, err, capture.text());
    }
    return skel;
  }

  Skel* get() const { return skel_.get(); }
  Skel* operator->() const { return skel_.get(); }

 private:
  LoadedSkeleton(Skel* skel, void (*destroy)(Skel*)) : skel_(skel, destroy) {}
  std::unique_ptr<Skel, void (*)(Skel*)> skel_;
};

// The processes a probe is attached to: per process its links and `Data` (what the probe keeps
// of it), at most `max_processes` of them. A detached process's links go to a LinkReaper that
// destroys them in the background; then `reaped(pid, attached_again)` runs on the reaper thread
// under the lock (to delete map entries the process created meanwhile). Destroyed before the
// skeleton (declare it after): every link, pending ones first, goes before the object.
//
// Not thread-safe by itself: hold Lock() around every call. The probes' reads of their maps do
// not take it, so a scrape never waits for an attach stuck behind the kernel's uprobe mutex.
template <typename Data>
class ProbeProcesses {
 public:
  struct Process {
    std::vector<BpfLinkPtr> links;
    Data data{};
  };
  using ReapedFn = std::function<void(pid_t pid, bool attached_again)>;

  ProbeProcesses(std::string what, uint32_t max_processes, ReapedFn reaped)
      : what_(std::move(what)), max_processes_(max_processes) {
    reaper_ = std::make_unique<LinkReaper>([this, reaped = std::move(reaped)](pid_t pid) {
      std::lock_guard lock(mu_);
      reaped(pid, procs_.count(pid) != 0);
    });
  }
  ~ProbeProcesses() {
    reaper_.reset();  // destroys every link handed over so far
    procs_.clear();
  }
  ProbeProcesses(const ProbeProcesses&) = delete;
  ProbeProcesses& operator=(const ProbeProcesses&) = delete;

  std::unique_lock<std::mutex> Lock() const { return std::unique_lock(mu_); }

  Process* Find(pid_t pid) {
    auto it = procs_.find(pid);
    return it == procs_.end() ? nullptr : &it->second;
  }
  bool empty() const { return procs_.empty(); }
  std::vector<pid_t> Pids() const {
    std::vector<pid_t> out;
    for (const auto& [pid, p] : procs_) out.push_back(pid);
    return out;
  }

  // Before attaching `pid`: destroys its links still pending (no event may be counted by old
  // and new links) and checks that there is room (kResourceExhausted: max_processes).
  Status MakeRoom(pid_t pid) {
    reaper_->DestroyNow(pid);
    if (procs_.size() < max_processes_) return Status::Ok();
    return MakeError(ErrorCode::kResourceExhausted, what_ + " probes already attached to " +
                                                        std::to_string(procs_.size()) +
                                                        " processes (max_processes)");
  }
  void Add(pid_t pid, Process proc) { procs_.insert_or_assign(pid, std::move(proc)); }

  // Takes `pid` out of the table, runs `delete_entries(pid)` (scrapes stop seeing it) and hands
  // its links to the reaper. kNotFound if not attached.
  Status Remove(pid_t pid, const std::function<void(pid_t)>& delete_entries) {
    auto it = procs_.find(pid);
    if (it == procs_.end()) {
      return MakeError(ErrorCode::kNotFound,
                       "pid " + std::to_string(pid) + " has no " + what_ + " probes");
    }
    std::vector<BpfLinkPtr> links = std::move(it->second.links);
    procs_.erase(it);
    delete_entries(pid);
    reaper_->Hand(pid, std::move(links));
    return Status::Ok();
  }

  LinkReaper& reaper() { return *reaper_; }

 private:
  const std::string what_;
  const uint32_t max_processes_;
  std::map<pid_t, Process> procs_;
  mutable std::mutex mu_;
  std::unique_ptr<LinkReaper> reaper_;
};

}  // namespace gilstat::probes
