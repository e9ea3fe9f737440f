// The benchmark's workloads (bench/runtime_table.cpp) checked for what the runtime itself
// decides: counts and identities that hold however the kernel schedules the threads, on a busy
// machine too. The shapes that depend on the scheduler (the share of the echo rate a convoy
// keeps, who wins the GIL back after a forced release, countdown times) are measured and
// reported by bench/runtime_table.cpp (docs/BENCHMARKS.md, "Expected shape"), not asserted here
// (docs/RUNTIME.md, "What the tests assert and what the benchmark reports"). Labelled "nosan":
// the workloads run long enough to be slow under sanitizers.
#include <gtest/gtest.h>

#include <chrono>
#include "gilstat/rt/runtime.h"
#include "gilstat/rt/workloads.h"

namespace gilstat::rt {
namespace {

using std::chrono::milliseconds;

struct Measured {
  WorkloadReport report;
  Snapshot snap;
};

Measured Measure(Policy policy, WorkloadSpec spec) {
  RuntimeOptions o;
  o.policy = policy;
  auto rt = Runtime::Create(o);
  GILSTAT_CHECK(rt.ok());
  Result<WorkloadReport> r = RunWorkload(**rt, spec);
  if (!r) ADD_FAILURE() << r.error().message;
  GILSTAT_CHECK(r.ok());
  return {*r, (*rt)->TakeSnapshot()};
}

WorkloadSpec Convoy() {
  WorkloadSpec s = DefaultWorkload(WorkloadKind::kConvoy);
  s.cpu_threads = 1;
  s.duration = milliseconds(300);
  return s;
}

WorkloadSpec Countdown(int threads) {
  WorkloadSpec s = DefaultWorkload(WorkloadKind::kCountdown);
  s.threads = threads;
  s.steps = 30'000'000;
  return s;
}

// classic: the holder releases at every check interval, whoever runs, and every forced release
// ends in one of the two outcomes the benchmark counts: a handoff or the releaser winning the
// GIL back (which of the two is the scheduler's choice: bench/runtime_table.cpp reports it).
TEST(RuntimeShape, ClassicReleasesAtEveryCheckInterval) {
  const Measured two = Measure(Policy::kClassic, Countdown(2));
  const LockSnapshot& g = two.snap.gil;
  EXPECT_EQ(two.report.cpu_steps, 30'000'000u);
  // One runtime-wide ticker: exactly one forced release per check interval of ticks.
  EXPECT_EQ(g.forced_releases, two.snap.ticks / static_cast<uint64_t>(two.snap.check_interval));
  EXPECT_GE(two.snap.ticks, 30'000'000u);  // at least one ticking instruction per step
  EXPECT_GE(g.handoffs + g.same_thread_reacquisitions, g.forced_releases);
  EXPECT_EQ(two.snap.drop_requests, 0u);
}

// switching: the echo thread, back from its blocking call while a CPU-bound thread holds the
// GIL, gets it only by setting the drop request (the convoy effect's mechanism); a forced
// release is always an honoured drop request.
TEST(RuntimeShape, SwitchingConvoyGoesThroughDropRequests) {
  const Measured convoy = Measure(Policy::kSwitching, Convoy());
  EXPECT_GT(convoy.report.round_trips, 0u);
  EXPECT_GT(convoy.snap.drop_requests, 0u);
  EXPECT_GT(convoy.snap.gil.forced_releases, 0u);
  EXPECT_LE(convoy.snap.gil.forced_releases, convoy.snap.drop_requests);
  EXPECT_GE(convoy.snap.gil.voluntary_releases, convoy.report.round_trips);
}

// fair: a forced release hands the GIL straight to the next waiter, so CPU-bound threads never
// fight over it (no same-thread reacquisition), on a busy machine too.
TEST(RuntimeShape, FairCountdownHasNoGilBattle) {
  const Measured two = Measure(Policy::kFair, Countdown(2));
  EXPECT_EQ(two.report.cpu_steps, 30'000'000u);
  EXPECT_GT(two.snap.gil.forced_releases, 0u);
  EXPECT_EQ(two.snap.gil.same_thread_reacquisitions, 0u);
  EXPECT_GE(two.snap.gil.handoffs, two.snap.gil.forced_releases);
}

}  // namespace
}  // namespace gilstat::rt
