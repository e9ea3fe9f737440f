// The GIL probe's health counters, read the same way as the semaphore probe's: a failed read is
// counted in read_errors, never skipped.
#include <vector>

#include <gtest/gtest.h>

#include "bpf/pygil.h"
#include "probes/pygil_probe.h"

namespace gilstat::probes {
namespace {

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
