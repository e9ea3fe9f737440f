#include "app/flags.h"

#include "app/log.h"

namespace gilstat {
namespace {

Error Usage(const std::string& what) {
  return MakeError(ErrorCode::kInvalidArgument, what + " (see --help)");
}

}  // namespace

std::string DaemonUsage() {
  return R"(usage: gilstatd [flags]

Measures how long programs wait for locks - above all for the interpreter lock (GIL) of
Python-style runtimes - and exports it as Prometheus metrics.

Flags:
  --web.listen-address=ADDR   address to serve metrics on: host:port, [ipv6]:port or :port
                              for every interface (default 127.0.0.1:9877)
  --web.telemetry-path=PATH   path of the metrics (default /metrics); "/" shows a landing page
  --config.file=FILE          YAML configuration (default: the embedded default, which hosts
                              the GIL runtime on its convoy workload and watches itself)
  --log.level=LEVEL           debug, info, warn or error (default info)
  --version                   print the version and exit
  -h, --help                  print this help and exit

Signals: SIGHUP reloads the configuration, SIGTERM and SIGINT stop.
Exit status: 0 stopped by a signal, 1 runtime error, 2 bad flags or configuration.
)";
}

Result<DaemonFlags> ParseDaemonFlags(const std::vector<std::string>& args) {
  DaemonFlags f;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      f.help = true;
      continue;
    }
    if (a == "--version") {
      f.version = true;
      continue;
    }
    if (a.rfind("--", 0) != 0) return Usage("unexpected argument '" + a + "'");
    std::string name = a.substr(2), value;
    const auto eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    } else {
      if (name != "web.listen-address" && name != "web.telemetry-path" && name != "config.file" &&
          name != "log.level") {
        return Usage("unknown flag '--" + name + "'");
      }
      if (i + 1 >= args.size()) return Usage("flag '--" + name + "' needs a value");
      value = args[++i];
    }
    if (name == "web.listen-address") {
      f.listen_address = value;
    } else if (name == "web.telemetry-path") {
      f.telemetry_path = value;
    } else if (name == "config.file") {
      if (value.empty()) return Usage("flag '--config.file' needs a file name");
      f.config_file = value;
    } else if (name == "log.level") {
      auto l = ParseLogLevel(value);
      if (!l) return Usage("--log.level must be debug, info, warn or error, not '" + value + "'");
      f.log_level = *l;
    } else {
      return Usage("unknown flag '--" + name + "'");
    }
  }
  return f;
}

}  // namespace gilstat
