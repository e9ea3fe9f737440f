#include "config/config.h"

#include "config/config_compiler.h"
#include "config/config_file.h"
#include "config/config_parser.h"
#include "config/config_types.h"

namespace gilstat::config {

Error ConfigErrorAt(const std::string& source, Location at, const std::string& reason) {
  std::string where = source;
  if (at.line > 0) where += ":" + std::to_string(at.line);
  if (at.line > 0 && at.column > 0) where += ":" + std::to_string(at.column);
  return MakeError(ErrorCode::kInvalidArgument, where + ": " + reason);
}

Config EmbeddedDefault() {
  Config c;
  c.source = "(embedded default)";
  c.targets.push_back({TargetConfig::Kind::kSelf, "", 0});
  // A paced convoy: the CPU thread rests between bursts and the echo client sends one request
  // every 2 ms, so the demo costs well under one CPU (about a third here) while the GIL is still
  // contended, handed off and switched every second (tests/e2e/embedded_default_test.py).
  c.runtime.params = {{"cpu_burst", "5ms"}, {"cpu_rest", "10ms"}, {"client_period", "2ms"}};
  return c;
}

Result<Config> ParseConfig(const std::string& text, const std::string& filename) {
  auto tree = ParseTree(text, filename);
  if (!tree) return tree.error();
  return Compile(*tree);
}

Result<Config> LoadConfigFile(const std::string& path) {
  auto text = ReadRegularFile(path, kMaxConfigFileBytes, "a configuration file");
  if (!text) return text.error();
  return ParseConfig(*text, path);
}

}  // namespace gilstat::config
