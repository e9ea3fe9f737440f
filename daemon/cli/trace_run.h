// What the commands of `gilstat` share: the environment of a run (injectable for tests), the
// checks before loading the probes, following the target processes until the end of the run.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "cli/args.h"
#include "gilstat/lock_stats.h"
#include "host/probe_host.h"
#include "probes/pygil_probe.h"
#include "tracker/tracker.h"

namespace gilstat::cli {

using host::CheckBtf;
using host::CheckPrivileges;
using host::LockProbe;
using host::OpenProctrackProbe;
using host::OpenSemlockProbe;

using ProbeOpener = std::function<Result<std::unique_ptr<LockProbe>>(ProbeMode)>;
using EventsOpener = std::function<Result<std::unique_ptr<ProcEventSource>>()>;

struct RunEnv {
  std::string proc_root = "/proc";
  std::string btf_path = "/sys/kernel/btf/vmlinux";
  std::string self_status_path = "/proc/self/status";  // for the capability check
  bool check_privileges = true;
  ProbeOpener open_probe = [](ProbeMode mode) { return OpenSemlockProbe(mode); };
  EventsOpener open_events = OpenProctrackProbe;  // empty: rescans only
  // `gilstat locks`: the CPython GIL probes, to show Python GILs and name threading locks
  // (empty: none; Main sets the real one), given the semaphore probe's GIL-wait maps.
  std::function<Result<std::unique_ptr<probes::PyGilProbe>>(probes::GilWaitMaps)> open_gil_probe;
  int stop_fd = -1;  // when readable the run ends early (the signalfd of SIGINT/SIGTERM)
  pid_t self_pid = ::getpid();
  std::chrono::milliseconds rescan_with_events{5000};
  std::chrono::milliseconds rescan_without_events{500};
};

using LocksEnv = RunEnv;

// Exit statuses.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntime = 1;
inline constexpr int kExitUsage = 2;

using Clock = std::chrono::steady_clock;

// "it exited", "permission denied", ...: why an attach failed, for people.
std::string ReasonText(tracker::AttachError reason);
// Prints "gilstat: error: MSG".
void Fail(std::ostream& err, const std::string& msg);
// What must hold before the probes are loaded: the pids exist, privileges and BTF are there.
Status CheckBeforeLoading(const TargetOptions& options, const RunEnv& env,
                          const tracker::ProcFs& procfs);
// The process events, unless the pids alone are traced or they cannot be had (then a warning).
std::unique_ptr<ProcEventSource> OpenEvents(const tracker::TargetSet& targets, const RunEnv& env,
                                            std::ostream& err);
// Every pid asked for by number must be traced: why the first that is not, if one is not.
std::optional<std::string> UntracedPid(const TargetOptions& options,
                                       const tracker::Tracker& tracker);
void PrintTracing(std::ostream& err, const tracker::Tracker& tracker, const TargetOptions& options,
                  const RunEnv& env);
// Follows processes until the duration has passed or the stop fd is readable, calling `tick`
// (when given) every `tick_every`; a tick that returns false ends the run too. Returns whether
// the stop fd or a tick ended the run.
bool TraceUntilEnd(tracker::Tracker& tracker, ProcEventSource* events, const RunEnv& env,
                   Clock::time_point start, std::optional<double> duration_s,
                   const std::function<bool()>& tick = {},
                   std::chrono::milliseconds tick_every = std::chrono::milliseconds(1000));

}  // namespace gilstat::cli
