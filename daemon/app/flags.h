// gilstatd's command-line flags, in the style of Prometheus exporters.
#pragma once

#include <spdlog/common.h>

#include <optional>
#include <string>
#include <vector>

#include "gilstat/result.h"

namespace gilstat {

struct DaemonFlags {
  std::string listen_address = "127.0.0.1:9877";
  std::string telemetry_path = "/metrics";
  std::optional<std::string> config_file;  // none: the embedded default
  spdlog::level::level_enum log_level = spdlog::level::info;
  bool help = false;
  bool version = false;
};

// Accepts "--flag=value" and "--flag value" (CLI11). Errors name the flag and the problem.
Result<DaemonFlags> ParseDaemonFlags(const std::vector<std::string>& args);
std::string DaemonUsage();

}  // namespace gilstat
