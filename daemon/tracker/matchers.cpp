#include "tracker/matchers.h"

#include <re2/re2.h>

#include <algorithm>
#include <array>

namespace gilstat::tracker {
namespace {

constexpr std::array<std::string_view, 5> kUnitSuffixes = {".service", ".scope", ".socket",
                                                           ".mount", ".swap"};

bool HasUnitSuffix(std::string_view name) {
  return std::any_of(kUnitSuffixes.begin(), kUnitSuffixes.end(), [&](std::string_view s) {
    return name.size() > s.size() && name.ends_with(s);
  });
}

bool PrefixByComponent(std::string_view path, std::string_view prefix) {
  while (prefix.size() > 1 && prefix.back() == '/') prefix.remove_suffix(1);
  if (prefix == "/" || prefix.empty()) return true;
  if (!path.starts_with(prefix)) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

// Bytes, not UTF-8 (a command line may hold any byte); no logging of bad patterns to stderr:
// the error is returned.
RE2::Options MatcherOptions() {
  RE2::Options o;
  o.set_encoding(RE2::Options::EncodingLatin1);
  o.set_log_errors(false);
  return o;
}

Result<std::shared_ptr<const RE2>> CompileRegex(const std::string& pattern) {
  auto re = std::make_shared<const RE2>(pattern, MatcherOptions());
  if (!re->ok()) return MakeError(ErrorCode::kInvalidArgument, re->error());
  return re;
}

}  // namespace

Status CheckRegex(const std::string& pattern) {
  auto re = CompileRegex(pattern);
  if (!re.ok()) return re.error();
  return Status::Ok();
}

bool MatchSpec::Empty() const {
  return pids.empty() && !comm_regex && !exe_regex && !cmdline_regex && !cgroup_prefix &&
         !cgroup_regex && !systemd_unit && !self;
}

std::string SystemdUnitOfCgroup(std::string_view path) {
  while (!path.empty()) {
    while (!path.empty() && path.front() == '/') path.remove_prefix(1);
    size_t slash = path.find('/');
    std::string_view comp = path.substr(0, slash);
    if (comp.empty()) return "";
    if (comp.size() > 6 && comp.ends_with(".slice")) {
      if (slash == std::string_view::npos) return "";
      path.remove_prefix(slash);
      continue;
    }
    return HasUnitSuffix(comp) ? std::string(comp) : std::string();
  }
  return "";
}

Result<Matcher> Matcher::Compile(const MatchSpec& spec, pid_t self_pid) {
  if (spec.Empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "a target needs at least one criterion");
  }
  Matcher m;
  m.spec_ = spec;
  m.self_pid_ = self_pid;
  auto compile = [](const std::optional<std::string>& text, const char* what,
                    std::optional<Re>* out) -> Status {
    if (!text) return Status::Ok();
    auto re = CompileRegex(*text);
    if (!re.ok()) {
      return MakeError(ErrorCode::kInvalidArgument, std::string("bad ") + what + " regex '" +
                                                        *text + "': " + re.error().message);
    }
    *out = Re{*text, std::move(re).value()};
    return Status::Ok();
  };
  if (Status s = compile(spec.comm_regex, "comm", &m.comm_); !s.ok()) return s;
  if (Status s = compile(spec.exe_regex, "exe", &m.exe_); !s.ok()) return s;
  if (Status s = compile(spec.cmdline_regex, "cmdline", &m.cmdline_); !s.ok()) return s;
  if (Status s = compile(spec.cgroup_regex, "cgroup", &m.cgroup_); !s.ok()) return s;
  if (spec.cgroup_prefix && (spec.cgroup_prefix->empty() || spec.cgroup_prefix->front() != '/')) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "cgroup prefix '" + *spec.cgroup_prefix + "' must start with '/'");
  }
  if (spec.systemd_unit) {
    if (spec.systemd_unit->empty() || spec.systemd_unit->find('/') != std::string::npos) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "bad systemd unit name '" + *spec.systemd_unit + "'");
    }
    m.unit_ = *spec.systemd_unit;
    if (!HasUnitSuffix(m.unit_)) m.unit_ += ".service";
  }
  if (m.comm_) m.fields_ |= kProcComm;
  if (m.exe_) m.fields_ |= kProcExe;
  if (m.cmdline_) m.fields_ |= kProcCmdline;
  if (m.cgroup_ || spec.cgroup_prefix || spec.systemd_unit) m.fields_ |= kProcCgroup;
  return m;
}

bool Matcher::PidsOnly() const {
  return !comm_ && !exe_ && !cmdline_ && !cgroup_ && !spec_.cgroup_prefix && !spec_.systemd_unit;
}

bool Matcher::Matches(const ProcessInfo& p) const {
  const bool by_pid = !spec_.pids.empty() || spec_.self;
  if (by_pid) {
    bool in_list = std::find(spec_.pids.begin(), spec_.pids.end(), p.pid) != spec_.pids.end();
    bool is_self = spec_.self && p.pid == self_pid_;
    if (!spec_.pids.empty() && spec_.self) {
      if (!in_list && !is_self) return false;
    } else if (!spec_.pids.empty()) {
      if (!in_list) return false;
    } else if (!is_self) {
      return false;
    }
  } else {
    // Matched by attributes only: never a kernel thread, never the calling process.
    if (p.kernel_thread || p.pid == self_pid_) return false;
  }
  auto search = [](const std::optional<Re>& re, unsigned field, const ProcessInfo& info,
                   const std::string& value) {
    if (!re) return true;
    if (!(info.fields & field)) return false;  // unreadable: not a match
    return RE2::PartialMatch(value, *re->re);
  };
  if (!search(comm_, kProcComm, p, p.comm)) return false;
  if (!search(exe_, kProcExe, p, p.exe)) return false;
  if (cmdline_ && !search(cmdline_, kProcCmdline, p, p.CmdlineString())) return false;
  if (!search(cgroup_, kProcCgroup, p, p.cgroup)) return false;
  if (spec_.cgroup_prefix &&
      (!(p.fields & kProcCgroup) || !PrefixByComponent(p.cgroup, *spec_.cgroup_prefix))) {
    return false;
  }
  if (spec_.systemd_unit && (!(p.fields & kProcCgroup) || SystemdUnitOfCgroup(p.cgroup) != unit_)) {
    return false;
  }
  return true;
}

std::string Matcher::Describe() const {
  std::vector<std::string> parts;
  if (!spec_.pids.empty()) {
    std::string s = "pid ";
    for (size_t i = 0; i < spec_.pids.size(); ++i) {
      if (i) s += '|';
      s += std::to_string(spec_.pids[i]);
    }
    parts.push_back(s);
  }
  if (spec_.self) parts.push_back("self");
  if (comm_) parts.push_back("comm ~ /" + comm_->text + "/");
  if (exe_) parts.push_back("exe ~ /" + exe_->text + "/");
  if (cmdline_) parts.push_back("cmdline ~ /" + cmdline_->text + "/");
  if (spec_.cgroup_prefix) parts.push_back("cgroup under " + *spec_.cgroup_prefix);
  if (cgroup_) parts.push_back("cgroup ~ /" + cgroup_->text + "/");
  if (spec_.systemd_unit) parts.push_back("unit " + unit_);
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += ", ";
    out += parts[i];
  }
  return out;
}

Result<TargetSet> TargetSet::Compile(const std::vector<MatchSpec>& specs, pid_t self_pid) {
  TargetSet set;
  for (const auto& spec : specs) {
    auto m = Matcher::Compile(spec, self_pid);
    if (!m.ok()) return m.error();
    set.matchers_.push_back(std::move(*m));
    for (pid_t p : spec.pids) set.explicit_pids_.push_back(p);
    if (spec.self) set.explicit_pids_.push_back(self_pid);
  }
  std::sort(set.explicit_pids_.begin(), set.explicit_pids_.end());
  set.explicit_pids_.erase(std::unique(set.explicit_pids_.begin(), set.explicit_pids_.end()),
                           set.explicit_pids_.end());
  return set;
}

bool TargetSet::Matches(const ProcessInfo& info) const {
  return std::any_of(matchers_.begin(), matchers_.end(),
                     [&](const Matcher& m) { return m.Matches(info); });
}

unsigned TargetSet::NeededFields() const {
  unsigned f = kProcStat;
  for (const auto& m : matchers_) f |= m.NeededFields();
  return f;
}

bool TargetSet::PidsOnly() const {
  return std::all_of(matchers_.begin(), matchers_.end(),
                     [](const Matcher& m) { return m.PidsOnly(); });
}

std::vector<pid_t> TargetSet::ExplicitPids() const { return explicit_pids_; }

std::string TargetSet::Describe() const {
  std::string out;
  for (size_t i = 0; i < matchers_.size(); ++i) {
    if (i) out += " or ";
    out += "(" + matchers_[i].Describe() + ")";
  }
  return out;
}

}  // namespace gilstat::tracker
