// The GIL probe's per-CPU values summed into PyGilStats, and its health counters, read the same
// way as the semaphore probe's: a failed read is counted in read_errors, never skipped.
#include <vector>

#include <gtest/gtest.h>

#include "bpf/pygil.h"
#include "probes/pygil_probe.h"

namespace gilstat::probes {
namespace {

TEST(PyGilAggregate, SumsCpusAndTakesMax) {
  std::vector<pygil_stats> cpus(2);
  cpus[0].acquisitions = 3;
  cpus[0].contended = 1;
  cpus[0].forced = 2;
  cpus[0].max_wait_ns = 900;
  cpus[0].wait_hist[4] = 3;
  cpus[0].wait_hist_sum = 40;
  cpus[0].wait_hist_count = 3;
  cpus[1].acquisitions = 4;
  cpus[1].handoffs = 2;
  cpus[1].cond_timeouts = 5;
  cpus[1].max_wait_ns = 300;
  cpus[1].wait_hist[4] = 1;
  cpus[1].wait_hist[9] = 3;
  cpus[1].wait_hist_sum = 1500;
  cpus[1].wait_hist_count = 4;
  cpus[1].hold_hist[2] = 6;
  cpus[1].hold_hist_count = 6;
  const PyGilStats s = AggregatePyGilStats(42, cpus);
  EXPECT_EQ(s.pid, 42);
  EXPECT_EQ(s.acquisitions, 7u);
  EXPECT_EQ(s.contended, 1u);
  EXPECT_EQ(s.forced, 2u);
  EXPECT_EQ(s.handoffs, 2u);
  EXPECT_EQ(s.cond_timeouts, 5u);
  EXPECT_EQ(s.max_wait_ns, 900u);  // the maximum, not the sum
  EXPECT_EQ(s.wait.slots[4], 4u);
  EXPECT_EQ(s.wait.slots[9], 3u);
  EXPECT_EQ(s.wait.sum_ns, 1540u);
  EXPECT_EQ(s.wait.count, 7u);
  EXPECT_EQ(s.hold.slots[2], 6u);
  EXPECT_EQ(s.handoff_latency.count, 0u);
}

TEST(PyGilHealth, CountersByIndex) {
  std::vector<uint64_t> c(PYGIL_NR_COUNTERS);
  c[PYGIL_CNT_THREADS_FULL] = 2;
  c[PYGIL_CNT_STATS_FULL] = 3;
  c[PYGIL_CNT_ORPHAN_RETURNS] = 5;
  c[PYGIL_CNT_READ_ERRORS] = 7;
  const PyGilHealth h = PyGilHealthOf(c);
  EXPECT_EQ(h.threads_full, 2u);
  EXPECT_EQ(h.stats_full, 3u);
  EXPECT_EQ(h.orphan_returns, 5u);
  EXPECT_EQ(h.read_errors, 7u);
}

TEST(PyGilHealth, FailedReadIsCounted) {
  const PyGilHealth h = PyGilHealthOf(MakeError(ErrorCode::kInternal, "boom"));
  EXPECT_EQ(h.read_errors, 1u);
  EXPECT_EQ(h.threads_full + h.stats_full + h.orphan_returns, 0u);
  EXPECT_EQ(PyGilHealthOf(std::vector<uint64_t>{1, 2}).read_errors, 1u);  // too few counters
}

}  // namespace
}  // namespace gilstat::probes
