#include "cli/args.h"

#include <CLI/CLI.hpp>

#include <climits>
#include <cmath>
#include <limits>
#include <memory>

#include "cli/cli11_glue.h"
#include "gilstat/privileges.h"

#ifndef GILSTAT_VERSION
#define GILSTAT_VERSION "unknown"
#endif

namespace gilstat::cli {
namespace {

constexpr double kMaxDurationS = 365.0 * 86400;
constexpr const char* kTargets = "Targets (at least one)";

Error Usage(const std::string& msg) { return MakeError(ErrorCode::kInvalidArgument, msg); }

// The flags that end the parse early, beside the options of `locks`.
struct Switches {
  bool help = false;
  bool version = false;
  bool locks_help = false;
};

// The definition of both levels of the command line; `app` owns `locks`.
struct Parser {
  std::unique_ptr<CLI::App> app;
  CLI::App* locks = nullptr;
};

std::string InvalidDuration(const std::string& v) {
  return "invalid duration '" + v + "' (seconds, > 0)";
}

void AddTargets(CLI::App& cmd, LocksOptions& o) {
  cmd.add_option("-p,--pid", o.pids, "trace this process (repeatable; also PID,PID,...)")
      ->type_name("PID")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->transform(Worded(Decimal() & CLI::Range(1, INT_MAX),
                         [](const std::string& v) { return "invalid pid '" + v + "'"; }));
  cmd.add_option("-c,--comm", o.comm_regex, "processes whose name (comm) matches")
      ->type_name("REGEX");
  cmd.add_option("-e,--exe", o.exe_regex, "processes whose executable path matches")
      ->type_name("REGEX");
  cmd.add_option("--cmdline", o.cmdline_regex,
                 "processes whose command line (arguments joined by spaces)\nmatches")
      ->type_name("REGEX");
}

void AddOptions(CLI::App& cmd, LocksOptions& o, bool& help) {
  const LocksOptions defaults;
  cmd.add_option_function<double>(
         "-d,--duration",
         [&o](double d) {
           // A range check lets NaN through (every comparison with it is false).
           if (std::isnan(d)) throw CLI::ValidationError("--duration", InvalidDuration("nan"));
           o.duration_s = d;
         },
         "how long to trace (default: until Ctrl-C or SIGTERM)")
      ->type_name("SECONDS")
      ->check(
          Worded(CLI::Range(std::numeric_limits<double>::min(), kMaxDurationS), InvalidDuration));
  cmd.add_option_function<std::string>(
         "-m,--mode", [&o](const std::string& v) { o.mode = *ParseProbeMode(v); },
         "counting (the default here): every acquisition counted,\n"
         "~1-2.5 us per semaphore operation; default (gilstatd's\n"
         "default): only contended waits and the wakes ending\n"
         "them, nothing on the uncontended path; exact: entry\n"
         "probes on every function, ~10 us per call (docs/PROBES.md)")
      ->type_name("MODE")
      ->check(Checked([](const std::string& v) { return ParseProbeMode(v).has_value(); },
                      [](const std::string& v) {
                        return "invalid mode '" + v + "' (" + kProbeModeChoices + ")";
                      }));
  cmd.add_flag("-j,--json", o.json, "print JSON for scripts (see docs/CLI.md; times in ns)");
  cmd.add_option("--min-acquisitions", o.min_acquisitions,
                 "hide locks acquired fewer than N times (default " +
                     std::to_string(defaults.min_acquisitions) + ")")
      ->type_name("N")
      ->transform(Worded(Decimal(), [](const std::string& v) {
        return "invalid --min-acquisitions '" + v + "' (a count >= 0)";
      }));
  cmd.add_flag("-v,--verbose", o.verbose, "print libbpf's messages on stderr");
  cmd.add_flag("-h,--help", help, "show this help");
}

CLI::App* AddLocks(CLI::App& app, LocksOptions& o, bool& help) {
  CLI::App* cmd = app.add_subcommand(
      "locks", "trace semaphore waits of processes and print per-lock statistics");
  cmd->set_help_flag();  // -h is an ordinary flag: an unknown option still is an error
  cmd->allow_extras();   // left over arguments are reported in the words of this tool
  cmd->group("Commands");
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)->group(kTargets);
  AddTargets(*cmd, o);
  cmd->option_defaults()->group("Options");
  AddOptions(*cmd, o, help);
  // Flags take no value: CLI11 would read --json=no as false.
  for (CLI::Option* opt : cmd->get_options()) {
    if (opt->get_items_expected_max() == 0) opt->disable_flag_override();
  }
  cmd->footer(
      "--comm/--exe/--cmdline together must all match; processes that start during the\n"
      "run and match are traced too. Regexes are ECMAScript and search: anchor with ^ $.\n"
      "\n"
      "Attaches to the matching processes, waits for the duration (or until Ctrl-C or\n"
      "SIGTERM), then prints per-process, per-lock statistics sorted by total wait time,\n"
      "with log2 histograms of wait times in nanoseconds.\n"
      "\n"
      "Exit status: 0 success, 1 runtime error (no such process, no libc, missing\n"
      "privileges or BTF), 2 usage error.\n");
  return cmd;
}

Parser MakeParser(LocksOptions& o, Switches& sw) {
  Parser p;
  p.app = std::make_unique<CLI::App>(
      "Measures lock contention (semaphores such as the GIL of Python-style runtimes) in\n"
      "running processes with eBPF. Needs a kernel with BTF; " +
          std::string(kPrivilegeAdvice) + ".\n",
      "gilstat");
  CLI::App& app = *p.app;
  app.get_formatter()->label("SUBCOMMAND", "COMMAND");
  app.set_help_flag();
  app.allow_extras();
  app.add_flag("-h,--help", sw.help, "show this help")->disable_flag_override();
  app.add_flag("-V,--version", sw.version, "show the version")->disable_flag_override();
  app.add_subcommand("help")->group("");  // `gilstat help`, not listed
  app.footer("Run 'gilstat locks --help' for the options of a command.\n");
  p.locks = AddLocks(app, o, sw.locks_help);
  return p;
}

// The first argument nothing took, as a usage error; Ok if there is none.
Status CheckLeftOvers(const Parser& p) {
  if (auto rest = p.app->remaining(); !rest.empty()) {
    const std::string& arg = rest.front();
    if (arg.starts_with("-")) return Usage("unknown option '" + OptionName(arg) + "'");
    return Usage("unknown command '" + arg + "' (try 'gilstat --help')");
  }
  if (auto rest = p.locks->remaining(); !rest.empty()) {
    const std::string& arg = rest.front();
    if (arg.starts_with("-")) {
      return Usage("unknown option '" + OptionName(arg) + "' (try 'gilstat locks --help')");
    }
    return Usage("unexpected argument '" + arg + "' (try 'gilstat locks --help')");
  }
  return Status::Ok();
}

std::string FailureText(const CLI::App& app, const CLI::ParseError& e) {
  ParseFailure f = Explain(app, e);
  switch (f.kind) {
    case ParseFailure::Kind::kMissingValue:
      return "option '" + f.option + "' needs a value";
    case ParseFailure::Kind::kUnwantedValue:
      return "option '" + f.option + "' takes no value";
    case ParseFailure::Kind::kBadValue:
    case ParseFailure::Kind::kOther:
      break;
  }
  return f.message;
}

// What the parsed command line asks for, once CLI11 accepted it.
Result<CliArgs> Interpret(const Parser& p, const Switches& sw, CliArgs out) {
  if (Status s = CheckLeftOvers(p); !s.ok()) return s;
  if (sw.help || p.app->got_subcommand("help")) {
    out.command = Command::kHelp;
    return out;
  }
  if (sw.version) {
    out.command = Command::kVersion;
    return out;
  }
  if (!p.locks->parsed()) return Usage("missing command (try 'gilstat --help')");
  out.command = sw.locks_help ? Command::kLocksHelp : Command::kLocks;
  if (sw.locks_help) return out;
  const LocksOptions& o = out.locks;
  if (o.pids.empty() && !o.comm_regex && !o.exe_regex && !o.cmdline_regex) {
    return Usage("no target: give --pid, --comm, --exe or --cmdline");
  }
  // Regexes are checked here so that a bad one is a usage error.
  auto targets = tracker::TargetSet::Compile(TargetsOf(o), 0);
  if (!targets.ok()) return Usage(targets.error().message);
  return out;
}

}  // namespace

std::string VersionText() { return std::string("gilstat ") + GILSTAT_VERSION + "\n"; }

std::string MainUsage() {
  LocksOptions o;
  Switches sw;
  return MakeParser(o, sw).app->help();
}

std::string LocksUsage() {
  LocksOptions o;
  Switches sw;
  return MakeParser(o, sw).locks->help("gilstat");
}

Result<CliArgs> ParseArgs(const std::vector<std::string>& args) {
  CliArgs out;
  Switches sw;
  Parser p = MakeParser(out.locks, sw);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 pops from the back
  try {
    p.app->parse(reversed);
  } catch (const CLI::ParseError& e) {
    return Usage(FailureText(*p.app, e));
  }
  return Interpret(p, sw, std::move(out));
}

std::vector<tracker::MatchSpec> TargetsOf(const LocksOptions& o) {
  std::vector<tracker::MatchSpec> specs;
  if (!o.pids.empty()) specs.push_back({.pids = o.pids});
  if (o.comm_regex || o.exe_regex || o.cmdline_regex) {
    specs.push_back(
        {.comm_regex = o.comm_regex, .exe_regex = o.exe_regex, .cmdline_regex = o.cmdline_regex});
  }
  return specs;
}

}  // namespace gilstat::cli
