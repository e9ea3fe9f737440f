// Target matchers: which processes gilstat attaches to.
//
// A MatchSpec is the intermediate form (from the configuration file or the command line); it
// is compiled into a Matcher once, at start-up, so that a bad regex is a clear error before
// anything is attached. Semantics:
//
//   - Within one MatchSpec every criterion that is set must hold (AND). A spec with no
//     criterion matches nothing.
//   - A TargetSet is a list of specs; a process is a target if any spec matches (OR).
//   - Regexes are RE2 syntax and search: "python" matches "python3.11"; anchor with ^ and $
//     for an exact match. RE2 matches in time linear in the text, without recursion, so a
//     process cannot slow down or crash the matcher with a long command line. Patterns and
//     texts are bytes (RE2's Latin-1 mode): a process name need not be valid UTF-8.
//   - comm is the kernel's 15-byte process name; exe is the resolved path of the executable;
//     cmdline is the argument vector joined with single spaces.
//   - cgroup_prefix matches the cgroup v2 path by whole components ("/system.slice" matches
//     "/system.slice/foo.service" but not "/system.slice2"); cgroup_regex searches the path.
//   - systemd_unit is compared with the unit of the cgroup path (see SystemdUnitOfCgroup); a
//     name without a unit suffix means ".service".
//   - self matches the calling process (the daemon, where the hosted runtime runs).
//   - Kernel threads are matched only by pid. The calling process is matched only by `self`
//     or by its pid, never by a regex, cgroup or unit (a tool must not trace itself by
//     accident).
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gilstat/result.h"
#include "tracker/proc.h"

namespace re2 {
class RE2;
}

namespace gilstat::tracker {

struct MatchSpec {
  std::vector<pid_t> pids;  // any of these
  std::optional<std::string> comm_regex;
  std::optional<std::string> exe_regex;
  std::optional<std::string> cmdline_regex;
  std::optional<std::string> cgroup_prefix;
  std::optional<std::string> cgroup_regex;
  std::optional<std::string> systemd_unit;
  bool self = false;

  bool Empty() const;
};

// The systemd unit a cgroup v2 path belongs to: the first component after the leading
// ".slice" components, if it has a unit suffix (.service, .scope, .socket, .mount, .swap).
// "/system.slice/foo.service/sub" -> "foo.service"; "/user.slice/user-1000.slice/
// user@1000.service/app.slice/x.service" -> "user@1000.service"; "/" -> "".
std::string SystemdUnitOfCgroup(std::string_view cgroup_path);

// Checks a matcher regex as Matcher::Compile does: kInvalidArgument with RE2's reason.
Status CheckRegex(const std::string& pattern);

class Matcher {
 public:
  // kInvalidArgument for a bad regex or an empty spec. self_pid is the pid `self` stands for.
  static Result<Matcher> Compile(const MatchSpec& spec, pid_t self_pid);

  bool Matches(const ProcessInfo& info) const;
  // The ProcField bits Matches() needs.
  unsigned NeededFields() const { return fields_; }
  // Whether this matcher can only match known pids (pid list and/or self): then no other
  // process needs to be looked at.
  bool PidsOnly() const;
  // Human-readable, for logs and the CLI: e.g. "pid 12|34, comm ~ /python/".
  std::string Describe() const;

 private:
  Matcher() = default;
  struct Re {
    std::string text;
    std::shared_ptr<const re2::RE2> re;  // immutable, shared by the copies of a Matcher
  };
  MatchSpec spec_;
  std::optional<Re> comm_, exe_, cmdline_, cgroup_;
  std::string unit_;  // normalised systemd_unit
  pid_t self_pid_ = 0;
  unsigned fields_ = kProcStat;
};

class TargetSet {
 public:
  TargetSet() = default;
  static Result<TargetSet> Compile(const std::vector<MatchSpec>& specs, pid_t self_pid);

  bool Matches(const ProcessInfo& info) const;
  unsigned NeededFields() const;
  bool PidsOnly() const;
  bool empty() const { return matchers_.empty(); }
  // Every pid named explicitly (pid lists and self).
  std::vector<pid_t> ExplicitPids() const;
  std::string Describe() const;

 private:
  std::vector<Matcher> matchers_;
  std::vector<pid_t> explicit_pids_;
};

}  // namespace gilstat::tracker
