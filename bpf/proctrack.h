/* Shared between bpf/proctrack.bpf.c and daemon/probes/proctrack_probe.cpp: the process
 * fork/exec/exit/rename events the tracker consumes, in plain fixed-size types. */
#ifndef GILSTAT_PROCTRACK_H
#define GILSTAT_PROCTRACK_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Ring buffer size in bytes (a power of two, a multiple of the page size). One record takes
 * 16 bytes with its header: 256 KiB hold 16384 events between two reads. */
#define PROCTRACK_RINGBUF_BYTES (256 * 1024)
/* Records wake the reader only past this fill (half the buffer: 8192 events); below it the
 * reader drains on its timer (PROCTRACK_DRAIN_MS). */
#define PROCTRACK_WAKEUP_BYTES (PROCTRACK_RINGBUF_BYTES / 2)
/* The reader's drain period: the bound on how late an event is seen (milliseconds). */
#define PROCTRACK_DRAIN_MS 50
/* A process's renames within this long after its last rename record write no record (at most
 * one record per process per window); the reader looks at a renamed process again at least
 * this long after its record (nanoseconds). */
#define PROCTRACK_RENAME_WINDOW_NS (50ull * 1000 * 1000)
/* Processes whose last rename record is remembered (LRU). */
#define PROCTRACK_RENAMED_MAX 4096

/* Exec records while the reader drains on its timer (it is not idle): a queue per CPU (an entry
 * of the array `exec_queues` by CPU number), pids in order, written with plain stores (a
 * tracepoint's program is not preempted on its CPU) and read by the reader on every drain. A
 * ring-buffer record takes a lock shared by all CPUs and cost an exec several times the rest of
 * the program. PROCTRACK_EXEC_QUEUE execs per CPU, less the reader's margin of 64, fit between
 * two drains (~19,000 a second per CPU; an exec takes hundreds of microseconds); the reader
 * counts those overwritten as lost. A power of two. */
#define PROCTRACK_EXEC_QUEUE 1024

struct proctrack_exec_queue {
	__u64 head;                       /* execs written so far; the entry before the count */
	__u32 tgid[PROCTRACK_EXEC_QUEUE]; /* the head-th exec at head mod PROCTRACK_EXEC_QUEUE */
};

enum proctrack_event_type {
	PROCTRACK_EXEC = 1, /* a process replaced its image (execve succeeded) */
	PROCTRACK_EXIT = 2, /* the last thread of a process exited */
	PROCTRACK_FORK = 3, /* a watched process forked a new process (not a thread) */
	PROCTRACK_RENAME = 4, /* a process renamed itself (its main thread's comm), not by exec */
};

struct proctrack_event {
	__u32 type; /* enum proctrack_event_type */
	__u32 tgid; /* the process id */
};

/* Index of the counters in the per-CPU "counters" array map. */
enum proctrack_counter {
	PROCTRACK_CNT_LOST = 0, /* events dropped: the ring buffer was full */
	PROCTRACK_CNT_MAX = 1,
};

#endif /* GILSTAT_PROCTRACK_H */
