#include "cli/locks_command.h"

#include <poll.h>
#include <signal.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string_view>

#include "cli/report.h"
#include "cli/stacks_command.h"
#include "cli/top_command.h"
#include "host/python_host.h"
#include "probes/libbpf_util.h"
#include "probes/proctrack_probe.h"
#include "probes/semlock_probe.h"
#include "tracker/proc.h"

namespace gilstat::cli {
namespace {

// Remembers who was traced, and reads a process's numbers one last time before the probe
// forgets them (a detach deletes the process's map entries).
// A CPython 3 GIL (or a sub-interpreter's) as a row of the report.
SemLockStats GilRow(const PyGilStats& s) {
  SemLockStats l;
  l.pid = s.pid;
  l.addr = s.gil;
  l.acquisitions_known = s.take_drop;
  l.acquisitions = s.take_drop ? s.acquisitions : s.contended;
  l.contended = s.contended;
  l.wait_ns = s.wait.sum_ns;
  l.max_wait_ns = s.max_wait_ns;
  l.handoffs = s.handoffs;
  l.wait_hist = s.wait;
  l.handoff_latency_hist = s.handoff_latency;
  l.name = s.interpreter ? "gil@interpreter-" + std::to_string(s.interpreter) : "gil";
  return l;
}

// The rows of process `pid` (all when 0): its semaphores, named where it runs CPython ("gil" for
// 2.x's GIL semaphore, "threading"), and its CPython 3 GILs.
std::vector<SemLockStats> RowsOf(const std::vector<SemLockStats>& locks, host::PythonTargets* py,
                                 pid_t pid) {
  std::vector<SemLockStats> out;
  for (SemLockStats l : locks) {
    if (pid && l.pid != pid) continue;
    if (py) l.name = py->LockOf(l.pid, l.addr).value_or("");
    out.push_back(std::move(l));
  }
  if (!py) return out;
  for (const PyGilStats& g : py->GilStats()) {
    if (!pid || g.pid == pid) out.push_back(GilRow(g));
  }
  return out;
}

// Remembers who was traced, and reads a process's numbers one last time before the probes
// forget them (a detach deletes the process's map entries).
class RunObserver final : public tracker::TrackerObserver {
 public:
  RunObserver(LockProbe* probe, host::PythonTargets* py) : probe_(probe), py_(py) {}
  void Attached(const tracker::ProcessInfo& info) override {
    ProcessMeta& m = meta[info.pid];
    m.pid = info.pid;
    m.comm = info.comm;
    m.exe = info.exe;
    m.exited = false;
    final_locks.erase(info.pid);
    if (py_) py_->Attached(info);
  }
  void Detaching(const tracker::ProcessInfo& info, bool exited) override {
    if (finishing) return;
    if (auto it = meta.find(info.pid); it != meta.end()) it->second.exited = exited;
    if (auto locks = probe_->ReadLocks(); locks.ok()) {
      final_locks[info.pid] = RowsOf(*locks, py_, info.pid);
    }
    if (py_) py_->Detaching(info, exited);
  }
  std::map<pid_t, ProcessMeta> meta;
  std::map<pid_t, std::vector<SemLockStats>> final_locks;
  bool finishing = false;

 private:
  LockProbe* probe_;
  host::PythonTargets* py_;
};

// "CPython 3.12.1, GIL measured by gil_condvar" per CPython process.
void AddPythonMeta(host::PythonTargets* py, std::map<pid_t, ProcessMeta>& meta) {
  if (!py) return;
  for (const auto& [pid, description] : py->Descriptions()) {
    if (auto it = meta.find(pid); it != meta.end()) it->second.python = description;
  }
}

// The locks of the processes traced: live numbers of those still attached, the last numbers
// read of those that went away.
std::vector<SemLockStats> TracedLocks(const std::vector<SemLockStats>& live,
                                      const tracker::Tracker& tracker,
                                      const RunObserver& observer) {
  std::vector<SemLockStats> all;
  for (const auto& l : live) {
    if (tracker.IsAttached(l.pid)) all.push_back(l);
  }
  for (const auto& [pid, kept] : observer.final_locks) {
    if (tracker.IsAttached(pid)) continue;  // re-attached after an exec: the live numbers
    all.insert(all.end(), kept.begin(), kept.end());
  }
  return all;
}

}  // namespace

int RunLocks(const LocksOptions& options, const LocksEnv& env, std::ostream& out,
             std::ostream& err) {
  auto targets = tracker::TargetSet::Compile(TargetsOf(options), env.self_pid);
  if (!targets.ok()) {
    Fail(err, targets.error().message);
    return kExitUsage;
  }
  tracker::ProcFs procfs(env.proc_root);
  if (Status s = CheckBeforeLoading(options, env, procfs); !s.ok()) {
    Fail(err, s.message());
    return kExitRuntime;
  }
  auto probe = env.open_probe(options.mode);
  if (!probe.ok()) {
    Fail(err, "cannot load the probes: " + probe.error().message);
    return kExitRuntime;
  }
  std::unique_ptr<ProcEventSource> events = OpenEvents(*targets, env, err);
  tracker::TrackerOptions topts;
  topts.rescan_interval = events ? env.rescan_with_events : env.rescan_without_events;
  topts.events = events.get();
  std::unique_ptr<probes::PyGilProbe> gil_probe;
  std::unique_ptr<host::PythonTargets> py;
  if (env.open_gil_probe) {
    // One wake-up program for both, as in the daemon.
    const probes::SemlockProbe* sem = host::SemlockProbeOf(*probe->get());
    if (auto g = env.open_gil_probe(sem ? sem->gil_wait_maps() : probes::GilWaitMaps{}); g.ok()) {
      gil_probe = std::move(g).value();
    } else {
      err << "gilstat: warning: no CPython GIL probes (" << g.error().message
          << "): the GILs of CPython 3 processes are not shown\n";
    }
    py = std::make_unique<host::PythonTargets>(gil_probe.get(), env.proc_root,
                                               [](pid_t) { return std::optional<std::string>(); });
  }
  RunObserver observer(probe->get(), py.get());
  tracker::Tracker tracker(&procfs, std::move(targets).value(), probe->get(), topts, &observer);

  const Clock::time_point start = Clock::now();
  tracker.Rescan(start);
  if (auto why = UntracedPid(options, tracker)) {
    tracker.DetachAll();
    Fail(err, *why);
    return kExitRuntime;
  }
  PrintTracing(err, tracker, options, env);
  const bool interrupted = TraceUntilEnd(tracker, events.get(), env, start, options.duration_s);
  const double traced_s = std::chrono::duration<double>(Clock::now() - start).count();

  auto locks = (*probe)->ReadLocks();
  observer.finishing = true;  // from here on detaches need no last reading
  if (!locks.ok()) {
    tracker.DetachAll();
    Fail(err, "reading the probe maps: " + locks.error().message);
    return kExitRuntime;
  }
  Report report;
  report.duration_s = traced_s;
  report.mode = options.mode;
  report.interrupted = interrupted;
  report.health = (*probe)->ReadHealth();
  report.tracker = tracker.stats();  // before the final detaches: "attached" at the end
  AddPythonMeta(py.get(), observer.meta);
  report.processes =
      BuildProcessReports(TracedLocks(RowsOf(*locks, py.get(), 0), tracker, observer),
                          observer.meta, options.min_acquisitions);
  out << (options.json ? FormatJson(report) : FormatText(report));
  out.flush();
  // Detaching takes the kernel a while per uprobe (about 0.1 s each here): print first.
  tracker.DetachAll();
  return kExitOk;
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto parsed = ParseArgs(args);
  if (!parsed.ok()) {
    std::cerr << "gilstat: error: " << parsed.error().message << "\n";
    return kExitUsage;
  }
  switch (parsed->command) {
    case Command::kHelp:
      std::cout << MainUsage();
      return kExitOk;
    case Command::kVersion:
      std::cout << VersionText();
      return kExitOk;
    case Command::kLocksHelp:
      std::cout << LocksUsage();
      return kExitOk;
    case Command::kStacksHelp:
      std::cout << StacksUsage();
      return kExitOk;
    case Command::kTopHelp:
      std::cout << TopUsage();
      return kExitOk;
    case Command::kLocks:
    case Command::kStacks:
    case Command::kTop:
      break;
  }
  // SIGINT/SIGTERM end the run through a signalfd: what was measured is still printed.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  // Before any thread exists, so every later thread inherits the mask.
  if (::sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) {  // NOLINT(concurrency-mt-unsafe)
    std::cerr << "gilstat: error: sigprocmask failed\n";
    return kExitRuntime;
  }
  int sfd = ::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) {
    std::cerr << "gilstat: error: signalfd failed\n";
    return kExitRuntime;
  }
  const Command cmd = parsed->command;
  const bool verbose = cmd == Command::kStacks ? parsed->stacks.verbose
                       : cmd == Command::kTop  ? parsed->top.verbose
                                               : parsed->locks.verbose;
  // What the shared code logs goes to stderr (stdout carries the report): warnings, and with
  // --verbose what it attached and how.
  spdlog::set_default_logger(spdlog::stderr_logger_mt("gilstat"));
  spdlog::set_pattern("gilstat: %l: %v");
  spdlog::set_level(verbose ? spdlog::level::info : spdlog::level::warn);
  probes::SetLibbpfLogger([verbose](probes::LibbpfLevel, std::string_view msg) {
    if (verbose) std::cerr << msg;  // errors reach the user through the result messages
  });
  LocksEnv env;
  env.stop_fd = sfd;
  env.open_gil_probe = [](probes::GilWaitMaps shared) {
    return probes::PyGilProbe::Open(PYGIL_MAX_PROCS, shared);
  };
  int rc = cmd == Command::kStacks ? RunStacks(parsed->stacks, env, std::cout, std::cerr)
           : cmd == Command::kTop  ? RunTop(parsed->top, env, std::cout, std::cerr)
                                   : RunLocks(parsed->locks, env, std::cout, std::cerr);
  ::close(sfd);
  return rc;
}

}  // namespace gilstat::cli
