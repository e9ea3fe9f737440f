#include "config/config_compiler.h"

#include <algorithm>
#include <regex>

#include "config/config_file.h"
#include "gilstat/parse.h"

namespace gilstat::config {
namespace {

// The value checks every section uses; each error names the key and the place of the value.
class ValueReader {
 public:
  explicit ValueReader(const std::string& source) : source_(source) {}

  Error At(Location at, const std::string& reason) const {
    return ConfigErrorAt(source_, at, reason);
  }

  Result<bool> Bool(const ir::Scalar& v, const std::string& key) const {
    auto b = ParseBool(v.text);
    if (!b) return At(v.at, "'" + key + "' must be true or false, not '" + v.text + "'");
    return *b;
  }

  Result<int64_t> Int(const ir::Scalar& v, const std::string& key, int64_t min, int64_t max) const {
    auto n = ParseInt(v.text);
    if (!n || *n < min || *n > max) {
      return At(v.at, "'" + key + "' must be a whole number from " + std::to_string(min) + " to " +
                          std::to_string(max) + ", not '" + v.text + "'");
    }
    return *n;
  }

  Result<std::chrono::nanoseconds> Duration(const ir::Scalar& v, const std::string& key) const {
    auto d = ParseDuration(v.text);
    if (!d || d->count() <= 0) {
      return At(v.at, "'" + key +
                          "' must be a positive duration with a unit (ns, us, ms, s), not '" +
                          v.text + "'");
    }
    return *d;
  }

  // RE2 syntax, checked as the target matchers compile it.
  Status Regex(const ir::Scalar& v) const {
    if (Status s = tracker::CheckRegex(v.text); !s.ok()) {
      return At(v.at, "invalid regular expression '" + v.text + "': " + s.message());
    }
    return Status::Ok();
  }

 private:
  const std::string& source_;
};

Status CompilePolicy(const ValueReader& r, const ir::Scalar& v, RuntimeConfig& out) {
  auto p = rt::ParsePolicy(v.text);
  if (!p) return r.At(v.at, "'policy' must be classic, switching or fair, not '" + v.text + "'");
  out.policy = *p;
  return Status::Ok();
}

Status CompileIntervals(const ValueReader& r, const ir::Runtime& in, RuntimeConfig& out) {
  if (in.check_interval) {
    auto v = r.Int(*in.check_interval, "check_interval", 1, 1'000'000'000);
    if (!v) return v.error();
    out.check_interval = static_cast<int>(*v);
  }
  if (in.switch_interval) {
    auto d = r.Duration(*in.switch_interval, "switch_interval");
    if (!d) return d.error();
    out.switch_interval = *d;
  }
  return Status::Ok();
}

// The password of basic_auth: inline or the first line of password_file.
Result<std::string> Password(const ValueReader& r, const ir::BasicAuth& a) {
  if (a.password && a.password_file) {
    return r.At(a.at, "'basic_auth' takes either 'password' or 'password_file', not both");
  }
  if (a.password) return a.password->text;
  if (!a.password_file) return r.At(a.at, "'basic_auth' needs 'password' or 'password_file'");
  auto text = ReadRegularFile(a.password_file->text, kMaxPasswordFileBytes, "a password_file");
  if (!text) return r.At(a.password_file->at, "password_file: " + text.error().message);
  return text->substr(0, text->find('\n'));
}

// Compiles section `in`, when the file has it, with `step` into `out`.
template <typename In, typename Out>
Status Step(const std::string& source, const std::optional<In>& in,
            Result<Out> (*step)(const std::string&, const In&), Out& out) {
  if (!in) return Status::Ok();
  auto compiled = step(source, *in);
  if (!compiled) return compiled.error();
  out = std::move(compiled).value();
  return Status::Ok();
}

}  // namespace

Result<TargetConfig> CompileTarget(const std::string& source, const ir::Target& in) {
  const ValueReader r(source);
  auto kind = std::find_if(std::begin(kTargetKeys), std::end(kTargetKeys),
                           [&](const auto& k) { return in.kind == k.first; });
  if (kind == std::end(kTargetKeys)) return r.At(in.kind_at, "unknown target '" + in.kind + "'");
  TargetConfig t;
  t.kind = kind->second;
  t.line = in.kind_at.line;
  switch (t.kind) {
    case TargetConfig::Kind::kSelf: {
      auto b = r.Bool(in.value, in.kind);
      if (!b) return b.error();
      if (!*b) return r.At(in.value.at, "'self: false' matches nothing; remove the entry instead");
      return t;
    }
    case TargetConfig::Kind::kPid: {
      auto v = r.Int(in.value, in.kind, 1, 4194304);
      if (!v) return v.error();
      t.value = std::to_string(*v);
      return t;
    }
    default:
      break;
  }
  if (in.value.text.empty()) return r.At(in.value.at, "'" + in.kind + "' must not be empty");
  if (t.kind == TargetConfig::Kind::kComm || t.kind == TargetConfig::Kind::kExe ||
      t.kind == TargetConfig::Kind::kCmdline) {
    if (Status s = r.Regex(in.value); !s) return s.error();
  }
  t.value = in.value.text;
  return t;
}

Result<RuntimeConfig> CompileRuntime(const std::string& source, const ir::Runtime& in) {
  const ValueReader r(source);
  RuntimeConfig out;
  if (in.enabled) {
    auto b = r.Bool(*in.enabled, "enabled");
    if (!b) return b.error();
    out.enabled = *b;
  }
  if (in.policy) {
    if (Status s = CompilePolicy(r, *in.policy, out); !s) return s.error();
  }
  if (in.workload) out.workload = in.workload->text == "none" ? "" : in.workload->text;
  for (const auto& [name, value] : in.params) out.params[name.text] = value.text;
  if (Status s = CompileIntervals(r, in, out); !s) return s.error();
  return out;
}

Result<ProbesConfig> CompileProbes(const std::string& source, const ir::Probes& in) {
  const ValueReader r(source);
  ProbesConfig out;
  if (in.mode) {
    auto mode = ParseProbeMode(in.mode->text);
    if (!mode) {
      return r.At(in.mode->at, std::string("'mode' must be ") + kProbeModeChoices + ", not '" +
                                   in.mode->text + "'");
    }
    out.mode = *mode;
  }
  if (in.max_locks) {
    auto v = r.Int(*in.max_locks, "max_locks", 16, SEMLOCK_MAX_LOCKS_LIMIT);
    if (!v) return v.error();
    out.max_locks = static_cast<uint32_t>(*v);
  }
  if (in.python) {
    const std::string& v = in.python->text;
    if (v != "default" && v != "exact") {
      return r.At(in.python->at, "'python' must be default or exact, not '" + v + "'");
    }
    out.python_exact = v == "exact";
  }
  if (in.python_stacks) {
    auto b = r.Bool(*in.python_stacks, "python_stacks");
    if (!b) return b.error();
    out.python_stacks = *b;
  }
  return out;
}

Result<LabelsConfig> CompileLabels(const std::string& source, const ir::Labels& in) {
  const ValueReader r(source);
  LabelsConfig out;
  if (in.process) {
    const std::string& s = in.process->text;
    // Only known placeholders, so that a typo does not silently become a literal name.
    static const std::regex placeholder(R"(\{([^}]*)\})");
    for (std::sregex_iterator it(s.begin(), s.end(), placeholder), end; it != end; ++it) {
      const std::string name = (*it)[1];
      if (std::find(std::begin(kProcessPlaceholders), std::end(kProcessPlaceholders), name) ==
          std::end(kProcessPlaceholders)) {
        std::string known;
        for (const char* k : kProcessPlaceholders)
          known += (known.empty() ? "{" : ", {") + std::string(k) + "}";
        return r.At(in.process->at,
                    "unknown placeholder '{" + name + "}' in 'process' (known: " + known + ")");
      }
    }
    if (s.empty()) return r.At(in.process->at, "'process' must not be empty");
    out.process = s;
  }
  for (auto [key, field, flag] :
       {std::tuple{"pid", &in.pid, &out.pid},
        std::tuple{"lock_address", &in.lock_address, &out.lock_address}}) {
    if (!*field) continue;
    auto b = r.Bool(**field, key);
    if (!b) return b.error();
    *flag = *b;
  }
  if (in.max_lock_series) {
    auto n = r.Int(*in.max_lock_series, "max_lock_series", 1, 10'000);
    if (!n) return n.error();
    out.max_lock_series = static_cast<int>(*n);
  }
  return out;
}

Result<WebConfig> CompileWeb(const std::string& source, const ir::Web& in) {
  const ValueReader r(source);
  WebConfig out;
  if (!in.basic_auth) return out;
  const ir::BasicAuth& a = *in.basic_auth;
  if (!a.username) return r.At(a.at, "'basic_auth' needs a 'username'");
  auto password = Password(r, a);
  if (!password) return password.error();
  if (a.username->text.empty() || password->empty()) {
    return r.At(a.at, "'basic_auth' username and password must not be empty");
  }
  out.basic_auth = BasicAuthConfig{a.username->text, *password};
  return out;
}

Result<Config> Compile(const ir::File& file) {
  Config c;
  c.source = file.source;
  for (const ir::Target& t : file.targets) {
    auto target = CompileTarget(file.source, t);
    if (!target) return target.error();
    c.targets.push_back(*target);
  }
  c.runtime.enabled = false;  // a file that says nothing of the runtime: no workload
  if (Status s = Step(file.source, file.runtime, CompileRuntime, c.runtime); !s) return s.error();
  if (Status s = Step(file.source, file.probes, CompileProbes, c.probes); !s) return s.error();
  if (Status s = Step(file.source, file.labels, CompileLabels, c.labels); !s) return s.error();
  if (Status s = Step(file.source, file.web, CompileWeb, c.web); !s) return s.error();
  if (file.rescan_interval) {
    auto d = ValueReader(file.source).Duration(*file.rescan_interval, "rescan_interval");
    if (!d) return d.error();
    c.rescan_interval = *d;
  }
  return c;
}

tracker::MatchSpec MatchSpecOf(const TargetConfig& t) {
  tracker::MatchSpec s;
  switch (t.kind) {
    case TargetConfig::Kind::kSelf:
      s.self = true;
      break;
    case TargetConfig::Kind::kPid:
      s.pids.push_back(std::stoi(t.value));
      break;
    case TargetConfig::Kind::kComm:
      s.comm_regex = t.value;
      break;
    case TargetConfig::Kind::kExe:
      s.exe_regex = t.value;
      break;
    case TargetConfig::Kind::kCmdline:
      s.cmdline_regex = t.value;
      break;
    case TargetConfig::Kind::kCgroup:
      if (!t.value.empty() && t.value.front() == '/') {
        s.cgroup_prefix = t.value;
      } else {
        s.cgroup_regex = t.value;
      }
      break;
    case TargetConfig::Kind::kUnit:
      s.systemd_unit = t.value;
      break;
  }
  return s;
}

Result<tracker::TargetSet> CompileMatchers(const Config& cfg, pid_t self) {
  std::vector<tracker::MatchSpec> specs;
  for (const TargetConfig& t : cfg.targets) {
    tracker::MatchSpec s = MatchSpecOf(t);
    if (auto one = tracker::TargetSet::Compile({s}, self); !one.ok()) {
      return ConfigErrorAt(cfg.source, {t.line, 0}, one.error().message);
    }
    specs.push_back(std::move(s));
  }
  auto set = tracker::TargetSet::Compile(specs, self);
  if (!set.ok()) return ConfigErrorAt(cfg.source, {}, set.error().message);
  return set;
}

Result<std::optional<rt::WorkloadSpec>> CompileWorkload(const Config& cfg) {
  if (!cfg.runtime.enabled || cfg.runtime.workload.empty()) {
    return std::optional<rt::WorkloadSpec>();
  }
  auto spec = rt::ParseWorkload(cfg.runtime.workload, cfg.runtime.params);
  if (!spec.ok()) return ConfigErrorAt(cfg.source, {}, "runtime: " + spec.error().message);
  spec->continuous = true;
  return std::optional<rt::WorkloadSpec>(*spec);
}

rt::RuntimeOptions RuntimeOptionsOf(const RuntimeConfig& rc) {
  rt::RuntimeOptions o;
  o.policy = rc.policy;
  if (rc.check_interval) o.check_interval = *rc.check_interval;
  if (rc.switch_interval) o.switch_interval = *rc.switch_interval;
  return o;
}

}  // namespace gilstat::config
