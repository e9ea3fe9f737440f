// A log2 histogram of durations as read from either source (runtime counters or BPF maps).
#pragma once

#include <array>
#include <cstdint>

#include "gilstat/log2_slot.h"

namespace gilstat {

inline constexpr int kHistSlots = GILSTAT_HIST_SLOTS;

struct HistogramData {
  std::array<uint64_t, kHistSlots> slots{};  // slot i: values in (2^(i-1), 2^i] ns; slot 0: <= 1
  uint64_t sum_ns = 0;
  uint64_t count = 0;
};

// Upper bound (inclusive) of slot i in nanoseconds: 2^i.
constexpr uint64_t SlotUpperBoundNs(int slot) { return uint64_t{1} << slot; }

// Adds kHistSlots slot counts, a sum and a count (one CPU's copy of a BPF map value) to `h`.
template <typename U>
void AddHistogram(HistogramData& h, const U* slots, U sum, U count) {
  for (int i = 0; i < kHistSlots; ++i) h.slots[i] += slots[i];
  h.sum_ns += sum;
  h.count += count;
}

}  // namespace gilstat
