/* Shared between the programs that read Python stacks (bpf/pygil.bpf.c at contended GIL waits,
 * bpf/semlock.bpf.c at contended threading-lock waits) and user space (daemon/probes/): where a
 * CPython 3.11+ thread's frames are, and a stack as the programs keep it. See docs/PYTHON.md,
 * "Stacks". */
#ifndef GILSTAT_PYSTACK_H
#define GILSTAT_PYSTACK_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Frames kept per stack, frames walked (the interpreter's own entry frames, skipped, included),
 * threads of an interpreter walked to find a waiter's thread state, and the size of a program's
 * stack map and of its (waiter, holder) pairs map. */
#define PYGIL_STACK_DEPTH 64
#define PYGIL_STACK_WALK (PYGIL_STACK_DEPTH + 16)
#define PYGIL_THREAD_WALK 64
#define PYGIL_MAX_STACKS 16384
#define PYGIL_MAX_PAIRS 16384
/* Bytes read per frame: every field used is in them (user space checks the offsets). */
#define PYGIL_FRAME_READ 80

/* Where a CPython 3.11+ thread's Python frames are (daemon/python/py_frames.h, FrameLayout). */
struct pygil_frames {
	__u32 threads_head;     /* PyInterpreterState.threads.head */
	__u32 tstate_next;      /* PyThreadState.next */
	__u32 native_thread_id; /* PyThreadState.native_thread_id */
	__u32 tstate_interp;    /* PyThreadState.interp */
	__s32 cframe;           /* PyThreadState.cframe (3.11, 3.12); -1: none */
	__u32 current_frame;    /* in _PyCFrame, or in PyThreadState from 3.13 */
	__u32 previous;         /* _PyInterpreterFrame.previous (8-aligned, < PYGIL_FRAME_READ) */
	__u32 code;             /* f_code / f_executable (8-aligned, < PYGIL_FRAME_READ) */
	__u32 owner;            /* owner (a byte, < PYGIL_FRAME_READ) */
	__u32 first_hidden_owner; /* owners from this one on are not Python code (255: none) */
	/* prev_instr (3.11, 3.12) / instr_ptr (3.13+): into the code object's co_code_adaptive
	 * (8-aligned, < PYGIL_FRAME_READ) */
	__u32 instr;
	__u32 pad;
};

/* A Python stack of a process: the code objects of its frames, innermost first, and where each
 * frame is in its code: its instruction pointer's byte offset from the code object's address
 * (truncated to 32 bits; user space checks it falls in the code's bytecode). Its id is a hash of
 * both (0 is never an id): the same functions at other lines are another stack. */
struct pygil_stack_key {
	__u32 tgid;
	__u32 pad;
	__u64 id;
};
struct pygil_stack {
	__u32 depth;
	__u32 truncated; /* deeper than PYGIL_STACK_DEPTH */
	__u64 code[PYGIL_STACK_DEPTH];
	__u32 instr[PYGIL_STACK_DEPTH];
};

/* A program's stack capture has four health counters, at consecutive indices from its first
 * (PYGIL_CNT_STACKS, SEMLOCK_CNT_STACKS), in this order. */
enum pystack_counter {
	PYSTACK_STACKS_FULL = 0, /* a stack found no room in `stacks` */
	PYSTACK_PAIRS_FULL = 1,  /* a wait found no room in `pairs` */
	PYSTACK_TRUNCATED = 2,   /* stacks deeper than PYGIL_STACK_DEPTH */
	PYSTACK_NO_TSTATE = 3,   /* a waiter's thread state was not found */
	PYSTACK_NR_COUNTERS = 4,
};

/* The waits of one pair of stacks (a program's `pairs` map value). */
struct pygil_pair {
	__u64 wait_ns;
	__u64 count;
};

#endif /* GILSTAT_PYSTACK_H */
