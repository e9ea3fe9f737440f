// Root tests (label bpf) of the real `gilstat` binary against a real contending process. They
// skip, saying why, when not run as root.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using std::chrono::milliseconds;

#define SKIP_UNLESS_ROOT()                                                        \
  do {                                                                            \
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (BPF programs); skipped";   \
    if (::access("/usr/bin/python3", X_OK) != 0)                                  \
      GTEST_SKIP() << "needs /usr/bin/python3 to check the JSON output; skipped"; \
  } while (0)

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("gilstat-tool-" + std::to_string(::getpid()) + "-" + name))
      .string();
}

std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A child process with stdout and stderr in files.
struct Child {
  pid_t pid = -1;
  std::string out_path, err_path;

  static Child Start(const std::vector<std::string>& argv, const std::string& tag) {
    Child c;
    c.out_path = TempPath(tag + ".out");
    c.err_path = TempPath(tag + ".err");
    c.pid = ::fork();
    if (c.pid == 0) {
      int out = ::open(c.out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      int err = ::open(c.err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      ::dup2(out, 1);
      ::dup2(err, 2);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    return c;
  }
  std::string out() const { return Slurp(out_path); }
  std::string err() const { return Slurp(err_path); }
  // Waits for the exit status (-1 on timeout, after which the child is killed).
  int Wait(milliseconds timeout = milliseconds(20000)) {
    auto end = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > end) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        pid = -1;
        return -1;
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
    pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  bool WaitForOutput(const std::string& text, bool on_stderr,
                     milliseconds timeout = milliseconds(10000)) const {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      if ((on_stderr ? err() : out()).find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return false;
  }
  ~Child() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    std::remove(out_path.c_str());
    std::remove(err_path.c_str());
  }
};

// Runs a Python check over a JSON text; returns "" or what went wrong.
std::string CheckJson(const std::string& json, const std::string& python_checks) {
  std::string in = TempPath("check.json"), script = TempPath("check.py");
  std::ofstream(in) << json;
  std::ofstream(script) << "import json, sys\n"
                        << "d = json.load(open(sys.argv[1]))\n"
                        << python_checks << "\nprint('OK')\n";
  Child c = Child::Start({"/usr/bin/python3", script, in}, "check");
  int rc = c.Wait();
  std::string result = rc == 0 && c.out() == "OK\n" ? "" : c.out() + c.err();
  std::remove(in.c_str());
  std::remove(script.c_str());
  return result;
}

// Checks shared by the tests: every lock's numbers are consistent with its histograms.
const char* kConsistency = R"(
assert d['schema'] == 'gilstat.locks/2' and d['time_unit'] == 'ns', d
for p in d['processes']:
    for l in p['locks']:
        h = l['wait_hist']
        assert h['count'] == l['acquisitions'], l
        assert h['sum_ns'] == l['wait_ns'], l
        assert sum(b['count'] for b in h['buckets']) == h['count'], l
        assert all(b['le_ns'] & (b['le_ns'] - 1) == 0 for b in h['buckets']), l
        assert l['max_wait_ns'] <= l['wait_ns'], l
        assert int(l['addr'], 16) > 0, l
)";

TEST(GilstatTool, LocksOfAPidAsJson) {
  SKIP_UNLESS_ROOT();
  Child target = Child::Start({CONTEND_BIN, "30"}, "target");
  ASSERT_TRUE(target.WaitForOutput("ready", false));
  Child tool = Child::Start(
      {GILSTAT_BIN, "locks", "--pid", std::to_string(target.pid), "--duration", "1", "--json"},
      "tool");
  ASSERT_EQ(tool.Wait(), 0) << tool.err();
  std::string checks = std::string(kConsistency) + R"(
ps = d['processes']
assert len(ps) == 1, ps
p = ps[0]
assert p['pid'] == )" + std::to_string(target.pid) +
                       R"(, p
assert p['comm'] == 'contend', p
assert p['exited'] is False, p
assert not d['interrupted'] and 0.9 < d['duration_s'] < 3, d
assert d['mode'] == 'counting', d
locks = [l for l in p['locks'] if l['acquisitions'] > 0]
# Two semaphores, each acquired after a ~100 us sleep of the poster: hundreds of times a second,
# nearly always after blocking.
assert len(locks) == 2, p['locks']
for l in locks:
    assert l['acquisitions'] >= 200, l
    assert l['contended'] >= l['acquisitions'] // 2, l
    assert l['wait_ns'] >= l['acquisitions'] * 50000, l
assert p['total_wait_ns'] == sum(l['wait_ns'] for l in p['locks']), p
assert [l['wait_ns'] for l in p['locks']] == sorted([l['wait_ns'] for l in p['locks']], reverse=True)
assert d['tracker']['attach_errors'] == {'no_libc': 0, 'permission': 0, 'vanished': 0, 'refused_file': 0, 'other': 0, 'libc_not_loaded': 0, 'no_such_process': 0}
)";
  EXPECT_EQ(CheckJson(tool.out(), checks), "") << tool.out();
}

TEST(GilstatTool, TextOutputHasTablesAndHistograms) {
  SKIP_UNLESS_ROOT();
  Child target = Child::Start({CONTEND_BIN, "30"}, "target");
  ASSERT_TRUE(target.WaitForOutput("ready", false));
  Child tool = Child::Start(
      {GILSTAT_BIN, "locks", "--pid", std::to_string(target.pid), "--duration", "0.5"}, "tool");
  ASSERT_EQ(tool.Wait(), 0) << tool.err();
  std::string out = tool.out();
  EXPECT_NE(out.find("PID " + std::to_string(target.pid) + "  contend"), std::string::npos) << out;
  EXPECT_NE(out.find("ACQUIRED  CONTENDED"), std::string::npos) << out;
  EXPECT_NE(out.find("     nsecs               : count    distribution"), std::string::npos) << out;
  EXPECT_NE(out.find("|****************************************|"), std::string::npos) << out;
}

TEST(GilstatTool, ProcessStartedDuringTheRunIsTracedAndItsExitKept) {
  SKIP_UNLESS_ROOT();
  const std::string marker = "gilstat-tool-marker-" + std::to_string(::getpid());
  Child tool = Child::Start({GILSTAT_BIN, "locks", "--cmdline", marker + "$", "--comm", "^contend$",
                             "--duration", "3", "--json"},
                            "tool");
  ASSERT_TRUE(tool.WaitForOutput("gilstat: tracing", true)) << tool.err();
  // Starts after the tool, runs 1 s, exits before the tool ends.
  Child target = Child::Start({CONTEND_BIN, "1", marker}, "target");
  const pid_t target_pid = target.pid;
  ASSERT_EQ(target.Wait(), 0);
  ASSERT_EQ(tool.Wait(), 0) << tool.err();
  std::string checks = std::string(kConsistency) + R"(
ps = [p for p in d['processes'] if p['pid'] == )" +
                       std::to_string(target_pid) + R"(]
assert len(ps) == 1, d['processes']
p = ps[0]
assert p['exited'] is True, p
assert p['acquisitions'] >= 100, p
t = d['tracker']
assert t['exec_events'] >= 1 and t['exited_detaches'] >= 1 and t['attaches'] >= 1, t
)";
  EXPECT_EQ(CheckJson(tool.out(), checks), "") << tool.out() << tool.err();
}

// Many short-lived matching processes: most exit while (or before) they are attached. The tool
// survives, counts them, and ends with nothing attached.
TEST(GilstatTool, ShortLivedProcessesAreCountedAndCleanedUp) {
  SKIP_UNLESS_ROOT();
  const std::string marker = "gilstat-short-" + std::to_string(::getpid());
  Child tool = Child::Start(
      {GILSTAT_BIN, "locks", "--cmdline", marker + "$", "--duration", "2.5", "--json"}, "tool");
  ASSERT_TRUE(tool.WaitForOutput("gilstat: tracing", true)) << tool.err();
  constexpr int kProcesses = 40;
  for (int i = 0; i < kProcesses; ++i) {
    Child c = Child::Start({CONTEND_BIN, i % 2 ? "0" : "0.02", marker}, "short");
    ASSERT_EQ(c.Wait(), 0);
  }
  ASSERT_EQ(tool.Wait(), 0) << tool.err();
  std::string checks = std::string(kConsistency) + R"(
t = d['tracker']
assert t['exec_events'] >= )" +
                       std::to_string(kProcesses) +
                       R"(, t
assert t['attached'] == 0, t
e = t['attach_errors']
assert t['attaches'] + e['vanished'] + e['no_libc'] >= 1, t
assert e['other'] == 0 and e['permission'] == 0, t
assert t['exited_detaches'] == t['attaches'], t
assert all(p['exited'] for p in d['processes']), d['processes']
)";
  EXPECT_EQ(CheckJson(tool.out(), checks), "") << tool.out() << tool.err();
}

TEST(GilstatTool, SigintEndsAnOpenEndedRunWithAReport) {
  SKIP_UNLESS_ROOT();
  Child target = Child::Start({CONTEND_BIN, "30"}, "target");
  ASSERT_TRUE(target.WaitForOutput("ready", false));
  Child tool =
      Child::Start({GILSTAT_BIN, "locks", "--pid", std::to_string(target.pid), "--json"}, "tool");
  ASSERT_TRUE(tool.WaitForOutput("gilstat: tracing", true)) << tool.err();
  std::this_thread::sleep_for(milliseconds(500));
  ::kill(tool.pid, SIGINT);
  ASSERT_EQ(tool.Wait(), 0) << tool.err();
  EXPECT_EQ(CheckJson(tool.out(), std::string(kConsistency) + R"(
assert d['interrupted'] is True, d
assert d['processes'][0]['acquisitions'] > 0, d
)"),
            "")
      << tool.out();
}

TEST(GilstatTool, ProcessWithoutLibcIsAClearError) {
  SKIP_UNLESS_ROOT();
  Child target = Child::Start({CONTEND_STATIC_BIN, "30"}, "target");
  ASSERT_TRUE(target.WaitForOutput("ready", false));
  Child tool = Child::Start(
      {GILSTAT_BIN, "locks", "--pid", std::to_string(target.pid), "--duration", "1"}, "tool");
  EXPECT_EQ(tool.Wait(), 1);
  std::string err = tool.err();
  EXPECT_EQ(err.rfind("gilstat: error: cannot trace pid " + std::to_string(target.pid) +
                          " (contend_static): it maps no libc",
                      0),
            0u)
      << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_TRUE(tool.out().empty());
}

// Needs no privileges: these errors come before any BPF.
TEST(GilstatTool, UsageAndMissingPidErrors) {
  Child usage = Child::Start({GILSTAT_BIN, "locks", "--duration", "x", "--pid", "1"}, "usage");
  EXPECT_EQ(usage.Wait(), 2);
  EXPECT_EQ(usage.err(), "gilstat: error: invalid duration 'x' (seconds, > 0)\n");
  Child missing = Child::Start({GILSTAT_BIN, "locks", "--pid", "2147483646"}, "missing");
  EXPECT_EQ(missing.Wait(), 1);
  EXPECT_EQ(missing.err(), "gilstat: error: no process with pid 2147483646\n");
}

// The ids of the BPF programs and links a process holds ("prog_id:"/"link_id:" in fdinfo).
std::vector<std::pair<std::string, std::string>> BpfObjectsOf(pid_t pid) {
  std::vector<std::pair<std::string, std::string>> out;
  std::error_code ec;
  for (const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fdinfo", ec)) {
    std::ifstream f(e.path());
    std::string line;
    while (std::getline(f, line)) {
      if (line.rfind("prog_id:", 0) == 0) out.emplace_back("prog", line.substr(8));
      if (line.rfind("link_id:", 0) == 0) out.emplace_back("link", line.substr(8));
    }
  }
  for (auto& [kind, id] : out) id.erase(0, id.find_first_not_of(" \t"));
  return out;
}

bool BpfObjectExists(const std::string& kind, const std::string& id) {
  Child c = Child::Start({"/usr/sbin/bpftool", kind, "show", "id", id}, "bpftool-" + id);
  return c.Wait() == 0;
}

// Killed with SIGKILL, the tool leaves no program or link behind (uprobes, the futex and
// proctrack tracepoint programs): the kernel frees them with the last file descriptor.
TEST(GilstatTool, NothingRemainsAfterSigkill) {
  SKIP_UNLESS_ROOT();
  if (::access("/usr/sbin/bpftool", X_OK) != 0) GTEST_SKIP() << "needs /usr/sbin/bpftool";
  Child target = Child::Start({CONTEND_BIN, "30"}, "target");
  ASSERT_TRUE(target.WaitForOutput("ready", false));
  Child tool = Child::Start({GILSTAT_BIN, "locks", "--pid", std::to_string(target.pid), "--comm",
                             "^no-such-process-name$"},
                            "tool");
  ASSERT_TRUE(tool.WaitForOutput("gilstat: tracing 1 process", true)) << tool.err();
  auto objects = BpfObjectsOf(tool.pid);
  int links = 0;
  for (const auto& [kind, id] : objects) links += kind == "link";
  ASSERT_GE(links, 3) << "expected uprobe and tracepoint links in the running tool";
  for (const auto& [kind, id] : objects) EXPECT_TRUE(BpfObjectExists(kind, id)) << kind << id;
  ::kill(tool.pid, SIGKILL);
  tool.Wait();
  std::vector<std::string> left;
  for (int attempt = 0; attempt < 50; ++attempt) {
    left.clear();
    for (const auto& [kind, id] : objects) {
      if (BpfObjectExists(kind, id)) left.push_back(kind + " " + id);
    }
    if (left.empty()) break;
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_TRUE(left.empty()) << "left behind: " << ::testing::PrintToString(left);
}

}  // namespace
