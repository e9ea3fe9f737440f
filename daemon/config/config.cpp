#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "gilstat/parse.h"

namespace gilstat::config {
namespace {

// A configuration error at a node: "file:line:col: reason".
class ErrorAt {
 public:
  explicit ErrorAt(std::string filename) : filename_(std::move(filename)) {}
  Error operator()(const YAML::Mark& m, const std::string& reason) const {
    std::ostringstream s;
    s << filename_;
    if (!m.is_null()) s << ':' << m.line + 1 << ':' << m.column + 1;
    s << ": " << reason;
    return MakeError(ErrorCode::kInvalidArgument, s.str());
  }
  Error operator()(const YAML::Node& n, const std::string& reason) const {
    return (*this)(n.Mark(), reason);
  }

 private:
  std::string filename_;
};

std::string Join(const std::set<std::string>& keys) {
  std::string out;
  for (const auto& k : keys) out += (out.empty() ? "" : ", ") + k;
  return out;
}

// Checks that `node` is a mapping whose keys are all in `allowed`.
Status CheckMap(const ErrorAt& err, const YAML::Node& node, const std::string& where,
                const std::set<std::string>& allowed) {
  if (!node.IsMap()) return err(node, "'" + where + "' must be a mapping");
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    if (!allowed.count(key)) {
      return err(kv.first,
                 "unknown key '" + key + "' in '" + where + "' (allowed: " + Join(allowed) + ")");
    }
  }
  return Status::Ok();
}

Result<std::string> Scalar(const ErrorAt& err, const YAML::Node& n, const std::string& key) {
  if (!n.IsScalar()) return err(n, "'" + key + "' must be a single value");
  return n.Scalar();
}

Result<bool> Bool(const ErrorAt& err, const YAML::Node& n, const std::string& key) {
  auto s = Scalar(err, n, key);
  if (!s) return s.error();
  auto b = ParseBool(*s);
  if (!b) return err(n, "'" + key + "' must be true or false, not '" + *s + "'");
  return *b;
}

Result<int64_t> Int(const ErrorAt& err, const YAML::Node& n, const std::string& key, int64_t min,
                    int64_t max) {
  auto s = Scalar(err, n, key);
  if (!s) return s.error();
  auto v = ParseInt(*s);
  if (!v || *v < min || *v > max) {
    return err(n, "'" + key + "' must be a whole number from " + std::to_string(min) + " to " +
                      std::to_string(max) + ", not '" + *s + "'");
  }
  return *v;
}

Result<std::chrono::nanoseconds> Duration(const ErrorAt& err, const YAML::Node& n,
                                          const std::string& key) {
  auto s = Scalar(err, n, key);
  if (!s) return s.error();
  auto d = ParseDuration(*s);
  if (!d || d->count() <= 0) {
    return err(n, "'" + key + "' must be a positive duration with a unit (ns, us, ms, s), not '" +
                      *s + "'");
  }
  return *d;
}

Status CheckRegex(const ErrorAt& err, const YAML::Node& n, const std::string& re) {
  try {
    std::regex compiled(re);  // ECMAScript, as the target matchers use
  } catch (const std::regex_error& e) {
    return err(n, "invalid regular expression '" + re + "': " + e.what());
  }
  return Status::Ok();
}

Result<TargetConfig> ParseTarget(const ErrorAt& err, const YAML::Node& n) {
  static const std::map<std::string, TargetConfig::Kind> kinds = {
      {"self", TargetConfig::Kind::kSelf},       {"pid", TargetConfig::Kind::kPid},
      {"comm", TargetConfig::Kind::kComm},       {"exe", TargetConfig::Kind::kExe},
      {"cmdline", TargetConfig::Kind::kCmdline}, {"cgroup", TargetConfig::Kind::kCgroup},
      {"unit", TargetConfig::Kind::kUnit}};
  std::set<std::string> allowed;
  for (const auto& [k, v] : kinds) allowed.insert(k);
  if (Status s = CheckMap(err, n, "targets[]", allowed); !s) return s.error();
  if (n.size() != 1) {
    return err(n, "each target has exactly one matcher (" + Join(allowed) + ")");
  }
  const auto kv = *n.begin();
  const std::string key = kv.first.as<std::string>();
  TargetConfig t;
  t.kind = kinds.at(key);
  t.line = kv.first.Mark().line + 1;
  switch (t.kind) {
    case TargetConfig::Kind::kSelf: {
      auto b = Bool(err, kv.second, key);
      if (!b) return b.error();
      if (!*b) return err(kv.second, "'self: false' matches nothing; remove the entry instead");
      break;
    }
    case TargetConfig::Kind::kPid: {
      auto v = Int(err, kv.second, key, 1, 4194304);
      if (!v) return v.error();
      t.value = std::to_string(*v);
      break;
    }
    default: {
      auto s = Scalar(err, kv.second, key);
      if (!s) return s.error();
      if (s->empty()) return err(kv.second, "'" + key + "' must not be empty");
      if (t.kind == TargetConfig::Kind::kComm || t.kind == TargetConfig::Kind::kExe ||
          t.kind == TargetConfig::Kind::kCmdline) {
        if (Status st = CheckRegex(err, kv.second, *s); !st) return st.error();
      }
      t.value = *s;
    }
  }
  return t;
}

Status ParseRuntime(const ErrorAt& err, const YAML::Node& n, RuntimeConfig& out) {
  if (Status s = CheckMap(
          err, n, "runtime",
          {"enabled", "policy", "workload", "params", "check_interval", "switch_interval"});
      !s) {
    return s;
  }
  if (n["enabled"]) {
    auto b = Bool(err, n["enabled"], "enabled");
    if (!b) return b.error();
    out.enabled = *b;
  }
  if (n["policy"]) {
    auto s = Scalar(err, n["policy"], "policy");
    if (!s) return s.error();
    auto p = rt::ParsePolicy(*s);
    if (!p)
      return err(n["policy"], "'policy' must be classic, switching or fair, not '" + *s + "'");
    out.policy = *p;
  }
  if (n["workload"]) {
    auto s = Scalar(err, n["workload"], "workload");
    if (!s) return s.error();
    out.workload = *s == "none" ? "" : *s;
  }
  if (n["params"]) {
    const YAML::Node& p = n["params"];
    if (!p.IsMap()) return err(p, "'params' must be a mapping of workload parameters");
    for (const auto& kv : p) {
      auto v = Scalar(err, kv.second, kv.first.as<std::string>());
      if (!v) return v.error();
      out.params[kv.first.as<std::string>()] = *v;
    }
  }
  if (n["check_interval"]) {
    auto v = Int(err, n["check_interval"], "check_interval", 1, 1'000'000'000);
    if (!v) return v.error();
    out.check_interval = static_cast<int>(*v);
  }
  if (n["switch_interval"]) {
    auto d = Duration(err, n["switch_interval"], "switch_interval");
    if (!d) return d.error();
    out.switch_interval = *d;
  }
  return Status::Ok();
}

Status ParseProbes(const ErrorAt& err, const YAML::Node& n, ProbesConfig& out) {
  if (Status s = CheckMap(err, n, "probes", {"mode", "max_locks"}); !s) return s;
  if (n["mode"]) {
    auto s = Scalar(err, n["mode"], "mode");
    if (!s) return s.error();
    auto mode = ParseProbeMode(*s);
    if (!mode) {
      return err(n["mode"],
                 std::string("'mode' must be ") + kProbeModeChoices + ", not '" + *s + "'");
    }
    out.mode = *mode;
  }
  if (n["max_locks"]) {
    auto v = Int(err, n["max_locks"], "max_locks", 16, 1 << 22);
    if (!v) return v.error();
    out.max_locks = static_cast<uint32_t>(*v);
  }
  return Status::Ok();
}

Status ParseLabels(const ErrorAt& err, const YAML::Node& n, LabelsConfig& out) {
  if (Status s = CheckMap(err, n, "labels", {"process", "pid", "lock_address"}); !s) return s;
  if (n["process"]) {
    auto s = Scalar(err, n["process"], "process");
    if (!s) return s.error();
    // Only known placeholders, so that a typo does not silently become a literal name.
    static const std::regex placeholder(R"(\{([^}]*)\})");
    for (std::sregex_iterator it(s->begin(), s->end(), placeholder), end; it != end; ++it) {
      const std::string name = (*it)[1];
      if (name != "comm" && name != "exe" && name != "unit" && name != "pid") {
        return err(n["process"], "unknown placeholder '{" + name +
                                     "}' in 'process' (known: {comm}, {exe}, {unit}, {pid})");
      }
    }
    if (s->empty()) return err(n["process"], "'process' must not be empty");
    out.process = *s;
  }
  if (n["pid"]) {
    auto b = Bool(err, n["pid"], "pid");
    if (!b) return b.error();
    out.pid = *b;
  }
  if (n["lock_address"]) {
    auto b = Bool(err, n["lock_address"], "lock_address");
    if (!b) return b.error();
    out.lock_address = *b;
  }
  return Status::Ok();
}

Status ParseWeb(const ErrorAt& err, const YAML::Node& n, WebConfig& out) {
  if (Status s = CheckMap(err, n, "web", {"basic_auth"}); !s) return s;
  if (!n["basic_auth"]) return Status::Ok();
  const YAML::Node& a = n["basic_auth"];
  if (Status s = CheckMap(err, a, "basic_auth", {"username", "password", "password_file"}); !s) {
    return s;
  }
  BasicAuthConfig auth;
  if (!a["username"]) return err(a, "'basic_auth' needs a 'username'");
  auto u = Scalar(err, a["username"], "username");
  if (!u) return u.error();
  auth.username = *u;
  if (a["password"] && a["password_file"]) {
    return err(a, "'basic_auth' takes either 'password' or 'password_file', not both");
  }
  if (a["password"]) {
    auto p = Scalar(err, a["password"], "password");
    if (!p) return p.error();
    auth.password = *p;
  } else if (a["password_file"]) {
    auto p = Scalar(err, a["password_file"], "password_file");
    if (!p) return p.error();
    std::ifstream f(*p);
    if (!f) return err(a["password_file"], "cannot read password_file '" + *p + "'");
    std::getline(f, auth.password);
  } else {
    return err(a, "'basic_auth' needs 'password' or 'password_file'");
  }
  if (auth.username.empty() || auth.password.empty()) {
    return err(a, "'basic_auth' username and password must not be empty");
  }
  out.basic_auth = auth;
  return Status::Ok();
}

}  // namespace

const char* TargetKindName(TargetConfig::Kind kind) {
  switch (kind) {
    case TargetConfig::Kind::kSelf:
      return "self";
    case TargetConfig::Kind::kPid:
      return "pid";
    case TargetConfig::Kind::kComm:
      return "comm";
    case TargetConfig::Kind::kExe:
      return "exe";
    case TargetConfig::Kind::kCmdline:
      return "cmdline";
    case TargetConfig::Kind::kCgroup:
      return "cgroup";
    case TargetConfig::Kind::kUnit:
      return "unit";
  }
  return "?";
}

Config EmbeddedDefault() {
  Config c;
  c.source = "(embedded default)";
  c.targets.push_back({TargetConfig::Kind::kSelf, "", 0});
  return c;
}

Result<Config> ParseConfig(const std::string& text, const std::string& filename) {
  const ErrorAt err(filename);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    return err(e.mark, "YAML syntax error: " + e.msg);
  }
  Config c;
  c.source = filename;
  if (root.IsNull()) return c;  // an empty file: every default, no targets
  try {
    if (Status s = CheckMap(err, root, "top level",
                            {"targets", "runtime", "probes", "labels", "web", "rescan_interval"});
        !s) {
      return s.error();
    }
    if (root["targets"]) {
      const YAML::Node& t = root["targets"];
      if (!t.IsSequence()) return err(t, "'targets' must be a list of matchers");
      for (const auto& entry : t) {
        auto target = ParseTarget(err, entry);
        if (!target) return target.error();
        c.targets.push_back(*target);
      }
    }
    if (root["runtime"]) {
      if (Status s = ParseRuntime(err, root["runtime"], c.runtime); !s) return s.error();
    } else {
      c.runtime.enabled = false;  // a config file that says nothing of the runtime: no workload
    }
    if (root["probes"]) {
      if (Status s = ParseProbes(err, root["probes"], c.probes); !s) return s.error();
    }
    if (root["labels"]) {
      if (Status s = ParseLabels(err, root["labels"], c.labels); !s) return s.error();
    }
    if (root["web"]) {
      if (Status s = ParseWeb(err, root["web"], c.web); !s) return s.error();
    }
    if (root["rescan_interval"]) {
      auto d = Duration(err, root["rescan_interval"], "rescan_interval");
      if (!d) return d.error();
      c.rescan_interval = *d;
    }
  } catch (const YAML::Exception& e) {
    return err(e.mark, e.msg);
  }
  return c;
}

Result<Config> LoadConfigFile(const std::string& path) {
  std::ifstream f(path);
  if (!f) {
    return MakeError(ErrorCode::kNotFound, path + ": cannot open the configuration file");
  }
  std::stringstream buf;
  buf << f.rdbuf();
  return ParseConfig(buf.str(), path);
}

}  // namespace gilstat::config
