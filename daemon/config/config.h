// gilstatd's configuration: a YAML file parsed into this intermediate representation, checked
// strictly (unknown keys and bad values are errors that name the file, line and reason). The
// daemon compiles it into matchers, a runtime and probes; nothing here touches the system.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

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
const char* TargetKindName(TargetConfig::Kind kind);

struct RuntimeConfig {
  bool enabled = true;
  rt::Policy policy = rt::Policy::kClassic;
  std::string workload = "convoy";            // "" or "none": the runtime idles
  std::map<std::string, std::string> params;  // workload parameters (see ParseWorkload)
  std::optional<int> check_interval;
  std::optional<std::chrono::nanoseconds> switch_interval;

  bool operator==(const RuntimeConfig&) const = default;
};

using gilstat::ProbeMode;
using gilstat::ProbeModeName;

struct ProbesConfig {
  ProbeMode mode = ProbeMode::kDefault;
  uint32_t max_locks = 16384;  // entries of the per-(process, lock) map

  bool operator==(const ProbesConfig&) const = default;
};

struct LabelsConfig {
  std::string process = "{comm}";  // group-name template: {comm}, {exe}, {unit}, {pid}
  bool pid = false;                // add a pid label (opt-in: unbounded over time)
  // Threading locks of CPython processes one series each, lock="threading@0x<address>"
  // (opt-in: one series per lock); default: lock="threading", summed.
  bool lock_address = false;

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

// The configuration used without --config.file: host the runtime (classic policy, convoy
// workload) and watch the daemon's own process.
Config EmbeddedDefault();

// Parses YAML text; `filename` only names the source in messages ("file:line:col: reason").
Result<Config> ParseConfig(const std::string& text, const std::string& filename);
Result<Config> LoadConfigFile(const std::string& path);

}  // namespace gilstat::config
