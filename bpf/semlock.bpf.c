// SPDX-License-Identifier: GPL-2.0
/* Semaphore statistics per (process, sem_t address): uprobes on glibc's sem_* functions (or on
 * emulated branch instructions inside them, see docs/PROBES.md) and the raw syscall
 * tracepoints for futex waits and wakes. Everything is aggregated here; user space reads the
 * maps. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "hist.bpf.h"
#include "maps.bpf.h"
#include "semlock.h"

#define X86_EFLAGS_ZF 0x40
#define ETIMEDOUT 110
#define EAGAIN 11

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SEMLOCK_MAX_LOCKS);
	__type(key, struct semlock_key);
	__type(value, struct semlock_stats);
} locks SEC(".maps");

/* Key: pid_tgid of a thread that called a wait function; value: its state inside the call
 * (op 0 between calls). Entries are reused from call to call, written in place: no allocation,
 * bucket lock or free per call. LRU: entries of threads that have exited are recycled when the
 * map is full instead of being looked for. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SEMLOCK_MAX_THREADS);
	__type(key, __u64);
	__type(value, struct semlock_thread);
} threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SEMLOCK_MAX_WAKES);
	__type(key, struct semlock_key);
	__type(value, struct semlock_wake);
} wakes SEC(".maps");

/* Processes whose futex calls are looked at; value: SEMLOCK_PROC_* flags. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SEMLOCK_MAX_PROCS);
	__type(key, __u32);
	__type(value, __u32);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SEMLOCK_NR_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* Zeroed value to create map entries from (too large for the BPF stack). */
static const struct semlock_stats zero_stats;

static __always_inline void count(__u32 idx)
{
	gilstat_count(&counters, idx);
}

static __always_inline struct semlock_stats *stats_of(__u32 tgid, __u64 addr)
{
	struct semlock_key key = { .tgid = tgid, .addr = addr };
	struct semlock_stats *s = gilstat_lookup_or_init(&locks, &key, &zero_stats);

	if (!s)
		count(SEMLOCK_CNT_LOCKS_FULL);
	return s;
}

static __always_inline void record_acquisition(struct semlock_stats *s, __u64 wait_ns)
{
	if (wait_ns > s->max_wait_ns)
		s->max_wait_ns = wait_ns;
	gilstat_hist_add(s->wait_hist, &s->wait_hist_sum, &s->wait_hist_count, wait_ns);
}

static __always_inline int begin_call(__u64 addr, __u32 op)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct semlock_thread *t = bpf_map_lookup_elem(&threads, &id);
	struct semlock_thread fresh = {};

	if (!t) {
		/* First call of this thread: create its entry once. */
		bpf_map_update_elem(&threads, &id, &fresh, BPF_NOEXIST);
		t = bpf_map_lookup_elem(&threads, &id);
		if (!t) {
			count(SEMLOCK_CNT_THREADS_FULL);
			return 0;
		}
	}
	/* Only this thread writes its entry (its uprobes and its syscalls run one at a time). */
	t->addr = addr;
	t->start_ns = bpf_ktime_get_ns();
	t->futex_start_ns = 0;
	t->blocked_ns = 0;
	t->handoff_ns = 0;
	t->flags = 0;
	t->op = op;
	return 0;
}

static __always_inline int end_call(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct semlock_thread *t;
	struct semlock_stats *s;
	__u64 now = bpf_ktime_get_ns();

	t = bpf_map_lookup_elem(&threads, &id);
	if (!t || !t->op) {
		count(SEMLOCK_CNT_ORPHAN_RETURNS);
		return 0;
	}
	s = stats_of(id >> 32, t->addr);
	if (s) {
		if (t->blocked_ns)
			__sync_fetch_and_add(&s->blocked_ns, t->blocked_ns);
		if (ret == 0) {
			/* A trywait never waits: its wait time is 0 in both modes. */
			record_acquisition(s, t->op == SEMLOCK_OP_TRY ? 0 : now - t->start_ns);
			if (t->flags & SEMLOCK_T_CONTENDED)
				__sync_fetch_and_add(&s->contended, 1);
			if (t->flags & SEMLOCK_T_HANDOFF) {
				gilstat_hist_add(s->handoff_hist, &s->handoff_hist_sum,
					 &s->handoff_hist_count, t->handoff_ns);
			}
		} else if (t->op == SEMLOCK_OP_TRY) {
			__sync_fetch_and_add(&s->failed_tries, 1);
		} else if (t->flags & SEMLOCK_T_TIMED_OUT) {
			__sync_fetch_and_add(&s->timeouts, 1);
		}
	}
	/* Between calls: matches no futex word, no futex wait in progress. */
	t->op = 0;
	t->addr = 0;
	t->futex_start_ns = 0;
	return 0;
}

/* A post that will wake a waiter (or the futex wake itself): the start of a handoff. The
 * record of a semaphore is created once and written in place afterwards (an update of an LRU
 * hash allocates a new element every time; in CPython 2's GIL battle this runs ~400k times a
 * second). Two wakes of one semaphore on two CPUs at once may mix their fields: a handoff's
 * latency then comes from the other, equally recent, wake. */
static __always_inline void record_wake(__u64 id, __u64 uaddr)
{
	struct semlock_key key = { .tgid = id >> 32, .addr = uaddr };
	struct semlock_wake *old = bpf_map_lookup_elem(&wakes, &key);
	struct semlock_wake w = { .ts_ns = bpf_ktime_get_ns(), .waker_tid = (__u32)id };

	if (old) {
		old->waker_tid = w.waker_tid;
		old->ts_ns = w.ts_ns;
		return;
	}
	if (bpf_map_update_elem(&wakes, &key, &w, BPF_ANY))
		count(SEMLOCK_CNT_WAKES_FULL);
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

/* --- emulated branch sites (default mode) --------------------------------------------------
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

	if (!(ctx->flags & X86_EFLAGS_ZF))
		return 0;
	s = stats_of(id >> 32, ctx->di);
	if (s)
		__sync_fetch_and_add(&s->posts, 1);
	if (ctx->ax >> 32)
		record_wake(id, ctx->di);
	return 0;
}

/* --- kernel side: futex waits and wakes ----------------------------------------------------
 * Through the raw syscall tracepoints (tp_btf): fentry/fexit on futex_wait/futex_wake would be
 * cheaper but BPF trampolines are not available on every kernel (refused with EPERM on the
 * machines gilstat is tested on), and tracepoints by name would need tracefs. Every syscall of
 * every process runs these programs; they return after one compare unless it is a futex call,
 * and after one hash lookup unless the process is attached. */

#define NR_futex 202 /* x86-64 */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAKE_BITSET 10
#define FUTEX_CMD_MASK 0x7f /* without FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME */

static __always_inline void futex_wait_enter(__u64 id, __u64 uaddr)
{
	struct semlock_thread *t = bpf_map_lookup_elem(&threads, &id);

	if (!t || t->addr != uaddr)
		return;
	t->futex_start_ns = bpf_ktime_get_ns();
	t->flags |= SEMLOCK_T_CONTENDED;
	t->flags &= ~SEMLOCK_T_HANDOFF; /* blocking again: an earlier wake was not a handoff */
}

static __always_inline void futex_wake_enter(__u64 id, __u64 uaddr)
{
	__u32 tgid = id >> 32;
	__u32 *proc = bpf_map_lookup_elem(&procs, &tgid);
	struct semlock_key key = { .tgid = tgid, .addr = uaddr };
	struct semlock_wake *w;

	if (!proc)
		return;
	/* The post branch site, when probed, recorded this post just before the wake: keep its
	 * earlier time. Otherwise the wake starts the handoff. */
	w = (*proc & SEMLOCK_PROC_POST_BRANCH) ? bpf_map_lookup_elem(&wakes, &key) : 0;
	if (!w || !w->ts_ns || w->waker_tid != (__u32)id)
		record_wake(id, uaddr);
	if (*proc & SEMLOCK_PROC_POSTS_FROM_WAKES) {
		/* Only semaphores already known: other futexes of the process are not sem_t. */
		struct semlock_stats *s = bpf_map_lookup_elem(&locks, &key);

		if (s)
			__sync_fetch_and_add(&s->posts, 1);
	}
}

SEC("tp_btf/sys_enter")
int BPF_PROG(futex_enter, struct pt_regs *regs, long nr)
{
	__u64 id, uaddr;
	__u32 cmd;

	if (nr != NR_futex)
		return 0;
	id = bpf_get_current_pid_tgid();
	uaddr = regs->di;
	cmd = regs->si & FUTEX_CMD_MASK;
	if (cmd == FUTEX_WAIT || cmd == FUTEX_WAIT_BITSET)
		futex_wait_enter(id, uaddr);
	else if (cmd == FUTEX_WAKE || cmd == FUTEX_WAKE_BITSET)
		futex_wake_enter(id, uaddr);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(futex_exit, struct pt_regs *regs, long ret)
{
	struct semlock_thread *t;
	struct semlock_key key;
	struct semlock_wake *w;
	__u64 id, now;
	__u32 cmd;

	if (regs->orig_ax != NR_futex)
		return 0;
	/* The saved registers still hold the arguments: only waits end a thread's futex wait (a
	 * waker's exit needs no lookup). */
	cmd = regs->si & FUTEX_CMD_MASK;
	if (cmd != FUTEX_WAIT && cmd != FUTEX_WAIT_BITSET)
		return 0;
	id = bpf_get_current_pid_tgid();
	t = bpf_map_lookup_elem(&threads, &id);
	if (!t || !t->futex_start_ns)
		return 0;
	now = bpf_ktime_get_ns();
	t->blocked_ns += now - t->futex_start_ns;
	t->futex_start_ns = 0;
	if (ret == -ETIMEDOUT) {
		t->flags |= SEMLOCK_T_TIMED_OUT;
		return 0;
	}
	/* 0: woken by a wake; -EAGAIN: the value changed before it slept, i.e. a post came in
	 * while it was going to sleep. Either way a post released it: by whom? */
	if (ret != 0 && ret != -EAGAIN)
		return 0;
	key.tgid = id >> 32;
	key.pad = 0;
	key.addr = t->addr;
	w = bpf_map_lookup_elem(&wakes, &key);
	if (!w || !w->ts_ns)
		return 0;
	if (w->waker_tid != (__u32)id && now >= w->ts_ns) {
		t->flags |= SEMLOCK_T_HANDOFF;
		t->handoff_ns = now - w->ts_ns;
	}
	w->ts_ns = 0; /* consumed: one wake releases one waiter */
	return 0;
}
