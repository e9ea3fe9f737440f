// The fields of a /proc/PID/stat (or /proc/PID/task/TID/stat) line that follow the command
// name. The name is the process's own (prctl(PR_SET_NAME)) and may hold spaces and parentheses:
// it ends at the last ')'. Shared by the tracker (daemon/tracker/proc.cpp) and the process-event
// loader (daemon/probes/proctrack_probe.cpp).
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace gilstat {

// Task flags of the stat line's ninth field (include/linux/sched.h).
inline constexpr unsigned kPfExiting = 0x00000004;
inline constexpr unsigned kPfKthread = 0x00200000;

// Up to `max_fields` fields after the name: fields[k] is proc(5)'s field k + 3 (fields[0] the
// state, fields[6] the flags). Empty when the line has no closing parenthesis.
inline std::vector<std::string_view> StatFieldsAfterName(std::string_view text, size_t max_fields) {
  std::vector<std::string_view> tok;
  const size_t close = text.rfind(')');
  if (close == std::string_view::npos) return tok;
  std::string_view rest = text.substr(close + 1);
  size_t i = 0;
  while (i < rest.size() && tok.size() < max_fields) {
    while (i < rest.size() && (rest[i] == ' ' || rest[i] == '\n')) ++i;
    size_t j = i;
    while (j < rest.size() && rest[j] != ' ' && rest[j] != '\n') ++j;
    if (j > i) tok.push_back(rest.substr(i, j - i));
    i = j;
  }
  return tok;
}

}  // namespace gilstat
