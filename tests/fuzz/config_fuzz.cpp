// gilstatd's configuration parser (daemon/config/) on arbitrary text: the file is the
// operator's, but a parser that crashes, hangs or leaks on a typo is a daemon that does not
// start or does not reload. Errors must come back as errors, never as exceptions.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto config = gilstat::config::ParseConfig(text, "fuzz.yml");
  if (!config.ok() && config.error().message.empty()) std::abort();  // an error says why
  return 0;
}
