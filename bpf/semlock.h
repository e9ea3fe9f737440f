/* Shared between bpf/semlock.bpf.c and daemon/probes/semlock_probe.cpp: map keys and values
 * of the semaphore probes, in plain fixed-size types. See docs/PROBES.md. */
#ifndef GILSTAT_SEMLOCK_H
#define GILSTAT_SEMLOCK_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include "gilstat/log2_slot.h"
#include "bpf/pystack.h"

/* Default map sizes; the loader may change them before load. */
#define SEMLOCK_MAX_LOCKS 10240   /* (process, semaphore) slots */
/* The most slots the configuration accepts: each costs sizeof(struct semlock_stats) (848 bytes)
 * on every CPU, allocated when the map is created: 2^18 slots take ~0.5 s and 212 MiB per CPU;
 * 2^22 took 8 s and 3.3 GiB per CPU. */
#define SEMLOCK_MAX_LOCKS_LIMIT (1u << 18)
#define SEMLOCK_MAX_THREADS 16384 /* threads whose array entry is taken, in a call at once */
#define SEMLOCK_THREAD_SLOTS 16384 /* the thread array: entry = tid mod this (a power of 2) */
#define SEMLOCK_MAX_PROCS 1024
#define SEMLOCK_WAKE_CACHE 4096 /* futex word -> slot cache (a power of 2) */

/* One semaphore of one process. */
struct semlock_key {
	__u32 tgid;
	__u32 pad;
	__u64 addr; /* address of the sem_t in the process */
};

/* Per-CPU statistics of one semaphore, at its slot in the `locks` array (summed, max taken, by
 * user space). The number of
 * acquisitions and their total wait are the wait histogram's count and sum, the number of
 * handoffs the handoff histogram's count: kept once, not added up twice per event. */
struct semlock_stats {
	/* What every contended return touches, in one cache line. */
	__u64 contended;    /* acquisitions whose call waited in futex_wait */
	__u64 blocked_ns;   /* the whole time of the calls that blocked in futex_wait */
	__u64 max_wait_ns;
	__u64 wait_hist_sum;   /* total wait of the acquisitions */
	__u64 wait_hist_count; /* successful waits (sem_wait/timedwait/clockwait/trywait) */
	__u64 handoff_hist_sum;
	__u64 handoff_hist_count; /* acquisitions right after a wake by another thread */
	__u64 posts;        /* sem_post calls that incremented the value (or futex wakes) */
	__u64 failed_tries; /* sem_trywait returning EAGAIN */
	__u64 timeouts;     /* timed waits that blocked in futex_wait and failed */
	__u64 wait_hist[GILSTAT_HIST_SLOTS];
	__u64 handoff_hist[GILSTAT_HIST_SLOTS];
};

/* What a thread is doing inside a wait call (thread map value). */
enum semlock_op {
	SEMLOCK_OP_WAIT = 1,    /* sem_wait */
	SEMLOCK_OP_TIMED = 2,   /* sem_timedwait, sem_clockwait */
	SEMLOCK_OP_TRY = 3,     /* sem_trywait (exact mode) */
};

#define SEMLOCK_T_CONTENDED (1u << 0) /* entered (slept in) futex_wait on the sem word */
#define SEMLOCK_T_ASLEEP (1u << 1)    /* asleep in that futex_wait now (scheduler programs) */
/* The waiter's Python stack was taken at its first sleep (its id in `wait_stacks`). */
#define SEMLOCK_T_STACK (1u << 2)

/* In the thread array: the owner's pid_tgid, with this bit while it is inside a call. */
#define SEMLOCK_THREAD_BUSY (1ull << 63)
#define SEMLOCK_NO_SLOT 0xffffffffu

/* A thread's state inside a wait call: in the thread array at its tid's entry, or, when that
 * entry is in use by another thread, in the `threads` hash. */
struct semlock_thread {
	__u64 owner;    /* array: pid_tgid of the thread using the entry (| SEMLOCK_THREAD_BUSY) */
	__u64 addr;     /* the sem_t waited on (its futex word); 0 between calls */
	__u64 key;      /* the address naming the lock: addr, or, for a thread parked by CPython's
			 * parking lot (3.13+) on its own semaphore, the address it parks on (the
			 * PyMutex, PyEvent...): the key of `slot` */
	__u64 start_ns;
	__u32 slot;     /* key's slot in `locks`/`slots` (checked against the slot's key) */
	__u32 fallback; /* array: threads of this entry in a call in the `threads` hash */
	__u16 flags;    /* SEMLOCK_T_* */
	__u8 op;        /* enum semlock_op; 0 between calls */
	__u8 pad[21];   /* to one cache line */
};
/* One cache line per thread in the array (the array's values start page-aligned). */
#ifdef __cplusplus
static_assert(sizeof(struct semlock_thread) == 64, "semlock_thread is one cache line");
#else
_Static_assert(sizeof(struct semlock_thread) == 64, "semlock_thread is one cache line");
#endif

/* Whose a slot is (`slot_keys`, read-mostly: written when the slot is given or freed). A free
 * slot has tgid 0. */
struct semlock_slot_key {
	__u32 tgid;
	__u32 flags; /* the process's SEMLOCK_PROC_* flags */
	__u64 addr;
};

/* Shared (not per-CPU), written state of a semaphore's slot (`slots`): its last wake. */
struct semlock_slot {
	__u64 ts_ns;     /* last wake; 0: consumed, or none yet */
	__s64 sleepers;  /* futex waits not yet matched by a stamped wake (see stamp_wake) */
	__u32 waker_tid;
	__u32 pad;
	__u64 pad2[5];   /* one cache line per semaphore */
};

/* Flags of a traced process (struct semlock_proc). */
#define SEMLOCK_PROC_POSTS_FROM_WAKES (1u << 0) /* sem_post not probed: count futex wakes */
#define SEMLOCK_PROC_POST_BRANCH (1u << 1)      /* sem_post probed at its branch site */
/* A CPython 3.11+ process whose contended waits take the waiter's Python stack (`frames`). */
#define SEMLOCK_PROC_STACKS (1u << 2)
/* A CPython 3.13+ process (its interpreter exports _PySemaphore_Wait): a semaphore waited on may
 * be a parking-lot wait entry's, read at the wait's entry (bpf/semlock.bpf.c, parked_on). */
#define SEMLOCK_PROC_PARKING (1u << 3)

/* A traced process (the `procs` map; written by user space only). */
struct semlock_proc {
	__u32 flags; /* SEMLOCK_PROC_* */
	__u32 pad;
	/* SEMLOCK_PROC_STACKS: the main GIL's `last_holder` word, a thread state of the main
	 * interpreter (whose thread list holds the waiter's), and where a thread's frames are. */
	__u64 last_holder_addr;
	struct pygil_frames frames;
};

/* The contended waits for one lock of a process whose waiter had one Python stack (`pairs`,
 * value struct pygil_pair; SEMLOCK_PROC_STACKS). A lock has no owner the probes know of: no
 * holder stack. */
struct semlock_pair_key {
	__u32 tgid;
	__u32 pad;
	__u64 lock;   /* the lock's address (semlock_thread.key) */
	__u64 waiter; /* stack id (pygil_stack_key.id); 0: no Python frame, or not found */
};

/* Per-CPU health counters (index into the counters array). */
enum semlock_counter {
	SEMLOCK_CNT_LOCKS_FULL = 0,   /* a semaphore got no slot (all in use) */
	SEMLOCK_CNT_THREADS_FULL = 1, /* a thread's in-call state could not be stored */
	SEMLOCK_CNT_ORPHAN_RETURNS = 2, /* a return without its entry (attached mid-call) */
	SEMLOCK_CNT_STACKS = 3, /* Python stacks: PYSTACK_NR_COUNTERS (enum pystack_counter) */
	SEMLOCK_NR_COUNTERS = SEMLOCK_CNT_STACKS + PYSTACK_NR_COUNTERS,
};


#endif /* GILSTAT_SEMLOCK_H */
