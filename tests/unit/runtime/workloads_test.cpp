// Workloads: parameters, bounded runs with exact counters, continuous runs that stop promptly.
#include "gilstat/rt/workloads.h"

#include <gtest/gtest.h>

#include <time.h>

#include <chrono>
#include <thread>

#include "gilstat/rt/runtime.h"
#include "tests/unit/runtime/rt_test_util.h"

namespace gilstat::rt {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::unique_ptr<Runtime> MakeRuntime(Policy policy) {
  RuntimeOptions o;
  o.policy = policy;
  auto r = Runtime::Create(o);
  GILSTAT_CHECK(r.ok());
  return std::move(r).value();
}

WorkloadSpec MustParse(std::string_view name, const std::map<std::string, std::string>& p) {
  Result<WorkloadSpec> s = ParseWorkload(name, p);
  if (!s) ADD_FAILURE() << s.error().message;
  GILSTAT_CHECK(s.ok());
  return *s;
}

const LockSnapshot* FindLock(const Snapshot& s, const std::string& name) {
  for (const LockSnapshot& l : s.locks) {
    if (l.name == name) return &l;
  }
  return nullptr;
}

TEST(WorkloadsTest, ParseDefaultsAndParameters) {
  EXPECT_EQ(WorkloadNames().size(), 5u);
  for (const std::string& n : WorkloadNames()) {
    Result<WorkloadSpec> s = ParseWorkload(n);
    ASSERT_TRUE(s.ok()) << n;
    EXPECT_EQ(WorkloadName(s->kind), n);
    EXPECT_FALSE(s->continuous);
  }
  EXPECT_EQ(MustParse("echo", {}).cpu_threads, 0);
  EXPECT_EQ(MustParse("lock-contention", {}).threads, 4);

  WorkloadSpec c = MustParse("countdown", {{"threads", "4"}, {"steps", "1000"}});
  EXPECT_EQ(c.threads, 4);
  EXPECT_EQ(c.steps, 1000);
  WorkloadSpec v = MustParse(
      "convoy",
      {{"cpu_threads", "2"}, {"duration", "250ms"}, {"warmup", "1.5ms"}, {"continuous", "true"}});
  EXPECT_EQ(v.cpu_threads, 2);
  EXPECT_EQ(v.duration, milliseconds(250));
  EXPECT_EQ(v.warmup, std::chrono::microseconds(1500));
  EXPECT_TRUE(v.continuous);
  EXPECT_EQ(MustParse("mixed", {{"duration", "2s"}}).duration, std::chrono::seconds(2));
  EXPECT_EQ(MustParse("echo", {{"duration", "100us"}}).duration, std::chrono::microseconds(100));

  auto err = [](std::string_view name, const std::map<std::string, std::string>& p) {
    Result<WorkloadSpec> s = ParseWorkload(name, p);
    EXPECT_FALSE(s.ok()) << name;
    return s.ok() ? std::string() : s.error().message;
  };
  EXPECT_NE(err("fibonacci", {}).find("unknown workload"), std::string::npos);
  EXPECT_NE(err("echo", {{"steps", "5"}}).find("has no parameter 'steps'"), std::string::npos);
  EXPECT_NE(err("countdown", {{"threads", "x"}}).find("not an integer"), std::string::npos);
  EXPECT_NE(err("countdown", {{"threads", "2x"}}).find("not an integer"), std::string::npos);
  EXPECT_NE(err("countdown", {{"threads", "0"}}).find("threads = 0 outside"), std::string::npos);
  EXPECT_NE(err("countdown", {{"steps", "-1"}}).find("steps"), std::string::npos);
  EXPECT_NE(err("echo", {{"duration", "5"}}).find("not a duration"), std::string::npos);
  EXPECT_NE(err("echo", {{"duration", "0s"}}).find("duration must be > 0"), std::string::npos);
  EXPECT_NE(err("echo", {{"continuous", "maybe"}}).find("not a boolean"), std::string::npos);
  EXPECT_NE(err("lock-contention", {{"critical_steps", "0"}}).find("critical_steps"),
            std::string::npos);
  EXPECT_NE(err("mixed", {{"threads", "3"}}).find("has no parameter"), std::string::npos);
}

// countdown: exactly N steps done, split over the threads, two ticks per step.
TEST(WorkloadsTest, CountdownDoesExactlyTheWork) {
  auto rt = MakeRuntime(Policy::kClassic);
  WorkloadSpec s = MustParse("countdown", {{"threads", "3"}, {"steps", "100001"}});
  Result<WorkloadReport> r = RunWorkload(*rt, s);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->cpu_steps, 100001u);
  EXPECT_EQ(r->interp_threads, 3);
  EXPECT_GT(r->elapsed_s, 0.0);
  EXPECT_FALSE(r->stopped);
  const Snapshot snap = rt->TakeSnapshot();
  EXPECT_GE(snap.ticks, 2u * 100001);
  EXPECT_EQ(snap.threads_attached, 0u);
  EXPECT_EQ(snap.gil.exit_releases, 3u);
  // Classic: a forced release every 100 ticks, each followed by a handoff or a re-acquisition.
  EXPECT_GE(snap.gil.forced_releases, snap.ticks / 100 - 3);
  EXPECT_EQ(snap.gil.handoffs + snap.gil.same_thread_reacquisitions >= snap.gil.forced_releases,
            true);
}

// echo: the client counts round trips, the server counts requests; both equal the target.
TEST(WorkloadsTest, EchoCountsRoundTrips) {
  for (Policy policy : {Policy::kClassic, Policy::kSwitching, Policy::kFair}) {
    SCOPED_TRACE(PolicyName(policy));
    auto rt = MakeRuntime(policy);
    WorkloadSpec s = MustParse("echo", {{"round_trips", "500"}});
    Result<WorkloadReport> r = RunWorkload(*rt, s);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->round_trips, 500u);
    EXPECT_EQ(r->requests_served, 500u);
    EXPECT_GT(r->round_trips_per_s, 0.0);
    // Each request: a READ and a WRITE, each releasing the GIL; plus the final READ (EOF).
    EXPECT_GE(rt->TakeSnapshot().gil.voluntary_releases, 2u * 500 + 1);
  }
}

TEST(WorkloadsTest, ConvoyRunsEchoBesideCpuThreads) {
  auto rt = MakeRuntime(Policy::kSwitching);
  WorkloadSpec s = MustParse("convoy", {{"cpu_threads", "1"}, {"duration", "150ms"}});
  const auto t0 = Clock::now();
  Result<WorkloadReport> r = RunWorkload(*rt, s);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_LT(Clock::now() - t0, milliseconds(2000));
  EXPECT_EQ(r->interp_threads, 2);
  EXPECT_GT(r->round_trips, 0u);
  EXPECT_GT(r->cpu_steps, 0u);
  EXPECT_GE(r->elapsed_s, 0.15);
  EXPECT_EQ(r->requests_served, r->round_trips);
  EXPECT_GT(rt->TakeSnapshot().gil.forced_releases, 0u);  // drop requests honoured
}

double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// The paced convoy (the embedded default's demo): the client keeps its schedule, the CPU thread
// rests between bursts, so the process uses well under one CPU, and the server still finds the
// GIL held during bursts (contended acquisitions, forced releases, handoffs).
TEST(WorkloadsTest, PacedConvoyContendsWithoutTakingACpu) {
  WorkloadSpec p = MustParse(
      "convoy",
      {{"cpu_burst", "2ms"}, {"cpu_rest", "4ms"}, {"client_period", "2ms"}, {"duration", "400ms"}});
  EXPECT_EQ(p.cpu_burst, milliseconds(2));
  EXPECT_EQ(p.cpu_rest, milliseconds(4));
  EXPECT_EQ(p.client_period, milliseconds(2));
  EXPECT_FALSE(ParseWorkload("convoy", {{"cpu_burst", "1ms"}}).ok());  // no rest
  EXPECT_FALSE(ParseWorkload("convoy", {{"cpu_burst", "-1ms"}, {"cpu_rest", "1ms"}}).ok());
  EXPECT_FALSE(ParseWorkload("convoy", {{"client_period", "-1ms"}}).ok());
  EXPECT_FALSE(ParseWorkload("echo", {{"cpu_rest", "1ms"}}).ok());

  auto rt = MakeRuntime(Policy::kClassic);
  const double cpu0 = ProcessCpuSeconds();
  const auto t0 = Clock::now();
  Result<WorkloadReport> r = RunWorkload(*rt, p);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = ProcessCpuSeconds() - cpu0;
  // At most one request per period (plus the first, sent at once); a busy machine sends fewer.
  EXPECT_LE(r->round_trips, 400u / 2 + 1);
  EXPECT_GT(r->round_trips, 10u);
  EXPECT_EQ(r->cpu_steps % 10000, 0u);  // whole chunks
  EXPECT_GT(r->cpu_steps, 0u);
  // Unpaced, the CPU thread alone takes a whole CPU and the echo pair more.
  EXPECT_LT(cpu, 0.9 * wall) << "cpu " << cpu << " s over " << wall << " s";
  const Snapshot snap = rt->TakeSnapshot();
  EXPECT_GT(snap.gil.contended, 0u);
  EXPECT_GT(snap.gil.handoffs, 0u);
  EXPECT_GT(snap.gil.forced_releases, 0u);
  EXPECT_GT(snap.gil.voluntary_releases, 0u);
}

// lock-contention: every critical section acquires and releases the runtime Lock once.
TEST(WorkloadsTest, LockContentionCountsMatchTheLock) {
  auto rt = MakeRuntime(Policy::kClassic);
  WorkloadSpec s = MustParse(
      "lock-contention",
      {{"threads", "3"}, {"iterations", "3000"}, {"critical_steps", "20"}, {"outside_steps", "5"}});
  Result<WorkloadReport> r = RunWorkload(*rt, s);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->critical_sections, 3000u);
  const Snapshot snap = rt->TakeSnapshot();
  const LockSnapshot* l = FindLock(snap, "workload.contended");
  ASSERT_NE(l, nullptr);
  EXPECT_EQ(l->acquisitions, 3000u);
  EXPECT_EQ(l->releases, 3000u);
  EXPECT_LE(l->contended, l->acquisitions);
}

TEST(WorkloadsTest, MixedExercisesEverything) {
  auto rt = MakeRuntime(Policy::kFair);
  // Runs until every part has done some work (on a busy machine a fixed duration may end
  // before the consumer's first item), then stops.
  WorkloadSpec s = MustParse("mixed", {{"continuous", "true"}, {"pending_every", "8"}});
  Result<std::unique_ptr<Workload>> w = Workload::Start(*rt, s);
  ASSERT_TRUE(w.ok()) << w.error().message;
  const bool all_ran = testing::WaitUntil([&] {
    const WorkloadReport p = (*w)->Progress();
    return p.round_trips > 0 && p.cpu_steps > 0 && p.critical_sections > 0 &&
           p.items_consumed > 0 && p.pending_calls_queued > 0;
  });
  Result<WorkloadReport> r = (*w)->Stop();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(all_ran) << "not every part of the mixed workload ran within 20 s";
  EXPECT_EQ(r->interp_threads, 1 + 1 + 2 + 2);
  EXPECT_GT(r->round_trips, 0u);
  EXPECT_GT(r->cpu_steps, 0u);
  EXPECT_GT(r->critical_sections, 0u);
  EXPECT_GT(r->items_produced, 0u);
  EXPECT_GT(r->items_consumed, 0u);
  EXPECT_LE(r->items_consumed, r->items_produced);
  EXPECT_GT(r->pending_calls_queued, 0u);
  EXPECT_LE(r->pending_calls_run, r->pending_calls_queued);
  const Snapshot snap = rt->TakeSnapshot();
  EXPECT_EQ(snap.pending_calls_run, r->pending_calls_run);
  EXPECT_NE(FindLock(snap, "workload.queue"), nullptr);
  EXPECT_NE(FindLock(snap, "workload.ready"), nullptr);
  EXPECT_EQ(r->unhandled_exceptions, 0u);
}

// Every workload, under every policy, runs continuously and stops within a bound (generous
// for sanitizer builds and busy CPUs) once asked, including threads blocked in read() on the
// socketpair.
TEST(WorkloadsTest, ContinuousWorkloadsStopPromptly) {
  for (Policy policy : {Policy::kClassic, Policy::kSwitching, Policy::kFair}) {
    for (const std::string& name : WorkloadNames()) {
      SCOPED_TRACE(std::string(PolicyName(policy)) + " " + name);
      auto rt = MakeRuntime(policy);
      WorkloadSpec s = MustParse(name, {{"continuous", "true"}});
      Result<std::unique_ptr<Workload>> w = Workload::Start(*rt, s);
      ASSERT_TRUE(w.ok()) << w.error().message;
      std::this_thread::sleep_for(milliseconds(60));
      EXPECT_FALSE((*w)->finished());
      const WorkloadReport mid = (*w)->Progress();
      const auto t0 = Clock::now();
      Result<WorkloadReport> r = (*w)->Stop();
      const auto took = Clock::now() - t0;
      ASSERT_TRUE(r.ok()) << r.error().message;
      // Well under 100 ms on an idle machine. Every thread must get a CPU and the GIL once to
      // see the flag: with both CPUs kept busy, switching/mixed took 1.8 s. A thread that misses
      // the flag or blocks without a timeout never ends.
      EXPECT_LT(took, milliseconds(5000));
      EXPECT_TRUE(r->stopped);
      // echo/convoy report the client's measuring time (convoy: after a 20 ms warm-up), which
      // depends on when the client got a CPU; the others report start to stop.
      if (name != "echo" && name != "convoy") {
        EXPECT_GE(r->elapsed_s, 0.05);
      }
      EXPECT_GE(r->cpu_steps + r->round_trips + r->critical_sections,
                mid.cpu_steps + mid.round_trips + mid.critical_sections);
      EXPECT_GT(r->cpu_steps + r->round_trips + r->critical_sections, 0u);
      EXPECT_EQ(rt->TakeSnapshot().threads_attached, 0u);
    }
  }
}

// Destroying a running workload stops it; starting one from an attached thread that holds the
// GIL does not deadlock (the GIL is released while waiting for the workload's threads).
TEST(WorkloadsTest, StartFromAnAttachedThreadAndDestroyWhileRunning) {
  auto rt = MakeRuntime(Policy::kSwitching);
  auto ts = rt->AttachThread("main");
  ASSERT_TRUE(ts.ok());
  {
    Result<std::unique_ptr<Workload>> w =
        Workload::Start(*rt, MustParse("convoy", {{"continuous", "true"}}));
    ASSERT_TRUE(w.ok()) << w.error().message;
    AllowThreads allow(**ts);
    std::this_thread::sleep_for(milliseconds(20));
  }  // destroyed here, while running, by a thread holding the GIL
  Result<WorkloadReport> r =
      RunWorkload(*rt, MustParse("countdown", {{"threads", "2"}, {"steps", "20000"}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->cpu_steps, 20000u);
  EXPECT_TRUE((*ts)->holds_gil());
  rt->DetachThread(*ts);

  WorkloadSpec cont = MustParse("echo", {{"continuous", "true"}});
  EXPECT_EQ(RunWorkload(*rt, cont).error().code, ErrorCode::kInvalidArgument);
  WorkloadSpec bad = cont;
  bad.threads = 0;
  bad.kind = WorkloadKind::kCountdown;
  EXPECT_FALSE(Workload::Start(*rt, bad).ok());
}

// The workload programs are valid and use only what the workloads' environments provide.
TEST(WorkloadsTest, ProgramsDisassemble) {
  for (const Program& p : {CpuProgram(100), EchoServerProgram(), LockContentionProgram(),
                           ProducerProgram(), ConsumerProgram()}) {
    EXPECT_GT(p.size(), 3u) << p.name();
    EXPECT_EQ(p.code().back().op, Op::kHalt);
    EXPECT_FALSE(p.Disassemble().empty());
  }
  EXPECT_EQ(EchoServerProgram().needs().fds, 1);
  EXPECT_EQ(LockContentionProgram().needs().locks, 1);
  EXPECT_TRUE(CpuProgram(100).needs().stop_flag);
}

}  // namespace
}  // namespace gilstat::rt
