#include "metrics/lock_families.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <string>

namespace gilstat::metrics {
namespace {

const prometheus::MetricFamily* Find(const std::vector<prometheus::MetricFamily>& fams,
                                     const std::string& name) {
  for (const auto& f : fams) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

LockSeries Series(const std::string& process, const std::string& lock, uint64_t acq) {
  LockSeries s;
  s.labels = {process, lock, "ebpf", ""};
  s.acquisitions = acq;
  s.contended = acq / 2;
  s.wait.slots[10] = acq;
  s.wait.count = acq;
  s.wait.sum_ns = acq * 1000;
  return s;
}

TEST(LockFamilyBuilder, SeriesWithEqualLabelsAreSummed) {
  LockFamilyBuilder b;
  b.Add(Series("python", "other", 10));
  b.Add(Series("python", "other", 5));
  b.Add(Series("python", "gil", 7));
  auto fams = b.Build();
  const auto* acq = Find(fams, "gilstat_lock_acquisitions_total");
  ASSERT_NE(acq, nullptr);
  ASSERT_EQ(acq->metric.size(), 2u);
  double other = -1;
  for (const auto& m : acq->metric) {
    for (const auto& l : m.label) {
      if (l.name == "lock" && l.value == "other") other = m.counter.value;
    }
  }
  EXPECT_EQ(other, 15);
  const auto* wait = Find(fams, "gilstat_lock_wait_seconds");
  ASSERT_NE(wait, nullptr);
  EXPECT_EQ(wait->type, prometheus::MetricType::Histogram);
}

TEST(LockFamilyBuilder, GilOnlyFamiliesAppearOnlyWithGilData) {
  LockFamilyBuilder b;
  b.Add(Series("python", "other", 1));
  auto fams = b.Build();
  EXPECT_EQ(Find(fams, "gilstat_gil_hold_seconds"), nullptr);
  EXPECT_EQ(Find(fams, "gilstat_gil_switches_total"), nullptr);

  auto gil = Series("python", "gil", 3);
  gil.hold = HistogramData{};
  gil.forced_switches = 4;
  gil.voluntary_switches = 2;
  b.Add(gil);
  fams = b.Build();
  const auto* sw = Find(fams, "gilstat_gil_switches_total");
  ASSERT_NE(sw, nullptr);
  ASSERT_EQ(sw->metric.size(), 2u);
  ASSERT_NE(Find(fams, "gilstat_gil_hold_seconds"), nullptr);
}

TEST(LockFamilyBuilder, ExpositionHasHelpTypeAndPidOnlyWhenSet) {
  LockFamilyBuilder b;
  b.Add(Series("web", "gil", 2));
  auto with_pid = Series("web", "gil", 1);
  with_pid.labels.pid = "42";
  b.Add(with_pid);
  const std::string text = prometheus::TextSerializer().Serialize(b.Build());
  EXPECT_NE(text.find("# HELP gilstat_lock_acquisitions_total "), std::string::npos);
  EXPECT_NE(text.find("# TYPE gilstat_lock_wait_seconds histogram"), std::string::npos);
  EXPECT_NE(text.find("gilstat_lock_acquisitions_total{lock=\"gil\",process=\"web\","
                      "source=\"ebpf\"} 2"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("pid=\"42\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("gilstat_lock_wait_seconds_bucket{lock=\"gil\",process=\"web\","
                      "source=\"ebpf\",le=\"+Inf\"} 2"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace gilstat::metrics
