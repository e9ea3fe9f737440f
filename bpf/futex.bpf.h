/* Shared by the BPF programs that tell futex calls from a task's saved user registers (x86-64):
 * the scheduler tracepoints see a sleep or a wake-up, these say whether it is a futex wait or
 * wake and on which word (rdi), without any program on the syscall path. */
#ifndef GILSTAT_FUTEX_BPF_H
#define GILSTAT_FUTEX_BPF_H

#define NR_futex 202 /* x86-64 */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAKE_BITSET 10
#define FUTEX_CMD_MASK 0x7f /* without FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME */
#define TASK_INTERRUPTIBLE 0x1
#define PF_KTHREAD 0x00200000

static __always_inline bool is_wait(__u64 op)
{
	__u32 cmd = op & FUTEX_CMD_MASK;

	return cmd == FUTEX_WAIT || cmd == FUTEX_WAIT_BITSET;
}

static __always_inline bool is_wake(__u64 op)
{
	__u32 cmd = op & FUTEX_CMD_MASK;

	return cmd == FUTEX_WAKE || cmd == FUTEX_WAKE_BITSET;
}

/* The saved user registers of `task` when it is inside a futex syscall, else NULL. */
static __always_inline struct pt_regs *futex_regs(struct task_struct *task)
{
	struct pt_regs *regs;

	if (task->flags & PF_KTHREAD)
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	return regs && regs->orig_ax == NR_futex ? regs : 0;
}

#endif /* GILSTAT_FUTEX_BPF_H */
