// `gilstat stacks`: attach the GIL probes with Python stacks to CPython 3.11+ processes, wait,
// print who waited for the GIL and whom to blame (table, folded stacks, JSON), and write pprof
// profiles and flame graphs on request.
#pragma once

#include <ostream>

#include "cli/args.h"
#include "cli/trace_run.h"

namespace gilstat::cli {

// Runs the command; the report goes to out, diagnostics to err. Returns the exit status.
int RunStacks(const StacksOptions& options, const RunEnv& env, std::ostream& out,
              std::ostream& err);

}  // namespace gilstat::cli
