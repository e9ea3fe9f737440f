#include "cli/args.h"

#include <CLI/CLI.hpp>

#include <climits>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
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
  bool stacks_help = false;
  bool top_help = false;
};

// The definition of both levels of the command line; `app` owns the commands.
struct Parser {
  std::unique_ptr<CLI::App> app;
  CLI::App* locks = nullptr;
  CLI::App* stacks = nullptr;
  CLI::App* top = nullptr;
};

std::string InvalidDuration(const std::string& v) {
  return "invalid duration '" + v + "' (seconds, > 0)";
}

void AddTargets(CLI::App& cmd, TargetOptions& o) {
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

void AddDuration(CLI::App& cmd, TargetOptions& o) {
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
}

void AddOptions(CLI::App& cmd, LocksOptions& o, bool& help) {
  const LocksOptions defaults;
  AddDuration(cmd, o);
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

// A command of `gilstat`: its targets, then the options `add_options` adds, flags that take no
// value, and its footer.
template <typename Options>
CLI::App* AddCommand(CLI::App& app, const char* name, const std::string& description, Options& o,
                     const std::function<void(CLI::App&)>& add_options, const char* footer) {
  CLI::App* cmd = app.add_subcommand(name, description);
  cmd->set_help_flag();  // -h is an ordinary flag: an unknown option still is an error
  cmd->allow_extras();   // left over arguments are reported in the words of this tool
  cmd->group("Commands");
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)->group(kTargets);
  AddTargets(*cmd, o);
  cmd->option_defaults()->group("Options");
  add_options(*cmd);
  // Flags take no value: CLI11 would read --json=no as false.
  for (CLI::Option* opt : cmd->get_options()) {
    if (opt->get_items_expected_max() == 0) opt->disable_flag_override();
  }
  cmd->footer(footer);
  return cmd;
}

CLI::App* AddLocks(CLI::App& app, LocksOptions& o, bool& help) {
  return AddCommand(
      app, "locks", "trace semaphore waits of processes and print per-lock statistics", o,
      [&](CLI::App& cmd) { AddOptions(cmd, o, help); },
      "--comm/--exe/--cmdline together must all match; processes that start during the\n"
      "run and match are traced too. Regexes are ECMAScript and search: anchor with ^ $.\n"
      "\n"
      "Attaches to the matching processes, waits for the duration (or until Ctrl-C or\n"
      "SIGTERM), then prints per-process, per-lock statistics sorted by total wait time,\n"
      "with log2 histograms of wait times in nanoseconds.\n"
      "\n"
      "Exit status: 0 success, 1 runtime error (no such process, no libc, missing\n"
      "privileges or BTF), 2 usage error.\n");
}

void AddStacksOptions(CLI::App& cmd, StacksOptions& o, bool& help) {
  AddDuration(cmd, o);
  cmd.add_option("-n,--top", o.top, "stacks per table (default " + std::to_string(o.top) + ")")
      ->type_name("N")
      ->transform(Worded(Decimal() & CLI::Range(1, 100000), [](const std::string& v) {
        return "invalid --top '" + v + "' (a count >= 1)";
      }));
  cmd.add_flag("--folded", o.folded,
               "print folded stacks (one 'frame;frame;... microseconds'\nline per stack, the "
               "flame-graph tools' input)");
  cmd.add_flag("--holders", o.holders,
               "--folded/--pprof: the holders' stacks (whom to blame)\ninstead of the waiters'");
  cmd.add_option("--lock", o.lock,
                 "--folded/--pprof: the waits for 'gil' (default) or for\n'threading' locks "
                 "(threading.Lock, RLock, Condition...;\nwaiters only)")
      ->type_name("LOCK")
      ->transform(Worded(
          CLI::CheckedTransformer(
              std::map<std::string, WaitLock>{{"gil", WaitLock::kGil},
                                              {"threading", WaitLock::kThreading}},
              CLI::ignore_case),
          [](const std::string& v) { return "invalid --lock '" + v + "' (gil or threading)"; }));
  cmd.add_flag("-j,--json", o.json, "print JSON for scripts (see docs/CLI.md; times in ns)");
  cmd.add_option("--pprof", o.pprof_path,
                 "write a gzipped pprof profile (gil_wait/nanoseconds,\nor with --lock "
                 "threading lock_wait/nanoseconds; count)\nto FILE")
      ->type_name("FILE");
  cmd.add_option("--svg", o.svg_path,
                 "write flame graphs of the waiters and of the holders\n(and of the "
                 "threading-lock waiters) to FILE (one\nself-contained SVG)")
      ->type_name("FILE");
  cmd.add_flag("-v,--verbose", o.verbose, "print libbpf's messages on stderr");
  cmd.add_flag("-h,--help", help, "show this help");
}

CLI::App* AddStacks(CLI::App& app, StacksOptions& o, bool& help) {
  return AddCommand(
      app, "stacks",
      "attribute the GIL and threading-lock waits of CPython 3.11+\nprocesses to the Python "
      "stacks that waited (and, for the GIL, to\nthose of the threads they waited for)",
      o, [&](CLI::App& cmd) { AddStacksOptions(cmd, o, help); },
      "At every contended GIL wait the kernel reads the Python stack of the waiting\n"
      "thread and that of the GIL's holder, and adds the wait's time to the pair; at\n"
      "every contended threading-lock wait, the waiter's stack. At the end (the\n"
      "duration, Ctrl-C or SIGTERM) it prints per process the stacks that waited most\n"
      "for the GIL, the holders that made them wait, and the stacks that waited most\n"
      "for threading locks (docs/PYTHON.md, \"Stacks\").\n"
      "\n"
      "Exit status: 0 success, 1 runtime error (no such process, missing privileges or\n"
      "BTF, a file not written), 2 usage error.\n");
}

void AddTopOptions(CLI::App& cmd, TopOptions& o, bool& help) {
  AddDuration(cmd, o);
  cmd.add_option("-i,--interval", o.interval_s, "seconds between refreshes (default 1)")
      ->type_name("SECONDS")
      ->check(Worded(CLI::Range(0.1, 3600.0), [](const std::string& v) {
        return "invalid --interval '" + v + "' (seconds, 0.1 to 3600)";
      }));
  cmd.add_flag("--once", o.once,
               "print one plain-text frame after one interval and exit\n(also what happens "
               "when not on a terminal)");
  cmd.add_flag("-v,--verbose", o.verbose, "print libbpf's messages on stderr");
  cmd.add_flag("-h,--help", help, "show this help");
}

CLI::App* AddTop(CLI::App& app, TopOptions& o, bool& help) {
  return AddCommand(
      app, "top",
      "a live view of the GIL of CPython processes: wait, utilization,\nhandoffs, and the "
      "functions that wait and make others wait",
      o, [&](CLI::App& cmd) { AddTopOptions(cmd, o, help); },
      "Columns: WAIT/s, the contended GIL wait per second of the process (all its\n"
      "threads); UTIL, the share of samples that found its GIL held; HANDOFF/s; and the\n"
      "innermost function of the stack that waited most <- that of the holder blamed\n"
      "most (CPython 3.11+). Keys: w, u, h sort by wait, utilization, handoffs; q quits.\n"
      "\n"
      "Exit status: 0 success, 1 runtime error, 2 usage error.\n");
}

Parser MakeParser(LocksOptions& o, StacksOptions& so, TopOptions& to, Switches& sw) {
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
  app.footer("Run 'gilstat COMMAND --help' (locks, stacks, top) for the options of a command.\n");
  p.locks = AddLocks(app, o, sw.locks_help);
  p.stacks = AddStacks(app, so, sw.stacks_help);
  p.top = AddTop(app, to, sw.top_help);
  return p;
}

// The first argument nothing took, as a usage error; Ok if there is none.
Status CheckLeftOvers(const Parser& p) {
  if (auto rest = p.app->remaining(); !rest.empty()) {
    const std::string& arg = rest.front();
    if (arg.starts_with("-")) return Usage("unknown option '" + OptionName(arg) + "'");
    return Usage("unknown command '" + arg + "' (try 'gilstat --help')");
  }
  for (CLI::App* cmd : {p.locks, p.stacks, p.top}) {
    if (auto rest = cmd->remaining(); !rest.empty()) {
      const std::string& arg = rest.front();
      const std::string help = " (try 'gilstat " + cmd->get_name() + " --help')";
      if (arg.starts_with("-")) return Usage("unknown option '" + OptionName(arg) + "'" + help);
      return Usage("unexpected argument '" + arg + "'" + help);
    }
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

// At least one target, and regexes that compile (a bad one is a usage error).
Status CheckTargets(const TargetOptions& o) {
  if (o.pids.empty() && !o.comm_regex && !o.exe_regex && !o.cmdline_regex) {
    return Usage("no target: give --pid, --comm, --exe or --cmdline");
  }
  auto targets = tracker::TargetSet::Compile(TargetsOf(o), 0);
  if (!targets.ok()) return Usage(targets.error().message);
  return Status::Ok();
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
  if (p.top->parsed()) {
    out.command = sw.top_help ? Command::kTopHelp : Command::kTop;
    if (sw.top_help) return out;
    if (Status s = CheckTargets(out.top); !s.ok()) return s;
    return out;
  }
  if (p.stacks->parsed()) {
    out.command = sw.stacks_help ? Command::kStacksHelp : Command::kStacks;
    if (sw.stacks_help) return out;
    if (Status s = CheckTargets(out.stacks); !s.ok()) return s;
    if (out.stacks.folded && out.stacks.json)
      return Usage("--folded and --json exclude each other");
    if (out.stacks.holders && out.stacks.lock == WaitLock::kThreading)
      return Usage("--holders is for the GIL: a threading lock's holder is not known");
    return out;
  }
  if (!p.locks->parsed()) return Usage("missing command (try 'gilstat --help')");
  out.command = sw.locks_help ? Command::kLocksHelp : Command::kLocks;
  if (sw.locks_help) return out;
  if (Status s = CheckTargets(out.locks); !s.ok()) return s;
  return out;
}

}  // namespace

std::string VersionText() { return std::string("gilstat ") + GILSTAT_VERSION + "\n"; }

namespace {

// The help of the command `which` picks from a parser ("" for the main one).
std::string UsageOf(CLI::App* Parser::*which) {
  LocksOptions o;
  StacksOptions so;
  TopOptions to;
  Switches sw;
  Parser p = MakeParser(o, so, to, sw);
  return which ? (p.*which)->help("gilstat") : p.app->help();
}

}  // namespace

std::string MainUsage() { return UsageOf(nullptr); }
std::string LocksUsage() { return UsageOf(&Parser::locks); }
std::string StacksUsage() { return UsageOf(&Parser::stacks); }
std::string TopUsage() { return UsageOf(&Parser::top); }

Result<CliArgs> ParseArgs(const std::vector<std::string>& args) {
  CliArgs out;
  Switches sw;
  Parser p = MakeParser(out.locks, out.stacks, out.top, sw);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 pops from the back
  try {
    p.app->parse(reversed);
  } catch (const CLI::ParseError& e) {
    return Usage(FailureText(*p.app, e));
  }
  return Interpret(p, sw, std::move(out));
}

std::vector<tracker::MatchSpec> TargetsOf(const TargetOptions& o) {
  std::vector<tracker::MatchSpec> specs;
  if (!o.pids.empty()) specs.push_back({.pids = o.pids});
  if (o.comm_regex || o.exe_regex || o.cmdline_regex) {
    specs.push_back(
        {.comm_regex = o.comm_regex, .exe_regex = o.exe_regex, .cmdline_regex = o.cmdline_regex});
  }
  return specs;
}

}  // namespace gilstat::cli
