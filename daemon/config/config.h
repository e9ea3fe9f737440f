// gilstatd's configuration as the daemon uses it: every value checked and typed. It is compiled
// from a YAML file in two steps, YAML -> intermediate representation (config_parser.h, the
// file's shape) -> Config (config_compiler.h, the values), and errors name the file, line and
// reason. Nothing here touches the system but a basic-auth password_file.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bpf/semlock.h"  // SEMLOCK_MAX_LOCKS: the one default of the map sizes
#include "gilstat/probe_mode.h"
#include "gilstat/result.h"
#include "gilstat/rt/runtime.h"

namespace gilstat::config {

// One entry of `targets:`. Exactly one key per entry.
struct TargetConfig {
  enum class Kind { kSelf, kPid, kComm, kExe, kCmdline, kCgroup, kUnit };
  Kind kind = Kind::kSelf;
  std::string value;  // the pid, regex, cgroup path or unit name ("" for self)
  int line = 0;       // 1-based line in the file, for messages
};
// The key of a `targets:` entry that names each kind.
inline constexpr std::pair<const char*, TargetConfig::Kind> kTargetKeys[] = {
    {"self", TargetConfig::Kind::kSelf},       {"pid", TargetConfig::Kind::kPid},
    {"comm", TargetConfig::Kind::kComm},       {"exe", TargetConfig::Kind::kExe},
    {"cmdline", TargetConfig::Kind::kCmdline}, {"cgroup", TargetConfig::Kind::kCgroup},
    {"unit", TargetConfig::Kind::kUnit}};

struct RuntimeConfig {
  bool enabled = true;
  rt::Policy policy = rt::Policy::kClassic;
  std::string workload = "convoy";            // "" or "none": the runtime idles
  std::map<std::string, std::string> params;  // workload parameters (see rt::ParseWorkload)
  std::optional<int> check_interval;
  std::optional<std::chrono::nanoseconds> switch_interval;

  bool operator==(const RuntimeConfig&) const = default;
};

struct ProbesConfig {
  ProbeMode mode = ProbeMode::kDefault;
  uint32_t max_locks = SEMLOCK_MAX_LOCKS;  // entries of the per-(process, lock) map
  // `python: exact`: CPython 3's GIL through take_gil/drop_gil, every acquisition and release
  // (interpreters with symbols); `default`: the GIL condvar's waits only (docs/PYTHON.md).
  bool python_exact = false;
  // `python_stacks: true`: the Python stacks of GIL waiters and holders at contended waits
  // (CPython 3.11+), served as pprof profiles at /debug/pprof/gil_wait and /debug/pprof/gil_blame
  // (docs/PYTHON.md "Stacks"). Opt-in.
  bool python_stacks = false;

  bool operator==(const ProbesConfig&) const = default;
};

// The placeholders of labels.process; ExpandGroupTemplate (app/naming.h) expands each.
inline constexpr const char* kProcessPlaceholders[] = {"comm", "exe", "unit", "pid"};

struct LabelsConfig {
  std::string process = "{comm}";  // group-name template: {comm}, {exe}, {unit}, {pid}
  bool pid = false;                // add a pid label (opt-in: unbounded over time)
  // Threading locks of CPython processes one series each, lock="threading@0x<address>"
  // (opt-in: one series per lock); default: lock="threading", summed.
  bool lock_address = false;
  // With lock_address: per-address series per process; the other locks are summed in
  // lock="threading@other" (metrics/lock_address_limit.h).
  int max_lock_series = 20;

  bool operator==(const LabelsConfig&) const = default;
};

struct BasicAuthConfig {
  std::string username;
  std::string password;  // read from password_file when that is given
};

struct WebConfig {
  std::optional<BasicAuthConfig> basic_auth;
};

struct Config {
  std::string source;  // the file it came from, or "(embedded default)"
  std::vector<TargetConfig> targets;
  RuntimeConfig runtime;
  ProbesConfig probes;
  LabelsConfig labels;
  WebConfig web;
  std::chrono::nanoseconds rescan_interval = std::chrono::seconds(10);
};

// The configuration used without --config.file: host the runtime (classic policy, a paced
// convoy workload) and watch the daemon's own process.
Config EmbeddedDefault();

// ParseTree then Compile: YAML text to a Config; `filename` only names the source in messages
// ("file:line:col: reason").
Result<Config> ParseConfig(const std::string& text, const std::string& filename);
// Reads `path` with ReadRegularFile (config_file.h: a regular file of at most 1 MiB, never
// blocking; errors name the file and the reason) and parses it. ParseConfig also refuses
// duplicate keys and a second YAML document, with file:line:col.
Result<Config> LoadConfigFile(const std::string& path);

}  // namespace gilstat::config
