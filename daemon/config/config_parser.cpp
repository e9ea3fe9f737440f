#include "config/config_parser.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <set>
#include <sstream>

#include "config/config.h"

namespace gilstat::config {
namespace {

Location LocationOf(const YAML::Mark& m) {
  if (m.is_null()) return {};
  return {m.line + 1, m.column + 1};
}

std::string Join(const std::set<std::string>& keys) {
  std::string out;
  for (const auto& k : keys) out += (out.empty() ? "" : ", ") + k;
  return out;
}

// What yaml-cpp's node API lets pass silently, found from the parser's events: a key twice in
// one mapping (the node API keeps one of them) and a second document (YAML::Load reads only the
// first). Remembers the first problem in `error`.
class StructureCheck : public YAML::EventHandler {
 public:
  std::optional<std::pair<Location, std::string>> error;

  void SecondDocument(const YAML::Mark& m) {
    Fail(m, "a second YAML document: a configuration file holds one (remove the '---')");
  }
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& m, YAML::anchor_t) override { Node(m, "~"); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { Node(m, std::nullopt); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                const std::string& value) override {
    Node(m, value);
  }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Node(m, std::nullopt);
    frames_.push_back({});
  }
  void OnSequenceEnd() override { frames_.pop_back(); }
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Node(m, std::nullopt);
    frames_.push_back({.map = true});
  }
  void OnMapEnd() override { frames_.pop_back(); }

 private:
  struct Frame {
    bool map = false;
    bool want_key = true;             // in a mapping: the next node is a key
    std::map<std::string, int> keys;  // scalar keys seen, with their line
  };

  void Fail(const YAML::Mark& m, const std::string& reason) {
    if (!error) error.emplace(LocationOf(m), reason);
  }

  // A node starts; `key` is its text when it is a scalar (or null).
  void Node(const YAML::Mark& m, const std::optional<std::string>& key) {
    if (frames_.empty() || !frames_.back().map) return;
    Frame& f = frames_.back();
    f.want_key = !f.want_key;
    if (f.want_key || !key) return;  // a value, or a key that is not a scalar
    const int line = LocationOf(m).line;
    auto [it, added] = f.keys.emplace(*key, line);
    if (!added) {
      Fail(m, "duplicate key '" + *key + "' (first at line " + std::to_string(it->second) + ")");
    }
  }

  std::vector<Frame> frames_;
};

// Runs StructureCheck over every document of `text`.
std::optional<std::pair<Location, std::string>> CheckStructure(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  StructureCheck check;
  if (!parser.HandleNextDocument(check) || check.error) return check.error;
  struct SecondStart : StructureCheck {
    void OnDocumentStart(const YAML::Mark& m) override { SecondDocument(m); }
  } second;
  if (parser.HandleNextDocument(second)) return second.error;
  return std::nullopt;
}

// Reads one file's YAML nodes into the IR; every error names the file and the node's place.
class TreeReader {
 public:
  explicit TreeReader(std::string filename) : filename_(std::move(filename)) {}

  Error At(const YAML::Node& n, const std::string& reason) const {
    return ConfigErrorAt(filename_, LocationOf(n.Mark()), reason);
  }

  // `node` is a mapping whose keys are all in `allowed`.
  Status CheckMap(const YAML::Node& node, const std::string& where,
                  const std::set<std::string>& allowed) const {
    if (!node.IsMap()) return At(node, "'" + where + "' must be a mapping");
    for (const auto& kv : node) {
      const std::string key = kv.first.as<std::string>();
      if (!allowed.count(key)) {
        return At(kv.first,
                  "unknown key '" + key + "' in '" + where + "' (allowed: " + Join(allowed) + ")");
      }
    }
    return Status::Ok();
  }

  Result<ir::Scalar> ScalarOf(const YAML::Node& n, const std::string& key) const {
    if (!n.IsScalar()) return At(n, "'" + key + "' must be a single value");
    return ir::Scalar{n.Scalar(), LocationOf(n.Mark())};
  }

  // Key `key` of mapping `map` as a single value; nullopt when absent.
  Status Field(const YAML::Node& map, const std::string& key,
               std::optional<ir::Scalar>& out) const {
    const YAML::Node n = map[key];
    if (!n) return Status::Ok();
    auto s = ScalarOf(n, key);
    if (!s) return s.error();
    out = *s;
    return Status::Ok();
  }

  // `node` is a mapping of the single values `fields` (and the keys in `more`), read into them.
  using Fields = std::vector<std::pair<std::string, std::optional<ir::Scalar>*>>;
  Status ScalarMap(const YAML::Node& node, const std::string& where, const Fields& fields,
                   std::set<std::string> more = {}) const {
    for (const auto& [key, out] : fields) more.insert(key);
    if (Status s = CheckMap(node, where, more); !s) return s;
    for (const auto& [key, out] : fields) {
      if (Status s = Field(node, key, *out); !s) return s;
    }
    return Status::Ok();
  }

  Result<std::vector<ir::Target>> Targets(const YAML::Node& n) const;
  Result<ir::Runtime> Runtime(const YAML::Node& n) const;
  Result<ir::Probes> Probes(const YAML::Node& n) const;
  Result<ir::Labels> Labels(const YAML::Node& n) const;
  Result<ir::Web> Web(const YAML::Node& n) const;
  Status Sections(const YAML::Node& root, ir::File& out) const;

 private:
  // Reads section `key` of `root`, when the file has it, with `read` into `out`.
  template <typename T>
  Status Section(const YAML::Node& root, const char* key,
                 Result<T> (TreeReader::*read)(const YAML::Node&) const,
                 std::optional<T>& out) const {
    const YAML::Node n = root[key];
    if (!n) return Status::Ok();
    auto section = (this->*read)(n);
    if (!section) return section.error();
    out = std::move(section).value();
    return Status::Ok();
  }
  Result<ir::Target> Target(const YAML::Node& n) const;
  Result<ir::BasicAuth> BasicAuth(const YAML::Node& n) const;

  std::string filename_;
};

Result<ir::Target> TreeReader::Target(const YAML::Node& n) const {
  static const std::set<std::string> kinds = [] {
    std::set<std::string> keys;
    for (const auto& [key, kind] : kTargetKeys) keys.insert(key);
    return keys;
  }();
  if (Status s = CheckMap(n, "targets[]", kinds); !s) return s.error();
  if (n.size() != 1) return At(n, "each target has exactly one matcher (" + Join(kinds) + ")");
  const auto kv = *n.begin();
  ir::Target t;
  t.kind = kv.first.as<std::string>();
  t.kind_at = LocationOf(kv.first.Mark());
  auto value = ScalarOf(kv.second, t.kind);
  if (!value) return value.error();
  t.value = *value;
  return t;
}

Result<std::vector<ir::Target>> TreeReader::Targets(const YAML::Node& n) const {
  if (!n.IsSequence()) return At(n, "'targets' must be a list of matchers");
  std::vector<ir::Target> out;
  for (const auto& entry : n) {
    auto t = Target(entry);
    if (!t) return t.error();
    out.push_back(*t);
  }
  return out;
}

Result<ir::Runtime> TreeReader::Runtime(const YAML::Node& n) const {
  ir::Runtime r;
  if (Status s = ScalarMap(n, "runtime",
                           {{"enabled", &r.enabled},
                            {"policy", &r.policy},
                            {"workload", &r.workload},
                            {"check_interval", &r.check_interval},
                            {"switch_interval", &r.switch_interval}},
                           {"params"});
      !s) {
    return s.error();
  }
  r.at = LocationOf(n.Mark());
  if (const YAML::Node p = n["params"]) {
    if (!p.IsMap()) return At(p, "'params' must be a mapping of workload parameters");
    for (const auto& kv : p) {
      auto name = ScalarOf(kv.first, "params");
      if (!name) return name.error();
      auto value = ScalarOf(kv.second, name->text);
      if (!value) return value.error();
      r.params.emplace_back(*name, *value);
    }
  }
  return r;
}

Result<ir::Probes> TreeReader::Probes(const YAML::Node& n) const {
  ir::Probes p;
  if (Status s = ScalarMap(n, "probes",
                           {{"mode", &p.mode},
                            {"max_locks", &p.max_locks},
                            {"python", &p.python},
                            {"python_stacks", &p.python_stacks}});
      !s) {
    return s.error();
  }
  p.at = LocationOf(n.Mark());
  return p;
}

Result<ir::Labels> TreeReader::Labels(const YAML::Node& n) const {
  ir::Labels l;
  if (Status s = ScalarMap(n, "labels",
                           {{"process", &l.process},
                            {"pid", &l.pid},
                            {"lock_address", &l.lock_address},
                            {"max_lock_series", &l.max_lock_series}});
      !s) {
    return s.error();
  }
  l.at = LocationOf(n.Mark());
  return l;
}

Result<ir::BasicAuth> TreeReader::BasicAuth(const YAML::Node& n) const {
  ir::BasicAuth a;
  if (Status s = ScalarMap(n, "basic_auth",
                           {{"username", &a.username},
                            {"password", &a.password},
                            {"password_file", &a.password_file}});
      !s) {
    return s.error();
  }
  a.at = LocationOf(n.Mark());
  return a;
}

Result<ir::Web> TreeReader::Web(const YAML::Node& n) const {
  if (Status s = CheckMap(n, "web", {"basic_auth"}); !s) return s.error();
  ir::Web w;
  w.at = LocationOf(n.Mark());
  if (const YAML::Node a = n["basic_auth"]) {
    auto auth = BasicAuth(a);
    if (!auth) return auth.error();
    w.basic_auth = *auth;
  }
  return w;
}

Status TreeReader::Sections(const YAML::Node& root, ir::File& out) const {
  if (Status s = CheckMap(root, "top level",
                          {"targets", "runtime", "probes", "labels", "web", "rescan_interval"});
      !s) {
    return s;
  }
  if (const YAML::Node n = root["targets"]) {
    auto targets = Targets(n);
    if (!targets) return targets.error();
    out.targets = std::move(targets).value();
  }
  if (Status s = Section(root, "runtime", &TreeReader::Runtime, out.runtime); !s) return s;
  if (Status s = Section(root, "probes", &TreeReader::Probes, out.probes); !s) return s;
  if (Status s = Section(root, "labels", &TreeReader::Labels, out.labels); !s) return s;
  if (Status s = Section(root, "web", &TreeReader::Web, out.web); !s) return s;
  return Field(root, "rescan_interval", out.rescan_interval);
}

}  // namespace

Result<ir::File> ParseTree(const std::string& text, const std::string& filename) {
  YAML::Node root;
  try {
    if (auto problem = CheckStructure(text)) {
      return ConfigErrorAt(filename, problem->first, problem->second);
    }
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    return ConfigErrorAt(filename, LocationOf(e.mark), "YAML syntax error: " + e.msg);
  }
  ir::File file;
  file.source = filename;
  if (root.IsNull()) return file;  // an empty file: every section absent
  try {
    if (Status s = TreeReader(filename).Sections(root, file); !s) return s.error();
  } catch (const YAML::Exception& e) {
    return ConfigErrorAt(filename, LocationOf(e.mark), e.msg);
  }
  return file;
}

}  // namespace gilstat::config
