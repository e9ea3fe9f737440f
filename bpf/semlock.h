/* Shared between bpf/semlock.bpf.c and daemon/probes/semlock_probe.cpp: map keys and values
 * of the semaphore probes, in plain fixed-size types. See docs/PROBES.md. */
#ifndef GILSTAT_SEMLOCK_H
#define GILSTAT_SEMLOCK_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include "gilstat/log2_slot.h"

/* Default map sizes; the loader may change them before load. */
#define SEMLOCK_MAX_LOCKS 10240
#define SEMLOCK_MAX_THREADS 16384
#define SEMLOCK_MAX_WAKES 4096
#define SEMLOCK_MAX_PROCS 1024

/* One semaphore of one process. */
struct semlock_key {
	__u32 tgid;
	__u32 pad;
	__u64 addr; /* address of the sem_t in the process */
};

/* Per-CPU statistics of one semaphore (summed, max taken, by user space). The number of
 * acquisitions and their total wait are the wait histogram's count and sum, the number of
 * handoffs the handoff histogram's count: kept once, not added up twice per event. */
struct semlock_stats {
	__u64 failed_tries; /* sem_trywait returning EAGAIN */
	__u64 timeouts;     /* timed waits whose futex wait timed out and that failed */
	__u64 contended;    /* acquisitions whose call waited in futex_wait */
	__u64 max_wait_ns;
	__u64 blocked_ns;   /* time in futex_wait on the semaphore word, all calls */
	__u64 posts;        /* sem_post calls that incremented the value (or futex wakes) */
	__u64 wait_hist[GILSTAT_HIST_SLOTS];
	__u64 wait_hist_sum;   /* total wait of the acquisitions */
	__u64 wait_hist_count; /* successful waits (sem_wait/timedwait/clockwait/trywait) */
	__u64 handoff_hist[GILSTAT_HIST_SLOTS];
	__u64 handoff_hist_sum;
	__u64 handoff_hist_count; /* acquisitions right after a wake by another thread */
};

/* What a thread is doing inside a wait call (thread map value). */
enum semlock_op {
	SEMLOCK_OP_WAIT = 1,    /* sem_wait */
	SEMLOCK_OP_TIMED = 2,   /* sem_timedwait, sem_clockwait */
	SEMLOCK_OP_TRY = 3,     /* sem_trywait (exact mode) */
};

#define SEMLOCK_T_CONTENDED (1u << 0)       /* entered futex_wait on the sem word */
#define SEMLOCK_T_TIMED_OUT (1u << 1)       /* a futex wait returned -ETIMEDOUT */
#define SEMLOCK_T_HANDOFF (1u << 2)         /* last futex wait ended by another thread's wake */

struct semlock_thread {
	__u64 addr;
	__u64 start_ns;
	__u64 futex_start_ns; /* 0 when not in futex_wait */
	__u64 blocked_ns;
	__u64 handoff_ns;     /* wake -> futex_wait return of the pending handoff */
	__u32 op;
	__u32 flags;
};

/* Last futex wake on a (tgid, address). */
struct semlock_wake {
	__u64 ts_ns;
	__u32 waker_tid;
	__u32 pad;
};

/* Value flags of the traced-process map. */
#define SEMLOCK_PROC_POSTS_FROM_WAKES (1u << 0) /* sem_post not probed: count futex wakes */
#define SEMLOCK_PROC_POST_BRANCH (1u << 1)      /* sem_post probed at its branch site */

/* Per-CPU health counters (index into the counters array). */
enum semlock_counter {
	SEMLOCK_CNT_LOCKS_FULL = 0,   /* a semaphore entry could not be created */
	SEMLOCK_CNT_THREADS_FULL = 1, /* a thread's in-call state could not be stored */
	SEMLOCK_CNT_WAKES_FULL = 2,   /* a wake record could not be stored */
	SEMLOCK_CNT_ORPHAN_RETURNS = 3, /* a return without its entry (attached mid-call) */
	SEMLOCK_NR_COUNTERS = 4,
};

#endif /* GILSTAT_SEMLOCK_H */
