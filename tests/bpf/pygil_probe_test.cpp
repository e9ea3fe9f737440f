// The CPython GIL probes on real interpreters: take_gil/drop_gil on an unstripped CPython 3 and
// the GIL condvar on Debian's stripped python3, each cross-checked with the interpreter's own
// switch counter read from its memory; links gone after Detach. Skipped (saying why) without
// root/BTF or without the interpreter.
#include "probes/pygil_probe.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "host/python_host.h"
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

struct ScriptRun {
  PyGilStats stats;
  uint64_t switches = 0;  // the interpreter's own, over the same span
  GilMethod method = GilMethod::kNone;
};

// Runs pygil_cpu.py (2 threads, 1 s) under the GIL probes as gilstatd would plan them.
ScriptRun RunCpuScript(PyGilProbe& probe, const std::string& python) {
  ScriptRun r;
  Child py({python, std::string(GILSTAT_TESTPROGS_DIR) + "/pygil_cpu.py", "2", "1"});
  EXPECT_TRUE(py.WaitReady());
  auto plan = host::PlanPython(py.pid());
  EXPECT_TRUE(plan.ok() && *plan) << (plan.ok() ? "not CPython" : plan.error().message);
  if (!plan.ok() || !*plan) return r;
  r.method = (*plan)->method;
  EXPECT_TRUE((*plan)->gil.has_value()) << (*plan)->why;
  if (!(*plan)->gil) return r;
  Status st = probe.Attach(py.pid(), (*plan)->probe);
  EXPECT_TRUE(st.ok()) << st.message();
  auto before = python::ReadGilState(py.pid(), *(*plan)->gil);
  py.Go();
  EXPECT_TRUE(py.ReadResults());
  auto after = python::ReadGilState(py.pid(), *(*plan)->gil);
  auto stats = probe.Read();
  EXPECT_TRUE(before.ok() && after.ok() && stats.ok());
  if (before.ok() && after.ok()) r.switches = after->switch_number - before->switch_number;
  if (stats.ok()) {
    for (const PyGilStats& s : *stats) {
      if (s.pid == py.pid()) r.stats = s;
    }
  }
  EXPECT_TRUE(probe.Detach(py.pid()).ok());
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

TEST(PyGilProbeTest, TakeGilCountsEveryAcquisitionAndAgreesWithTheInterpreter) {
  GILSTAT_SKIP_UNLESS_BPF();
  const std::string python = UnstrippedPython3();
  if (python.empty()) {
    std::fprintf(stderr, "SKIPPED: no unstripped CPython 3 (pyenv) installed\n");
    GTEST_SKIP() << "no unstripped CPython 3";
  }
  auto probe = PyGilProbe::Open();
  ASSERT_TRUE(probe.ok()) << probe.status().ToString();
  const auto links_before = testing::LinkIdsHeldBy(getpid());
  ScriptRun r = RunCpuScript(**probe, python);
  ASSERT_EQ(r.method, GilMethod::kTakeGil);
  const PyGilStats& s = r.stats;
  EXPECT_TRUE(s.take_drop && s.condvar);
  // Two spinners for 1 s at a 5 ms switch interval: ~200 holder changes.
  EXPECT_GT(s.handoffs, 50u);
  EXPECT_NEAR(static_cast<double>(s.handoffs), static_cast<double>(r.switches),
              0.1 * static_cast<double>(r.switches) + 5)
      << "probe handoffs vs the interpreter's switch_number";
  EXPECT_GE(s.acquisitions, s.handoffs);
  EXPECT_EQ(s.wait.count, s.acquisitions);
  EXPECT_GE(s.contended, s.handoffs * 9 / 10);
  EXPECT_GT(s.forced, s.voluntary);
  EXPECT_GT(s.drop_requests, 50u);
  // Each spinner waits while the other holds.
  const double ratio = static_cast<double>(s.wait.sum_ns) / static_cast<double>(s.hold.sum_ns);
  EXPECT_GT(ratio, 0.5);
  EXPECT_LT(ratio, 2.0);
  // Detached: its links go (in the background) and nothing else of ours remains.
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = testing::LinkIdsHeldBy(getpid()) == links_before;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(gone) << "uprobe links still held after Detach";
}

TEST(PyGilProbeTest, StrippedDebianPythonThroughTheGilCondvar) {
  GILSTAT_SKIP_UNLESS_BPF();
  const char* python = "/usr/bin/python3";
  if (access(python, X_OK) != 0) {
    std::fprintf(stderr, "SKIPPED: %s not installed\n", python);
    GTEST_SKIP() << python << " not installed";
  }
  auto probe = PyGilProbe::Open();
  ASSERT_TRUE(probe.ok()) << probe.status().ToString();
  ScriptRun r = RunCpuScript(**probe, python);
  if (r.method == GilMethod::kTakeGil) GTEST_SKIP() << python << " is not stripped here";
  ASSERT_EQ(r.method, GilMethod::kGilCondvar);
  const PyGilStats& s = r.stats;
  EXPECT_FALSE(s.take_drop);
  EXPECT_EQ(s.acquisitions, 0u);  // not seen by this method
  EXPECT_GT(s.contended, 50u);
  EXPECT_EQ(s.handoffs, s.contended);
  EXPECT_EQ(s.wait.count, s.contended);
  EXPECT_NEAR(static_cast<double>(s.handoffs), static_cast<double>(r.switches),
              0.1 * static_cast<double>(r.switches) + 5);
  EXPECT_GT(s.drop_requests, 50u);
  // One spinner always waits: the waits add up to most of the second.
  EXPECT_GT(s.wait.sum_ns, 500'000'000u);
}

}  // namespace
}  // namespace gilstat::probes
