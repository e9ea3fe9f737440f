/* Shared by the BPF programs: adding a duration to a log2 histogram kept in a map value. */
#ifndef GILSTAT_HIST_BPF_H
#define GILSTAT_HIST_BPF_H

#include "gilstat/log2_slot.h"

/* Map values may be updated by several programs at once (per-CPU values too: a program can be
 * preempted by another task running the same program on that CPU): atomic adds keep counts
 * exact. */
static __always_inline void gilstat_hist_add(__u64 *slots, __u64 *sum, __u64 *cnt, __u64 v)
{
	__u32 slot = gilstat_log2_slot(v);

	if (slot >= GILSTAT_HIST_SLOTS)
		slot = GILSTAT_HIST_SLOTS - 1;
	__sync_fetch_and_add(&slots[slot], 1);
	__sync_fetch_and_add(sum, v);
	__sync_fetch_and_add(cnt, 1);
}

#endif /* GILSTAT_HIST_BPF_H */
