#include "metrics/python_collector.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include "metrics/semlock_collector.h"

namespace gilstat::metrics {
namespace {

std::string Text(const std::vector<prometheus::MetricFamily>& f) {
  return prometheus::TextSerializer().Serialize(f);
}

PythonProcess Proc(pid_t pid, std::string group, std::string version, GilMethod method) {
  PythonProcess p;
  p.pid = pid;
  p.group = std::move(group);
  p.version = std::move(version);
  p.build = "unstripped";
  p.method = method;
  return p;
}

TEST(PythonCollectorTest, ProbeErrorsByKindStacksFullIncluded) {
  PythonCollector c([] { return std::vector<PythonProcess>{}; },
                    [] {
                      return PythonProbeErrors{1, 2, 3, 4};
                    },
                    false, nullptr);
  const std::string t = Text(c.Collect());
  for (const char* line : {"gilstat_python_probe_errors_total{kind=\"attach\"} 1\n",
                           "gilstat_python_probe_errors_total{kind=\"map_full\"} 2\n",
                           "gilstat_python_probe_errors_total{kind=\"read\"} 3\n",
                           "gilstat_python_probe_errors_total{kind=\"stacks_full\"} 4\n"}) {
    EXPECT_NE(t.find(line), std::string::npos) << line << " in\n" << t;
  }
}

// The label values of `method` are part of the metrics' contract (docs/METRICS.md).
TEST(GilMethodLabel, Names) {
  EXPECT_STREQ(GilMethodLabel(GilMethod::kTakeGil), "take_gil");
  EXPECT_STREQ(GilMethodLabel(GilMethod::kGilCondvar), "gil_condvar");
  EXPECT_STREQ(GilMethodLabel(GilMethod::kInterpreterLock), "interpreter_lock");
  EXPECT_STREQ(GilMethodLabel(GilMethod::kGilDisabled), "gil_disabled");
  EXPECT_STREQ(GilMethodLabel(GilMethod::kNone), "none");
}

TEST(PythonFamiliesTest, InfoCountsProcessesPerLabelSetAndGroupsSum) {
  auto a = Proc(10, "web", "3.12.1", GilMethod::kTakeGil);
  a.switch_interval_us = 5000;
  a.interpreter_switches = 100;
  a.drop_requests = 7;
  auto b = Proc(11, "web", "3.12.1", GilMethod::kTakeGil);
  b.switch_interval_us = 10000;
  b.interpreter_switches = 50;
  auto c = Proc(12, "batch", "2.7.18", GilMethod::kInterpreterLock);
  const std::string t = Text(PythonFamilies({a, b, c}, false));
  EXPECT_NE(t.find("gilstat_python_info{process=\"web\",version=\"3.12.1\",build=\"unstripped\","
                   "method=\"take_gil\"} 2"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("gilstat_python_info{process=\"batch\",version=\"2.7.18\",build=\"unstripped\","
                   "method=\"interpreter_lock\"} 1"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("gilstat_python_gil_switches_total{process=\"web\"} 150"), std::string::npos);
  EXPECT_NE(t.find("gilstat_python_switch_interval_seconds{process=\"web\"} 0.01"),
            std::string::npos);
  EXPECT_NE(t.find("gilstat_python_gil_drop_requests_total{process=\"web\"} 7"), std::string::npos);
  // What was not read is absent, not zero.
  EXPECT_EQ(t.find("gilstat_python_gil_switches_total{process=\"batch\"}"), std::string::npos);
  EXPECT_NE(t.find("gilstat_python_gil_enabled{process=\"batch\"} 1"), std::string::npos);
}

// Two interpreters in one group, one exits: the group's counters keep its counts.
TEST(PythonFamiliesTest, GroupCountersKeepTheCountsOfProcessesThatLeft) {
  CounterTotals totals;
  auto a = Proc(10, "web", "3.12.1", GilMethod::kTakeGil);
  a.interpreter_switches = 400;
  a.drop_requests = 9;
  auto b = Proc(11, "web", "3.12.1", GilMethod::kTakeGil);
  b.interpreter_switches = 600;
  b.drop_requests = 1;
  std::string t = Text(PythonFamilies({a, b}, false, &totals));
  EXPECT_NE(t.find("gilstat_python_gil_switches_total{process=\"web\"} 1000"), std::string::npos);
  a.interpreter_switches = 410;
  t = Text(PythonFamilies({a}, false, &totals));
  EXPECT_NE(t.find("gilstat_python_gil_switches_total{process=\"web\"} 1010"), std::string::npos)
      << t;
  EXPECT_NE(t.find("gilstat_python_gil_drop_requests_total{process=\"web\"} 10"), std::string::npos)
      << t;
  // 11 again (a new interpreter): counted on top of what 11 had.
  b.interpreter_switches = 5;
  t = Text(PythonFamilies({a, b}, false, &totals));
  EXPECT_NE(t.find("gilstat_python_gil_switches_total{process=\"web\"} 1015"), std::string::npos)
      << t;
}

TEST(PythonFamiliesTest, GilDisabledAnywhereInTheGroupIsZero) {
  auto a = Proc(10, "ft", "3.13.0", GilMethod::kTakeGil);
  auto b = Proc(11, "ft", "3.13.0", GilMethod::kGilDisabled);
  b.build = "free-threaded";
  b.gil_enabled = false;
  const std::string t = Text(PythonFamilies({a, b}, false));
  EXPECT_NE(t.find("gilstat_python_gil_enabled{process=\"ft\"} 0"), std::string::npos) << t;
  EXPECT_NE(t.find("build=\"free-threaded\",method=\"gil_disabled\"} 1"), std::string::npos);
}

// A version newer than the known ones, read with an older layout, says so in its own series.
TEST(PythonFamiliesTest, AnAssumedLayoutIsALabel) {
  auto a = Proc(10, "app", "3.15.2", GilMethod::kGilCondvar);
  a.layout = "known";
  auto b = Proc(11, "app", "3.16.0", GilMethod::kGilCondvar);
  b.layout = "assumed";
  auto c = Proc(12, "app", "2.7.18", GilMethod::kInterpreterLock);  // no GIL layout read
  const std::string t = Text(PythonFamilies({a, b, c}, false));
  EXPECT_NE(
      t.find("version=\"3.15.2\",build=\"unstripped\",method=\"gil_condvar\",layout=\"known\"} 1"),
      std::string::npos)
      << t;
  EXPECT_NE(
      t.find(
          "version=\"3.16.0\",build=\"unstripped\",method=\"gil_condvar\",layout=\"assumed\"} 1"),
      std::string::npos)
      << t;
  EXPECT_NE(t.find("version=\"2.7.18\",build=\"unstripped\",method=\"interpreter_lock\"} 1"),
            std::string::npos)
      << t;
}

TEST(PythonFamiliesTest, PidLabelSeparatesProcesses) {
  const std::string t = Text(PythonFamilies({Proc(10, "web", "3.12.1", GilMethod::kTakeGil),
                                             Proc(11, "web", "3.12.1", GilMethod::kTakeGil)},
                                            true));
  EXPECT_NE(t.find("gilstat_python_info{process=\"web\",pid=\"10\""), std::string::npos) << t;
  EXPECT_NE(t.find("gilstat_python_info{process=\"web\",pid=\"11\""), std::string::npos);
}

PyGilStats Stats(bool take_drop, bool condvar) {
  PyGilStats s;
  s.pid = 10;
  s.take_drop = take_drop;
  s.condvar = condvar;
  s.acquisitions = 100;
  s.contended = 40;
  s.handoffs = 30;
  s.forced = 25;
  s.voluntary = 75;
  s.wait.count = take_drop ? 100 : 40;
  s.wait.slots[20] = s.wait.count;
  s.wait.sum_ns = 5'000'000'000;
  s.hold.count = 100;
  s.hold.slots[22] = 100;
  s.hold.sum_ns = 4'000'000'000;
  return s;
}

TEST(PyGilLockSeriesTest, TakeGilWithCondvarHasEverySeries) {
  LockFamilyBuilder b;
  b.Add(PyGilLockSeries(Stats(true, true), "web", false));
  const std::string t = Text(b.Build());
  EXPECT_NE(t.find("gilstat_lock_acquisitions_total{lock=\"gil\",process=\"web\",source=\"ebpf\"} "
                   "100"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("gilstat_gil_hold_seconds_sum{lock=\"gil\",process=\"web\",source=\"ebpf\"} 4"),
            std::string::npos);
  EXPECT_NE(t.find("reason=\"forced\"} 25"), std::string::npos);
  EXPECT_NE(t.find("reason=\"voluntary\"} 75"), std::string::npos);
}

TEST(PyGilLockSeriesTest, WithoutTheCondvarReleasesAreNotClassified) {
  LockFamilyBuilder b;
  b.Add(PyGilLockSeries(Stats(true, false), "web", false));
  const std::string t = Text(b.Build());
  EXPECT_EQ(t.find("gilstat_gil_switches_total"), std::string::npos) << t;
  EXPECT_NE(t.find("gilstat_gil_hold_seconds_count"), std::string::npos);
}

TEST(PyGilLockSeriesTest, CondvarOnlyLeavesOutAcquisitionsAndHold) {
  LockFamilyBuilder b;
  b.Add(PyGilLockSeries(Stats(false, true), "deb", false));
  const std::string t = Text(b.Build());
  EXPECT_EQ(t.find("gilstat_lock_acquisitions_total"), std::string::npos) << t;
  EXPECT_EQ(t.find("gilstat_gil_hold_seconds"), std::string::npos);
  // The handoffs to a waiter, classified by the drop request pending at the time.
  EXPECT_NE(t.find("reason=\"forced\"} 25"), std::string::npos);
  EXPECT_NE(t.find("reason=\"voluntary\"} 75"), std::string::npos);
  EXPECT_NE(t.find("gilstat_lock_contended_total{lock=\"gil\",process=\"deb\",source=\"ebpf\"} 40"),
            std::string::npos);
  EXPECT_NE(t.find("gilstat_lock_wait_seconds_count{lock=\"gil\",process=\"deb\",source=\"ebpf\"} "
                   "40"),
            std::string::npos);
}

// The condvar method's handoff latency is exported where it is measured (the scheduler program
// loaded), and left out rather than shown empty where it is not.
TEST(PyGilLockSeriesTest, CondvarOnlyHandoffLatencyWhereMeasured) {
  for (bool known : {true, false}) {
    PyGilStats st = Stats(false, true);
    st.handoff_latency_known = known;
    st.handoff_latency.count = 28;
    st.handoff_latency.slots[14] = 28;
    st.handoff_latency.sum_ns = 560'000;
    LockFamilyBuilder b;
    b.Add(PyGilLockSeries(st, "deb", false));
    const std::string t = Text(b.Build());
    const std::string count =
        "gilstat_lock_handoff_latency_seconds_count{lock=\"gil\",process=\"deb\","
        "source=\"ebpf\"} 28";
    EXPECT_EQ(t.find(count) != std::string::npos, known) << t;
  }
}

TEST(PyGilLockSeriesTest, AGroupWithAStrippedProcessHasNoAcquisitionCount) {
  // Summing a complete count with a missing one would understate: the family is left out.
  LockFamilyBuilder b;
  b.Add(PyGilLockSeries(Stats(true, true), "mixed", false));
  b.Add(PyGilLockSeries(Stats(false, true), "mixed", false));
  const std::string t = Text(b.Build());
  EXPECT_EQ(t.find("gilstat_lock_acquisitions_total"), std::string::npos) << t;
  EXPECT_NE(t.find("gilstat_lock_contended_total{lock=\"gil\",process=\"mixed\",source=\"ebpf\"} "
                   "80"),
            std::string::npos);
}

class NoLocks : public LockStatsSource {
 public:
  Result<std::vector<SemLockStats>> ReadLocks() override { return std::vector<SemLockStats>{}; }
  ProbeHealth ReadHealth() override { return {}; }
};

TEST(PyGilLockSeriesTest, SemlockCollectorMergesThemIntoItsFamilies) {
  NoLocks source;
  SemlockNaming naming;
  naming.group_of = [](pid_t) { return std::optional<std::string>("web"); };
  naming.lock_of = [](pid_t, uint64_t) { return std::string("threading"); };
  SemlockCollector c(source, naming, [] {
    return std::vector<LockSeries>{PyGilLockSeries(Stats(true, true), "web", false)};
  });
  const std::string t = Text(c.Collect());
  EXPECT_NE(t.find("gilstat_lock_contended_total{lock=\"gil\",process=\"web\",source=\"ebpf\"} 40"),
            std::string::npos)
      << t;
  // One family, one TYPE line.
  EXPECT_EQ(t.find("# TYPE gilstat_lock_contended_total"),
            t.rfind("# TYPE gilstat_lock_contended_total"));
}

PyGilStats SubInterpreterStats(int64_t interpreter, uint64_t gil) {
  PyGilStats s = Stats(false, true);
  s.interpreter = interpreter;
  s.gil = gil;
  return s;
}

// A sub-interpreter's own GIL is its own series, naming the interpreter; the main GIL's series
// is unchanged beside it.
TEST(PyGilLockSeriesTest, SubInterpreterGilsAreSeriesOfTheirOwn) {
  LockFamilyBuilder b;
  b.Add(PyGilLockSeries(Stats(false, true), "web", false));
  b.Add(PyGilLockSeries(SubInterpreterStats(3, 0x7000), "web", false));
  const std::string t = Text(b.Build());
  EXPECT_NE(t.find("gilstat_lock_contended_total{lock=\"gil\",process=\"web\",source=\"ebpf\"} 40"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("gilstat_lock_contended_total{lock=\"gil@interpreter-3\",process=\"web\","
                   "source=\"ebpf\"} 40"),
            std::string::npos)
      << t;
}

// Sub-interpreters come and go: a gone one's counts move to "gil@other" (series stay bounded,
// the group's counters monotonic); the main GIL's series is not touched.
TEST(PyGilLockSeriesTest, AGoneSubInterpreterGoesToOther) {
  NoLocks source;
  SemlockNaming naming;
  naming.group_of = [](pid_t) { return std::optional<std::string>("web"); };
  naming.lock_of = [](pid_t, uint64_t) { return std::string("threading"); };
  bool sub_alive = true;
  SemlockCollector c(source, naming, [&sub_alive] {
    std::vector<LockSeries> out = {PyGilLockSeries(Stats(false, true), "web", false)};
    if (sub_alive) out.push_back(PyGilLockSeries(SubInterpreterStats(3, 0x7000), "web", false));
    return out;
  });
  std::string t = Text(c.Collect());
  EXPECT_NE(t.find("lock=\"gil@interpreter-3\""), std::string::npos) << t;
  sub_alive = false;
  t = Text(c.Collect());
  EXPECT_EQ(t.find("lock=\"gil@interpreter-3\""), std::string::npos) << t;
  EXPECT_NE(t.find("gilstat_lock_contended_total{lock=\"gil@other\",process=\"web\","
                   "source=\"ebpf\"} 40"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("gilstat_lock_contended_total{lock=\"gil\",process=\"web\",source=\"ebpf\"} 40"),
            std::string::npos)
      << t;
}

TEST(PythonFamiliesTest, UntrackedSubInterpreterGilsAreSummedPerGroup) {
  PythonProcess a = Proc(10, "web", "3.13.0", GilMethod::kGilCondvar);
  PythonProcess b = Proc(11, "web", "3.13.0", GilMethod::kGilCondvar);
  PythonProcess old = Proc(12, "old", "3.11.2", GilMethod::kGilCondvar);
  a.untracked_gils = 2;
  b.untracked_gils = 0;
  const std::string t = Text(PythonFamilies({a, b, old}, false));
  EXPECT_NE(t.find("gilstat_python_untracked_gils{process=\"web\"} 2"), std::string::npos) << t;
  EXPECT_EQ(t.find("gilstat_python_untracked_gils{process=\"old\"}"), std::string::npos) << t;
}

// GIL utilization by sampling: per group, the totals of processes that left included; per pid,
// only live processes; the sampler's health always.
TEST(GilUtilizationFamiliesTest, GroupsKeepLeftProcessesPidsDoNot) {
  std::vector<GilUtilization> rows = {{"web", 10, 30, 70, 0.12},
                                      {"web", 11, 10, 10, 0.04},
                                      {"web", 0, 5, 5, 0.02},
                                      {"db", 12, 1, 3, 0.004}};
  GilSamplerHealth h;
  h.gone = 2;
  h.mean_interval_seconds = 0.004;
  const std::string group = Text(GilUtilizationFamilies(rows, h, false));
  EXPECT_NE(group.find("gilstat_python_gil_samples_total{process=\"web\",state=\"held\"} 45"),
            std::string::npos)
      << group;
  EXPECT_NE(group.find("gilstat_python_gil_samples_total{process=\"web\",state=\"free\"} 85"),
            std::string::npos);
  EXPECT_NE(group.find("gilstat_python_gil_held_seconds_total{process=\"db\"} 0.004"),
            std::string::npos);
  EXPECT_NE(group.find("gilstat_python_gil_sampler_read_errors_total{reason=\"gone\"} 2"),
            std::string::npos);
  EXPECT_NE(group.find("gilstat_python_gil_sampler_interval_seconds 0.004"), std::string::npos);
  const std::string pid = Text(GilUtilizationFamilies(rows, h, true));
  EXPECT_NE(
      pid.find("gilstat_python_gil_samples_total{process=\"web\",pid=\"11\",state=\"held\"} 10"),
      std::string::npos)
      << pid;
  EXPECT_EQ(pid.find("pid=\"0\""), std::string::npos) << pid;
}

}  // namespace
}  // namespace gilstat::metrics
