#include "app/flags.h"

#include <CLI/CLI.hpp>

#include <memory>

#include "app/log.h"
#include "cli/cli11_glue.h"

namespace gilstat {
namespace {

Error Usage(const std::string& what) {
  return MakeError(ErrorCode::kInvalidArgument, what + " (see --help)");
}

std::string Quoted(const std::string& s) { return "'" + s + "'"; }

std::string LevelName(spdlog::level::level_enum level) {
  auto name = spdlog::level::to_string_view(level);
  return std::string(name.data(), name.size());
}

// Every flag takes its value after '=' or as the next argument; -h and --help are ordinary
// flags so that an unknown flag is an error even beside them.
std::unique_ptr<CLI::App> MakeApp(DaemonFlags& f) {
  const DaemonFlags defaults;
  auto app = std::make_unique<CLI::App>(
      "Measures how long programs wait for locks - above all for the interpreter lock (GIL) of\n"
      "Python-style runtimes - and exports it as Prometheus metrics.\n",
      "gilstatd");
  app->set_help_flag();
  app->allow_extras();  // left over arguments are reported in gilstatd's words
  app->formatter(std::make_shared<cli::EqualsFormatter>());
  app->get_formatter()->label("OPTIONS", "flags");
  app->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)->group("Flags");
  app->add_option("--web.listen-address", f.listen_address,
                  "address to serve metrics on: host:port, [ipv6]:port or :port\n"
                  "for every interface (default " +
                      defaults.listen_address + ")")
      ->type_name("ADDR");
  app->add_option("--web.telemetry-path", f.telemetry_path,
                  "path of the metrics (default " + defaults.telemetry_path +
                      "); \"/\" shows a landing page")
      ->type_name("PATH");
  app->add_option("--config.file", f.config_file,
                  "YAML configuration (default: the embedded default, which hosts\n"
                  "the GIL runtime on its convoy workload and watches itself)")
      ->type_name("FILE")
      ->check(cli::Checked(
          [](const std::string& v) { return !v.empty(); },
          [](const std::string&) { return "flag '--config.file' needs a file name"; }));
  app->add_option_function<std::string>(
         "--log.level", [&f](const std::string& v) { f.log_level = *ParseLogLevel(v); },
         "debug, info, warn or error (default " + LevelName(defaults.log_level) + ")")
      ->type_name("LEVEL")
      ->check(cli::Checked([](const std::string& v) { return ParseLogLevel(v).has_value(); },
                           [](const std::string& v) {
                             return "--log.level must be debug, info, warn or error, not " +
                                    Quoted(v);
                           }));
  app->add_flag("--version", f.version, "print the version and exit");
  app->add_flag("-h,--help", f.help, "print this help and exit");
  for (CLI::Option* opt : app->get_options()) {
    if (opt->get_items_expected_max() == 0) opt->disable_flag_override();
  }
  app->footer(
      "Signals: SIGHUP reloads the configuration, SIGTERM and SIGINT stop.\n"
      "Exit status: 0 stopped by a signal, 1 runtime error, 2 bad flags or configuration.\n");
  return app;
}

std::string FailureText(const CLI::App& app, const CLI::ParseError& e) {
  cli::ParseFailure f = cli::Explain(app, e);
  switch (f.kind) {
    case cli::ParseFailure::Kind::kMissingValue:
      return "flag " + Quoted(f.option) + " needs a value";
    case cli::ParseFailure::Kind::kUnwantedValue:
      return "flag " + Quoted(f.option) + " takes no value";
    case cli::ParseFailure::Kind::kBadValue:
    case cli::ParseFailure::Kind::kOther:
      break;
  }
  return f.message;
}

}  // namespace

std::string DaemonUsage() {
  DaemonFlags f;
  return MakeApp(f)->help();
}

Result<DaemonFlags> ParseDaemonFlags(const std::vector<std::string>& args) {
  DaemonFlags f;
  auto app = MakeApp(f);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 pops from the back
  try {
    app->parse(reversed);
  } catch (const CLI::ParseError& e) {
    return Usage(FailureText(*app, e));
  }
  if (auto rest = app->remaining(); !rest.empty()) {
    const std::string& arg = rest.front();
    if (arg.starts_with("-")) return Usage("unknown flag " + Quoted(cli::OptionName(arg)));
    return Usage("unexpected argument " + Quoted(arg));
  }
  return f;
}

}  // namespace gilstat
