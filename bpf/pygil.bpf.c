// SPDX-License-Identifier: GPL-2.0
/* The GILs of CPython 3.x per process (the main interpreter's, and those of sub-interpreters
 * with their own GIL, each in its own slot). Default: uprobes on the C library's
 * pthread_cond_timedwait (entry + return) filtered by the address of the GIL's condvar, which a
 * thread reaches only when the GIL is held by another: an uncontended release and re-take hits
 * no probe. Exact (opt-in, symbols needed): also take_gil's and drop_gil's entries, every
 * acquisition and release; an acquisition is counted at the condvar's return when it waited, at
 * the thread's next release when it did not (the GIL was free). Where the condvar cannot be
 * probed (GIL state not located), take_gil's return instead. Aggregated here; user space reads
 * the maps. See docs/PYTHON.md. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "futex.bpf.h"
#include "gilwait.bpf.h"
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

/* The GILs' state and statistics, by pygil_proc.gil_idx: arrays, so that finding them costs no
 * hash (a program runs once per contended wait or GIL release, its maps' cache lines cold). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PYGIL_MAX_PROCS + PYGIL_MAX_SUB_GILS);
	__type(key, __u32);
	__type(value, struct pygil_gil);
} gils SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PYGIL_MAX_PROCS + PYGIL_MAX_SUB_GILS);
	__type(key, __u32);
	__type(value, struct pygil_stats);
} stats SEC(".maps");

/* Thread state at index tid mod PYGIL_THREAD_SLOTS: found without a hash lookup, taken
 * (compare-and-swap of `owner`) without an insert. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PYGIL_THREAD_SLOTS);
	__type(key, __u32);
	__type(value, struct pygil_thread);
} thread_slots SEC(".maps");

/* Key: pid_tgid. Threads whose array entry is busy with another thread. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PYGIL_MAX_THREADS);
	__type(key, __u64);
	__type(value, struct pygil_thread);
} threads SEC(".maps");

/* --- Python stacks (PYGIL_F_STACKS): the waits by (waiter, holder) stacks; the stacks
 * themselves and the frame walk are pystack.bpf.h's. Not preallocated. */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PYGIL_MAX_PAIRS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pygil_pair_key);
	__type(value, struct pygil_pair);
} pairs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PYGIL_NR_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 idx)
{
	gilstat_count(&counters, idx);
}

/* The array index of slot `slot`'s GIL; PYGIL_IDX_NONE (found in no array) for a slot without
 * one, PYGIL_SLOT_NONE included. */
static __always_inline __u32 idx_of(const struct pygil_proc *p, __u32 slot)
{
	if (slot >= PYGIL_MAX_GILS)
		return PYGIL_IDX_NONE;
	/* Masked after a barrier: the compiler keeps the mask, the verifier sees the bound on the
	 * register that indexes (the check above may have tested a copy). */
	barrier_var(slot);
	return p->gil_idx[slot & (PYGIL_MAX_GILS - 1)];
}

static __always_inline struct pygil_stats *stats_of(const struct pygil_proc *p, __u32 slot)
{
	__u32 idx = idx_of(p, slot);
	struct pygil_stats *s;

	if (idx == PYGIL_IDX_NONE)
		return 0;
	s = bpf_map_lookup_elem(&stats, &idx);
	if (!s)
		count(PYGIL_CNT_STATS_FULL);
	return s;
}

static __always_inline struct pygil_gil *gil_of(const struct pygil_proc *p, __u32 slot)
{
	__u32 idx = idx_of(p, slot);

	return bpf_map_lookup_elem(&gils, &idx);
}

/* The slot of the GIL whose condvar is `cond`; -1: not a GIL condvar of the process. */
static __always_inline int slot_of_cond(const struct pygil_proc *p, __u64 cond)
{
	if (!cond)
		return -1;
	if (p->cond_addr[0] == cond)
		return 0;
	if (!p->nsubs)
		return -1;
#pragma unroll
	for (int i = 1; i < PYGIL_MAX_GILS; i++) {
		if (p->cond_addr[i] == cond)
			return i;
	}
	return -1;
}

/* The slot of the GIL whose pointer is at `at` (interp->ceval.gil): PYGIL_SLOT_NONE for a GIL
 * that is not registered; the main GIL's (0) when it cannot be read. */
static __always_inline __u32 slot_of_gil_at(const struct pygil_proc *p, __u64 at)
{
	__u64 gil = 0;
	int i;

	if (bpf_probe_read_user(&gil, sizeof(gil), (void *)at) || !gil)
		return 0;
	i = slot_of_cond(p, gil + p->cond_in_gil);
	return i < 0 ? PYGIL_SLOT_NONE : (__u32)i;
}

/* take_gil(PyThreadState *tstate): tstate->interp->ceval.gil; a main interpreter's thread
 * without reading its GIL pointer. The slot is remembered on the thread (`t`): a thread takes
 * the GIL with the same thread state again and again, and reading the process's memory is most
 * of what this probe costs. A slot found with an older process entry (a GIL registered or gone
 * since) is looked up again; so is one whose read failed. */
static __always_inline __u32 slot_of_tstate(const struct pygil_proc *p, struct pygil_thread *t,
					    __u64 tstate)
{
	__u64 interp = 0;
	__u32 slot;

	if (!(p->flags & PYGIL_F_BY_ARGUMENT) || !tstate)
		return 0;
	if (t->tstate == tstate && t->tstate_gen == p->gen)
		return t->tstate_slot;
	if (bpf_probe_read_user(&interp, sizeof(interp), (void *)(tstate + p->tstate_interp)) ||
	    !interp) {
		t->tstate = 0;
		return 0;
	}
	slot = interp == p->main_interp ? 0 : slot_of_gil_at(p, interp + p->interp_gil);
	t->tstate = tstate;
	t->tstate_gen = p->gen;
	t->tstate_slot = slot;
	return slot;
}

/* The live state of thread `id`, or NULL. */
static __always_inline struct pygil_thread *thread_find(__u64 id)
{
	__u32 i = (__u32)id & (PYGIL_THREAD_SLOTS - 1);
	struct pygil_thread *t = bpf_map_lookup_elem(&thread_slots, &i);

	if (!t)
		return 0;
	if (t->owner == (id | PYGIL_THREAD_BUSY))
		return t;
	if (!t->fallback)
		return 0;
	return bpf_map_lookup_elem(&threads, &id);
}

/* Whether array entry `t` (busy with another thread) is stale: its process is no longer
 * attached, or its thread was forced out over a second ago and never asked again (it exited). */
static __always_inline int slot_stale(struct pygil_thread *t, __u64 owner, __u64 now)
{
	__u32 tgid = (owner & ~PYGIL_THREAD_BUSY) >> 32;

	if (!bpf_map_lookup_elem(&procs, &tgid))
		return 1;
	return t->forced_out && now - t->take_start_ns > 1000000000ull;
}

/* Fresh (zeroed) live state for thread `id`: its array entry when free, stale or its own; else
 * an entry of the hash. NULL when neither can be had. */
static __always_inline struct pygil_thread *thread_claim(__u64 id, __u64 now)
{
	__u32 i = (__u32)id & (PYGIL_THREAD_SLOTS - 1);
	struct pygil_thread *t = bpf_map_lookup_elem(&thread_slots, &i);
	struct pygil_thread fresh = {};

	if (t) {
		__u64 cur = t->owner;

		if ((!(cur & PYGIL_THREAD_BUSY) || (cur & ~PYGIL_THREAD_BUSY) == id ||
		     slot_stale(t, cur, now)) &&
		    __sync_val_compare_and_swap(&t->owner, cur, id | PYGIL_THREAD_BUSY) == cur) {
			if ((cur & ~PYGIL_THREAD_BUSY) != id)
				t->tstate = 0; /* another thread's slot cache */
			t->take_start_ns = 0;
			t->wait_start_ns = 0;
			t->switch_at_wait = 0;
			t->contended = 0;
			t->in_cond = 0;
			t->forced_out = 0;
			t->stacks = 0;
			t->taken_free = 0;
			return t;
		}
		__sync_fetch_and_add(&t->fallback, 1);
	}
	if (bpf_map_update_elem(&threads, &id, &fresh, BPF_ANY)) {
		count(PYGIL_CNT_THREADS_FULL);
		if (t)
			__sync_fetch_and_add(&t->fallback, -1);
		return 0;
	}
	return bpf_map_lookup_elem(&threads, &id);
}

/* Ends the live state `t` of thread `id` (from thread_find or thread_claim). */
static __always_inline void thread_end(__u64 id, struct pygil_thread *t)
{
	__u32 i = (__u32)id & (PYGIL_THREAD_SLOTS - 1);
	struct pygil_thread *a;

	if (t->owner == (id | PYGIL_THREAD_BUSY)) {
		t->owner = id;
		return;
	}
	bpf_map_delete_elem(&threads, &id);
	a = bpf_map_lookup_elem(&thread_slots, &i);
	if (a && a->fallback)
		__sync_fetch_and_add(&a->fallback, -1);
}

static __always_inline void record_wait(struct pygil_stats *s, __u64 wait_ns)
{
	__sync_fetch_and_add(&s->wait_ns, wait_ns);
	if (wait_ns > s->max_wait_ns)
		s->max_wait_ns = wait_ns;
	gilstat_hist_add(s->wait_hist, &s->wait_hist_sum, &s->wait_hist_count, wait_ns);
}

/* --- Python stacks ------------------------------------------------------------------------- */

#define PYSTACK_CNT_FIRST PYGIL_CNT_STACKS
#define PYSTACK_MAX_THREADS PYGIL_MAX_THREADS
#include "pystack.bpf.h"

/* At the start of thread `id`'s contended wait for GIL `g`: its stack and that of the GIL's
 * last holder (same process; read as it runs, so possibly mid-change). */
static __always_inline void take_wait_stacks(const struct pygil_proc *p, struct pygil_gil *g,
					     struct pygil_thread *t, __u64 id)
{
	__u64 holder, interp;

	if (!(p->flags & PYGIL_F_STACKS) || t->stacks)
		return;
	t->stacks = 1;
	holder = read_u64(g->last_holder_addr);
	interp = read_u64(holder + p->frames.tstate_interp);
	t->waiter_stack = take_stack(&p->frames, id >> 32,
				     interp ? tstate_of(&p->frames, id, interp) : 0);
	t->holder_stack = take_stack(&p->frames, id >> 32, holder);
}

/* The end of a contended wait of `wait_ns` whose stacks were taken. */
static __always_inline void add_wait_stacks(struct pygil_thread *t, __u32 tgid, __u64 wait_ns)
{
	struct pygil_pair_key k = {
		.tgid = tgid, .slot = t->slot, .waiter = t->waiter_stack, .holder = t->holder_stack};

	if (!t->stacks)
		return;
	t->stacks = 0;
	if (pystack_add_wait(&pairs, &k, wait_ns))
		count(PYGIL_CNT_STACKS + PYSTACK_PAIRS_FULL);
}

/* An acquisition by thread `id` at `at` whose wait began at `start` (take_gil's entry, or the
 * forced release it asked again after): counts, wait, handoff from the last holder. */
static __always_inline void count_acquisition(struct pygil_stats *s, struct pygil_gil *g,
					      struct pygil_thread *t, __u64 id, __u64 start,
					      __u64 at)
{
	__sync_fetch_and_add(&s->acquisitions, 1);
	record_wait(s, at >= start ? at - start : 0);
	if (t->contended)
		__sync_fetch_and_add(&s->contended, 1);
	add_wait_stacks(t, id >> 32, at >= start ? at - start : 0);
	if (g->last_holder && g->last_holder != id) {
		__sync_fetch_and_add(&s->handoffs, 1);
		if (t->contended && g->drop_ns && at >= g->drop_ns)
			gilstat_hist_add(s->handoff_hist, &s->handoff_hist_sum,
					 &s->handoff_hist_count, at - g->drop_ns);
	}
	g->last_holder = id;
}

/* --- take_gil / drop_gil ------------------------------------------------------------------ */

SEC("uprobe")
int BPF_KPROBE(take_gil_entry, void *tstate)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct pygil_proc *p = bpf_map_lookup_elem(&procs, &tgid);
	struct pygil_thread *t;
	struct pygil_gil *g;
	__u32 slot;
	__u64 now;

	if (!p)
		return 0;
	now = bpf_ktime_get_ns();
	t = thread_find(id);
	if (!t)
		t = thread_claim(id, now);
	if (!t)
		return 0;
	slot = slot_of_tstate(p, t, (__u64)tstate);
	g = gil_of(p, slot);
	if (!g) {
		/* A GIL not registered: its return must not count for (or change) another one. */
		t->take_start_ns = 0;
		t->forced_out = 0;
		t->slot = PYGIL_SLOT_NONE;
		return 0;
	}
	if (t->forced_out) {
		/* Released on a drop request: CPython keeps it in drop_gil until another thread
		 * has taken the GIL. Asking for the GIL again within two switch intervals, it was
		 * forced out of the eval loop and has wanted the GIL back since its release; later,
		 * the release was around a blocking call that happened to meet a drop request, and
		 * its wait starts now. */
		__u64 interval_us = 5000;

		t->forced_out = 0;
		t->slot = slot;
		if (g->interval_addr &&
		    bpf_probe_read_user(&interval_us, sizeof(interval_us), (void *)g->interval_addr))
			interval_us = 5000;
		if (now - t->take_start_ns <= 2 * interval_us * 1000) {
			t->contended = 1;
			t->entry_ns = now;
			t->taken_free = !!(p->flags & PYGIL_F_CONDVAR);
			return 0;
		}
	}
	t->take_start_ns = now;
	t->entry_ns = now;
	t->wait_start_ns = 0;
	t->in_cond = 0;
	t->stacks = 0;
	t->slot = slot;
	/* With the condvar probed, a wait shows there; until one, the GIL was free. */
	t->taken_free = !!(p->flags & PYGIL_F_CONDVAR);
	t->contended = !t->taken_free && g->holder != 0 && g->holder != id;
	return 0;
}

SEC("uretprobe")
int take_gil_return(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct pygil_proc *p = bpf_map_lookup_elem(&procs, &tgid);
	struct pygil_thread *t;
	struct pygil_stats *s;
	struct pygil_gil *g;
	__u64 now;

	if (!p)
		return 0;
	now = bpf_ktime_get_ns();
	t = thread_find(id);
	g = gil_of(p, t ? t->slot : 0);
	if (!g) {
		if (t)
			thread_end(id, t);
		return 0;
	}
	if (!t || !t->take_start_ns) {
		count(PYGIL_CNT_ORPHAN_RETURNS);
	} else if ((s = stats_of(p, t->slot))) {
		count_acquisition(s, g, t, id, t->take_start_ns, now);
	}
	if (t)
		thread_end(id, t);
	g->holder = id;
	g->last_holder = id;
	g->hold_start_ns = now;
	return 0;
}

/* drop_gil(first, ...): the GIL pointer at `first` + drop_arg_gil (3.12: struct _ceval_state *,
 * 3.13+: PyInterpreterState *). */
SEC("uprobe")
int BPF_KPROBE(drop_gil_entry, void *first)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct pygil_proc *p = bpf_map_lookup_elem(&procs, &tgid);
	struct pygil_thread *t;
	struct pygil_stats *s;
	struct pygil_gil *g;
	__u64 now = bpf_ktime_get_ns();
	__u32 slot = 0;

	if (!p)
		return 0;
	if ((p->flags & PYGIL_F_BY_ARGUMENT) && first && (__u64)first != p->main_drop_arg)
		slot = slot_of_gil_at(p, (__u64)first + p->drop_arg_gil);
	g = gil_of(p, slot);
	if (!g)
		return 0;
	s = stats_of(p, slot);
	t = thread_find(id);
	if (t && t->tstate && t->tstate_slot != slot)
		t->tstate = 0; /* its thread state's address now names another interpreter's */
	if (t && t->taken_free && t->slot == slot) {
		/* Its take_gil did not wait on the condvar: acquired at the entry, held since. */
		t->taken_free = 0;
		if (s) {
			count_acquisition(s, g, t, id, t->take_start_ns, t->entry_ns);
			if (now >= t->entry_ns)
				gilstat_hist_add(s->hold_hist, &s->hold_hist_sum,
						 &s->hold_hist_count, now - t->entry_ns);
		}
		g->last_holder = id;
	} else if (s && g->holder == id && g->hold_start_ns && now >= g->hold_start_ns) {
		gilstat_hist_add(s->hold_hist, &s->hold_hist_sum, &s->hold_hist_count,
				 now - g->hold_start_ns);
	}
	if (s) {
		if (g->drop_requested)
			__sync_fetch_and_add(&s->forced, 1);
		else
			__sync_fetch_and_add(&s->voluntary, 1);
	}
	if (g->drop_requested) {
		if (!t)
			t = thread_claim(id, now);
		if (t) {
			t->take_start_ns = now;
			t->forced_out = 1;
			t->slot = slot;
		}
	} else if (t) {
		thread_end(id, t);
	}
	g->drop_requested = 0;
	g->holder = 0;
	g->hold_start_ns = 0;
	g->drop_ns = now;
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
	struct pygil_gil *g;
	__u64 sw = 0, now;
	int slot;

	if (!p)
		return 0;
	slot = slot_of_cond(p, (__u64)cond);
	if (slot < 0)
		return 0;
	g = gil_of(p, (__u32)slot);
	if (!g)
		return 0;
	if (g->switch_addr && bpf_probe_read_user(&sw, sizeof(sw), (void *)g->switch_addr))
		count(PYGIL_CNT_READ_ERRORS);
	now = bpf_ktime_get_ns();
	t = thread_find(id);
	if (!t)
		t = thread_claim(id, now);
	if (!t)
		return 0;
	if (!t->wait_start_ns)
		t->wait_start_ns = now;
	t->switch_at_wait = sw;
	/* Condvar only: the wake-up that releases it starts the handoff. */
	if (!(p->flags & PYGIL_F_TAKE_DROP))
		gil_wait_begin(id, (__u64)cond);
	t->in_cond = 1;
	t->slot = (__u32)slot;
	take_wait_stacks(p, g, t, id);
	if (t->take_start_ns)
		t->contended = 1; /* inside take_gil: it waits for another thread's release */
	t->taken_free = 0;  /* it waits: the acquisition is counted at the condvar's return */
	return 0;
}

/* Condvar method: the GIL is free at thread `id`'s wait's return and it holds gil->mutex, so it
 * takes the GIL now; another thread held it while this one waited. Every read here is made
 * holding gil->mutex: the waiters' returns are ordered. */
static __always_inline void condvar_handoff(struct pygil_stats *s, struct pygil_gil *g,
					    struct pygil_thread *t, __u64 id, __u64 woken_ns)
{
	__u64 now = bpf_ktime_get_ns();

	__sync_fetch_and_add(&s->contended, 1);
	__sync_fetch_and_add(&s->handoffs, 1);
	if (g->drop_requested)
		__sync_fetch_and_add(&s->forced, 1);
	else
		__sync_fetch_and_add(&s->voluntary, 1);
	g->drop_requested = 0;
	if (now >= t->wait_start_ns) {
		record_wait(s, now - t->wait_start_ns);
		add_wait_stacks(t, id >> 32, now - t->wait_start_ns);
	}
	/* Woken from its sleep by the release's signal: the handoff ran from that wake-up (a
	 * waiter not yet asleep when the GIL was released gives no latency). */
	if (woken_ns && now >= woken_ns)
		gilstat_hist_add(s->handoff_hist, &s->handoff_hist_sum, &s->handoff_hist_count,
				 now - woken_ns);
}

SEC("uretprobe")
int BPF_KRETPROBE(cond_wait_return, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct pygil_proc *p = bpf_map_lookup_elem(&procs, &tgid);
	struct pygil_thread *t;
	struct pygil_stats *s;
	struct pygil_gil *g;
	__s32 locked = 1;
	__u64 sw = 0, woken_ns;

	if (!p)
		return 0;
	t = thread_find(id);
	if (!t || !t->in_cond)
		return 0; /* another condvar of the process */
	t->in_cond = 0;
	woken_ns = p->flags & PYGIL_F_TAKE_DROP ? 0 : gil_wait_end(id);
	g = gil_of(p, t->slot);
	s = stats_of(p, t->slot);
	if (!s || !g)
		return 0;
	__sync_fetch_and_add(&s->cond_waits, 1);
	if (g->locked_addr && bpf_probe_read_user(&locked, sizeof(locked), (void *)g->locked_addr)) {
		count(PYGIL_CNT_READ_ERRORS);
		locked = 1;
	}
	if (ret == ETIMEDOUT) {
		__sync_fetch_and_add(&s->cond_timeouts, 1);
		if (locked && g->switch_addr &&
		    !bpf_probe_read_user(&sw, sizeof(sw), (void *)g->switch_addr) &&
		    sw == t->switch_at_wait) {
			/* take_gil now sets the drop request: the holder's next release is forced. */
			__sync_fetch_and_add(&s->drop_requests, 1);
			g->drop_requested = 1;
		}
	}
	if ((p->flags & PYGIL_F_TAKE_DROP) && !locked) {
		/* take_gil's return is not probed: the GIL is free and this thread holds gil->mutex,
		 * so it takes the GIL now, after waiting since its take_gil's entry. */
		__u64 now = bpf_ktime_get_ns();

		if (t->take_start_ns)
			count_acquisition(s, g, t, id, t->take_start_ns, now);
		g->holder = id;
		g->last_holder = id;
		g->hold_start_ns = now;
		thread_end(id, t);
		return 0;
	}
	if (p->flags & PYGIL_F_TAKE_DROP)
		return 0;
	if (!locked) {
		condvar_handoff(s, g, t, id, woken_ns);
		thread_end(id, t);
	} else if (ret == 0) {
		/* Woken by a release, and another thread has taken the GIL since (the holder again,
		 * or a thread that did not wait): that acquisition cleared any drop request. */
		g->drop_requested = 0;
	}
	return 0;
}

/* --- the GIL condvar's wake-ups (condvar method): the start of a handoff ---------------------
 * drop_gil releases the GIL and signals its condvar, which wakes a sleeping waiter with a futex
 * wake (gilwait.bpf.h). Seen from the scheduler: no program on any syscall, none on the release
 * path. Loaded where the semaphore probes' futex_wakeup does not do it (the daemon shares
 * gil_waits with them; a tool holding this probe alone loads this one). Every other wake-up
 * on the host returns after reading gil_waiting, or after the two tasks' process ids. */
SEC("tp_btf/sched_waking")
int BPF_PROG(gil_wakeup, struct task_struct *p)
{
	struct task_struct *waker;
	struct pt_regs *regs;

	if (!gil_waits_any())
		return 0;
	waker = bpf_get_current_task_btf();
	if (waker->tgid != p->tgid)
		return 0;
	regs = futex_regs(waker);
	if (regs && is_wake(regs->si))
		gil_wait_woken(((__u64)p->tgid << 32) | (__u32)p->pid, regs->di);
	return 0;
}
