// gilstatd: the lock and GIL contention exporter. Everything but argument handling lives in
// the gilstat_daemon library (daemon/app/), which the tests link.
#include <cstdio>
#include <string>
#include <vector>

#include "app/daemon.h"
#include "app/flags.h"
#include "app/log.h"

int main(int argc, char** argv) {
  // Before any thread starts, so that every thread inherits the mask (see Daemon::Create).
  gilstat::BlockSignals();
  auto flags = gilstat::ParseDaemonFlags(std::vector<std::string>(argv + 1, argv + argc));
  if (!flags.ok()) {
    std::fprintf(stderr, "gilstatd: %s\n", flags.error().message.c_str());
    return gilstat::kExitConfigError;
  }
  if (flags->help) {
    std::fputs(gilstat::DaemonUsage().c_str(), stdout);
    return gilstat::kExitOk;
  }
  if (flags->version) {
    std::printf("gilstatd %s\n", GILSTAT_VERSION);
    return gilstat::kExitOk;
  }
  gilstat::SetupLogging(flags->log_level);

  auto cfg = flags->config_file ? gilstat::config::LoadConfigFile(*flags->config_file)
                                : gilstat::config::EmbeddedDefault();
  if (!cfg.ok()) {
    spdlog::critical("bad configuration: {}", cfg.error().message);
    return gilstat::kExitConfigError;
  }
  gilstat::DaemonEnv env;
  env.version = GILSTAT_VERSION;
  auto daemon = gilstat::Daemon::Create(*flags, std::move(cfg).value(), env);
  if (!daemon.ok()) {
    spdlog::critical("{}", daemon.error().message);
    return gilstat::ExitStatusOf(daemon.error());
  }
  return (*daemon)->Run();
}
