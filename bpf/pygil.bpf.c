// SPDX-License-Identifier: GPL-2.0
/* The GIL of CPython 3.x per process: uprobes on the interpreter's take_gil (entry + return) and
 * drop_gil (entry) where its symbols are visible, and on the C library's pthread_cond_timedwait
 * filtered by the address of the GIL's condvar (stripped interpreters; and, with take_gil, to
 * see drop requests). Aggregated here; user space reads the maps. See docs/PYTHON.md. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "hist.bpf.h"
#include "maps.bpf.h"
#include "pygil.h"

#define ETIMEDOUT 110

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PYGIL_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct pygil_proc);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, PYGIL_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct pygil_stats);
} stats SEC(".maps");

/* Key: pid_tgid. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PYGIL_MAX_THREADS);
	__type(key, __u64);
	__type(value, struct pygil_thread);
} threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PYGIL_NR_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static const struct pygil_stats zero_stats;

static __always_inline void count(__u32 idx)
{
	gilstat_count(&counters, idx);
}

static __always_inline struct pygil_stats *stats_of(__u32 tgid)
{
	struct pygil_stats *s = gilstat_lookup_or_init(&stats, &tgid, &zero_stats);

	if (!s)
		count(PYGIL_CNT_STATS_FULL);
	return s;
}

static __always_inline void record_wait(struct pygil_stats *s, __u64 wait_ns)
{
	__sync_fetch_and_add(&s->wait_ns, wait_ns);
	if (wait_ns > s->max_wait_ns)
		s->max_wait_ns = wait_ns;
	gilstat_hist_add(s->wait_hist, &s->wait_hist_sum, &s->wait_hist_count, wait_ns);
}

/* --- take_gil / drop_gil ------------------------------------------------------------------ */

SEC("uprobe")
int take_gil_entry(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct pygil_proc *p = bpf_map_lookup_elem(&procs, &tgid);
	struct pygil_thread *prev, t = {};

	if (!p)
		return 0;
	t.take_start_ns = bpf_ktime_get_ns();
	prev = bpf_map_lookup_elem(&threads, &id);
	if (prev && prev->forced_out) {
		/* Released on a drop request: CPython keeps it in drop_gil until another thread
		 * has taken the GIL. Asking for the GIL again within two switch intervals, it was
		 * forced out of the eval loop and has wanted the GIL back since its release; later,
		 * the release was around a blocking call that happened to meet a drop request, and
		 * its wait starts now. */
		__u64 interval_us = 5000;

		prev->forced_out = 0;
		if (p->interval_addr &&
		    bpf_probe_read_user(&interval_us, sizeof(interval_us), (void *)p->interval_addr))
			interval_us = 5000;
		if (t.take_start_ns - prev->take_start_ns <= 2 * interval_us * 1000) {
			prev->contended = 1;
			return 0;
		}
	}
	t.contended = p->holder != 0 && p->holder != id;
	if (bpf_map_update_elem(&threads, &id, &t, BPF_ANY))
		count(PYGIL_CNT_THREADS_FULL);
	return 0;
}

SEC("uretprobe")
int take_gil_return(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct pygil_proc *p = bpf_map_lookup_elem(&procs, &tgid);
	struct pygil_thread *t = bpf_map_lookup_elem(&threads, &id);
	struct pygil_stats *s;
	__u64 now = bpf_ktime_get_ns();

	if (!p)
		return 0;
	if (!t || !t->take_start_ns) {
		count(PYGIL_CNT_ORPHAN_RETURNS);
	} else if ((s = stats_of(tgid))) {
		__sync_fetch_and_add(&s->acquisitions, 1);
		record_wait(s, now - t->take_start_ns);
		if (t->contended)
			__sync_fetch_and_add(&s->contended, 1);
		if (p->last_holder && p->last_holder != id) {
			__sync_fetch_and_add(&s->handoffs, 1);
			if (t->contended && p->drop_ns && now >= p->drop_ns)
				gilstat_hist_add(s->handoff_hist, &s->handoff_hist_sum,
					 &s->handoff_hist_count, now - p->drop_ns);
		}
	}
	if (t)
		bpf_map_delete_elem(&threads, &id);
	p->holder = id;
	p->last_holder = id;
	p->hold_start_ns = now;
	return 0;
}

SEC("uprobe")
int drop_gil_entry(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct pygil_proc *p = bpf_map_lookup_elem(&procs, &tgid);
	struct pygil_stats *s;
	__u64 now = bpf_ktime_get_ns();

	if (!p)
		return 0;
	s = stats_of(tgid);
	if (s) {
		if (p->holder == id && p->hold_start_ns && now >= p->hold_start_ns)
			gilstat_hist_add(s->hold_hist, &s->hold_hist_sum, &s->hold_hist_count,
				 now - p->hold_start_ns);
		if (p->drop_requested)
			__sync_fetch_and_add(&s->forced, 1);
		else
			__sync_fetch_and_add(&s->voluntary, 1);
	}
	if (p->drop_requested) {
		struct pygil_thread t = { .take_start_ns = now, .forced_out = 1 };

		if (bpf_map_update_elem(&threads, &id, &t, BPF_ANY))
			count(PYGIL_CNT_THREADS_FULL);
	}
	p->drop_requested = 0;
	p->holder = 0;
	p->hold_start_ns = 0;
	p->drop_ns = now;
	return 0;
}

/* --- the GIL condvar: pthread_cond_timedwait(cond, mutex, abstime) -------------------------
 * Inside take_gil the waiter holds gil->mutex around the wait, and again when the wait
 * returns: what it reads then is what take_gil will decide on. */

SEC("uprobe")
int BPF_KPROBE(cond_wait_entry, void *cond)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct pygil_proc *p = bpf_map_lookup_elem(&procs, &tgid);
	struct pygil_thread *t;
	struct pygil_thread fresh = {};
	__u64 sw = 0;

	if (!p || p->cond_addr != (__u64)cond)
		return 0;
	if (p->switch_addr && bpf_probe_read_user(&sw, sizeof(sw), (void *)p->switch_addr))
		count(PYGIL_CNT_READ_ERRORS);
	t = bpf_map_lookup_elem(&threads, &id);
	if (!t) {
		if (bpf_map_update_elem(&threads, &id, &fresh, BPF_ANY)) {
			count(PYGIL_CNT_THREADS_FULL);
			return 0;
		}
		t = bpf_map_lookup_elem(&threads, &id);
		if (!t)
			return 0;
	}
	if (!t->wait_start_ns)
		t->wait_start_ns = bpf_ktime_get_ns();
	t->switch_at_wait = sw;
	t->in_cond = 1;
	if (t->take_start_ns)
		t->contended = 1; /* inside take_gil: it waits for another thread's release */
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(cond_wait_return, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct pygil_proc *p = bpf_map_lookup_elem(&procs, &tgid);
	struct pygil_thread *t;
	struct pygil_stats *s;
	__s32 locked = 1;
	__u64 sw = 0;

	if (!p)
		return 0;
	t = bpf_map_lookup_elem(&threads, &id);
	if (!t || !t->in_cond)
		return 0; /* another condvar of the process */
	t->in_cond = 0;
	s = stats_of(tgid);
	if (!s)
		return 0;
	__sync_fetch_and_add(&s->cond_waits, 1);
	if (p->locked_addr && bpf_probe_read_user(&locked, sizeof(locked), (void *)p->locked_addr)) {
		count(PYGIL_CNT_READ_ERRORS);
		locked = 1;
	}
	if (ret == ETIMEDOUT) {
		__sync_fetch_and_add(&s->cond_timeouts, 1);
		if (locked && p->switch_addr &&
		    !bpf_probe_read_user(&sw, sizeof(sw), (void *)p->switch_addr) &&
		    sw == t->switch_at_wait) {
			/* take_gil now sets the drop request: the holder's next release is forced. */
			__sync_fetch_and_add(&s->drop_requests, 1);
			p->drop_requested = 1;
		}
	}
	if (!locked && !(p->flags & PYGIL_F_TAKE_DROP)) {
		/* Condvar method: the GIL is free and this thread holds gil->mutex, so it takes the
		 * GIL now; another thread held it while this one waited. */
		__u64 now = bpf_ktime_get_ns();

		__sync_fetch_and_add(&s->contended, 1);
		__sync_fetch_and_add(&s->handoffs, 1);
		if (now >= t->wait_start_ns)
			record_wait(s, now - t->wait_start_ns);
		bpf_map_delete_elem(&threads, &id);
	}
	return 0;
}
