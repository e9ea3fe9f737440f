/* The threads waiting on a GIL condvar (bpf/gilwait.h), for the programs of bpf/pygil.bpf.c
 * (which write them) and of bpf/semlock.bpf.c (whose wake-up program stamps them when the
 * daemon gives both objects the same maps). The wake-up that counts: a thread of the waiter's
 * process inside a futex wake on a word of the waiter's condvar (glibc's pthread_cond_signal
 * wakes a sleeping waiter on __g_signals, inside the condvar; the wake of the mutex the waiter
 * re-takes next lies outside it). Needs futex.bpf.h. */
#ifndef GILSTAT_GILWAIT_BPF_H
#define GILSTAT_GILWAIT_BPF_H

#include "gilwait.h"

/* sizeof(pthread_cond_t) on x86-64: every futex word of a condvar lies within it. */
#define PTHREAD_COND_SIZE 48

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GILWAIT_SLOTS);
	__uint(map_flags, BPF_F_MMAPABLE); /* the loader ends the waits of a process that is gone */
	__type(key, __u32);
	__type(value, struct gil_wait);
} gil_waits SEC(".maps");

/* Entry 0: the entries of gil_waits in use (a hint: one whose wait never returned stays
 * counted until its entry is reused or the loader ends it, once the process's links are gone).
 * A wake-up program returns at once while it is 0. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE); /* decremented by the loader, atomically */
	__type(key, __u32);
	__type(value, __s64);
} gil_waiting SEC(".maps");

static __always_inline __s64 *gil_waiting_count(void)
{
	__u32 k = 0;

	return bpf_map_lookup_elem(&gil_waiting, &k);
}

static __always_inline bool gil_waits_any(void)
{
	__s64 *n = gil_waiting_count();

	return n && *n > 0;
}

/* Thread `id` begins a wait on GIL condvar `cond`. A thread whose entry another (tid mod
 * GILWAIT_SLOTS alike) holds takes it over: that one's wait then has no wake-up time. */
static __always_inline void gil_wait_begin(__u64 id, __u64 cond)
{
	__u32 i = (__u32)id & (GILWAIT_SLOTS - 1);
	struct gil_wait *w = bpf_map_lookup_elem(&gil_waits, &i);
	__s64 *n;

	if (!w)
		return;
	if (!w->id) {
		n = gil_waiting_count();
		if (n)
			__sync_fetch_and_add(n, 1);
	}
	w->woken_ns = 0;
	w->cond = cond;
	w->id = id;
}

/* Thread `id`'s wait ends: when the wake-up that counts woke it (0: not seen). */
static __always_inline __u64 gil_wait_end(__u64 id)
{
	__u32 i = (__u32)id & (GILWAIT_SLOTS - 1);
	struct gil_wait *w = bpf_map_lookup_elem(&gil_waits, &i);
	__s64 *n;
	__u64 woken;

	if (!w || w->id != id)
		return 0;
	woken = w->woken_ns;
	w->id = 0;
	n = gil_waiting_count();
	if (n)
		__sync_fetch_and_add(n, -1);
	return woken;
}

/* Thread `waiter` woken by a thread of its process inside a futex wake on `uaddr`: stamped
 * when it waits on a GIL condvar holding that word (the first such wake-up of its wait). */
static __always_inline void gil_wait_woken(__u64 waiter, __u64 uaddr)
{
	__u32 i = (__u32)waiter & (GILWAIT_SLOTS - 1);
	struct gil_wait *w = bpf_map_lookup_elem(&gil_waits, &i);

	if (w && w->id == waiter && !w->woken_ns && uaddr - w->cond < PTHREAD_COND_SIZE)
		w->woken_ns = bpf_ktime_get_ns();
}

#endif /* GILSTAT_GILWAIT_BPF_H */
