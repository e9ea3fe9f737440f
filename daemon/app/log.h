// Logging for gilstat's programs: spdlog to stderr. Under systemd (JOURNAL_STREAM set) each
// line starts with the syslog priority ("<3>", "<4>", …) so journald keeps the level and adds
// its own timestamps; on a terminal lines carry a timestamp and the level name instead.
#pragma once

#include <spdlog/spdlog.h>

#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace gilstat {

std::optional<spdlog::level::level_enum> ParseLogLevel(std::string_view name);

// Installs the default logger. `journal`: force (true) or suppress (false) the priority prefix;
// by default it follows JOURNAL_STREAM.
void SetupLogging(spdlog::level::level_enum level, std::optional<bool> journal = std::nullopt);

// Logs a message the first time its key is seen and returns true; false (and no log) after.
// For events that repeat ("target X cannot be attached"): log once, count always.
class LogOnce {
 public:
  bool First(const std::string& key);
  void Forget(const std::string& key);

 private:
  std::mutex mu_;
  std::set<std::string> seen_;
};

}  // namespace gilstat
