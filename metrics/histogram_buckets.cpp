#include "metrics/histogram_buckets.h"

#include <cmath>
#include <limits>

namespace gilstat::metrics {

prometheus::ClientMetric::Histogram ToPrometheusHistogram(const HistogramData& h) {
  prometheus::ClientMetric::Histogram out;
  out.bucket.reserve(kLastBucketSlot - kFirstBucketSlot + 2);
  uint64_t cumulative = 0;
  int slot = 0;
  for (int b = kFirstBucketSlot; b <= kLastBucketSlot; ++b) {
    for (; slot <= b; ++slot) cumulative += h.slots[slot];
    out.bucket.push_back({cumulative, std::ldexp(1.0, b) * 1e-9});
  }
  // The count is that of the slots, not h.count: the two are read from a live source at
  // slightly different moments, and a histogram whose +Inf bucket is below a finite bucket
  // is invalid. The sum is the source's own (exact) sum.
  uint64_t total = cumulative;
  for (; slot < kHistSlots; ++slot) total += h.slots[slot];
  out.bucket.push_back({total, std::numeric_limits<double>::infinity()});
  out.sample_count = total;
  out.sample_sum = static_cast<double>(h.sum_ns) * 1e-9;
  return out;
}

void MergeHistogram(HistogramData& a, const HistogramData& b) {
  for (int i = 0; i < kHistSlots; ++i) a.slots[i] += b.slots[i];
  a.sum_ns += b.sum_ns;
  a.count += b.count;
}

}  // namespace gilstat::metrics
