// The second step of reading a configuration: the intermediate representation (config_types.h)
// compiled into a Config, one section at a time, every value checked; then the Config compiled
// into what the daemon runs (target matchers, the runtime's options and workload). Each step is
// a function of its input alone, tested on its own (tests/unit/config/config_compiler_test.cpp).
// Errors are kInvalidArgument "file:line:col: reason".
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "config/config.h"
#include "config/config_types.h"
#include "gilstat/result.h"
#include "gilstat/rt/runtime.h"
#include "gilstat/rt/workloads.h"
#include "tracker/matchers.h"

namespace gilstat::config {

// One entry of `targets:`: the kind known, the value valid for it (a pid in range, a regular
// expression that compiles, nothing empty; `self: false` refused).
Result<TargetConfig> CompileTarget(const std::string& source, const ir::Target& target);
Result<RuntimeConfig> CompileRuntime(const std::string& source, const ir::Runtime& runtime);
Result<ProbesConfig> CompileProbes(const std::string& source, const ir::Probes& probes);
// Only the known placeholders ({comm}, {exe}, {unit}, {pid}) in `process`.
Result<LabelsConfig> CompileLabels(const std::string& source, const ir::Labels& labels);
// Reads password_file (its first line).
Result<WebConfig> CompileWeb(const std::string& source, const ir::Web& web);
// Every section; an absent runtime section means no hosted runtime.
Result<Config> Compile(const ir::File& file);

// A target as the tracker matches it: a cgroup value starting with '/' is a path prefix, else a
// regular expression.
tracker::MatchSpec MatchSpecOf(const TargetConfig& target);
// The targets as one compiled set; an error names the line of the target it comes from.
Result<tracker::TargetSet> CompileMatchers(const Config& cfg, pid_t self);
// The runtime section's workload, to run continuously; nullopt when the runtime is off or idles.
Result<std::optional<rt::WorkloadSpec>> CompileWorkload(const Config& cfg);
rt::RuntimeOptions RuntimeOptionsOf(const RuntimeConfig& runtime);

}  // namespace gilstat::config
