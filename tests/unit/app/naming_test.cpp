#include "app/naming.h"

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "python/gil_state.h"

namespace gilstat {
namespace {

tracker::ProcessInfo Info(pid_t pid, std::string comm, std::string exe, std::string cgroup) {
  tracker::ProcessInfo i;
  i.pid = pid;
  i.comm = std::move(comm);
  i.exe = std::move(exe);
  i.cgroup = std::move(cgroup);
  i.fields = tracker::kProcStat | tracker::kProcComm | tracker::kProcExe | tracker::kProcCgroup;
  return i;
}

// Every placeholder the configuration accepts is expanded (none stays literal).
TEST(ExpandGroupTemplate, EveryConfiguredPlaceholderIsExpanded) {
  const auto i = Info(42, "python3", "/usr/bin/python3.11", "/system.slice/web.service");
  for (const char* p : config::kProcessPlaceholders) {
    const std::string literal = "{" + std::string(p) + "}";
    EXPECT_EQ(ExpandGroupTemplate(literal, i).find('{'), std::string::npos) << literal;
  }
}

TEST(ExpandGroupTemplate, Placeholders) {
  const auto i = Info(42, "python3", "/usr/bin/python3.11", "/system.slice/web.service");
  EXPECT_EQ(ExpandGroupTemplate("{comm}", i), "python3");
  EXPECT_EQ(ExpandGroupTemplate("{exe}", i), "python3.11");
  EXPECT_EQ(ExpandGroupTemplate("{unit}/{comm}", i), "web.service/python3");
  EXPECT_EQ(ExpandGroupTemplate("p{pid}", i), "p42");
  EXPECT_EQ(ExpandGroupTemplate("{unit}", Info(1, "x", "", "/")), "none");
  EXPECT_EQ(ExpandGroupTemplate("{exe}", Info(1, "kthread", "", "")), "kthread");
}

TEST(Naming, GroupsFollowAttachDetachAndRelabel) {
  Naming n({"{comm}", false}, "/nonexistent");
  n.Attached(Info(10, "python3", "/usr/bin/python3", "/system.slice/a.service"));
  EXPECT_EQ(n.GroupOf(10), "python3");
  EXPECT_FALSE(n.GroupOf(11).has_value());
  n.SetLabels({"{unit}", true});
  EXPECT_EQ(n.GroupOf(10), "a.service");
  EXPECT_TRUE(n.ForCollector().pid_label);
  n.Detaching(Info(10, "python3", "", ""), true);
  EXPECT_FALSE(n.GroupOf(10).has_value());
}

TEST(Naming, RuntimeLocksAreNamedOnlyInTheirProcess) {
  Naming n({"{comm}", false}, "/nonexistent");
  rt::Snapshot snap;
  snap.gil.addresses.push_back({"sem_t", "gil", 0x1000});
  rt::LockSnapshot l;
  l.name = "convoy";
  l.addresses.push_back({"sem_t", "lock", 0x2000});
  snap.locks.push_back(l);
  n.SetRuntimeLocks(7, snap);
  EXPECT_EQ(n.LockOf(7, 0x1000), "gil");
  EXPECT_EQ(n.LockOf(7, 0x2000), "convoy");
  EXPECT_EQ(n.LockOf(7, 0x3000), "other");
  EXPECT_EQ(n.LockOf(8, 0x1000), "other");
  n.ClearRuntimeLocks();
  EXPECT_EQ(n.LockOf(7, 0x1000), "other");
}

// A real CPython process: its semaphores are threading locks, its 2.x GIL is "gil".
class PythonChild {
 public:
  PythonChild(const std::string& python, const char* code) {
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      close(in[1]);
      close(out[0]);
      execl(python.c_str(), python.c_str(), "-c", code, nullptr);
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    to_ = in[1];
    from_ = out[0];
  }
  ~PythonChild() {
    close(to_);
    close(from_);
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
  }
  // Waits for the child's first line.
  bool Ready() {
    char c;
    while (read(from_, &c, 1) == 1) {
      if (c == '\n') return true;
    }
    return false;
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
};

// Naming with the CPython targets, as gilstatd wires them (no GIL probes).
struct PythonNaming {
  explicit PythonNaming(pid_t pid, const char* comm) {
    n.SetPython(&targets);
    info.pid = pid;
    info.comm = comm;
    targets.Attached(info);
  }
  Naming n{{"{comm}", false}, "/proc"};
  host::PythonTargets targets{nullptr, "/proc", [this](pid_t pid) { return n.GroupOf(pid); }};
  tracker::ProcessInfo info;
};

TEST(Naming, CPythonSemaphoresAreThreadingLocks) {
  const char* python = "/usr/bin/python3";
  if (access(python, X_OK) != 0) GTEST_SKIP() << python << " not installed";
  PythonChild py(python, "import sys; print('ready', flush=True); sys.stdin.read()");
  ASSERT_TRUE(py.Ready());
  PythonNaming p(py.pid(), "python3");
  Naming& n = p.n;
  EXPECT_EQ(n.LockOf(py.pid(), 0x1234), "threading");
  EXPECT_EQ(n.LockOf(py.pid() + 100000, 0x1234), "other");
  config::LabelsConfig per_lock;
  per_lock.lock_address = true;
  n.SetLabels(per_lock);
  EXPECT_EQ(n.LockOf(py.pid(), 0x1234), "threading@0x1234");
  p.targets.Detaching(p.info, false);
  EXPECT_EQ(n.LockOf(py.pid(), 0x1234), "other");
}

TEST(Naming, Python2GilSemaphoreIsTheGil) {
  const std::string python = "/root/.pyenv/versions/2.7.18/bin/python2.7";
  if (access(python.c_str(), X_OK) != 0) GTEST_SKIP() << python << " not installed";
  // The GIL exists once a thread has been started.
  PythonChild py(python,
                 "import sys, threading; t = threading.Thread(target=lambda: None); t.start(); "
                 "t.join(); sys.stdout.write('ready\\n'); sys.stdout.flush(); sys.stdin.read()");
  ASSERT_TRUE(py.Ready());
  PythonNaming p(py.pid(), "python2.7");
  Naming& n = p.n;
  auto plan = host::PlanPython(py.pid());
  ASSERT_TRUE(plan.ok() && plan->has_value());
  auto gil = python::ReadInterpreterLock(py.pid(), (*plan)->info);
  ASSERT_TRUE(gil.ok()) << gil.error().message;
  ASSERT_NE(*gil, 0u);
  EXPECT_EQ(n.LockOf(py.pid(), *gil), "gil");
  EXPECT_EQ(n.LockOf(py.pid(), *gil + 32), "threading");
  const auto procs = p.targets.Processes();
  ASSERT_EQ(procs.size(), 0u) << "not named by the tracker: no group, so no series";
}

}  // namespace
}  // namespace gilstat
