/* Python stacks read in the kernel (included by bpf/pygil.bpf.c and bpf/semlock.bpf.c): a
 * thread's PyThreadState found through its interpreter's thread list by native thread id, its
 * frames walked (bounded: PYGIL_STACK_WALK, bpf_loop) into a per-CPU scratch stack, the stack
 * kept in the program's `stacks` map under a hash of its code objects and instruction offsets.
 * Types and sizes: pystack.h. The includer defines, before including this, `count(idx)` (adds
 * one to a health counter) and PYSTACK_CNT_FIRST, the index of the first of its stack capture's
 * counters (enum pystack_counter). Not preallocated: the maps take kernel memory only for what is
 * captured (a
 * stack is 776 bytes), nothing while no process has stacks on. */
#ifndef GILSTAT_PYSTACK_BPF_H
#define GILSTAT_PYSTACK_BPF_H

#include "maps.bpf.h"
#include "pystack.h"

#ifndef PYSTACK_MAX_THREADS
#define PYSTACK_MAX_THREADS 16384
#endif

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PYGIL_MAX_STACKS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pygil_stack_key);
	__type(value, struct pygil_stack);
} stacks SEC(".maps");

/* pid_tgid -> its PyThreadState (found by walking its interpreter's thread list, checked at
 * each use: a thread state freed and reused by another thread is looked up again). Deleted with
 * the process; when full, a thread's state is walked for at each of its waits. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PYSTACK_MAX_THREADS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, __u64);
} tstates SEC(".maps");

/* Per CPU: the stack being read, and one frame's bytes. */
struct pygil_scratch {
	struct pygil_stack stack;
	__u8 frame[PYGIL_FRAME_READ + 48];
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pygil_scratch);
} scratch SEC(".maps");

static __always_inline __u64 read_u64(__u64 addr)
{
	__u64 v = 0;

	if (!addr || bpf_probe_read_user(&v, sizeof(v), (void *)addr))
		return 0;
	return v;
}

struct thread_walk {
	__u64 t, tid;
	__u32 native_thread_id, tstate_next;
	__u64 found;
};

static long thread_walk_step(__u32 i, void *data)
{
	struct thread_walk *w = data;

	if (!w->t)
		return 1;
	if (read_u64(w->t + w->native_thread_id) == w->tid) {
		w->found = w->t;
		return 1;
	}
	w->t = read_u64(w->t + w->tstate_next);
	return 0;
}

/* Thread `id`'s PyThreadState as last found, when it still is the thread's; else 0. */
static __always_inline __u64 tstate_cached(const struct pygil_frames *f, __u64 id)
{
	__u64 *cached = bpf_map_lookup_elem(&tstates, &id);

	if (cached && *cached && read_u64(*cached + f->native_thread_id) == (__u32)id)
		return *cached;
	return 0;
}

/* Thread `id`'s PyThreadState, found among the threads of interpreter `interp`; 0: not found. */
static __always_inline __u64 tstate_of(const struct pygil_frames *f, __u64 id, __u64 interp)
{
	__u64 cached = tstate_cached(f, id);
	struct thread_walk w = {.tid = (__u32)id,
				.native_thread_id = f->native_thread_id,
				.tstate_next = f->tstate_next};

	if (cached)
		return cached;
	w.t = read_u64(interp + f->threads_head);
	bpf_loop(PYGIL_THREAD_WALK, thread_walk_step, &w, 0);
	if (!w.found) {
		count(PYSTACK_CNT_FIRST + PYSTACK_NO_TSTATE);
		return 0;
	}
	bpf_map_update_elem(&tstates, &id, &w.found, BPF_ANY);
	return w.found;
}

struct frame_walk {
	__u64 frame, hash;
	__u32 depth, truncated;
	__u32 code, previous, owner, first_hidden_owner, instr;
};

/* One frame of a stack walk into the CPU's scratch stack. */
static long frame_walk_step(__u32 i, void *data)
{
	struct frame_walk *w = data;
	__u32 zero = 0;
	struct pygil_scratch *sc = bpf_map_lookup_elem(&scratch, &zero);
	__u64 code;
	__u32 instr;

	if (!sc || !w->frame)
		return 1;
	if (w->depth >= PYGIL_STACK_DEPTH) {
		w->truncated = 1;
		return 1;
	}
	if (bpf_probe_read_user(sc->frame, PYGIL_FRAME_READ, (void *)w->frame)) {
		w->frame = 0;
		return 1;
	}
	code = *(__u64 *)(sc->frame + (w->code & 0x78)) & ~7ull;
	if (sc->frame[w->owner & 0x7f] < w->first_hidden_owner && code) {
		/* The instruction pointer is in the bytes already read: no read of its own. */
		instr = (__u32)(*(__u64 *)(sc->frame + (w->instr & 0x78)) - code);
		sc->stack.code[w->depth & (PYGIL_STACK_DEPTH - 1)] = code;
		sc->stack.instr[w->depth & (PYGIL_STACK_DEPTH - 1)] = instr;
		w->depth++;
		w->hash = (w->hash ^ code) * 0x100000001b3ull; /* FNV-1a */
		w->hash = (w->hash ^ instr) * 0x100000001b3ull;
	}
	w->frame = *(__u64 *)(sc->frame + (w->previous & 0x78));
	return 0;
}

/* Reads the Python stack of thread state `tstate` of process `tgid` into the stack map; its id,
 * or 0 when it has no Python frame or cannot be kept. One read per frame. */
static __always_inline __u64 take_stack(const struct pygil_frames *f, __u32 tgid, __u64 tstate)
{
	struct pygil_stack_key key = {.tgid = tgid};
	struct frame_walk w = {.hash = 0xcbf29ce484222325ull,
			       .code = f->code,
			       .previous = f->previous,
			       .owner = f->owner,
			       .first_hidden_owner = f->first_hidden_owner,
			       .instr = f->instr};
	__u32 zero = 0;
	struct pygil_scratch *sc;
	long err;

	if (!tstate)
		return 0;
	w.frame = f->cframe >= 0 ? read_u64(read_u64(tstate + (__u32)f->cframe) + f->current_frame)
				 : read_u64(tstate + f->current_frame);
	bpf_loop(PYGIL_STACK_WALK, frame_walk_step, &w, 0);
	if (w.frame && w.depth < PYGIL_STACK_DEPTH)
		w.truncated = 1; /* PYGIL_STACK_WALK frames walked, most of them hidden */
	sc = bpf_map_lookup_elem(&scratch, &zero);
	if (!sc || !w.depth)
		return 0;
	if (w.truncated)
		count(PYSTACK_CNT_FIRST + PYSTACK_TRUNCATED);
	sc->stack.depth = w.depth;
	sc->stack.truncated = w.truncated;
	key.id = (w.hash ^ w.depth) | 1; /* never 0 */
	err = bpf_map_update_elem(&stacks, &key, &sc->stack, BPF_NOEXIST);
	if (err && err != -17 /* EEXIST */) {
		count(PYSTACK_CNT_FIRST + PYSTACK_STACKS_FULL);
		return 0;
	}
	return key.id;
}

/* Adds a wait of `wait_ns` to entry `key` of `pairs` (a hash map of struct pygil_pair); nonzero
 * when it found no room. */
static __always_inline int pystack_add_wait(void *pairs, const void *key, __u64 wait_ns)
{
	static const struct pygil_pair zero_pair;
	struct pygil_pair *v = gilstat_lookup_or_init(pairs, key, &zero_pair);

	if (!v)
		return -1;
	__sync_fetch_and_add(&v->wait_ns, wait_ns);
	__sync_fetch_and_add(&v->count, 1);
	return 0;
}

#endif /* GILSTAT_PYSTACK_BPF_H */
