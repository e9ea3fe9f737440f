/* Shared between bpf/pygil.bpf.c, bpf/semlock.bpf.c and their loaders: the threads waiting on a
 * GIL condvar (the condvar method), written by the GIL condvar's probes and stamped by the
 * scheduler program that sees their wake-up. See docs/PYTHON.md, "Method gil_condvar". */
#ifndef GILSTAT_GILWAIT_H
#define GILSTAT_GILWAIT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Entries of gil_waits (a power of 2): a thread's entry is at tid mod this. */
#define GILWAIT_SLOTS 16384

/* A thread inside a wait on a GIL condvar. */
struct gil_wait {
	__u64 id;       /* pid_tgid of the waiting thread; 0: free */
	__u64 cond;     /* the condvar it waits on */
	__u64 woken_ns; /* when a futex wake on a word of that condvar woke it; 0: not (yet) */
};

#endif /* GILSTAT_GILWAIT_H */
