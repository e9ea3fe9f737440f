// SPDX-License-Identifier: GPL-2.0
/* Process fork/exec/exit events for the process tracker (daemon/tracker/).
 *
 * BTF-typed tracepoints (tp_btf) attach through the kernel's BTF, not through a tracepoint id
 * read from tracefs, so this works on a host where tracefs is not mounted. Their task pointers
 * are read directly (BTF-typed loads, no helper calls). Events go through a
 * ring buffer; they are rare (process lifecycle, never lock operations). A record that does not
 * fit is counted in the "counters" map, and the tracker rescans /proc when that count grows.
 * Execs of every process are reported (a new image may match a target), and renames of every
 * process (a process that renames itself, a forked worker setting its title, may match a
 * target by its new name); forks and exits only of the watched ones (the attached processes),
 * so that the fork and exit of any other process cost one pointer read and no record. A fork
 * of a process that is not watched runs its parent's image under its parent's name: it matches
 * no target its parent did not, until it execs or renames itself.
 *
 * Every fork, exec and exit of the host runs these programs, so a record wakes no reader: a
 * wake-up (an interrupt raised on the CPU, then the reader scheduled) costs microseconds, more
 * than the rest of the program. The loader drains the buffer on a short timer instead
 * (daemon/probes/proctrack_probe.h); only a buffer filled past PROCTRACK_WAKEUP_BYTES wakes it
 * at once, so that a burst does not overflow between two drains. A reader whose last drain
 * found nothing stops its timer and says so in reader_idle: the first record after that wakes
 * it (once; it drains on its timer again until a drain finds nothing), so that a host without
 * process events does not wake gilstatd 20 times a second. While the reader drains on its timer,
 * execs (the one record every process makes) go to a queue per CPU instead of the ring buffer,
 * whose reserve and commit take a lock shared by all CPUs (proctrack.h). */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "proctrack.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, PROCTRACK_RINGBUF_BYTES);
} events SEC(".maps");

/* The processes whose exit matters: those the tracker attached (a byte on the thread-group
 * leader's task, set and cleared by the loader through a pidfd). The exit of any other process
 * reads the leader's task-storage pointer, which is NULL, and emits nothing. Task storage dies
 * with its task: no entry outlives its process, and a reused pid starts unwatched. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u8);
} watched SEC(".maps");

/* 1: every whole-process exit and every fork is reported (the loader could not mark a process
 * watched). */
__u64 report_all = 0;

/* Bit (tgid mod 64) set for every watched process (by the loader, before its mark): the fork or
 * exit of most other processes is rejected by their own id, without reading the task storage. */
__u64 watched_mask = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PROCTRACK_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);

	if (v)
		*v += 1; /* per-CPU slot: no other writer */
}

/* 1: the reader's timer is stopped (set by the reader, cleared by the record that wakes it). */
__u64 reader_idle = 0;

/* The execs of each CPU while the reader is not idle (proctrack.h), by CPU number. A plain
 * array: per-CPU maps made the exec program take twice as long here. The loader sizes it to the
 * possible CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct proctrack_exec_queue);
} exec_queues SEC(".maps");

/* tgid -> when its last rename record was written. A process may rename itself as fast as it
 * can call prctl (millions a second): one record per process per PROCTRACK_RENAME_WINDOW_NS is
 * enough, as the tracker reads the process's name when it handles the record and once more a
 * window later (Tracker::HandleRename). Evicting an entry only lets one more record through. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PROCTRACK_RENAMED_MAX);
	__type(key, __u32);
	__type(value, __u64);
} renamed SEC(".maps");

static __always_inline void emit(__u32 type, __u32 tgid)
{
	struct proctrack_event *e;
	bool wake;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(PROCTRACK_CNT_LOST);
		return;
	}
	e->type = type;
	e->tgid = tgid;
	wake = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= PROCTRACK_WAKEUP_BYTES ||
	       (reader_idle && __sync_val_compare_and_swap(&reader_idle, 1, 0) == 1);
	bpf_ringbuf_submit(e, wake ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

/* False: the process of `p` is not watched; true: it may be (is_watched says). */
static __always_inline bool maybe_watched(struct task_struct *p)
{
	return report_all || ((watched_mask >> (p->tgid & 63)) & 1);
}

static __always_inline bool is_watched(struct task_struct *p)
{
	if (report_all)
		return true;
	return maybe_watched(p) && bpf_task_storage_get(&watched, p->group_leader, 0, 0);
}

/* A forked process runs its parent's image (with its libc mapped) without an exec: a worker
 * forked by a traced server must be attached too. New threads are not processes. The parent
 * is the forking thread; its process is watched through its thread-group leader. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(proctrack_fork, struct task_struct *parent, struct task_struct *child)
{
	if (child->pid != child->tgid || !is_watched(parent))
		return 0;
	emit(PROCTRACK_FORK, child->tgid);
	return 0;
}

/* A new comm for a process's main thread (prctl(PR_SET_NAME), or a write to its /proc comm by a
 * thread of the process), which is the name /proc/PID/comm shows: the process may match a
 * target now. Not the comm an exec sets (in_execve: the exec record covers it), not other
 * threads' names. */
SEC("tp_btf/task_rename")
int BPF_PROG(proctrack_rename, struct task_struct *task, const char *comm)
{
	struct task_struct *cur = bpf_get_current_task_btf();
	__u32 tgid = task->tgid;
	__u64 now, *last;

	if (task->pid != task->tgid)
		return 0;
	if (bpf_core_field_exists(cur->in_execve) && BPF_CORE_READ_BITFIELD(cur, in_execve))
		return 0;
	/* Within the window of its last record: the tracker's second look reads this name. */
	now = bpf_ktime_get_ns();
	last = bpf_map_lookup_elem(&renamed, &tgid);
	if (last && now - *last < PROCTRACK_RENAME_WINDOW_NS)
		return 0;
	if (last)
		*last = now;
	else
		bpf_map_update_elem(&renamed, &tgid, &now, BPF_ANY);
	emit(PROCTRACK_RENAME, tgid);
	return 0;
}

/* An exec goes to this CPU's queue while the reader drains on its timer; to the ring buffer
 * when the reader is idle (the record wakes it) or the queue cannot be had. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(proctrack_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct proctrack_exec_queue *q;
	__u32 cpu;

	if (reader_idle)
		goto record;
	cpu = bpf_get_smp_processor_id();
	q = bpf_map_lookup_elem(&exec_queues, &cpu);
	if (!q)
		goto record;
	q->tgid[q->head & (PROCTRACK_EXEC_QUEUE - 1)] = p->tgid;
	barrier();
	q->head += 1;
	return 0;
record:
	emit(PROCTRACK_EXEC, p->tgid);
	return 0;
}

/* Runs for every exiting thread. Only the exit of a whole process matters: the last thread of
 * the group, whose exit brought signal->live to zero (do_exit decrements it before this
 * tracepoint). That is the thread-group leader in the common case, but not when the leader
 * called pthread_exit() before the others finished (a zombie leader keeps its task, and its
 * storage, until the group is gone). And only that of a watched process. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(proctrack_exit, struct task_struct *p)
{
	if (!maybe_watched(p) || p->signal->live.counter != 0 || !is_watched(p))
		return 0;
	emit(PROCTRACK_EXIT, p->tgid);
	return 0;
}
