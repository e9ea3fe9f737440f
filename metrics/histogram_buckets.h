// Conversion of log2 histograms (runtime counters and BPF maps share the slot layout of
// common/include/gilstat/log2_slot.h) into Prometheus histograms with fixed buckets.
#pragma once

#include <prometheus/client_metric.h>

#include "gilstat/histogram.h"

namespace gilstat::metrics {

// Every exported histogram has the same buckets, so that series stay comparable across
// scrapes and processes: le = 2^i ns for i in [kFirstBucketSlot, kLastBucketSlot], in seconds
// (128 ns … 17.2 s), then +Inf. Slots below the first bucket fall into it (their values are
// <= its bound); slots above the last one are counted only in +Inf.
inline constexpr int kFirstBucketSlot = 7;
inline constexpr int kLastBucketSlot = 34;

// Cumulative buckets, count and sum (seconds) of `h`. The +Inf bucket is implicit in
// prometheus-cpp's serializer: its count is the sample count.
prometheus::ClientMetric::Histogram ToPrometheusHistogram(const HistogramData& h);

// Adds `b` into `a` slot by slot.
void MergeHistogram(HistogramData& a, const HistogramData& b);

}  // namespace gilstat::metrics
