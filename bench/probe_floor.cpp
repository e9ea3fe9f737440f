// The floor of the probe cost benchmark: attaches empty BPF programs (bench/bpf/probe_floor.bpf.c)
// to a process at exactly the sites the semaphore probes use in a mode, so that the difference
// between this and gilstatd is the work the real programs do, and this minus "nothing" is what
// the kernel charges for the probes themselves.
//
//   gilstat_bench_floor --pid=PID --mode=default|counting|exact [--process-tracking]
//
// The sites are the semaphore probe's own choice: the probe (daemon/probes) is attached to PID
// once, its AttachResult (per function: entry+return, entry, branch sites, file offsets) is
// kept, the probe is destroyed, and the empty programs go to the same file offsets, plus the
// kernel-side programs the probe uses for futex calls (the scheduler's tracepoints, or the raw
// syscall entry tracepoint); with --process-tracking, also the process tracker's (fork, exec,
// exit, rename: bpf/proctrack.bpf.c). Prints one "site …" line per probed
// function (METHOD "slow-path+return" when the slow path has a return probe), then
// "ready LINKS KERNEL" (KERNEL: scheduler or syscall), and holds the links until stdin is closed.
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "bpf/probe_floor.skel.h"
#include "elf/mapped_file.h"
#include "elf/proc_maps.h"
#include "probes/libbpf_util.h"
#include "probes/semlock_probe.h"

namespace {

using gilstat::probes::SemlockProbe;
using gilstat::probes::SiteMethod;

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "gilstat_bench_floor: %s\n", msg.c_str());
  std::exit(1);
}

using gilstat::probes::BpfLinkPtr;

struct SkelDeleter {
  void operator()(probe_floor* s) const { probe_floor__destroy(s); }
};

}  // namespace

int main(int argc, char** argv) {
  pid_t pid = 0;
  std::string mode = "default";
  bool process_tracking = false;
  constexpr const char* kUsage =
      "usage: gilstat_bench_floor --pid=PID --mode=default|counting|exact [--process-tracking]";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--process-tracking") {
      process_tracking = true;
    } else if (a.rfind("--pid=", 0) == 0) {
      pid = static_cast<pid_t>(std::atoi(a.c_str() + 6));
    } else if (a.rfind("--mode=", 0) == 0) {
      mode = a.substr(7);
    } else {
      Die(kUsage);
    }
  }
  if (pid <= 0 || !gilstat::ParseProbeMode(mode)) Die(kUsage);

  // 1. Where the semaphore probe puts its programs in this process, in this mode.
  gilstat::probes::AttachResult plan;
  std::string futex_program;
  {
    gilstat::probes::SemlockOptions opts;
    opts.mode = *gilstat::ParseProbeMode(mode);
    auto probe = SemlockProbe::Open(opts);
    if (!probe) Die("opening the semaphore probe: " + probe.status().ToString());
    auto r = (*probe)->Attach(pid);
    if (!r) Die("attaching the semaphore probe: " + r.status().ToString());
    plan = *r;
    futex_program = (*probe)->futex_program().program;
  }  // the probe and its links are gone here
  auto libc = gilstat::probes::FindLibc(pid);
  if (!libc) Die("finding libc: " + libc.status().ToString());
  auto libc_file = gilstat::probes::OpenMappedFile(pid, libc->entry);
  if (!libc_file) Die("opening libc: " + libc_file.status().ToString());

  // 2. The empty programs at the same places.
  // The same kind of links as the probe: uprobe_multi where the kernel has them.
  std::unique_ptr<probe_floor, SkelDeleter> skel(probe_floor__open());
  if (!skel) Die(std::string("opening the floor programs: ") + std::strerror(errno));
  gilstat::probes::PrepareUprobeMulti(skel->obj);
  {
    const bool sched = futex_program == gilstat::probes::kFutexScheduler;
    bpf_program__set_autoload(skel->progs.floor_sched_switch, sched);
    bpf_program__set_autoload(skel->progs.floor_sched_waking, sched);
    bpf_program__set_autoload(skel->progs.floor_sys_enter, !sched);
    for (bpf_program* p : {skel->progs.floor_process_fork, skel->progs.floor_process_exec,
                           skel->progs.floor_process_exit, skel->progs.floor_task_rename}) {
      bpf_program__set_autoload(p, process_tracking);
    }
  }
  if (probe_floor__load(skel.get()) != 0) {
    Die(std::string("loading the floor programs: ") + std::strerror(errno));
  }
  std::vector<BpfLinkPtr> links;
  std::vector<uint64_t> entries, returns;
  // The kernel-side programs the probe used: the scheduler's tracepoints, or the syscall entry.
  std::vector<bpf_program*> kernel_side =
      futex_program == gilstat::probes::kFutexScheduler
          ? std::vector{skel->progs.floor_sched_switch, skel->progs.floor_sched_waking}
          : std::vector{skel->progs.floor_sys_enter};
  if (process_tracking) {
    kernel_side.insert(kernel_side.end(),
                       {skel->progs.floor_process_fork, skel->progs.floor_process_exec,
                        skel->progs.floor_process_exit, skel->progs.floor_task_rename});
  }
  for (bpf_program* p : kernel_side) {
    BpfLinkPtr l(bpf_program__attach(p));
    if (!l) Die(std::string("attaching a kernel tracepoint: ") + std::strerror(errno));
    links.push_back(std::move(l));
  }
  for (const auto& site : plan.sites) {
    std::string where;
    for (uint64_t off : site.file_offsets) {
      char b[32];
      std::snprintf(b, sizeof b, " 0x%llx", static_cast<unsigned long long>(off));
      where += b;
    }
    const bool slow_return = site.method == SiteMethod::kSlowPath && site.return_probe;
    std::printf("site %s %s%s%s\n", site.function.c_str(), SiteMethodName(site.method),
                slow_return ? "+return" : "", where.c_str());
    switch (site.method) {
      case SiteMethod::kSlowPath:
      case SiteMethod::kEntryReturn:
        if (site.shared) break;  // another function's slow path, probed once
        entries.push_back(site.file_offsets.at(0));
        if (site.return_probe) returns.push_back(site.file_offsets.at(0));
        break;
      case SiteMethod::kEntry:
      case SiteMethod::kBranch:
        entries.insert(entries.end(), site.file_offsets.begin(), site.file_offsets.end());
        break;
      case SiteMethod::kFutexWakes:
      case SiteMethod::kNotProbed:
      case SiteMethod::kAbsent:
      case SiteMethod::kReadAtWait:
        break;
    }
  }
  for (bool ret : {false, true}) {
    auto l =
        gilstat::probes::AttachUprobes(ret ? skel->progs.floor_uretprobe : skel->progs.floor_uprobe,
                                       pid, libc_file->path(), ret ? returns : entries, ret);
    if (!l) Die(l.status().ToString());
    for (auto& link : *l) links.push_back(std::move(link));
  }
  std::printf("ready %zu %s\n", links.size(),
              futex_program == gilstat::probes::kFutexScheduler ? "scheduler" : "syscall");
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  return 0;
}
