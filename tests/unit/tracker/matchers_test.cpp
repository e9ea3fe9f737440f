#include "tracker/matchers.h"

#include <gtest/gtest.h>

#include <chrono>

namespace gilstat::tracker {
namespace {

constexpr pid_t kSelf = 999;

ProcessInfo Proc(pid_t pid, std::string comm, std::string exe = "/usr/bin/x",
                 std::vector<std::string> argv = {}, std::string cgroup = "/") {
  ProcessInfo p;
  p.pid = pid;
  p.comm = std::move(comm);
  p.exe = std::move(exe);
  p.argv = std::move(argv);
  p.cgroup = std::move(cgroup);
  p.fields = kProcAll;
  return p;
}

Matcher Compile(const MatchSpec& spec) {
  auto m = Matcher::Compile(spec, kSelf);
  EXPECT_TRUE(m.ok()) << m.error().message;
  return std::move(m).value();
}

TEST(Matcher, PidList) {
  Matcher m = Compile({.pids = {10, 20}});
  EXPECT_TRUE(m.Matches(Proc(10, "a")));
  EXPECT_TRUE(m.Matches(Proc(20, "b")));
  EXPECT_FALSE(m.Matches(Proc(30, "a")));
  EXPECT_TRUE(m.PidsOnly());
  EXPECT_EQ(m.NeededFields(), unsigned{kProcStat});
}

TEST(Matcher, CommRegexSearchesUnlessAnchored) {
  Matcher m = Compile({.comm_regex = "python"});
  EXPECT_TRUE(m.Matches(Proc(1, "python3.11")));
  EXPECT_TRUE(m.Matches(Proc(1, "ipython")));
  EXPECT_FALSE(m.Matches(Proc(1, "perl")));
  Matcher exact = Compile({.comm_regex = "^python3$"});
  EXPECT_TRUE(exact.Matches(Proc(1, "python3")));
  EXPECT_FALSE(exact.Matches(Proc(1, "python3.11")));
  EXPECT_FALSE(m.PidsOnly());
  EXPECT_TRUE(m.NeededFields() & kProcComm);
}

TEST(Matcher, ExeAndCmdlineRegex) {
  Matcher exe = Compile({.exe_regex = "^/usr/bin/python3"});
  EXPECT_TRUE(exe.Matches(Proc(1, "x", "/usr/bin/python3.11")));
  EXPECT_FALSE(exe.Matches(Proc(1, "x", "/usr/local/bin/python3.11")));
  Matcher cmd = Compile({.cmdline_regex = "-m http\\.server"});
  EXPECT_TRUE(cmd.Matches(Proc(1, "x", "", {"python3", "-m", "http.server", "8000"})));
  EXPECT_FALSE(cmd.Matches(Proc(1, "x", "", {"python3", "-m", "http_server"})));
  EXPECT_TRUE(exe.NeededFields() & kProcExe);
  EXPECT_TRUE(cmd.NeededFields() & kProcCmdline);
}

TEST(Matcher, UnreadableFieldDoesNotMatch) {
  Matcher exe = Compile({.exe_regex = ".*"});
  ProcessInfo p = Proc(1, "x", "");
  p.fields &= ~unsigned{kProcExe};  // e.g. another user's process without privileges
  EXPECT_FALSE(exe.Matches(p));
}

TEST(Matcher, CriteriaOfOneSpecMustAllHold) {
  Matcher m = Compile({.comm_regex = "^python", .cmdline_regex = "worker"});
  EXPECT_TRUE(m.Matches(Proc(1, "python3", "", {"python3", "worker.py"})));
  EXPECT_FALSE(m.Matches(Proc(1, "python3", "", {"python3", "web.py"})));
  EXPECT_FALSE(m.Matches(Proc(1, "ruby", "", {"ruby", "worker.rb"})));
  Matcher pid_and_comm = Compile({.pids = {5}, .comm_regex = "a"});
  EXPECT_TRUE(pid_and_comm.Matches(Proc(5, "abc")));
  EXPECT_FALSE(pid_and_comm.Matches(Proc(5, "xyz")));
  EXPECT_FALSE(pid_and_comm.Matches(Proc(6, "abc")));
}

TEST(Matcher, CgroupPrefixMatchesWholeComponents) {
  Matcher m = Compile({.cgroup_prefix = "/system.slice/"});
  EXPECT_TRUE(m.Matches(Proc(1, "x", "", {}, "/system.slice/foo.service")));
  EXPECT_TRUE(m.Matches(Proc(1, "x", "", {}, "/system.slice")));
  EXPECT_FALSE(m.Matches(Proc(1, "x", "", {}, "/system.slice2/foo.service")));
  EXPECT_FALSE(m.Matches(Proc(1, "x", "", {}, "/user.slice")));
  EXPECT_TRUE(m.NeededFields() & kProcCgroup);
  Matcher re = Compile({.cgroup_regex = "docker-[0-9a-f]+\\.scope$"});
  EXPECT_TRUE(re.Matches(Proc(1, "x", "", {}, "/system.slice/docker-abc123.scope")));
  EXPECT_FALSE(re.Matches(Proc(1, "x", "", {}, "/system.slice/docker.service")));
}

TEST(SystemdUnitOfCgroup, FirstComponentAfterSlices) {
  EXPECT_EQ(SystemdUnitOfCgroup("/system.slice/foo.service"), "foo.service");
  EXPECT_EQ(SystemdUnitOfCgroup("/system.slice/foo.service/payload"), "foo.service");
  EXPECT_EQ(SystemdUnitOfCgroup("/system.slice/system-getty.slice/getty@tty1.service"),
            "getty@tty1.service");
  EXPECT_EQ(
      SystemdUnitOfCgroup("/user.slice/user-1000.slice/user@1000.service/app.slice/x.service"),
      "user@1000.service");
  EXPECT_EQ(SystemdUnitOfCgroup("/user.slice/user-1000.slice/session-3.scope"), "session-3.scope");
  EXPECT_EQ(SystemdUnitOfCgroup("/init.scope"), "init.scope");
  EXPECT_EQ(SystemdUnitOfCgroup("/system.slice"), "");
  EXPECT_EQ(SystemdUnitOfCgroup("/"), "");
  EXPECT_EQ(SystemdUnitOfCgroup(""), "");
  EXPECT_EQ(SystemdUnitOfCgroup("/docker/abcdef"), "");
}

TEST(Matcher, SystemdUnitWithAndWithoutSuffix) {
  Matcher m = Compile({.systemd_unit = "web"});
  EXPECT_TRUE(m.Matches(Proc(1, "x", "", {}, "/system.slice/web.service")));
  EXPECT_TRUE(m.Matches(Proc(1, "x", "", {}, "/system.slice/web.service/worker")));
  EXPECT_FALSE(m.Matches(Proc(1, "x", "", {}, "/system.slice/web2.service")));
  EXPECT_FALSE(m.Matches(Proc(1, "x", "", {}, "/system.slice/other.service/web.service")));
  Matcher scope = Compile({.systemd_unit = "session-3.scope"});
  EXPECT_TRUE(scope.Matches(Proc(1, "x", "", {}, "/user.slice/user-0.slice/session-3.scope")));
  EXPECT_FALSE(scope.Matches(Proc(1, "x", "", {}, "/user.slice/user-0.slice/session-4.scope")));
}

TEST(Matcher, SelfIsTheCallingProcessOnly) {
  Matcher self = Compile({.self = true});
  EXPECT_TRUE(self.Matches(Proc(kSelf, "gilstatd")));
  EXPECT_FALSE(self.Matches(Proc(kSelf + 1, "gilstatd")));
  EXPECT_TRUE(self.PidsOnly());
  // Regexes never pick the calling process or kernel threads...
  Matcher any = Compile({.comm_regex = ".*"});
  EXPECT_FALSE(any.Matches(Proc(kSelf, "gilstatd")));
  ProcessInfo kthread = Proc(2, "kthreadd", "");
  kthread.kernel_thread = true;
  EXPECT_FALSE(any.Matches(kthread));
  EXPECT_TRUE(any.Matches(Proc(3, "bash")));
  // ...but naming them does.
  EXPECT_TRUE(Compile({.pids = {2}}).Matches(kthread));
  EXPECT_TRUE(Compile({.pids = {kSelf}}).Matches(Proc(kSelf, "gilstatd")));
  Matcher pid_or_self = Compile({.pids = {7}, .self = true});
  EXPECT_TRUE(pid_or_self.Matches(Proc(7, "a")));
  EXPECT_TRUE(pid_or_self.Matches(Proc(kSelf, "a")));
  EXPECT_FALSE(pid_or_self.Matches(Proc(8, "a")));
}

TEST(Matcher, CompileErrors) {
  auto empty = Matcher::Compile({}, kSelf);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, ErrorCode::kInvalidArgument);
  auto bad = Matcher::Compile({.comm_regex = "pyth(on"}, kSelf);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.error().message.find("comm regex 'pyth(on'"), std::string::npos)
      << bad.error().message;
  EXPECT_FALSE(Matcher::Compile({.cmdline_regex = "["}, kSelf).ok());
  EXPECT_FALSE(Matcher::Compile({.cgroup_prefix = "system.slice"}, kSelf).ok());
  EXPECT_FALSE(Matcher::Compile({.systemd_unit = "a/b.service"}, kSelf).ok());
}

TEST(TargetSet, AnySpecMatches) {
  auto set =
      TargetSet::Compile({{.pids = {4, 2}}, {.comm_regex = "^java$"}, {.self = true}}, kSelf);
  ASSERT_TRUE(set.ok());
  EXPECT_TRUE(set->Matches(Proc(4, "sh")));
  EXPECT_TRUE(set->Matches(Proc(77, "java")));
  EXPECT_TRUE(set->Matches(Proc(kSelf, "gilstat")));
  EXPECT_FALSE(set->Matches(Proc(78, "javac")));
  EXPECT_FALSE(set->PidsOnly());
  EXPECT_EQ(set->ExplicitPids(), (std::vector<pid_t>{2, 4, kSelf}));
  EXPECT_TRUE(set->NeededFields() & kProcComm);
  EXPECT_EQ(set->Describe(), "(pid 4|2) or (comm ~ /^java$/) or (self)");

  auto pids = TargetSet::Compile({{.pids = {3}}, {.self = true}}, kSelf);
  ASSERT_TRUE(pids.ok());
  EXPECT_TRUE(pids->PidsOnly());
  EXPECT_FALSE(TargetSet::Compile({{.pids = {3}}, {.exe_regex = "("}}, kSelf).ok());
}

// A process controls its command line: a long one must neither crash the matcher (std::regex
// recursed per character and exhausted the stack at ~30,000) nor make a backtracking pattern
// take exponential time.
TEST(Matcher, HostileCommandLineMatchesInBoundedTime) {
  const std::string huge(1 << 20, 'a');
  const auto start = std::chrono::steady_clock::now();
  Matcher any = Compile({.cmdline_regex = ".*"});
  EXPECT_TRUE(any.Matches(Proc(1, "x", "/x", {huge})));
  Matcher nested = Compile({.cmdline_regex = "(a+)+$"});
  EXPECT_TRUE(nested.Matches(Proc(1, "x", "/x", {huge})));
  EXPECT_FALSE(nested.Matches(Proc(1, "x", "/x", {huge + "!"})));
  Matcher spaced = Compile({.cmdline_regex = "(x+x+)+y"});
  EXPECT_FALSE(spaced.Matches(Proc(1, "x", "/x", {std::string(1 << 20, 'x')})));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::seconds(1));
}

TEST(Matcher, MatchesBytesThatAreNotUtf8) {
  Matcher m = Compile({.exe_regex = "^/tmp/ev.*$"});
  EXPECT_TRUE(m.Matches(Proc(1, "ev\xff\xfe", "/tmp/ev\xff\xfe")));
  Matcher byte = Compile({.comm_regex = "^ev.\\xfe$"});
  EXPECT_TRUE(byte.Matches(Proc(1, "ev\xff\xfe")));
}

TEST(Matcher, BadRegexIsAnErrorWithTheReason) {
  auto m = Matcher::Compile({.cmdline_regex = "(unclosed"}, kSelf);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("bad cmdline regex '(unclosed'"), std::string::npos);
  EXPECT_NE(m.error().message.find("missing )"), std::string::npos) << m.error().message;
  // Backreferences need backtracking: RE2 refuses them.
  EXPECT_FALSE(Matcher::Compile({.comm_regex = "(a)\\1"}, kSelf).ok());
  EXPECT_TRUE(CheckRegex("^python[0-9.]*$").ok());
  EXPECT_FALSE(CheckRegex("[z-a]").ok());
}

}  // namespace
}  // namespace gilstat::tracker
