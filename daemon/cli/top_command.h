// `gilstat top`: a live view of the GIL of CPython processes, like top(1): per process the GIL
// wait per second, the GIL's utilization, handoffs per second, and the functions that waited and
// were blamed most, refreshed every interval; keys sort and quit. Not on a terminal (or with
// --once) it prints plain text frames instead.
#pragma once

#include <ostream>

#include "cli/args.h"
#include "cli/trace_run.h"

namespace gilstat::cli {

// Runs the command; frames go to out (or the terminal), diagnostics to err. The exit status.
int RunTop(const TopOptions& options, const RunEnv& env, std::ostream& out, std::ostream& err);

}  // namespace gilstat::cli
