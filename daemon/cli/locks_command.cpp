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
#include "probes/libbpf_util.h"
#include "probes/proctrack_probe.h"
#include "probes/semlock_probe.h"
#include "tracker/proc.h"

namespace gilstat::cli {
namespace {

// Remembers who was traced, and reads a process's numbers one last time before the probe
// forgets them (a detach deletes the process's map entries).
class RunObserver final : public tracker::TrackerObserver {
 public:
  explicit RunObserver(LockProbe* probe) : probe_(probe) {}
  void Attached(const tracker::ProcessInfo& info) override {
    ProcessMeta& m = meta[info.pid];
    m.pid = info.pid;
    m.comm = info.comm;
    m.exe = info.exe;
    m.exited = false;
    final_locks.erase(info.pid);
  }
  void Detaching(const tracker::ProcessInfo& info, bool exited) override {
    if (finishing) return;
    if (auto it = meta.find(info.pid); it != meta.end()) it->second.exited = exited;
    auto locks = probe_->ReadLocks();
    if (!locks.ok()) return;
    auto& kept = final_locks[info.pid];
    kept.clear();
    for (const auto& l : *locks) {
      if (l.pid == info.pid) kept.push_back(l);
    }
  }
  std::map<pid_t, ProcessMeta> meta;
  std::map<pid_t, std::vector<SemLockStats>> final_locks;
  bool finishing = false;

 private:
  LockProbe* probe_;
};

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
  RunObserver observer(probe->get());
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
  report.processes = BuildProcessReports(TracedLocks(*locks, tracker, observer), observer.meta,
                                         options.min_acquisitions);
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
    case Command::kLocks:
    case Command::kStacks:
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
  const bool stacks = parsed->command == Command::kStacks;
  const bool verbose = stacks ? parsed->stacks.verbose : parsed->locks.verbose;
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
  int rc = stacks ? RunStacks(parsed->stacks, env, std::cout, std::cerr)
                  : RunLocks(parsed->locks, env, std::cout, std::cerr);
  ::close(sfd);
  return rc;
}

}  // namespace gilstat::cli
