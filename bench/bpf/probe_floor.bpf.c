// SPDX-License-Identifier: GPL-2.0
/* The floor of the probe cost benchmark (bench/probe_floor.cpp): empty programs, attached by the
 * benchmark at exactly the sites the semaphore probes use (uprobes, uretprobes and the kernel
 * tracepoints: the scheduler's, or the raw syscall entry), and with --process-tracking at the
 * process tracker's tracepoints too. What a hit costs with them is what the kernel charges for
 * the probe itself; the difference to gilstatd is the work the real programs do. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("uprobe")
int floor_uprobe(struct pt_regs *ctx)
{
	return 0;
}

SEC("uretprobe")
int floor_uretprobe(struct pt_regs *ctx)
{
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(floor_sys_enter, struct pt_regs *regs, long nr)
{
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return 0;
}

SEC("tp_btf/sched_waking")
int BPF_PROG(floor_sched_waking, struct task_struct *p)
{
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(floor_process_fork, struct task_struct *parent, struct task_struct *child)
{
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(floor_process_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(floor_process_exit, struct task_struct *p)
{
	return 0;
}

SEC("tp_btf/task_rename")
int BPF_PROG(floor_task_rename, struct task_struct *task, const char *comm)
{
	return 0;
}
