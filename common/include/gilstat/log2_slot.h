/* The log2 histogram slot of a duration, shared by the runtime (C++) and the BPF programs (C),
 * so that both sources put a value into the same bucket.
 *
 * Slot 0 holds values 0 and 1; slot i (i >= 1) holds values in (2^(i-1), 2^i]. A value that is
 * an exact power of two, 2^i, therefore lands in slot i, whose Prometheus upper bound ("le") is
 * 2^i: the bucket boundaries are inclusive, as Prometheus requires. Values above 2^(SLOTS-1)
 * are clamped into the last slot.
 *
 * Plain C with no builtins: the BPF target has no count-leading-zeros instruction. */
#ifndef GILSTAT_LOG2_SLOT_H
#define GILSTAT_LOG2_SLOT_H

#define GILSTAT_HIST_SLOTS 48

/* floor(log2(v)) for v >= 1, by binary search over the bit positions. */
static inline unsigned int gilstat_log2_floor(unsigned long long v) {
  unsigned int r = 0;
  unsigned int shift;

  shift = (v > 0xFFFFFFFFULL) << 5;
  v >>= shift;
  r |= shift;
  shift = (v > 0xFFFFULL) << 4;
  v >>= shift;
  r |= shift;
  shift = (v > 0xFFULL) << 3;
  v >>= shift;
  r |= shift;
  shift = (v > 0xFULL) << 2;
  v >>= shift;
  r |= shift;
  shift = (v > 0x3ULL) << 1;
  v >>= shift;
  r |= shift;
  r |= (unsigned int)(v >> 1);
  return r;
}

static inline unsigned int gilstat_log2_slot(unsigned long long v) {
  unsigned int slot;

  if (v <= 1) return 0;
  slot = gilstat_log2_floor(v - 1) + 1; /* ceil(log2(v)) */
  if (slot >= GILSTAT_HIST_SLOTS) slot = GILSTAT_HIST_SLOTS - 1;
  return slot;
}

#endif /* GILSTAT_LOG2_SLOT_H */
