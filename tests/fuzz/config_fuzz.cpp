// gilstatd's configuration (daemon/config/) on arbitrary text, through both steps of its
// compiler: YAML -> intermediate representation (ParseTree) -> Config (Compile), then the Config
// into what the daemon runs (target matchers, the runtime's workload and options). The file is
// the operator's, but a parser that crashes, hangs or leaks on a typo is a daemon that does not
// start or does not reload. Errors come back as errors that name the file, never as exceptions,
// and ParseConfig is exactly its two steps.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "config/config.h"
#include "config/config_compiler.h"
#include "config/config_parser.h"

namespace {

const std::string kFile = "fuzz.yml";

void CheckError(const gilstat::Error& e) {
  if (!e.message.starts_with(kFile + ":")) std::abort();  // "file:line:col: reason"
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto config = gilstat::config::ParseConfig(text, kFile);
  const auto tree = gilstat::config::ParseTree(text, kFile);
  if (!tree.ok()) {
    CheckError(tree.error());
    if (config.ok() || config.error().message != tree.error().message) std::abort();
    return 0;
  }
  const auto compiled = gilstat::config::Compile(*tree);
  if (compiled.ok() != config.ok()) std::abort();
  if (!compiled.ok()) {
    CheckError(compiled.error());
    return 0;
  }
  if (auto matchers = gilstat::config::CompileMatchers(*compiled, getpid()); !matchers.ok()) {
    CheckError(matchers.error());
  }
  if (auto workload = gilstat::config::CompileWorkload(*compiled); !workload.ok()) {
    CheckError(workload.error());
  }
  (void)gilstat::config::RuntimeOptionsOf(compiled->runtime);
  return 0;
}
