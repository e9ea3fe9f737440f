// `gilstat locks`: attach, wait, print. Everything it touches (the probe, the event source,
// /proc, the stop signal) is injectable, so the command runs in unit tests against fakes.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "cli/args.h"
#include "gilstat/lock_stats.h"
#include "host/probe_host.h"
#include "tracker/tracker.h"

namespace gilstat::cli {

using host::CheckBtf;
using host::CheckPrivileges;
using host::LockProbe;
using host::OpenProctrackProbe;
using host::OpenSemlockProbe;

using ProbeOpener = std::function<Result<std::unique_ptr<LockProbe>>(ProbeMode)>;
using EventsOpener = std::function<Result<std::unique_ptr<ProcEventSource>>()>;

struct LocksEnv {
  std::string proc_root = "/proc";
  std::string btf_path = "/sys/kernel/btf/vmlinux";
  std::string self_status_path = "/proc/self/status";  // for the capability check
  bool check_privileges = true;
  ProbeOpener open_probe = [](ProbeMode mode) { return OpenSemlockProbe(mode); };
  EventsOpener open_events = OpenProctrackProbe;  // empty: rescans only
  int stop_fd = -1;  // when readable the run ends early (the signalfd of SIGINT/SIGTERM)
  pid_t self_pid = ::getpid();
  std::chrono::milliseconds rescan_with_events{5000};
  std::chrono::milliseconds rescan_without_events{500};
};

// Exit statuses.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntime = 1;
inline constexpr int kExitUsage = 2;

// Runs the command; the report goes to out, diagnostics to err. Returns the exit status.
int RunLocks(const LocksOptions& options, const LocksEnv& env, std::ostream& out,
             std::ostream& err);

// The whole tool: parses argv, sets up SIGINT/SIGTERM, runs the command. For gilstat_main.cpp.
int Main(int argc, char** argv);

}  // namespace gilstat::cli
