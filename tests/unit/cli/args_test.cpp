#include "cli/args.h"

#include <gtest/gtest.h>

namespace gilstat::cli {
namespace {

Result<CliArgs> Parse(std::vector<std::string> args) { return ParseArgs(args); }

std::string UsageError(std::vector<std::string> args) {
  auto r = Parse(std::move(args));
  EXPECT_FALSE(r.ok());
  if (r.ok()) return "";
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  return r.error().message;
}

TEST(ParseArgs, HelpAndVersion) {
  EXPECT_EQ(Parse({"--help"})->command, Command::kHelp);
  EXPECT_EQ(Parse({"-h"})->command, Command::kHelp);
  EXPECT_EQ(Parse({"--version"})->command, Command::kVersion);
  EXPECT_EQ(Parse({"locks", "--help"})->command, Command::kLocksHelp);
  EXPECT_EQ(Parse({"locks", "--bogus-but-later", "--help"}).ok(), false);
  EXPECT_EQ(Parse({"locks", "--pid", "1", "-h"})->command, Command::kLocksHelp);
  EXPECT_NE(VersionText().find("gilstat "), std::string::npos);
  EXPECT_NE(LocksUsage().find("--min-acquisitions"), std::string::npos);
}

TEST(ParseArgs, StacksOptions) {
  auto r = Parse({"stacks", "--pid", "12", "-d", "2.5", "-n", "5", "--holders", "--folded",
                  "--pprof", "/tmp/p.pb.gz", "--svg=/tmp/f.svg"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->command, Command::kStacks);
  const StacksOptions& o = r->stacks;
  EXPECT_EQ(o.pids, std::vector<pid_t>{12});
  EXPECT_EQ(o.duration_s, 2.5);
  EXPECT_EQ(o.top, 5u);
  EXPECT_TRUE(o.holders);
  EXPECT_TRUE(o.folded);
  EXPECT_FALSE(o.json);
  EXPECT_EQ(o.pprof_path, "/tmp/p.pb.gz");
  EXPECT_EQ(o.svg_path, "/tmp/f.svg");
  EXPECT_EQ(o.lock, WaitLock::kGil);
  EXPECT_EQ(Parse({"stacks", "-p", "1", "--lock", "threading"})->stacks.lock, WaitLock::kThreading);
  EXPECT_EQ(Parse({"stacks", "-p", "1", "--lock=GIL"})->stacks.lock, WaitLock::kGil);
  EXPECT_EQ(Parse({"stacks", "--help"})->command, Command::kStacksHelp);
}

TEST(ParseArgs, StacksUsageErrors) {
  EXPECT_EQ(Parse({"stacks"}).error().message, "no target: give --pid, --comm, --exe or --cmdline");
  EXPECT_EQ(Parse({"stacks", "-p", "1", "--folded", "--json"}).error().message,
            "--folded and --json exclude each other");
  EXPECT_EQ(Parse({"stacks", "-p", "1", "--top", "0"}).error().message,
            "invalid --top '0' (a count >= 1)");
  EXPECT_EQ(Parse({"stacks", "-p", "1", "--mode", "exact"}).error().message,
            "unknown option '--mode' (try 'gilstat stacks --help')");
  EXPECT_EQ(Parse({"stacks", "-p", "1", "--lock", "mutex"}).error().message,
            "invalid --lock 'mutex' (gil or threading)");
  EXPECT_EQ(Parse({"stacks", "-p", "1", "--holders", "--lock", "threading"}).error().message,
            "--holders is for the GIL: a threading lock's holder is not known");
}

TEST(ParseArgs, AllLocksOptions) {
  auto r = Parse({"locks", "--pid", "12", "-p", "34,56", "--pid=78", "--comm", "^python",
                  "--exe=/usr/bin/.*", "--cmdline", "worker", "--duration", "2.5", "--mode",
                  "exact", "--json", "--min-acquisitions", "10", "-v"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  const LocksOptions& o = r->locks;
  EXPECT_EQ(r->command, Command::kLocks);
  EXPECT_EQ(o.pids, (std::vector<pid_t>{12, 34, 56, 78}));
  EXPECT_EQ(o.comm_regex, "^python");
  EXPECT_EQ(o.exe_regex, "/usr/bin/.*");
  EXPECT_EQ(o.cmdline_regex, "worker");
  EXPECT_DOUBLE_EQ(*o.duration_s, 2.5);
  EXPECT_EQ(o.mode, ProbeMode::kExact);
  EXPECT_TRUE(o.json);
  EXPECT_EQ(o.min_acquisitions, 10u);
  EXPECT_TRUE(o.verbose);
}

TEST(ParseArgs, Defaults) {
  auto r = Parse({"locks", "--comm", "x"});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->locks.duration_s.has_value());
  EXPECT_EQ(r->locks.mode, ProbeMode::kCounting);
  EXPECT_FALSE(r->locks.json);
  EXPECT_EQ(r->locks.min_acquisitions, 0u);
}

TEST(ParseArgs, UsageErrors) {
  EXPECT_NE(UsageError({}).find("missing command"), std::string::npos);
  EXPECT_NE(UsageError({"lock"}).find("unknown command 'lock'"), std::string::npos);
  EXPECT_NE(UsageError({"--frobnicate"}).find("unknown option"), std::string::npos);
  EXPECT_NE(UsageError({"locks"}).find("no target"), std::string::npos);
  EXPECT_EQ(UsageError({"locks", "--pid"}), "option '--pid' needs a value");
  EXPECT_EQ(UsageError({"locks", "--comm", "x", "-d"}), "option '--duration' needs a value");
  EXPECT_EQ(UsageError({"locks", "--comm", "x", "--bogus=1"}),
            "unknown option '--bogus' (try 'gilstat locks --help')");
  EXPECT_EQ(UsageError({"--version=2"}), "option '--version' takes no value");
  EXPECT_NE(UsageError({"locks", "--pid", "abc"}).find("invalid pid 'abc'"), std::string::npos);
  EXPECT_NE(UsageError({"locks", "--pid", "0"}).find("invalid pid"), std::string::npos);
  EXPECT_NE(UsageError({"locks", "--pid", "-5"}).find("invalid pid"), std::string::npos);
  EXPECT_NE(UsageError({"locks", "--pid", "1,x"}).find("invalid pid 'x'"), std::string::npos);
  EXPECT_NE(UsageError({"locks", "--pid", "0x10"}).find("invalid pid '0x10'"), std::string::npos);
  EXPECT_NE(UsageError({"locks", "--pid", "2147483648"}).find("invalid pid"), std::string::npos);
  EXPECT_NE(UsageError({"locks", "--pid", "1", "--duration", "0"}).find("invalid duration"),
            std::string::npos);
  EXPECT_NE(UsageError({"locks", "--pid", "1", "--duration", "1s"}).find("invalid duration"),
            std::string::npos);
  EXPECT_NE(UsageError({"locks", "--pid", "1", "--duration", "nan"}).find("invalid duration"),
            std::string::npos);
  EXPECT_NE(UsageError({"locks", "--pid", "1", "--mode", "fast"}).find("invalid mode 'fast'"),
            std::string::npos);
  EXPECT_NE(UsageError({"locks", "--pid", "1", "--min-acquisitions", "-1"}).find("-1"),
            std::string::npos);
  EXPECT_NE(UsageError({"locks", "--pid", "1", "--json=yes"}).find("takes no value"),
            std::string::npos);
  EXPECT_NE(UsageError({"locks", "--comm", "pyth(on"}).find("bad comm regex"), std::string::npos);
  EXPECT_NE(UsageError({"locks", "--pid", "1", "extra"}).find("unexpected argument 'extra'"),
            std::string::npos);
  EXPECT_NE(UsageError({"locks", "--pid", "1", "--version"}).find("unknown option '--version'"),
            std::string::npos);
}

// CLI11 reads integers with base 0 ("010" would be 8) and unsigned ones wrap ("-1"): the
// values stay decimal as they always were.
TEST(ParseArgs, NumbersAreDecimal) {
  auto r = Parse({"locks", "--pid", "010", "--min-acquisitions", "007"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->locks.pids, (std::vector<pid_t>{10}));
  EXPECT_EQ(r->locks.min_acquisitions, 7u);
  EXPECT_NE(UsageError({"locks", "--pid", "1", "--min-acquisitions", "0x10"}).find("'0x10'"),
            std::string::npos);
}

// CLI11 skips empty items of a comma-separated list (the hand-written parser refused them).
TEST(ParseArgs, EmptyPidListItemsAreSkipped) {
  auto r = Parse({"locks", "--pid", "1,,2"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->locks.pids, (std::vector<pid_t>{1, 2}));
}

TEST(ParseArgs, LaterValuesWinAndFlagsCombine) {
  auto r = Parse({"locks", "--comm", "a", "--comm", "b", "-d", "1", "-d", "2", "-jv", "-p5"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->locks.comm_regex, "b");
  EXPECT_DOUBLE_EQ(*r->locks.duration_s, 2);
  EXPECT_TRUE(r->locks.json);
  EXPECT_TRUE(r->locks.verbose);
  EXPECT_EQ(r->locks.pids, (std::vector<pid_t>{5}));
}

TEST(Usage, EveryOptionWithItsDescriptionAndDefault) {
  const std::string locks = LocksUsage();
  for (const char* text : {"Usage: gilstat locks",
                           "-p,--pid PID",
                           "trace this process (repeatable; also PID,PID,...)",
                           "-c,--comm REGEX",
                           "processes whose name (comm) matches",
                           "-e,--exe REGEX",
                           "processes whose executable path matches",
                           "--cmdline REGEX",
                           "-d,--duration SECONDS",
                           "(default: until Ctrl-C or SIGTERM)",
                           "-m,--mode MODE",
                           "counting (the default here)",
                           "-j,--json",
                           "print JSON for scripts",
                           "--min-acquisitions N",
                           "hide locks acquired fewer than N times (default 0)",
                           "-v,--verbose",
                           "print libbpf's messages on stderr",
                           "-h,--help",
                           "Targets (at least one):",
                           "Exit status: 0 success, 1 runtime error"}) {
    EXPECT_NE(locks.find(text), std::string::npos) << "missing '" << text << "' in\n" << locks;
  }
  const std::string main = MainUsage();
  for (const char* text :
       {"Usage: gilstat", "-h,--help", "show this help", "-V,--version", "show the version",
        "Commands:", "locks", "trace semaphore waits of processes",
        "Run 'gilstat COMMAND --help' (locks, stacks, top) for the options of a command.", "top",
        "stacks", "attribute the GIL and threading-lock waits of CPython 3.11+"}) {
    EXPECT_NE(main.find(text), std::string::npos) << "missing '" << text << "' in\n" << main;
  }
  EXPECT_EQ(main.find("\n  help"), std::string::npos) << "the help command is not listed";
  const std::string stacks = StacksUsage();
  for (const char* text :
       {"Usage: gilstat stacks", "--pid", "--duration", "-n,--top", "--folded", "--holders",
        "--lock", "--json", "--pprof", "--svg", "default 10", "Exit status: 0 success"}) {
    EXPECT_NE(stacks.find(text), std::string::npos) << "missing '" << text << "' in\n" << stacks;
  }
  EXPECT_EQ(Parse({"help"})->command, Command::kHelp);
}

TEST(TargetsOf, PidsOrAllRegexesTogether) {
  LocksOptions o;
  o.pids = {5};
  o.comm_regex = "a";
  o.cmdline_regex = "b";
  auto specs = TargetsOf(o);
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[0].pids, (std::vector<pid_t>{5}));
  EXPECT_FALSE(specs[0].comm_regex.has_value());
  EXPECT_EQ(specs[1].comm_regex, "a");
  EXPECT_EQ(specs[1].cmdline_regex, "b");
  EXPECT_TRUE(specs[1].pids.empty());
  LocksOptions only_pids;
  only_pids.pids = {1};
  EXPECT_EQ(TargetsOf(only_pids).size(), 1u);
}

}  // namespace
}  // namespace gilstat::cli
