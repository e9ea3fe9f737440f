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
#include "cli/trace_run.h"
#include "gilstat/lock_stats.h"
#include "host/probe_host.h"
#include "tracker/tracker.h"

namespace gilstat::cli {

// Runs the command; the report goes to out, diagnostics to err. Returns the exit status.
int RunLocks(const LocksOptions& options, const LocksEnv& env, std::ostream& out,
             std::ostream& err);

// The whole tool: parses argv, sets up SIGINT/SIGTERM, runs the command. For gilstat_main.cpp.
int Main(int argc, char** argv);

}  // namespace gilstat::cli
