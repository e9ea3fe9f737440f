#include "metrics/histogram_buckets.h"

#include <gtest/gtest.h>

#include <cmath>

namespace gilstat::metrics {
namespace {

HistogramData Record(std::initializer_list<uint64_t> values_ns) {
  HistogramData h;
  for (uint64_t v : values_ns) {
    h.slots[gilstat_log2_slot(v)]++;
    h.sum_ns += v;
    h.count++;
  }
  return h;
}

// The cumulative count of the bucket whose bound is 2^slot ns.
uint64_t CountAtBound(const prometheus::ClientMetric::Histogram& h, int slot) {
  for (const auto& b : h.bucket) {
    if (b.upper_bound == std::ldexp(1.0, slot) * 1e-9) return b.cumulative_count;
  }
  ADD_FAILURE() << "no bucket for slot " << slot;
  return 0;
}

TEST(Log2Slot, PowersOfTwoLandInTheBucketTheyBound) {
  EXPECT_EQ(gilstat_log2_slot(0), 0u);
  EXPECT_EQ(gilstat_log2_slot(1), 0u);
  EXPECT_EQ(gilstat_log2_slot(2), 1u);
  EXPECT_EQ(gilstat_log2_slot(3), 2u);
  EXPECT_EQ(gilstat_log2_slot(4), 2u);
  EXPECT_EQ(gilstat_log2_slot(5), 3u);
  for (int i = 1; i < kHistSlots; ++i) {
    const uint64_t p = uint64_t{1} << i;
    EXPECT_EQ(gilstat_log2_slot(p), static_cast<unsigned>(i)) << "2^" << i;
    EXPECT_EQ(gilstat_log2_slot(p + 1), std::min<unsigned>(i + 1, kHistSlots - 1)) << "2^" << i;
  }
  EXPECT_EQ(gilstat_log2_slot(~uint64_t{0}), static_cast<unsigned>(kHistSlots - 1));
}

TEST(ToPrometheusHistogram, BucketsAreCumulativeWithInclusiveBounds) {
  // 1024 ns is exactly 2^10: it must count in le=1.024e-06, not in the next bucket.
  auto h = ToPrometheusHistogram(Record({1024, 1025, 100, 5'000'000}));
  EXPECT_EQ(h.sample_count, 4u);
  EXPECT_DOUBLE_EQ(h.sample_sum, (1024 + 1025 + 100 + 5'000'000) * 1e-9);
  EXPECT_EQ(CountAtBound(h, 7), 1u);   // 100 ns <= 128 ns
  EXPECT_EQ(CountAtBound(h, 10), 2u);  // + 1024
  EXPECT_EQ(CountAtBound(h, 11), 3u);  // + 1025
  EXPECT_EQ(CountAtBound(h, 22), 3u);  // 5 ms > 2^22 ns = 4.19 ms
  EXPECT_EQ(CountAtBound(h, 23), 4u);
  ASSERT_FALSE(h.bucket.empty());
  EXPECT_TRUE(std::isinf(h.bucket.back().upper_bound));
  EXPECT_EQ(h.bucket.back().cumulative_count, 4u);
  for (size_t i = 1; i < h.bucket.size(); ++i) {
    EXPECT_GE(h.bucket[i].cumulative_count, h.bucket[i - 1].cumulative_count);
    EXPECT_GT(h.bucket[i].upper_bound, h.bucket[i - 1].upper_bound);
  }
}

TEST(ToPrometheusHistogram, ValuesBeyondTheLastBucketCountOnlyInInf) {
  auto h = ToPrometheusHistogram(Record({uint64_t{1} << 40}));
  EXPECT_EQ(CountAtBound(h, kLastBucketSlot), 0u);
  EXPECT_EQ(h.bucket.back().cumulative_count, 1u);
  EXPECT_EQ(h.sample_count, 1u);
}

TEST(ToPrometheusHistogram, EveryHistogramHasTheSameBuckets) {
  auto a = ToPrometheusHistogram(HistogramData{});
  auto b = ToPrometheusHistogram(Record({7, 1'000'000'000}));
  ASSERT_EQ(a.bucket.size(), b.bucket.size());
  EXPECT_EQ(a.bucket.size(), static_cast<size_t>(kLastBucketSlot - kFirstBucketSlot + 2));
  for (size_t i = 0; i < a.bucket.size(); ++i) {
    EXPECT_EQ(a.bucket[i].upper_bound, b.bucket[i].upper_bound);
  }
}

TEST(MergeHistogram, AddsSlotsSumAndCount) {
  auto a = Record({10, 2000});
  MergeHistogram(a, Record({2000, 1 << 20}));
  EXPECT_EQ(a.count, 4u);
  EXPECT_EQ(a.sum_ns, 10u + 2000 + 2000 + (1 << 20));
  EXPECT_EQ(a.slots[gilstat_log2_slot(2000)], 2u);
}

}  // namespace
}  // namespace gilstat::metrics
