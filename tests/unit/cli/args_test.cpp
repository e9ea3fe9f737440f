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
  EXPECT_NE(UsageError({"locks", "--pid"}).find("needs a value"), std::string::npos);
  EXPECT_NE(UsageError({"locks", "--pid", "abc"}).find("invalid pid 'abc'"), std::string::npos);
  EXPECT_NE(UsageError({"locks", "--pid", "0"}).find("invalid pid"), std::string::npos);
  EXPECT_NE(UsageError({"locks", "--pid", "-5"}).find("invalid pid"), std::string::npos);
  EXPECT_NE(UsageError({"locks", "--pid", "1,,2"}).find("invalid pid ''"), std::string::npos);
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
