// The CPython GIL probes on real interpreters: the default mode (the GIL condvar's waits) on
// CPython 3.12/3.13 with symbols and on Debian's stripped python3, the exact mode (take_gil/
// drop_gil) on an unstripped CPython 3, each cross-checked with the interpreter's own switch
// counter read from its memory; an I/O-bound thread alone runs none of the default mode's
// programs (the kernel's run counts); links gone after Detach. Skipped (saying why) without
// root/BTF or without the interpreter.
#include "probes/pygil_probe.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "host/python_host.h"
#include "probes/semlock_probe.h"
#include "python/gil_state.h"
#include "tests/bpf/bpf_test_util.h"

namespace gilstat::probes {
namespace {

using ::gilstat::testing::Child;

// The first unstripped CPython 3 with take_gil among the usual install places, or "".
std::string UnstrippedPython3() {
  for (const char* v : {"3.12.1", "3.11.7", "3.13.0", "3.10.13", "3.9.18", "3.8.18"}) {
    const std::string p = std::string("/root/.pyenv/versions/") + v + "/bin/python3";
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return {};
}

// Run counts and run time of the programs that links held by this process run (the kernel's
// BPF statistics, enabled while `stats_fd` is open), by program name.
struct ProgRuns {
  uint64_t count = 0;
  uint64_t time_ns = 0;
};
std::map<std::string, ProgRuns> OurProgramRuns() {
  std::map<std::string, ProgRuns> out;
  std::set<uint32_t> seen;
  for (uint32_t link : testing::LinkIdsHeldBy(getpid())) {
    int fd = bpf_link_get_fd_by_id(link);
    if (fd < 0) continue;
    bpf_link_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && seen.insert(info.prog_id).second) {
      int pfd = bpf_prog_get_fd_by_id(info.prog_id);
      bpf_prog_info p{};
      uint32_t plen = sizeof p;
      if (pfd >= 0 && bpf_obj_get_info_by_fd(pfd, &p, &plen) == 0) {
        out[p.name].count += p.run_cnt;
        out[p.name].time_ns += p.run_time_ns;
      }
      if (pfd >= 0) close(pfd);
    }
    close(fd);
  }
  return out;
}

// Skips the test, saying why, when interpreter `python` is not installed here.
#define SKIP_UNLESS_INSTALLED(python)                            \
  if (access(python, X_OK) != 0) {                               \
    std::fprintf(stderr, "SKIPPED: %s not installed\n", python); \
    GTEST_SKIP() << python << " not installed";                  \
  }

struct ScriptRun {
  PyGilStats stats;
  uint64_t switches = 0;    // the interpreter's own, over the same span
  uint64_t roundtrips = 0;  // pygil_convoy.py's requests answered
  GilMethod method = GilMethod::kNone;
  std::map<std::string, ProgRuns> programs;  // of the links held at the end of the run
};

// Runs `script` (pygil_cpu.py: 2 threads, 1 s) under the GIL probes as gilstatd would plan
// them in the default or the exact mode; with `sem`, under the semaphore probe too.
ScriptRun RunCpuScript(PyGilProbe& probe, const std::string& python, bool exact = false,
                       const std::vector<std::string>& script = {"pygil_cpu.py", "2", "1"},
                       SemlockProbe* sem = nullptr) {
  ScriptRun r;
  std::vector<std::string> argv = {python, std::string(GILSTAT_TESTPROGS_DIR) + "/" + script[0]};
  argv.insert(argv.end(), script.begin() + 1, script.end());
  Child py(argv);
  EXPECT_TRUE(py.WaitReady());
  auto plan = host::PlanPython(py.pid(), "/proc", exact);
  EXPECT_TRUE(plan.ok() && *plan) << (plan.ok() ? "not CPython" : plan.error().message);
  if (!plan.ok() || !*plan) return r;
  r.method = (*plan)->method;
  EXPECT_TRUE((*plan)->gil.has_value()) << (*plan)->why;
  if (!(*plan)->gil) return r;
  if (sem) {
    EXPECT_TRUE(sem->Attach(py.pid()).ok());
  }
  Status st = probe.Attach(py.pid(), (*plan)->probe);
  EXPECT_TRUE(st.ok()) << st.message();
  auto before = python::ReadGilState(py.pid(), *(*plan)->gil);
  py.Go();
  EXPECT_TRUE(py.ReadResults());
  auto after = python::ReadGilState(py.pid(), *(*plan)->gil);
  for (const std::string& l : py.lines()) {
    unsigned long long n = 0;
    if (std::sscanf(l.c_str(), "roundtrips %llu", &n) == 1) r.roundtrips = n;
  }
  auto stats = probe.Read();
  EXPECT_TRUE(before.ok() && after.ok() && stats.ok());
  if (before.ok() && after.ok()) r.switches = after->switch_number - before->switch_number;
  if (stats.ok()) {
    for (const PyGilStats& s : *stats) {
      if (s.pid == py.pid()) r.stats = s;
    }
  }
  r.programs = OurProgramRuns();
  EXPECT_TRUE(probe.Detach(py.pid()).ok());
  if (sem) {
    EXPECT_TRUE(sem->Detach(py.pid()).ok());
  }
  EXPECT_EQ(py.Wait(), 0);
  return r;
}

TEST(PyGilProbeTest, NothingToProbeIsAClearError) {
  GILSTAT_SKIP_UNLESS_BPF();
  auto probe = PyGilProbe::Open();
  ASSERT_TRUE(probe.ok()) << probe.status().ToString();
  Status st = (*probe)->Attach(getpid(), PyGilTarget{});
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(st.message().find("nothing to probe"), std::string::npos);
  EXPECT_EQ((*probe)->Detach(getpid()).code(), ErrorCode::kNotFound);
}

// Sub-interpreter GILs get the slots there are (PYGIL_MAX_GILS - 1 per process), the rest are
// counted as dropped; a GIL no longer named frees its slot; only attached processes have slots.
TEST(PyGilProbeTest, SubInterpreterGilSlotsAreBounded) {
  GILSTAT_SKIP_UNLESS_BPF();
  auto probe = PyGilProbe::Open();
  ASSERT_TRUE(probe.ok()) << probe.status().ToString();
  std::vector<PyGilSubGil> gils;
  for (int i = 1; i <= PYGIL_MAX_GILS + 1; ++i) {
    const uint64_t at = 0x100000u * static_cast<uint64_t>(i);
    gils.push_back({i, at + 32, at + 16, at + 24, at});
  }
  EXPECT_EQ((*probe)->SetSubInterpreterGils(getpid(), gils).status().code(), ErrorCode::kNotFound);
  PyGilTarget target;
  target.cond_addr = 0x1000;  // no GIL condvar of this process: nothing is ever counted
  ASSERT_TRUE((*probe)->Attach(getpid(), target).ok());
  auto dropped = (*probe)->SetSubInterpreterGils(getpid(), gils);
  ASSERT_TRUE(dropped.ok()) << dropped.status().ToString();
  EXPECT_EQ(*dropped, 2u);  // 7 slots for 9 GILs
  // Two gone: the two left out before now fit.
  gils.erase(gils.begin(), gils.begin() + 2);
  dropped = (*probe)->SetSubInterpreterGils(getpid(), gils);
  ASSERT_TRUE(dropped.ok()) << dropped.status().ToString();
  EXPECT_EQ(*dropped, 0u);
  dropped = (*probe)->SetSubInterpreterGils(getpid(), gils);
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(*dropped, 0u) << "the same GILs again take no new slot";
  EXPECT_TRUE((*probe)->Detach(getpid()).ok());
  EXPECT_EQ((*probe)->SetSubInterpreterGils(getpid(), gils).status().code(), ErrorCode::kNotFound);
}

// The GILs' entries (arrays indexed by the process entry) are given back when a GIL goes: a
// process whose sub-interpreters come and go for hours never runs the maps out, and each GIL
// reads as its own series from zero.
TEST(PyGilProbeTest, GilEntriesAreReusedAsSubInterpretersComeAndGo) {
  GILSTAT_SKIP_UNLESS_BPF();
  auto probe = PyGilProbe::Open(/*max_processes=*/1);  // 1 + PYGIL_MAX_SUB_GILS entries
  ASSERT_TRUE(probe.ok()) << probe.status().ToString();
  PyGilTarget target;
  target.cond_addr = 0x1000;  // no GIL condvar of this process: nothing is ever counted
  ASSERT_TRUE((*probe)->Attach(getpid(), target).ok());
  const int per_round = PYGIL_MAX_GILS - 1;
  const int rounds = 2 * PYGIL_MAX_SUB_GILS / per_round;  // twice the entries in all
  int64_t next_id = 1;
  for (int round = 0; round < rounds; ++round) {
    std::vector<PyGilSubGil> gils;
    for (int i = 0; i < per_round; ++i, ++next_id) {
      const uint64_t at = 0x100000u * static_cast<uint64_t>(next_id);
      gils.push_back({next_id, at + 32, at + 16, at + 24, at});
    }
    auto dropped = (*probe)->SetSubInterpreterGils(getpid(), gils);
    ASSERT_TRUE(dropped.ok()) << dropped.status().ToString();
    ASSERT_EQ(*dropped, 0u) << "round " << round << ": the entries of the GILs gone were lost";
  }
  auto read = (*probe)->Read();
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->size(), static_cast<size_t>(PYGIL_MAX_GILS));  // the main GIL and the last 7
  EXPECT_EQ((*read)[0].interpreter, 0);
  for (int i = 1; i < PYGIL_MAX_GILS; ++i) {
    EXPECT_EQ((*read)[static_cast<size_t>(i)].interpreter, next_id - per_round + i - 1);
    EXPECT_EQ((*read)[static_cast<size_t>(i)].cond_waits, 0u);
  }
  EXPECT_TRUE((*probe)->Detach(getpid()).ok());
  read = (*probe)->Read();
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(read->empty()) << "a detached process has no series";
}

// The handoffs and the latencies measured, for the log.
void PrintHandoffLatency(const char* mode, const PyGilStats& s) {
  std::fprintf(stderr, "%s: %llu handoffs, %llu with a latency, %.1f us on average\n", mode,
               static_cast<unsigned long long>(s.handoffs),
               static_cast<unsigned long long>(s.handoff_latency.count),
               s.handoff_latency.count ? static_cast<double>(s.handoff_latency.sum_ns) /
                                             static_cast<double>(s.handoff_latency.count) / 1e3
                                       : 0.0);
}

TEST(PyGilProbeTest, ExactModeCountsEveryAcquisitionAndAgreesWithTheInterpreter) {
  GILSTAT_SKIP_UNLESS_BPF();
  const std::string python = UnstrippedPython3();
  if (python.empty()) {
    std::fprintf(stderr, "SKIPPED: no unstripped CPython 3 (pyenv) installed\n");
    GTEST_SKIP() << "no unstripped CPython 3";
  }
  auto probe = PyGilProbe::Open();
  ASSERT_TRUE(probe.ok()) << probe.status().ToString();
  const auto links_before = testing::LinkIdsHeldBy(getpid());
  ScriptRun r = RunCpuScript(**probe, python, /*exact=*/true);
  ASSERT_EQ(r.method, GilMethod::kTakeGil);
  const PyGilStats& s = r.stats;
  EXPECT_TRUE(s.take_drop && s.condvar);
  // Two spinners for 1 s at a 5 ms switch interval: ~200 holder changes (fewer when other
  // processes keep the CPUs busy).
  EXPECT_GT(s.handoffs, 20u);
  EXPECT_NEAR(static_cast<double>(s.handoffs), static_cast<double>(r.switches),
              0.1 * static_cast<double>(r.switches) + 5)
      << "probe handoffs vs the interpreter's switch_number";
  EXPECT_GE(s.acquisitions, s.handoffs);
  EXPECT_EQ(s.wait.count, s.acquisitions);
  EXPECT_GE(s.contended, s.handoffs * 9 / 10);
  EXPECT_GT(s.forced, s.voluntary);
  EXPECT_GT(s.drop_requests, 20u);
  // Each spinner waits while the other holds.
  const double ratio = static_cast<double>(s.wait.sum_ns) / static_cast<double>(s.hold.sum_ns);
  EXPECT_GT(ratio, 0.5);
  EXPECT_LT(ratio, 2.0);
  EXPECT_TRUE(s.handoff_latency_known);
  EXPECT_GE(s.handoff_latency.count, s.handoffs * 8 / 10);
  PrintHandoffLatency("exact mode", s);
  // Detached: its links go (in the background) and nothing else of ours remains.
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = testing::LinkIdsHeldBy(getpid()) == links_before;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(gone) << "uprobe links still held after Detach";
}

// The default mode's assertions on a CPU-bound pair: every switch is a handoff to a waiter,
// nearly all forced by a drop request.
void ExpectCondvarCounts(const ScriptRun& r) {
  const PyGilStats& s = r.stats;
  EXPECT_FALSE(s.take_drop);
  EXPECT_TRUE(s.condvar);
  EXPECT_EQ(s.acquisitions, 0u);  // not seen by this method
  EXPECT_EQ(s.hold.count, 0u);
  EXPECT_GT(s.contended, 20u);  // ~200 on an idle machine: a switch interval is 5 ms
  EXPECT_EQ(s.handoffs, s.contended);
  EXPECT_EQ(s.wait.count, s.contended);
  EXPECT_NEAR(static_cast<double>(s.handoffs), static_cast<double>(r.switches),
              0.1 * static_cast<double>(r.switches) + 5);
  EXPECT_GT(s.drop_requests, 20u);
  EXPECT_EQ(s.forced + s.voluntary, s.handoffs);
  EXPECT_GT(s.forced, 9 * s.voluntary) << "two spinners: the switches are forced";
  // One spinner always waits: the waits add up to most of the second.
  EXPECT_GT(s.wait.sum_ns, 500'000'000u);
  // Handoff latency, from the release's wake-up of the sleeping waiter: a forced handoff's
  // waiter sleeps in its second condvar wait when the holder lets go, so nearly every handoff
  // has one; each is a part of its wait.
  EXPECT_TRUE(s.handoff_latency_known);
  EXPECT_LE(s.handoff_latency.count, s.handoffs);
  EXPECT_GE(s.handoff_latency.count, s.handoffs * 8 / 10);
  EXPECT_GT(s.handoff_latency.sum_ns, 0u);
  EXPECT_LT(s.handoff_latency.sum_ns, s.wait.sum_ns / 10)
      << "a handoff is a wake-up, not a switch interval";
  PrintHandoffLatency("default mode", s);
}

TEST(PyGilProbeTest, DefaultModeWithSymbolsUsesTheGilCondvar) {
  GILSTAT_SKIP_UNLESS_BPF();
  int tried = 0;
  for (const char* python : {"/root/.pyenv/versions/3.12.1/bin/python3.12",
                             "/root/.pyenv/versions/3.13.0/bin/python3.13"}) {
    if (access(python, X_OK) != 0) continue;
    SCOPED_TRACE(python);
    ++tried;
    auto probe = PyGilProbe::Open();
    ASSERT_TRUE(probe.ok()) << probe.status().ToString();
    ScriptRun r = RunCpuScript(**probe, python);
    ASSERT_EQ(r.method, GilMethod::kGilCondvar);
    ExpectCondvarCounts(r);
  }
  if (tried == 0) {
    std::fprintf(stderr, "SKIPPED: no pyenv CPython 3.12/3.13 installed\n");
    GTEST_SKIP() << "no pyenv CPython 3.12/3.13";
  }
}

// Two threads releasing the GIL around a short sleep within the switch interval: the waiting
// one gets it from voluntary releases; then the convoy, where the I/O thread, woken, waits for
// the CPU-bound one and has it forced out.
TEST(PyGilProbeTest, DefaultModeTellsVoluntaryFromForcedHandoffs) {
  GILSTAT_SKIP_UNLESS_BPF();
  const char* python = "/root/.pyenv/versions/3.12.1/bin/python3.12";
  SKIP_UNLESS_INSTALLED(python);
  auto probe = PyGilProbe::Open();
  ASSERT_TRUE(probe.ok()) << probe.status().ToString();
  ScriptRun r = RunCpuScript(**probe, python, false, {"pygil_relay.py", "1"});
  ASSERT_EQ(r.method, GilMethod::kGilCondvar);
  const PyGilStats& s = r.stats;
  EXPECT_GT(s.handoffs, 20u);
  EXPECT_LE(s.handoffs, r.switches);
  EXPECT_EQ(s.forced + s.voluntary, s.handoffs);
  EXPECT_GT(s.voluntary, s.forced) << "relay: the releases are voluntary";
  // The convoy: a request wakes the I/O thread while the CPU thread holds the GIL, and that
  // wait ends in a forced release (here 1-2 per request: after recv and after send). The CPU
  // thread never releases on its own, so it waits only after being forced out: it may find the
  // GIL free when it asks or wait for the I/O thread's release around send or recv, a voluntary
  // handoff. On a loaded machine that happens for about every forced one (seen in CI: 192
  // forced, 193 voluntary), so the forced ones are counted against the requests.
  ScriptRun c = RunCpuScript(**probe, python, false, {"pygil_convoy.py", "1"});
  const PyGilStats& v = c.stats;
  EXPECT_GT(c.roundtrips, 20u);
  EXPECT_GT(v.handoffs, 20u);
  EXPECT_LE(v.handoffs, c.switches);
  EXPECT_EQ(v.forced + v.voluntary, v.handoffs);
  EXPECT_GE(2 * v.forced, c.roundtrips)
      << "convoy: the I/O thread's waits end in forced releases (" << v.voluntary << " voluntary)";
  EXPECT_LE(v.voluntary, v.forced + 5) << "a voluntary handoff follows a forced one at most";
}

// The daemon's arrangement: the semaphore probe on the same process shares its GIL-wait maps,
// its wake-up program stamps the GIL condvar's waiters too, and the GIL probe runs none.
TEST(PyGilProbeTest, DefaultModeSharesTheSemaphoreProbesWakeupProgram) {
  GILSTAT_SKIP_UNLESS_BPF();
  const char* python = "/usr/bin/python3";
  auto sem = SemlockProbe::Open();
  ASSERT_TRUE(sem.ok()) << sem.status().ToString();
  const GilWaitMaps shared = (*sem)->gil_wait_maps();
  ASSERT_GE(shared.waits, 0) << "the scheduler's futex programs did not load: "
                             << (*sem)->futex_program().fallback_reason;
  auto probe = PyGilProbe::Open(PYGIL_MAX_PROCS, shared);
  ASSERT_TRUE(probe.ok()) << probe.status().ToString();
  EXPECT_EQ((*probe)->HandoffLatencyUnavailable(), "");
  const int stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  ASSERT_GE(stats_fd, 0) << "BPF_ENABLE_STATS: " << std::strerror(errno);
  ScriptRun r = RunCpuScript(**probe, python, false, {"pygil_cpu.py", "2", "1"}, sem->get());
  close(stats_fd);
  ASSERT_EQ(r.method, GilMethod::kGilCondvar);
  ExpectCondvarCounts(r);
  EXPECT_EQ(r.programs.count("gil_wakeup"), 0u) << "the GIL probe attached a wake-up program";
  ASSERT_EQ(r.programs.count("futex_wakeup"), 1u);
  EXPECT_GT(r.programs.at("futex_wakeup").count, r.stats.handoffs);
}

TEST(PyGilProbeTest, StrippedDebianPythonThroughTheGilCondvar) {
  GILSTAT_SKIP_UNLESS_BPF();
  const char* python = "/usr/bin/python3";
  SKIP_UNLESS_INSTALLED(python);
  auto probe = PyGilProbe::Open();
  ASSERT_TRUE(probe.ok()) << probe.status().ToString();
  for (bool exact : {false, true}) {  // without symbols, exact mode has no other sites
    ScriptRun r = RunCpuScript(**probe, python, exact);
    if (r.method == GilMethod::kTakeGil) GTEST_SKIP() << python << " is not stripped here";
    ASSERT_EQ(r.method, GilMethod::kGilCondvar);
    ExpectCondvarCounts(r);
  }
}

// Attaches `probe` to `c` (a CPython ready to run) as gilstatd's default mode plans it; the
// method, or kNone when it could not.
GilMethod AttachDefault(PyGilProbe& probe, const Child& c) {
  auto plan = host::PlanPython(c.pid(), "/proc", false);
  if (!plan.ok() || !*plan || !(*plan)->gil) return GilMethod::kNone;
  return probe.Attach(c.pid(), (*plan)->probe).ok() ? (*plan)->method : GilMethod::kNone;
}

// Whether `probe`'s count of GIL waits reaches at least (or, `exactly`, just) `n` within 5 s.
bool GilWaitingReaches(const PyGilProbe& probe, int64_t n, bool exactly) {
  for (int i = 0; i < 500; ++i) {
    const int64_t w = probe.GilWaiting();
    if (exactly ? w == n : w >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// A process killed while a thread waits for its GIL leaves no wait behind: once its links are
// gone the count the wake-up programs read first is back to 0, though another process of the
// condvar method stays attached. Left counted, every wake-up on the host would take the longer
// path for as long as gilstatd runs.
TEST(PyGilProbeTest, KilledWaiterEndsItsGilWaits) {
  GILSTAT_SKIP_UNLESS_BPF();
  const char* python = "/usr/bin/python3";
  SKIP_UNLESS_INSTALLED(python);
  auto probe = PyGilProbe::Open();
  ASSERT_TRUE(probe.ok()) << probe.status().ToString();
  const std::string script = std::string(GILSTAT_TESTPROGS_DIR) + "/pygil_cpu.py";
  Child idle({python, script, "2", "1"});  // stays before its start: no GIL wait
  Child busy({python, script, "2", "60"});
  ASSERT_TRUE(idle.WaitReady() && busy.WaitReady());
  for (const Child* c : {&idle, &busy}) {
    const GilMethod m = AttachDefault(**probe, *c);
    if (m == GilMethod::kTakeGil) GTEST_SKIP() << python << " is not stripped here";
    ASSERT_EQ(m, GilMethod::kGilCondvar);
  }
  EXPECT_EQ((*probe)->GilWaiting(), 0);
  busy.Go();  // two threads: one waits on the GIL condvar nearly all the time
  ASSERT_TRUE(GilWaitingReaches(**probe, 1, false)) << "no GIL wait seen";
  kill(busy.pid(), SIGKILL);
  busy.Wait();
  ASSERT_TRUE((*probe)->Detach(busy.pid()).ok());
  EXPECT_TRUE(GilWaitingReaches(**probe, 0, true))
      << (*probe)->GilWaiting() << " GIL waits still counted";
  EXPECT_TRUE((*probe)->Detach(idle.pid()).ok());
}

// The runs of the uprobe programs: the scheduler program (gil_wakeup) runs for every wake-up on
// the host while a process is attached, whatever that process does.
uint64_t TotalRuns(const std::map<std::string, ProgRuns>& runs) {
  uint64_t n = 0;
  for (const auto& [name, r] : runs) {
    if (name != "gil_wakeup") n += r.count;
  }
  return n;
}

// The promise of the default mode: a thread alone releasing and re-taking the GIL around
// every os.read/os.write hits no probe. The same run in exact mode is the control: there
// take_gil runs at least once per call.
TEST(PyGilProbeTest, DefaultModeRunsNothingForAnUncontendedIoThread) {
  GILSTAT_SKIP_UNLESS_BPF();
  constexpr int kRounds = 20000;
  int tried = 0;
  for (const char* python :
       {"/root/.pyenv/versions/3.12.1/bin/python3.12",
        "/root/.pyenv/versions/3.13.0/bin/python3.13", "/usr/bin/python3.11"}) {
    if (access(python, X_OK) != 0) continue;
    ++tried;
    for (bool exact : {false, true}) {
      SCOPED_TRACE(std::string(python) + (exact ? " exact" : " default"));
      const int stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
      ASSERT_GE(stats_fd, 0) << "BPF_ENABLE_STATS: " << std::strerror(errno);
      auto probe = PyGilProbe::Open();
      ASSERT_TRUE(probe.ok()) << probe.status().ToString();
      Child py(
          {python, std::string(GILSTAT_TESTPROGS_DIR) + "/pygil_io.py", std::to_string(kRounds)});
      ASSERT_TRUE(py.WaitReady());
      auto plan = host::PlanPython(py.pid(), "/proc", exact);
      ASSERT_TRUE(plan.ok() && *plan);
      Status st = (*probe)->Attach(py.pid(), (*plan)->probe);
      ASSERT_TRUE(st.ok()) << st.message();
      py.Go();
      EXPECT_EQ(py.ReadLine(), "io " + std::to_string(kRounds));
      const auto io = OurProgramRuns();
      PyGilStats io_stats;
      if (auto read = (*probe)->Read(); read.ok()) {
        for (const PyGilStats& one : *read) {
          if (one.pid == py.pid()) io_stats = one;
        }
      }
      py.Go();  // the contended phase: the programs do run
      EXPECT_TRUE(py.ReadResults());
      const auto all = OurProgramRuns();
      EXPECT_TRUE((*probe)->Detach(py.pid()).ok());
      EXPECT_EQ(py.Wait(), 0);
      close(stats_fd);
      EXPECT_GT(TotalRuns(all), TotalRuns(io)) << "the programs never ran: no statistics?";
      if (!exact || (*plan)->method != GilMethod::kTakeGil) {
        EXPECT_EQ(TotalRuns(io), 0u) << "an uncontended I/O thread ran the GIL programs";
        if (io.count("gil_wakeup")) {
          const ProgRuns& w = io.at("gil_wakeup");
          std::fprintf(
              stderr, "default mode, %s: gil_wakeup ran %llu times, %.0f ns each\n", python,
              static_cast<unsigned long long>(w.count),
              w.count ? static_cast<double>(w.time_ns) / static_cast<double>(w.count) : 0.0);
        }
        continue;
      }
      ASSERT_TRUE(io.count("take_gil_entry"));
      EXPECT_GE(io.at("take_gil_entry").count, 2u * kRounds);
      // Two hits per release and re-take: take_gil's return is not probed beside the condvar,
      // and every acquisition is counted all the same (at the thread's next release).
      EXPECT_EQ(io.count("take_gil_return"), 0u);
      EXPECT_GE(io_stats.acquisitions, 2u * kRounds);
      EXPECT_EQ(io_stats.wait.count, io_stats.acquisitions);
      EXPECT_GE(io_stats.hold.count + 2, io_stats.acquisitions);
      for (const auto& [name, r] : io) {
        std::fprintf(stderr, "exact mode, %s: %s ran %llu times, %.0f ns each\n", python,
                     name.c_str(), static_cast<unsigned long long>(r.count),
                     r.count ? static_cast<double>(r.time_ns) / static_cast<double>(r.count) : 0.0);
      }
    }
  }
  if (tried == 0) GTEST_SKIP() << "no CPython 3.11-3.13 installed";
}

}  // namespace
}  // namespace gilstat::probes
