/* Shared between bpf/pygil.bpf.c and daemon/probes/pygil_probe.cpp: map keys and values of the
 * CPython GIL probes, in plain fixed-size types. See docs/PYTHON.md. */
#ifndef GILSTAT_PYGIL_H
#define GILSTAT_PYGIL_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include "gilstat/log2_slot.h"
#include "bpf/pystack.h"

#define PYGIL_MAX_PROCS 1024
#define PYGIL_MAX_THREADS 16384
/* Entries of the per-thread array (a power of 2): a thread's state is at tid mod this. */
#define PYGIL_THREAD_SLOTS 16384
/* pygil_thread.owner: the entry holds live state of the thread in the low bits. */
#define PYGIL_THREAD_BUSY (1ull << 63)

/* GILs per process: the main interpreter's (slot 0) and those of up to PYGIL_MAX_GILS - 1
 * sub-interpreters with their own GIL (3.12+), registered by user space as it finds them. */
#define PYGIL_MAX_GILS 8
/* Entries of `gils` and `stats` beyond one per process: sub-interpreter GILs of all processes. */
#define PYGIL_MAX_SUB_GILS 256
/* pygil_proc.gil_idx of a slot without a GIL: beyond every array. */
#define PYGIL_IDX_NONE 0xffffffffu
/* pygil_thread.slot of a take_gil call for a GIL that is not registered (a sub-interpreter's not
 * scanned yet, or beyond the slots): not counted anywhere. */
#define PYGIL_SLOT_NONE PYGIL_MAX_GILS

/* pygil_proc.flags */
#define PYGIL_F_TAKE_DROP (1u << 0) /* take_gil/drop_gil are probed: every acquisition is seen */
#define PYGIL_F_CONDVAR (1u << 1)   /* the GIL condvar's waits are probed */
/* take_gil/drop_gil are attributed to the GIL their argument names (tstate->interp->ceval.gil,
 * the GIL pointer of drop_gil's first argument); without it, every call is the main GIL's. */
#define PYGIL_F_BY_ARGUMENT (1u << 2)
/* Contended waits capture the Python stacks of the waiter and of the GIL's last holder. */
#define PYGIL_F_STACKS (1u << 3)

/* One attached process (written by user space only: at attach, and when the sub-interpreter
 * GILs it finds change). */
struct pygil_proc {
	__u64 cond_addr[PYGIL_MAX_GILS]; /* slot i's GIL condvar; 0: slot unused / not probed */
	__u32 flags;
	__u32 tstate_interp; /* PYGIL_F_BY_ARGUMENT: offsetof(PyThreadState, interp) */
	__u32 interp_gil;    /* offsetof(PyInterpreterState, ceval.gil) */
	__u32 drop_arg_gil;  /* where drop_gil's first argument keeps the GIL pointer */
	__u32 cond_in_gil;   /* offset of the condvar in struct _gil_runtime_state */
	__u32 nsubs; /* sub-interpreter GILs registered */
	/* Changes whenever user space writes this entry (unique over the probe's life): a thread's
	 * cached GIL slot (pygil_thread.tstate_gen) is good only for the entry it was found with. */
	__u32 gen;
	__u32 pad;
	/* Slot i's entry in the arrays `gils` and `stats` (PYGIL_IDX_NONE: no GIL in the slot),
	 * given out by user space: a program finds a GIL's state and statistics by index, without
	 * a hash lookup. */
	__u32 gil_idx[PYGIL_MAX_GILS];
	/* PYGIL_F_BY_ARGUMENT: the main interpreter (tstate->interp of its threads), and drop_gil's
	 * first argument for it: these are the main GIL's without reading its GIL pointer. */
	__u64 main_interp;
	__u64 main_drop_arg;
	struct pygil_frames frames; /* PYGIL_F_STACKS */
};

/* One GIL of an attached process (an entry of the array `gils`): where its state is (written by
 * user space when the slot is registered) and what the programs keep between events (the GIL
 * serialises the writers: only the holder updates it, in take_gil's return and drop_gil's
 * entry). */
struct pygil_gil {
	__s64 interpreter; /* the interpreter's id (0: main), for user space */
	__u64 locked_addr; /* int gil->locked; 0: unknown */
	__u64 switch_addr; /* unsigned long gil->switch_number; 0: unknown */
	__u64 interval_addr; /* unsigned long gil->interval (microseconds); 0: unknown */
	__u32 drop_requested; /* a waiter timed out with no switch: the next release is forced */
	__u32 pad;
	__u64 holder;         /* pid_tgid holding the GIL; 0: free or unknown */
	__u64 last_holder;    /* pid_tgid of the last thread that took it */
	__u64 hold_start_ns;
	__u64 drop_ns; /* when the last holder entered drop_gil */
	__u64 last_holder_addr; /* PyThreadState *gil->last_holder (PYGIL_F_STACKS); 0: unknown */
};

/* Per-CPU statistics of one GIL of a process (an entry of the per-CPU array `stats`, zeroed by
 * user space when it gives the entry to a GIL; summed by user space, max taken). */
struct pygil_stats {
	__u64 acquisitions;  /* take_gil returns (take_gil method only) */
	__u64 contended;     /* acquisitions that found the GIL held by another thread */
	__u64 wait_ns;       /* sum of wait times (== wait_hist_sum) */
	__u64 max_wait_ns;
	__u64 handoffs;      /* acquisitions by another thread than the last holder */
	__u64 forced;    /* take_gil: releases while a drop request was pending; condvar only:
			  * handoffs to a waiter while a drop request was pending */
	__u64 voluntary; /* the other releases (take_gil) or handoffs (condvar only) */
	__u64 drop_requests; /* condvar waits that timed out with no switch: drop requested */
	__u64 cond_waits;    /* waits on the GIL condvar (each up to one switch interval) */
	__u64 cond_timeouts;
	__u64 wait_hist[GILSTAT_HIST_SLOTS];
	__u64 wait_hist_sum;
	__u64 wait_hist_count;
	__u64 hold_hist[GILSTAT_HIST_SLOTS];
	__u64 hold_hist_sum;
	__u64 hold_hist_count;
	/* take_gil: holder's drop_gil -> waiter's acquisition; condvar only: the release's condvar
	 * signal waking the sleeping waiter -> the waiter's acquisition */
	__u64 handoff_hist[GILSTAT_HIST_SLOTS];
	__u64 handoff_hist_sum;
	__u64 handoff_hist_count;
};

/* A thread inside take_gil or waiting on the GIL condvar: an entry of the per-thread array
 * (owner = its pid_tgid | PYGIL_THREAD_BUSY), or of the hash when its array entry is busy with
 * another thread (owner 0; the array entry's `fallback` counts such threads). */
struct pygil_thread {
	__u64 owner;         /* array entries: pid_tgid, | PYGIL_THREAD_BUSY while in use */
	__u64 take_start_ns; /* take_gil entry; 0: not in take_gil (condvar method) */
	__u64 wait_start_ns; /* first condvar wait of this acquisition (condvar method) */
	__u64 switch_at_wait; /* switch_number when the current condvar wait began */
	__u32 contended;
	__u16 in_cond;      /* inside pthread_cond_timedwait on the GIL condvar */
	__u16 forced_out;   /* released by a drop request: it waits from that release on */
	__u32 fallback;     /* array entries: threads of this index keeping their state in the hash */
	__u32 slot;         /* the GIL (its slot in the process) it waits for */
	__u32 stacks;       /* PYGIL_F_STACKS: the stacks of this wait were taken */
	/* With the condvar probed, take_gil's return is not: an acquisition that did not wait on
	 * the condvar (the GIL was free) is counted at the thread's next drop_gil, as taken at
	 * entry_ns. Set at take_gil's entry, cleared by a condvar wait. */
	__u32 taken_free;
	__u64 entry_ns;
	__u64 waiter_stack; /* their ids (pygil_stack_key.id; 0: none) */
	__u64 holder_stack;
	/* PYGIL_F_BY_ARGUMENT: the GIL slot of the PyThreadState this thread last took a GIL with,
	 * as found with the process entry of generation tstate_gen (tstate 0: none). Kept while
	 * the array entry stays the thread's, so that take_gil reads tstate->interp from the
	 * process once per thread state, not at every acquisition. */
	__u64 tstate;
	__u32 tstate_gen;
	__u32 tstate_slot;
};

/* The contended waits of one GIL whose waiter had one stack and whose last holder another. */
struct pygil_pair_key {
	__u32 tgid;
	__u32 slot;
	__u64 waiter; /* stack ids; 0: none (no Python frame, or not found) */
	__u64 holder;
};

enum pygil_counter {
	PYGIL_CNT_THREADS_FULL = 0, /* a thread's state could not be stored */
	PYGIL_CNT_STATS_FULL = 1,   /* a registered GIL had no statistics entry */
	PYGIL_CNT_ORPHAN_RETURNS = 2,
	PYGIL_CNT_READ_ERRORS = 3, /* the GIL state could not be read from the process */
	PYGIL_CNT_STACKS = 4, /* the stack capture's PYSTACK_NR_COUNTERS (enum pystack_counter) */
	PYGIL_NR_COUNTERS = PYGIL_CNT_STACKS + PYSTACK_NR_COUNTERS,
};


#endif /* GILSTAT_PYGIL_H */
