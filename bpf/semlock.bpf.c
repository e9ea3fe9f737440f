// SPDX-License-Identifier: GPL-2.0
/* Semaphore statistics per (process, sem_t address): uprobes on glibc's sem_* functions (on the
 * slow paths only, on their entries, or on emulated branch instructions inside them, see
 * docs/PROBES.md) and scheduler tracepoints (or the raw syscall entry tracepoint) for futex
 * waits and wakes. Everything is
 * aggregated here; user space reads the maps. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "hist.bpf.h"
#include "futex.bpf.h"
#include "gilwait.bpf.h"
#include "maps.bpf.h"
#include "semlock.h"

#define X86_EFLAGS_ZF 0x40

char LICENSE[] SEC("license") = "GPL";

/* Every (process, semaphore) seen gets a slot: its per-CPU statistics are `locks[slot]`, its
 * owner key `slot_keys[slot]`, its shared state (last wake, sleepers) `slots[slot]`.
 * `lock_index` maps the key to the slot. Slots never used are handed out in order from
 * `fresh_slots` (no filling at load: one system call per slot took 38 s at the largest
 * `max_locks`); freed slots wait in `free_slots` (refilled by user space, which zeroes a slot
 * before it goes back) and are taken first. A thread caches the slot of the
 * semaphore it waits on, so a return finds the statistics and the wake by array index: no hash
 * lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SEMLOCK_MAX_LOCKS);
	__type(key, struct semlock_key);
	__type(value, __u32);
} lock_index SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SEMLOCK_MAX_LOCKS);
	__type(key, __u32);
	__type(value, struct semlock_stats);
} locks SEC(".maps");

/* Mmapable: the values start page-aligned, so each 64-byte value has a cache line of its own. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SEMLOCK_MAX_LOCKS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct semlock_slot);
} slots SEC(".maps");

/* Apart from `slots`: checking whose a slot is reads a line that wakes do not write. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SEMLOCK_MAX_LOCKS);
	__type(key, __u32);
	__type(value, struct semlock_slot_key);
} slot_keys SEC(".maps");

/* The wake cache's size - 1 (a power of 2 - 1), set by the loader. */
const volatile __u32 wake_cache_mask = SEMLOCK_WAKE_CACHE - 1;

/* A futex wake finds its semaphore's slot here first: entry = hash of (tgid, word), value = a
 * slot, valid when that slot's key is (tgid, word). Filled when a slot is given or found in
 * `lock_index`; two semaphores with one entry only cost each other the hash lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SEMLOCK_WAKE_CACHE);
	__type(key, __u32);
	__type(value, __u32);
} wake_cache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, SEMLOCK_MAX_LOCKS);
	__type(value, __u32);
} free_slots SEC(".maps");

/* The number of slots, set by the loader, and how many of them were ever handed out. */
const volatile __u32 max_locks = SEMLOCK_MAX_LOCKS;
__u64 fresh_slots = 0;

/* A free slot into *slot: a freed one first, else the next one never used (compare-and-swap:
 * a CPU that loses a race tries again, a few times). Nonzero when none is left. */
static __always_inline int take_slot(__u32 *slot)
{
	if (!bpf_map_pop_elem(&free_slots, slot))
		return 0;
#pragma unroll
	for (int i = 0; i < 8; i++) {
		__u64 next = *(volatile __u64 *)&fresh_slots;

		if (next >= max_locks)
			return -1;
		if (__sync_val_compare_and_swap(&fresh_slots, next, next + 1) == next) {
			*slot = (__u32)next;
			return 0;
		}
	}
	return -1;
}

/* The thread array's size - 1 (a power of 2 - 1), set by the loader. */
const volatile __u32 thread_slot_mask = SEMLOCK_THREAD_SLOTS - 1;

/* Thread state, at entry tid mod the array's size: found by array index. An entry is taken
 * over (compare-and-swap of `owner`) only while its thread is outside a call; a thread that finds
 * its entry busy with another thread keeps its state in `threads` instead. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SEMLOCK_THREAD_SLOTS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct semlock_thread);
} thread_slots SEC(".maps");

/* Key: pid_tgid. LRU: entries of threads that have exited are recycled when the map is full. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SEMLOCK_MAX_THREADS);
	__type(key, __u64);
	__type(value, struct semlock_thread);
} threads SEC(".maps");

/* A parking semaphore (tgid, sem_t) -> the slot of the address its thread parks on now: set
 * when a parked wait begins, read where a post or a futex wake names only the semaphore (the
 * unparking thread's sem_post in counting and exact modes, the fallback's futex wakes), so that
 * they count for the parked-on address too, and the parking semaphore gets no slot. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SEMLOCK_MAX_THREADS);
	__type(key, struct semlock_key);
	__type(value, __u32);
} park_sems SEC(".maps");

/* Processes attached. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SEMLOCK_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct semlock_proc);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SEMLOCK_NR_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* Threads inside probed calls asleep in a futex wait on their semaphore (scheduler programs; the
 * return, or the thread's next call takes them off): while there is none, a wake-up on the host
 * returns after reading this. Never below the true number (a thread whose entry is dropped while
 * marked asleep stays counted: wake-ups then take the longer path, nothing is missed). */
__s64 asleep_in_waits = 0;

/* Threads inside probed calls (begin_call to end_call): while there is none, a context switch
 * returns after reading this (most switches of a server's threads happen outside any probed
 * call). Never below the true number (a call whose return is never seen stays counted until the
 * thread's next call: its switches then take the longer path, nothing is missed). */
__s64 threads_in_calls = 0;

/* Bit (tgid mod 64) set for every attached process (written by the loader at attach and
 * detach): a context switch or wake-up of a process whose bit is clear returns after reading
 * it, without touching the thread array. */
__u64 attached_mask = 0;

/* Bit (tgid mod 64) set for every attached process with SEMLOCK_PROC_PARKING (written by the
 * loader at attach and detach): a semaphore wait of a process whose bit is clear looks up no
 * process entry. */
__u64 parking_mask = 0;

/* Set (to 1) by the first parked wait (CPython 3.13+'s parking lot) of any attached process:
 * until then a post or wake looks up no parking semaphore. */
__u64 parking_seen = 0;

/* Processes with SEMLOCK_PROC_STACKS (written by the loader): while there is none, a contended
 * wait looks up no process entry. */
__u64 stacks_procs = 0;

/* --- Python stacks (SEMLOCK_PROC_STACKS): the waiter's stack at a contended wait's first sleep,
 * the wait added to its (process, lock, stack) pair when it ends with the lock taken; the stacks
 * and the frame walk are pystack.bpf.h's. Not preallocated. */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PYGIL_MAX_PAIRS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct semlock_pair_key);
	__type(value, struct pygil_pair);
} pairs SEC(".maps");

/* pid_tgid -> the stack id of the thread's wait in progress (valid while SEMLOCK_T_STACK): an
 * entry per thread, written in place at each wait (no allocation per wait); LRU: entries of
 * threads that have exited are recycled when it is full. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SEMLOCK_MAX_THREADS);
	__type(key, __u64);
	__type(value, __u64);
} wait_stacks SEC(".maps");

static __always_inline bool maybe_attached(__u32 tgid)
{
	return (attached_mask >> (tgid & 63)) & 1;
}

static __always_inline void count(__u32 idx)
{
	gilstat_count(&counters, idx);
}

#define PYSTACK_CNT_FIRST SEMLOCK_CNT_STACKS
#define PYSTACK_MAX_THREADS SEMLOCK_MAX_THREADS
#include "pystack.bpf.h"

/* The first sleep of thread `id`'s contended wait (`t`): its Python stack, when its process
 * takes them. Its thread state is found among the main interpreter's threads, named by the main
 * GIL's last holder (a wait in a sub-interpreter finds none: counted, no stack). */
static __always_inline void take_waiter_stack(struct semlock_thread *t, __u64 id)
{
	__u32 tgid = id >> 32;
	struct semlock_proc *p = bpf_map_lookup_elem(&procs, &tgid);
	__u64 holder, interp, stack, ts, *slot;

	if (!p || !(p->flags & SEMLOCK_PROC_STACKS))
		return;
	/* The thread state as found at an earlier wait of the thread: one read to check it. */
	ts = tstate_cached(&p->frames, id);
	if (!ts) {
		holder = read_u64(p->last_holder_addr);
		interp = read_u64(holder + p->frames.tstate_interp);
		ts = interp ? tstate_of(&p->frames, id, interp) : 0;
	}
	stack = take_stack(&p->frames, tgid, ts);
	slot = bpf_map_lookup_elem(&wait_stacks, &id);
	if (slot)
		*slot = stack;
	else if (bpf_map_update_elem(&wait_stacks, &id, &stack, BPF_ANY))
		return;
	t->flags |= SEMLOCK_T_STACK;
}

/* The end of thread `id`'s call `t` whose wait's stack was taken: a wait of `wait_ns` for its
 * lock when `acquired`, else (a timeout, a signal) nothing. */
static __always_inline void end_waiter_stack(struct semlock_thread *t, __u64 id, __u64 wait_ns,
					     bool acquired)
{
	struct semlock_pair_key k = {.tgid = id >> 32, .lock = t->key};
	__u64 *stack;

	if (!(t->flags & SEMLOCK_T_STACK))
		return;
	t->flags &= ~SEMLOCK_T_STACK;
	stack = bpf_map_lookup_elem(&wait_stacks, &id);
	if (!stack)
		return;
	k.waiter = *stack;
	if (!acquired)
		return;
	if (pystack_add_wait(&pairs, &k, wait_ns))
		count(SEMLOCK_CNT_STACKS + PYSTACK_PAIRS_FULL);
}

static __always_inline __u32 wake_cache_index(__u32 tgid, __u64 addr)
{
	return (__u32)((((addr >> 2) ^ ((__u64)tgid << 40)) * 0x9E3779B97F4A7C15ull) >> 40) &
	       wake_cache_mask;
}

static __always_inline void wake_cache_put(__u32 tgid, __u64 addr, __u32 slot)
{
	__u32 i = wake_cache_index(tgid, addr);
	__u32 *c = bpf_map_lookup_elem(&wake_cache, &i);

	if (c && *c != slot)
		*c = slot;
}

/* The slot of (tgid, addr); SEMLOCK_NO_SLOT when it has none and none can be given (the
 * process is not attached, or every slot is in use). */
static __always_inline __u32 lock_slot(__u32 tgid, __u64 addr)
{
	struct semlock_key key = { .tgid = tgid, .addr = addr };
	__u32 *idx = bpf_map_lookup_elem(&lock_index, &key);
	struct semlock_slot_key *sk;
	struct semlock_proc *proc;
	__u32 slot;

	if (idx)
		return *idx;
	/* A parking semaphore counts for the address its thread parks on. */
	idx = parking_seen ? bpf_map_lookup_elem(&park_sems, &key) : 0;
	if (idx)
		return *idx;
	proc = bpf_map_lookup_elem(&procs, &tgid);
	if (!proc)
		return SEMLOCK_NO_SLOT;
	if (take_slot(&slot)) {
		count(SEMLOCK_CNT_LOCKS_FULL);
		return SEMLOCK_NO_SLOT;
	}
	sk = bpf_map_lookup_elem(&slot_keys, &slot);
	if (!sk)
		return SEMLOCK_NO_SLOT;
	sk->flags = proc->flags;
	sk->addr = addr;
	sk->tgid = tgid;
	if (bpf_map_update_elem(&lock_index, &key, &slot, BPF_NOEXIST)) {
		/* Given a slot meanwhile on another CPU: this one goes back. */
		sk->tgid = 0;
		sk->addr = 0;
		bpf_map_push_elem(&free_slots, &slot, 0);
		idx = bpf_map_lookup_elem(&lock_index, &key);
		return idx ? *idx : SEMLOCK_NO_SLOT;
	}
	wake_cache_put(tgid, addr, slot);
	return slot;
}

/* Whether `slot` is (tgid, addr)'s: a cached slot may have been freed and given to another. */
static __always_inline struct semlock_slot_key *slot_if_of(__u32 slot, __u32 tgid, __u64 addr)
{
	struct semlock_slot_key *sk = bpf_map_lookup_elem(&slot_keys, &slot);

	return sk && sk->tgid == tgid && sk->addr == addr ? sk : 0;
}

static __always_inline struct semlock_stats *stats_of(__u32 tgid, __u64 addr)
{
	__u32 slot = lock_slot(tgid, addr);

	return bpf_map_lookup_elem(&locks, &slot);
}

static __always_inline void record_acquisition(struct semlock_stats *s, __u64 wait_ns)
{
	if (wait_ns > s->max_wait_ns)
		s->max_wait_ns = wait_ns;
	gilstat_hist_add(s->wait_hist, &s->wait_hist_sum, &s->wait_hist_count, wait_ns);
}

/* The state of thread `id` inside a call, or NULL. */
static __always_inline struct semlock_thread *thread_in_call(__u64 id)
{
	__u32 i = (__u32)id & thread_slot_mask;
	struct semlock_thread *t = bpf_map_lookup_elem(&thread_slots, &i);

	if (!t)
		return 0;
	if (t->owner == (id | SEMLOCK_THREAD_BUSY))
		return t;
	if (!t->fallback)
		return 0;
	t = bpf_map_lookup_elem(&threads, &id);
	return t && t->op ? t : 0;
}

/* Takes the thread's array entry (or its hash entry) for a call. */
static __always_inline struct semlock_thread *thread_begin(__u64 id)
{
	__u32 i = (__u32)id & thread_slot_mask;
	struct semlock_thread *t = bpf_map_lookup_elem(&thread_slots, &i);
	struct semlock_thread fresh = {};

	if (t) {
		__u64 cur = t->owner;

		/* Free, idle, or this thread's own (a call whose return was never seen). */
		if ((!(cur & SEMLOCK_THREAD_BUSY) || (cur & ~SEMLOCK_THREAD_BUSY) == id) &&
		    __sync_val_compare_and_swap(&t->owner, cur, id | SEMLOCK_THREAD_BUSY) == cur)
			return t; /* a cached slot left by another thread is checked like any other */
		/* Busy with another thread: the hash; the entry tells finders to look there. */
		__sync_fetch_and_add(&t->fallback, 1);
	}
	fresh.slot = SEMLOCK_NO_SLOT;
	bpf_map_update_elem(&threads, &id, &fresh, BPF_NOEXIST);
	t = bpf_map_lookup_elem(&threads, &id);
	if (!t) {
		count(SEMLOCK_CNT_THREADS_FULL);
		return 0;
	}
	t->owner = id;
	return t;
}

/* Ends the call of `t` (from thread_in_call). */
static __always_inline void thread_end(__u64 id, struct semlock_thread *t)
{
	t->op = 0;
	t->addr = 0;
	t->key = 0;
	if (t->owner == (id | SEMLOCK_THREAD_BUSY)) {
		t->owner = id;
	} else {
		__u32 i = (__u32)id & thread_slot_mask;
		struct semlock_thread *a = bpf_map_lookup_elem(&thread_slots, &i);

		if (a && a->fallback)
			__sync_fetch_and_add(&a->fallback, -1);
	}
}

/* --- CPython's parking lot (3.13+) --------------------------------------------------------
 * A PyMutex (PyEvent, once flag...) wait that cannot take it at once parks: _PyParkingLot_Park
 * queues a wait entry {void *park_arg; uintptr_t addr; _PySemaphore sema (a sem_t on Linux);
 * struct llist_node node {next, prev}; bool is_unparking} (Python/parking_lot.c, 3.13 to 3.15)
 * in its bucket's list and sleeps on its semaphore. In a process of such an interpreter
 * (SEMLOCK_PROC_PARKING) a semaphore wait reads the words around its semaphore at the wait's
 * entry: a wait entry is told by its list node after the semaphore, linked into the circular
 * list (node->next->prev == node), or dequeued by its unparking thread (the node zeroed and
 * is_unparking set: the waiter came to its wait after the unpark began), and the wait is counted
 * for `addr`, the address parked on. Anything else (the parking lot's bucket locks, whose
 * _PyRawMutex_LockSlow waits on {next waiter, sema}; 3.13's threading locks, plain sem_t) keeps
 * its semaphore's name. No probe of its own: the reads cost the wait ~0.1 us. */

/* The wait entry from its `addr` on. */
struct py_wait_entry_tail {
	__u64 addr;
	__u8 sema[32];
	__u64 node_next;
	__u64 node_prev;
	__u8 is_unparking; /* set by the unparking thread right after it dequeued the entry */
};

/* Whether `p` can be a list node's address: pointer-aligned, above the first 64 KiB and below
 * the top of x86-64 user space. A semaphore that is not a wait entry's has arbitrary words after
 * it (a heap neighbour's size field, flags, small integers); reading through one that points to
 * no mapping takes an exception in the kernel, which costs ~5 µs on some VMs. */
static __always_inline bool plausible_node(__u64 p)
{
	return !(p & 7) && p >= 0x10000 && p < 0x800000000000ULL;
}

/* The address parked on when semaphore `sem` is a queued wait entry's, else 0. An entry whose
 * node is unlinked (both pointers NULL) and marked is_unparking was dequeued by the thread that
 * unparks it, which posts next: its waiter reached the wait after that (such a wait rarely
 * sleeps), and the entry still names what it parked on. */
static __always_inline __u64 parked_on(__u64 sem)
{
	struct py_wait_entry_tail w;
	__u64 node = sem + sizeof(w.sema), back = 0;

	if (bpf_probe_read_user(&w, sizeof(w), (void *)(sem - sizeof(w.addr))) || !w.addr)
		return 0;
	if (!w.node_next && !w.node_prev) {
		if (w.is_unparking != 1)
			return 0;
	} else if (!plausible_node(w.node_next) || !plausible_node(w.node_prev) ||
		   bpf_probe_read_user(&back, sizeof(back), (void *)(w.node_next + 8)) ||
		   back != node) {
		return 0; /* a queued entry's next node has this node as its `prev` */
	}
	if (!parking_seen)
		parking_seen = 1;
	return w.addr;
}

/* The address naming the lock that semaphore `sem` is waited on for: the address parked on
 * when `sem` is a parking-lot wait entry's, else `sem` itself. */
static __always_inline __u64 lock_key_of(__u64 id, __u64 sem)
{
	__u32 tgid = id >> 32;
	struct semlock_proc *p;
	__u64 addr;

	if (!((parking_mask >> (tgid & 63)) & 1))
		return sem;
	p = bpf_map_lookup_elem(&procs, &tgid);
	addr = p && (p->flags & SEMLOCK_PROC_PARKING) ? parked_on(sem) : 0;
	return addr ? addr : sem;
}

/* Parking semaphore `sem` of process `tgid` counts for `slot` now. */
static __always_inline void park_sem_is(__u32 tgid, __u64 sem, __u32 slot)
{
	struct semlock_key key = { .tgid = tgid, .addr = sem };
	__u32 *cur = bpf_map_lookup_elem(&park_sems, &key);

	if (!cur)
		bpf_map_update_elem(&park_sems, &key, &slot, BPF_ANY);
	else if (*cur != slot)
		*cur = slot;
}

static __always_inline int begin_call(__u64 addr, __u32 op)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 key = lock_key_of(id, addr);
	struct semlock_thread *t = thread_begin(id);

	if (!t)
		return 0;
	/* A call whose return was never seen is still counted. */
	if (!t->op)
		__sync_fetch_and_add(&threads_in_calls, 1);
	/* Only this thread writes its state while it is in a call. */
	t->addr = addr;
	t->key = key;
	t->start_ns = bpf_ktime_get_ns();
	/* A call whose return was never seen no longer counts as asleep. */
	if (t->flags & SEMLOCK_T_ASLEEP)
		__sync_fetch_and_add(&asleep_in_waits, -1);
	t->flags = 0;
	t->op = op;
	/* The slot is looked up (and given) once per thread and semaphore, not per call. */
	if (!slot_if_of(t->slot, id >> 32, key))
		t->slot = lock_slot(id >> 32, key);
	if (key != addr && t->slot != SEMLOCK_NO_SLOT)
		park_sem_is(id >> 32, addr, t->slot);
	return 0;
}

static __always_inline int end_call(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 now = bpf_ktime_get_ns();
	struct semlock_thread *t = thread_in_call(id);
	struct semlock_stats *s;
	struct semlock_slot *st;
	__u32 slot;
	bool contended;

	if (!t || !t->op) {
		count(SEMLOCK_CNT_ORPHAN_RETURNS);
		return 0;
	}
	slot = t->slot;
	contended = t->flags & SEMLOCK_T_CONTENDED;
	s = bpf_map_lookup_elem(&locks, &slot);
	if (s) {
		/* Blocked: the whole time of the calls that had to sleep in futex_wait. */
		if (contended)
			__sync_fetch_and_add(&s->blocked_ns, now - t->start_ns);
		if (ret == 0) {
			/* A trywait never waits: its wait time is 0 in both modes. */
			record_acquisition(s, t->op == SEMLOCK_OP_TRY ? 0 : now - t->start_ns);
			st = contended ? bpf_map_lookup_elem(&slots, &slot) : 0;
			if (contended)
				__sync_fetch_and_add(&s->contended, 1);
			/* Released by another thread's wake since this call began: a handoff, from
			 * that wake to this return. One wake releases one waiter. */
			if (st && st->ts_ns >= t->start_ns && st->waker_tid != (__u32)id &&
			    now >= st->ts_ns) {
				gilstat_hist_add(s->handoff_hist, &s->handoff_hist_sum,
					 &s->handoff_hist_count, now - st->ts_ns);
				st->ts_ns = 0;
			}
		} else if (t->op == SEMLOCK_OP_TRY) {
			__sync_fetch_and_add(&s->failed_tries, 1);
		} else if (t->op == SEMLOCK_OP_TIMED) {
			__sync_fetch_and_add(&s->timeouts, 1);
		}
	}
	end_waiter_stack(t, id, now - t->start_ns, contended && ret == 0);
	if (t->flags & SEMLOCK_T_ASLEEP) {
		t->flags &= ~SEMLOCK_T_ASLEEP;
		__sync_fetch_and_add(&asleep_in_waits, -1);
	}
	thread_end(id, t);
	__sync_fetch_and_add(&threads_in_calls, -1);
	return 0;
}

/* A post that will wake a waiter (or the futex wake itself): the start of a handoff, if a
 * waiter went to sleep since the last one. A wake that finds no sleeper is left alone: in a GIL
 * battle ~90 % of the releases wake nobody (the waiter is already awake, or about to lose
 * again), and stamping them would move the handoff's start past the wake that released the
 * waiter. A count that drifts up (a futex wait that did not sleep, a timeout) costs a stamp of a
 * wake that woke nobody, as if there were no count. Two wakes of one semaphore on two CPUs at
 * once may mix their fields: a handoff's latency then comes from the other, equally recent,
 * wake. */
static __always_inline void stamp_wake(struct semlock_slot *st, __u64 id)
{
	if (st->sleepers <= 0)
		return;
	if (__sync_fetch_and_add(&st->sleepers, -1) <= 0) {
		__sync_fetch_and_add(&st->sleepers, 1); /* another wake took the last one */
		return;
	}
	st->waker_tid = (__u32)id;
	st->ts_ns = bpf_ktime_get_ns();
}

/* --- blocking waits: entry + return (every mode) ------------------------------------------ */

SEC("uprobe")
int BPF_KPROBE(sem_wait_entry, void *sem)
{
	return begin_call((__u64)sem, SEMLOCK_OP_WAIT);
}

SEC("uprobe")
int BPF_KPROBE(sem_timedwait_entry, void *sem)
{
	return begin_call((__u64)sem, SEMLOCK_OP_TIMED);
}

SEC("uprobe")
int BPF_KPROBE(sem_trywait_entry, void *sem)
{
	return begin_call((__u64)sem, SEMLOCK_OP_TRY);
}

SEC("uretprobe")
int BPF_KRETPROBE(sem_wait_return, long ret)
{
	return end_call(ret);
}

/* sem_post at its entry (exact mode): every call counts. */
SEC("uprobe")
int BPF_KPROBE(sem_post_entry, void *sem)
{
	struct semlock_stats *s = stats_of(bpf_get_current_pid_tgid() >> 32, (__u64)sem);

	if (s)
		__sync_fetch_and_add(&s->posts, 1);
	return 0;
}

/* --- emulated branch sites (counting mode) -------------------------------------------------
 * Placed on conditional jumps, which the kernel emulates instead of single-stepping. The flags
 * before the jump tell the outcome; %rdi still holds the sem_t pointer. */

/* sem_trywait: `test %eax,%eax; je FAIL` -- ZF set: value 0, EAGAIN follows. */
SEC("uprobe")
int sem_trywait_fail_branch(struct pt_regs *ctx)
{
	struct semlock_stats *s;

	if (!(ctx->flags & X86_EFLAGS_ZF))
		return 0;
	s = stats_of(bpf_get_current_pid_tgid() >> 32, ctx->di);
	if (s)
		__sync_fetch_and_add(&s->failed_tries, 1);
	return 0;
}

/* sem_trywait: `lock cmpxchg; jne RETRY` -- ZF set: the decrement took, acquired. */
SEC("uprobe")
int sem_trywait_ok_branch(struct pt_regs *ctx)
{
	struct semlock_stats *s;

	if (!(ctx->flags & X86_EFLAGS_ZF))
		return 0;
	s = stats_of(bpf_get_current_pid_tgid() >> 32, ctx->di);
	if (s)
		record_acquisition(s, 0);
	return 0;
}

/* sem_post: `lock cmpxchg; jne RETRY` -- ZF set: the increment took, a post happened. %rax
 * holds the old value: its high half is the waiter count, non-zero when a wake follows. */
SEC("uprobe")
int sem_post_ok_branch(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct semlock_stats *s;
	struct semlock_slot *st;
	__u32 slot;

	if (!(ctx->flags & X86_EFLAGS_ZF))
		return 0;
	slot = lock_slot(id >> 32, ctx->di);
	s = bpf_map_lookup_elem(&locks, &slot);
	if (s)
		__sync_fetch_and_add(&s->posts, 1);
	st = ctx->ax >> 32 ? bpf_map_lookup_elem(&slots, &slot) : 0;
	if (st)
		stamp_wake(st, id);
	return 0;
}

/* --- kernel side: futex waits and wakes ----------------------------------------------------
 * Seen from the scheduler, so that syscalls run no program at all: a futex wait matters when
 * its thread goes to sleep (sched_switch of a thread inside a futex wait syscall), a wake when
 * it wakes such a thread (sched_waking from inside a futex wake syscall). Both tracepoints are
 * BTF-typed (no tracefs). A program runs per context switch and per wake-up on the host, never
 * per syscall; it returns after a few compares unless the task is inside a futex call (its
 * saved user registers, bpf_task_pt_regs, hold the syscall number and arguments).
 *
 * The fallback, where those programs cannot load (bpf_task_pt_regs needs Linux 5.15): the raw
 * syscall entry tracepoint (tp_btf/sys_enter), which every syscall of every process on the host
 * runs while it is attached (the kernel's slow syscall path, then one compare). There a wait is
 * seen at its syscall's entry (whether it then sleeps or not) and a wake at its call (whether it
 * wakes anyone or not).
 *
 * A wait costs an array lookup (is the thread inside a probed call on that word?); a wake, from
 * the scheduler, the same lookup for the woken thread, from the syscall tracepoint a cache
 * lookup (is the word a known semaphore?; the hash when the cache does not say). Nothing is done
 * at the syscall's exit: the return probe of the wait call sees how it ended. */

/* Thread `id` (`t`, inside a call) enters or sleeps in a futex wait on `uaddr`. */
static __always_inline bool futex_wait_of(struct semlock_thread *t, __u64 id, __u64 uaddr)
{
	struct semlock_slot *st;

	if (t->addr != uaddr)
		return false;
	if (!(t->flags & SEMLOCK_T_CONTENDED) && stacks_procs > 0)
		take_waiter_stack(t, id);
	t->flags |= SEMLOCK_T_CONTENDED;
	/* One more sleeper for the next wake to stamp (the slot was checked at the call's entry). */
	st = bpf_map_lookup_elem(&slots, &t->slot);
	if (st)
		__sync_fetch_and_add(&st->sleepers, 1);
	return true;
}

/* A wake of semaphore `slot` counted as its post, when posts are counted from wakes (per CPU:
 * the waker keeps to reading the shared slot unless it stamps). */
static __always_inline void post_from_wake(__u32 slot, struct semlock_slot_key *sk)
{
	struct semlock_stats *s;

	if (!(sk->flags & SEMLOCK_PROC_POSTS_FROM_WAKES))
		return;
	s = bpf_map_lookup_elem(&locks, &slot);
	if (s)
		__sync_fetch_and_add(&s->posts, 1);
}

/* A wake of semaphore `slot` (its key `sk`) by thread `id`: a post when posts are counted from
 * wakes, the start of a handoff unless the post branch site stamps it. */
static __always_inline void futex_wake_of_slot(__u64 id, __u32 slot, struct semlock_slot_key *sk)
{
	struct semlock_slot *st;

	post_from_wake(slot, sk);
	/* The post branch site, when probed, stamped this post just before its wake. */
	st = bpf_map_lookup_elem(&slots, &slot);
	if (st && !(sk->flags & SEMLOCK_PROC_POST_BRANCH))
		stamp_wake(st, id);
}

/* A thread going off the CPU: contended when it sleeps in a futex wait on the word of the probed
 * call it is in. */
static __always_inline void thread_switches_out(__u64 id, struct task_struct *prev, bool preempt,
						unsigned int prev_state)
{
	struct semlock_thread *t;
	struct pt_regs *regs;

	/* Preempted, or off the CPU in another state than a futex wait's: nothing to look up. The
	 * saved registers (on the kernel stack the syscall has just used) before the thread's array
	 * entry: most sleeps of a server's threads are in other calls (I/O, poll) or in futex waits
	 * outside a probed call (the GIL's condvar). */
	if (preempt || !(prev_state & TASK_INTERRUPTIBLE))
		return;
	regs = futex_regs(prev);
	if (!regs || !is_wait(regs->si))
		return;
	t = thread_in_call(id);
	if (t && futex_wait_of(t, id, regs->di) && !(t->flags & SEMLOCK_T_ASLEEP)) {
		t->flags |= SEMLOCK_T_ASLEEP;
		__sync_fetch_and_add(&asleep_in_waits, 1);
	}
}

/* A thread going off the CPU: asleep in a futex wait on the word of the probed call it is in
 * (contended). Switches of processes that are not attached are rejected by the attached-process
 * mask, the others by their kind, their saved registers (not a futex wait) or the thread array's
 * entry (not in a call). */
SEC("tp_btf/sched_switch")
int BPF_PROG(futex_sleep, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	__u64 id;

	if (threads_in_calls <= 0)
		return 0;
	id = bpf_get_current_pid_tgid();
	if (maybe_attached(id >> 32))
		thread_switches_out(id, prev, preempt, prev_state);
	return 0;
}

/* A thread of an attached process woken: the wake is its semaphore's when the woken thread
 * sleeps in a probed call's futex wait and the current thread (of an attached process) is in a
 * futex wake of that word; else, when the woken thread waits on a GIL condvar (gil_waits,
 * shared with the GIL probes by the daemon) and the waker is of its process, the start of a
 * GIL handoff (gilwait.bpf.h). Other wake-ups on the host return after reading asleep_in_waits
 * and gil_waiting (nothing asleep in either) or the attached-process mask for the waker (the
 * current thread: most wake-ups on the host end there), then its saved registers (not in a
 * futex wake), then the mask for the woken thread, or after the woken thread's entries. */
SEC("tp_btf/sched_waking")
int BPF_PROG(futex_wakeup, struct task_struct *p)
{
	struct semlock_slot_key *sk;
	struct semlock_thread *t;
	struct pt_regs *regs;
	__u64 waker, waiter;

	if (asleep_in_waits <= 0 && !gil_waits_any())
		return 0;
	/* A semaphore's post comes from a process that is attached (as with the syscall
	 * tracepoint); a process-shared semaphore posted by another process is not counted. */
	waker = bpf_get_current_pid_tgid();
	if (!maybe_attached(waker >> 32))
		return 0;
	/* The waker's saved registers (its own kernel stack) before the woken task's fields and
	 * array entry: most wake-ups by a server's threads come from I/O, not futex wakes. */
	regs = futex_regs(bpf_get_current_task_btf());
	if (!regs || !is_wake(regs->si))
		return 0;
	waiter = ((__u64)p->tgid << 32) | (__u32)p->pid;
	if (!maybe_attached(waiter >> 32))
		return 0;
	t = thread_in_call(waiter);
	if (!t || t->addr != regs->di) {
		if ((waiter >> 32) == waker >> 32)
			gil_wait_woken(waiter, regs->di);
		return 0;
	}
	if (!(t->flags & SEMLOCK_T_ASLEEP))
		return 0;
	sk = slot_if_of(t->slot, waiter >> 32, t->key);
	if (sk)
		futex_wake_of_slot(waker, t->slot, sk);
	return 0;
}

/* --- the fallback: every syscall ------------------------------------------------------------ */

static __always_inline void futex_wake_enter(__u64 id, __u64 uaddr)
{
	__u32 tgid = id >> 32, ci = wake_cache_index(tgid, uaddr);
	__u32 *cached = bpf_map_lookup_elem(&wake_cache, &ci);
	__u32 slot = cached ? *cached : SEMLOCK_NO_SLOT;
	struct semlock_slot_key *sk = slot_if_of(slot, tgid, uaddr);

	if (!sk) {
		struct semlock_key key = { .tgid = tgid, .addr = uaddr };
		__u32 *idx = bpf_map_lookup_elem(&lock_index, &key);

		if (!idx) {
			/* A parking semaphore: its wake stamps the parked-on address's slot (not
			 * cached: the cache checks the slot's key against the word). */
			idx = parking_seen ? bpf_map_lookup_elem(&park_sems, &key) : 0;
			sk = idx ? bpf_map_lookup_elem(&slot_keys, idx) : 0;
			if (sk)
				futex_wake_of_slot(id, *idx, sk);
			/* Else no slot: not a semaphore (seen by the probes) of an attached process. */
			return;
		}
		slot = *idx;
		sk = bpf_map_lookup_elem(&slot_keys, &slot);
		if (!sk)
			return;
		wake_cache_put(tgid, uaddr, slot);
	}
	futex_wake_of_slot(id, slot, sk);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(futex_enter, struct pt_regs *regs, long nr)
{
	__u64 id;

	if (nr != NR_futex)
		return 0;
	id = bpf_get_current_pid_tgid();
	if (is_wait(regs->si)) {
		struct semlock_thread *t = thread_in_call(id);

		if (t)
			futex_wait_of(t, id, regs->di);
	} else if (is_wake(regs->si)) {
		futex_wake_enter(id, regs->di);
	}
	return 0;
}
