// SPDX-License-Identifier: GPL-2.0
/* The floor of the probe cost benchmark (bench/probe_floor.cpp): empty programs, attached by the
 * benchmark at exactly the sites the semaphore probes use (uprobes, uretprobes and the kernel
 * tracepoints: the scheduler's, or the raw syscall entry). What a hit costs with them is what the kernel charges for the probe
 * itself; the difference to gilstatd is the work the real programs do. */
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
