// Command-line parsing of the `gilstat` tool, as pure functions (unit-tested).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gilstat/gil_stacks.h"
#include "gilstat/result.h"
#include "probes/semlock_probe.h"
#include "tracker/matchers.h"

namespace gilstat::cli {

using gilstat::ProbeMode;
using gilstat::ProbeModeName;

// What every command traces, and for how long.
struct TargetOptions {
  std::vector<pid_t> pids;
  std::optional<std::string> comm_regex;
  std::optional<std::string> exe_regex;
  std::optional<std::string> cmdline_regex;
  std::optional<double> duration_s;  // none: until Ctrl-C / SIGTERM
  bool verbose = false;              // libbpf's messages on stderr
};

struct LocksOptions : TargetOptions {
  // A short trace counts everything; the daemon, always on, defaults to ProbeMode::kDefault.
  ProbeMode mode = ProbeMode::kCounting;
  bool json = false;
  uint64_t min_acquisitions = 0;  // locks with fewer acquisitions are not shown
};

// `gilstat stacks`: the Python stacks of GIL waiters and of the holders they waited for.
struct StacksOptions : TargetOptions {
  size_t top = 10;         // stacks per table
  bool folded = false;     // folded stacks on stdout instead of the table
  bool holders = false;    // --folded/--pprof/--svg: the holders' stacks (blame), not waiters'
  bool json = false;       // JSON on stdout instead of the table
  std::string pprof_path;  // a gzipped pprof profile written there
  std::string svg_path;    // flame graphs (waiters and holders) written there
  // --folded/--pprof: the waits for the GIL, or for threading locks (waiters only).
  WaitLock lock = WaitLock::kGil;
};

// `gilstat top`: a live view of the GIL of CPython processes.
struct TopOptions : TargetOptions {
  double interval_s = 1.0;  // refresh period
  bool once = false;        // one plain-text frame after one interval (also when not a TTY)
};

enum class Command { kHelp, kVersion, kLocks, kLocksHelp, kStacks, kStacksHelp, kTop, kTopHelp };

struct CliArgs {
  Command command = Command::kHelp;
  LocksOptions locks;
  StacksOptions stacks;
  TopOptions top;
};

// Parses the arguments after argv[0]. Usage errors are kInvalidArgument with a one-line
// message (exit status 2). Options take their value as the next argument or after '='.
Result<CliArgs> ParseArgs(const std::vector<std::string>& args);

// The targets of a `locks` run: the --pid list is one target, the --comm/--exe/--cmdline
// criteria together (all must hold) another; a process matching either is traced.
std::vector<tracker::MatchSpec> TargetsOf(const TargetOptions& options);

std::string MainUsage();
std::string LocksUsage();
std::string StacksUsage();
std::string TopUsage();
std::string VersionText();

}  // namespace gilstat::cli
