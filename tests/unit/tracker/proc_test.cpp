#include "tracker/proc.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "gilstat/auxv.h"
#include "tests/unit/tracker/fake_proc.h"

namespace gilstat::tracker {
namespace {

using testing::FakeProc;
using testing::FakeProcess;

// AT_BASE of the auxiliary vector: a dynamic loader or none (statically linked).
TEST(HasInterpreter, TellsADynamicallyLinkedProgramFromAStaticOne) {
  auto self = HasInterpreter(getpid());  // this test is dynamically linked
  ASSERT_TRUE(self.ok()) << self.error().message;
  EXPECT_TRUE(*self);
  FakeProc proc;
  proc.Add({.pid = 10, .dynamic = true});
  proc.Add({.pid = 11, .dynamic = false});
  proc.Add({.pid = 12});  // no auxv file
  EXPECT_EQ(HasInterpreter(10, proc.root()).value(), true);
  EXPECT_EQ(HasInterpreter(11, proc.root()).value(), false);
  EXPECT_EQ(HasInterpreter(12, proc.root()).error().code, ErrorCode::kNotFound);
  proc.WriteFile(12, "auxv", std::string(16, '\0'));  // AT_NULL only
  EXPECT_EQ(HasInterpreter(12, proc.root()).error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(HasInterpreter(13, proc.root()).error().code, ErrorCode::kNotFound);
}

TEST(ParseStat, CommWithSpacesAndParentheses) {
  ProcessInfo info;
  std::string line =
      "4242 (my (odd) prog) R 17 4242 4242 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 3 0 "
      "987654 1000 100\n";
  ASSERT_TRUE(ParseStat(line, &info).ok());
  EXPECT_EQ(info.pid, 4242);
  EXPECT_EQ(info.comm, "my (odd) prog");
  EXPECT_EQ(info.state, 'R');
  EXPECT_EQ(info.ppid, 17);
  EXPECT_EQ(info.num_threads, 3);
  EXPECT_EQ(info.start_time, 987654u);
  EXPECT_FALSE(info.kernel_thread);
}

TEST(ParseStat, KernelThreadFlag) {
  ProcessInfo info;
  ASSERT_TRUE(
      ParseStat("2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0\n", &info).ok());
  EXPECT_TRUE(info.kernel_thread);
}

TEST(ParseStat, RejectsTruncatedLines) {
  ProcessInfo info;
  EXPECT_FALSE(ParseStat("12 (x) S 1 2", &info).ok());
  EXPECT_FALSE(ParseStat("garbage", &info).ok());
  EXPECT_FALSE(ParseStat("x (a) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0", &info).ok());
}

TEST(ParseCgroupFile, PrefersUnifiedHierarchy) {
  EXPECT_EQ(ParseCgroupFile("0::/system.slice/foo.service\n"), "/system.slice/foo.service");
  EXPECT_EQ(ParseCgroupFile("12:cpu,cpuacct:/x\n1:name=systemd:/system.slice/a.service\n"
                            "0::/system.slice/b.service\n"),
            "/system.slice/b.service");
  EXPECT_EQ(ParseCgroupFile("12:cpu:/x\n1:name=systemd:/system.slice/a.service\n"),
            "/system.slice/a.service");
  EXPECT_EQ(ParseCgroupFile("12:cpu:/x\n"), "");
}

TEST(ProcFs, ReadsEveryFieldOfAFakeProcess) {
  FakeProc proc;
  FakeProcess p;
  p.pid = 321;
  p.ppid = 7;
  p.comm = "python3";
  p.exe = "/usr/bin/python3.11";
  p.argv = {"python3", "-m", "http.server"};
  p.cgroup = "/system.slice/web.service";
  p.start_time = 5555;
  p.uid = 33;
  proc.Add(p);
  ProcFs fs(proc.root() + "/");
  auto info = fs.Read(321);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->pid, 321);
  EXPECT_EQ(info->ppid, 7);
  EXPECT_EQ(info->comm, "python3");
  EXPECT_EQ(info->exe, "/usr/bin/python3.11");
  EXPECT_FALSE(info->exe_deleted);
  EXPECT_EQ(info->argv, (std::vector<std::string>{"python3", "-m", "http.server"}));
  EXPECT_EQ(info->CmdlineString(), "python3 -m http.server");
  EXPECT_EQ(info->cgroup, "/system.slice/web.service");
  EXPECT_EQ(info->start_time, 5555u);
  EXPECT_EQ(info->tgid, 321);
  EXPECT_EQ(info->uid, 33);
  EXPECT_EQ(info->fields, unsigned{kProcAll});
}

TEST(ProcFs, ReadsOnlyWhatIsAsked) {
  FakeProc proc;
  proc.Add({.pid = 5, .comm = "a"});
  ProcFs fs(proc.root());
  auto info = fs.Read(5, kProcStat);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->fields, unsigned{kProcStat});
  EXPECT_TRUE(info->exe.empty());
  EXPECT_EQ(info->comm, "a");  // from the stat line
}

TEST(ProcFs, DeletedExecutableAndMissingExe) {
  FakeProc proc;
  proc.Add({.pid = 8, .exe = "/opt/app/bin (deleted)"});
  proc.Add({.pid = 9, .comm = "kworker/0:1", .exe = "", .argv = {}, .kernel_thread = true});
  ProcFs fs(proc.root());
  auto a = fs.Read(8);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->exe, "/opt/app/bin");
  EXPECT_TRUE(a->exe_deleted);
  auto k = fs.Read(9);
  ASSERT_TRUE(k.ok());
  EXPECT_TRUE(k->kernel_thread);
  EXPECT_FALSE(k->fields & kProcExe);
  EXPECT_TRUE(k->argv.empty());
}

TEST(ProcFs, MissingAndZombieProcessesAreNotFound) {
  FakeProc proc;
  proc.Add({.pid = 10, .state = 'Z'});
  proc.Add({.pid = 11, .state = 'Z', .num_threads = 3});  // leader exited, threads run on
  ProcFs fs(proc.root());
  auto missing = fs.Read(12345);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  auto zombie = fs.Read(10);
  ASSERT_FALSE(zombie.ok());
  EXPECT_EQ(zombie.error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(fs.Alive(10));
  EXPECT_TRUE(fs.Read(11).ok());
  EXPECT_TRUE(fs.Alive(11));
}

TEST(ProcFs, AliveTellsPidReuseApart) {
  FakeProc proc;
  proc.Add({.pid = 20, .start_time = 100});
  ProcFs fs(proc.root());
  EXPECT_TRUE(fs.Alive(20));
  EXPECT_TRUE(fs.Alive(20, 100));
  EXPECT_FALSE(fs.Alive(20, 99));
  EXPECT_FALSE(fs.Alive(21));
}

TEST(ProcFs, ListPidsSkipsNonNumericEntries) {
  FakeProc proc;
  proc.Add({.pid = 30});
  proc.Add({.pid = 4});
  std::filesystem::create_directories(proc.root() + "/self");
  std::filesystem::create_directories(proc.root() + "/sys");
  ProcFs fs(proc.root());
  EXPECT_EQ(fs.ListPids(), (std::vector<pid_t>{4, 30}));
  EXPECT_TRUE(ProcFs(proc.root() + "/nonexistent").ListPids().empty());
}

// Children lists of every thread, each child once, ascending; none without lists.
TEST(ProcFs, ChildrenOfReadsEveryThreadsList) {
  FakeProc proc;
  proc.Add({.pid = 100});
  ProcFs fs(proc.root());
  EXPECT_EQ(fs.ChildrenOf(100), std::vector<pid_t>{});
  proc.Add({.pid = 103, .ppid = 100});
  proc.Add({.pid = 101, .ppid = 100});
  proc.Add({.pid = 102, .ppid = 101});
  EXPECT_EQ(fs.ChildrenOf(100), (std::vector<pid_t>{101, 103}));
  // A second thread's children, one listed twice (a list read while the child moved), and the
  // kernel's trailing space and newline.
  std::filesystem::create_directories(proc.root() + "/100/task/110");
  std::ofstream(proc.root() + "/100/task/110/children") << "104 103 \n";
  std::filesystem::create_directories(proc.root() + "/100/task/111");  // exited: no list
  EXPECT_EQ(fs.ChildrenOf(100), (std::vector<pid_t>{101, 103, 104}));
  proc.Remove(101);
  EXPECT_EQ(fs.ChildrenOf(100), (std::vector<pid_t>{103, 104}));
  EXPECT_EQ(fs.ChildrenOf(999), std::nullopt);  // no such process
  proc.DropChildrenLists();
  EXPECT_EQ(fs.ChildrenOf(100), std::nullopt);  // no lists: the caller scans
}

TEST(ProcFs, ChildrenOfThisProcessListsAForkedChild) {
  ProcFs fs;
  const pid_t child = ::fork();
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  ASSERT_GT(child, 0);
  const auto children = fs.ChildrenOf(::getpid());
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  if (!children) GTEST_SKIP() << "this kernel keeps no /proc/PID/task/TID/children lists";
  EXPECT_NE(std::find(children->begin(), children->end(), child), children->end());
}

TEST(ProcFs, ReadsTheRealProcOfThisProcess) {
  ProcFs fs;
  auto info = fs.Read(::getpid());
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->pid, ::getpid());
  EXPECT_EQ(info->tgid, ::getpid());
  EXPECT_FALSE(info->comm.empty());
  EXPECT_FALSE(info->exe.empty());
  EXPECT_GT(info->start_time, 0u);
  EXPECT_FALSE(info->argv.empty());
}

}  // namespace
}  // namespace gilstat::tracker
