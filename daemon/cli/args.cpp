#include "cli/args.h"

#include <charconv>
#include <cmath>
#include <string_view>

#ifndef GILSTAT_VERSION
#define GILSTAT_VERSION "unknown"
#endif

namespace gilstat::cli {
namespace {

Error Usage(const std::string& msg) { return MakeError(ErrorCode::kInvalidArgument, msg); }

template <typename T>
bool ParseInt(std::string_view s, T* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

bool ParseDouble(const std::string& s, double* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  *out = std::strtod(s.c_str(), &end);
  return errno == 0 && end == s.c_str() + s.size() && std::isfinite(*out);
}

}  // namespace

std::string VersionText() { return std::string("gilstat ") + GILSTAT_VERSION + "\n"; }

std::string MainUsage() {
  return "Usage: gilstat COMMAND [OPTIONS]\n"
         "\n"
         "Measures lock contention (semaphores such as the GIL of Python-style runtimes) in\n"
         "running processes with eBPF. Needs root (or CAP_BPF and CAP_PERFMON) and a kernel\n"
         "with BTF.\n"
         "\n"
         "Commands:\n"
         "  locks       trace semaphore waits of processes and print per-lock statistics\n"
         "\n"
         "Options:\n"
         "  -h, --help     show this help\n"
         "  -V, --version  show the version\n"
         "\n"
         "Run 'gilstat locks --help' for the options of a command.\n";
}

std::string LocksUsage() {
  return "Usage: gilstat locks [--pid PID]... [--comm REGEX] [--exe REGEX] [--cmdline REGEX]\n"
         "                     [--duration SECONDS] [--mode counting|default|exact]\n"
         "                     [--json] [--min-acquisitions N] [--verbose]\n"
         "\n"
         "Attaches to the matching processes, waits for the duration (or until Ctrl-C or\n"
         "SIGTERM), then prints per-process, per-lock statistics sorted by total wait time,\n"
         "with log2 histograms of wait times in nanoseconds.\n"
         "\n"
         "Targets (at least one):\n"
         "  -p, --pid PID          trace this process (repeatable; also PID,PID,...)\n"
         "  -c, --comm REGEX       processes whose name (comm) matches\n"
         "  -e, --exe REGEX        processes whose executable path matches\n"
         "      --cmdline REGEX    processes whose command line (arguments joined by spaces)\n"
         "                         matches\n"
         "  --comm/--exe/--cmdline together must all match; processes that start during the\n"
         "  run and match are traced too. Regexes are ECMAScript and search: anchor with ^ $.\n"
         "\n"
         "Options:\n"
         "  -d, --duration SECONDS  how long to trace (default: until Ctrl-C or SIGTERM)\n"
         "  -m, --mode MODE         counting (the default here): every acquisition counted,\n"
         "                          ~1-2.5 us per semaphore operation; default (gilstatd's\n"
         "                          default): only contended waits and the wakes ending\n"
         "                          them, nothing on the uncontended path; exact: entry\n"
         "                          probes on every function, ~10 us per call (docs/PROBES.md)\n"
         "  -j, --json              print JSON for scripts (see docs/CLI.md; times in ns)\n"
         "      --min-acquisitions N  hide locks acquired fewer than N times (default 0)\n"
         "  -v, --verbose           print libbpf's messages on stderr\n"
         "  -h, --help              show this help\n"
         "\n"
         "Exit status: 0 success, 1 runtime error (no such process, no libc, missing\n"
         "privileges or BTF), 2 usage error.\n";
}

Result<CliArgs> ParseArgs(const std::vector<std::string>& args) {
  CliArgs out;
  if (args.empty()) return Usage("missing command (try 'gilstat --help')");
  const std::string& cmd = args[0];
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    out.command = Command::kHelp;
    return out;
  }
  if (cmd == "-V" || cmd == "--version") {
    out.command = Command::kVersion;
    return out;
  }
  if (cmd != "locks") {
    if (!cmd.empty() && cmd[0] == '-') return Usage("unknown option '" + cmd + "'");
    return Usage("unknown command '" + cmd + "' (try 'gilstat --help')");
  }
  out.command = Command::kLocks;
  LocksOptions& o = out.locks;
  for (size_t i = 1; i < args.size(); ++i) {
    std::string arg = args[i];
    std::optional<std::string> inline_value;
    if (arg.starts_with("--")) {
      if (size_t eq = arg.find('='); eq != std::string::npos) {
        inline_value = arg.substr(eq + 1);
        arg.resize(eq);
      }
    }
    auto is = [&](const char* s, const char* l) { return (s && arg == s) || arg == l; };
    // The option's value: after '=' or the next argument.
    auto value = [&](std::string* v) -> Status {
      if (inline_value) {
        *v = *inline_value;
        return Status::Ok();
      }
      if (i + 1 >= args.size()) return Usage("option '" + arg + "' needs a value");
      *v = args[++i];
      return Status::Ok();
    };
    auto flag = [&]() -> Status {
      if (inline_value) return Usage("option '" + arg + "' takes no value");
      return Status::Ok();
    };
    std::string v;
    if (is("-h", "--help")) {
      out.command = Command::kLocksHelp;
      return out;
    } else if (is("-p", "--pid")) {
      if (Status s = value(&v); !s.ok()) return s;
      std::string_view rest = v;
      while (true) {
        size_t comma = rest.find(',');
        std::string_view one = rest.substr(0, comma);
        pid_t pid = 0;
        if (!ParseInt(one, &pid) || pid <= 0) {
          return Usage("invalid pid '" + std::string(one) + "'");
        }
        o.pids.push_back(pid);
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
    } else if (is("-c", "--comm")) {
      if (Status s = value(&v); !s.ok()) return s;
      o.comm_regex = v;
    } else if (is("-e", "--exe")) {
      if (Status s = value(&v); !s.ok()) return s;
      o.exe_regex = v;
    } else if (is(nullptr, "--cmdline")) {
      if (Status s = value(&v); !s.ok()) return s;
      o.cmdline_regex = v;
    } else if (is("-d", "--duration")) {
      if (Status s = value(&v); !s.ok()) return s;
      double d = 0;
      if (!ParseDouble(v, &d) || d <= 0 || d > 365.0 * 86400) {
        return Usage("invalid duration '" + v + "' (seconds, > 0)");
      }
      o.duration_s = d;
    } else if (is("-m", "--mode")) {
      if (Status s = value(&v); !s.ok()) return s;
      auto mode = ParseProbeMode(v);
      if (!mode) return Usage("invalid mode '" + v + "' (" + kProbeModeChoices + ")");
      o.mode = *mode;
    } else if (is("-j", "--json")) {
      if (Status s = flag(); !s.ok()) return s;
      o.json = true;
    } else if (is(nullptr, "--min-acquisitions")) {
      if (Status s = value(&v); !s.ok()) return s;
      if (!ParseInt(v, &o.min_acquisitions)) {
        return Usage("invalid --min-acquisitions '" + v + "' (a count >= 0)");
      }
    } else if (is("-v", "--verbose")) {
      if (Status s = flag(); !s.ok()) return s;
      o.verbose = true;
    } else if (!arg.empty() && arg[0] == '-') {
      return Usage("unknown option '" + arg + "' (try 'gilstat locks --help')");
    } else {
      return Usage("unexpected argument '" + arg + "' (try 'gilstat locks --help')");
    }
  }
  if (o.pids.empty() && !o.comm_regex && !o.exe_regex && !o.cmdline_regex) {
    return Usage("no target: give --pid, --comm, --exe or --cmdline");
  }
  // Regexes are checked here so that a bad one is a usage error.
  auto targets = tracker::TargetSet::Compile(TargetsOf(o), 0);
  if (!targets.ok()) return Usage(targets.error().message);
  return out;
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
