// Command-line parsing of the `gilstat` tool, as pure functions (unit-tested).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gilstat/result.h"
#include "probes/semlock_probe.h"
#include "tracker/matchers.h"

namespace gilstat::cli {

using gilstat::ProbeMode;
using gilstat::ProbeModeName;

struct LocksOptions {
  std::vector<pid_t> pids;
  std::optional<std::string> comm_regex;
  std::optional<std::string> exe_regex;
  std::optional<std::string> cmdline_regex;
  std::optional<double> duration_s;  // none: until Ctrl-C / SIGTERM
  // A short trace counts everything; the daemon, always on, defaults to ProbeMode::kDefault.
  ProbeMode mode = ProbeMode::kCounting;
  bool json = false;
  uint64_t min_acquisitions = 0;  // locks with fewer acquisitions are not shown
  bool verbose = false;           // libbpf's messages on stderr
};

enum class Command { kHelp, kVersion, kLocks, kLocksHelp };

struct CliArgs {
  Command command = Command::kHelp;
  LocksOptions locks;
};

// Parses the arguments after argv[0]. Usage errors are kInvalidArgument with a one-line
// message (exit status 2). Options take their value as the next argument or after '='.
Result<CliArgs> ParseArgs(const std::vector<std::string>& args);

// The targets of a `locks` run: the --pid list is one target, the --comm/--exe/--cmdline
// criteria together (all must hold) another; a process matching either is traced.
std::vector<tracker::MatchSpec> TargetsOf(const LocksOptions& options);

std::string MainUsage();
std::string LocksUsage();
std::string VersionText();

}  // namespace gilstat::cli
