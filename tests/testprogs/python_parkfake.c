/* A process that looks like CPython 3.13+ to the semaphore probe (its name starts with
 * "python" and it defines _PySemaphore_Wait) and waits on semaphores inside crafted parking-lot
 * wait entries {park_arg, addr, sem_t, node {next, prev}}: one well formed, the others
 * malformed the ways a hostile or racing process could make them.
 *
 *   python_parkfake N D    for each entry, a waiter thread waits on its semaphore N times, the
 *                          main thread posting D microseconds after it saw the waiter asleep
 *                          (in that wait: every wait sleeps)
 *
 * Entries: "good" (linked into a circular list with a head node, parked on &lock_good),
 * "badnext" (node.next points to unmapped memory), "badback" (node.next's prev is not the node),
 * "zeroaddr" (well linked, parked on address 0), "pagestart" (the semaphore starts a page whose
 * preceding page is unmapped: the words before it cannot be read), "unparked" (parked on
 * &lock_unparked, unlinked with is_unparking set, as a thread that unparks it leaves it before
 * its post: a waiter that reaches its wait after that), "neverlinked" (parked on &lock_good,
 * unlinked, is_unparking not set), "misaligned" (its node.next is one byte into a buffer whose
 * word at next + 8 is the node's address: reads back, but no list node is misaligned).
 *
 * Protocol as semops.c: prints "ready", waits for a line, runs, prints "sem NAME 0xADDR" for
 * each entry's semaphore and for "lock_good", then "done". */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct node {
	struct node *next, *prev;
};

struct wait_entry {
	void *park_arg;
	uintptr_t addr;
	sem_t sema;
	struct node node;
	_Bool is_unparking;
};

/* The name the probe looks for in an interpreter's symbols; never called. */
__attribute__((used, noinline)) int _PySemaphore_Wait(void *sema, long timeout, int detach)
{
	(void)sema;
	(void)timeout;
	(void)detach;
	return 0;
}

static long n_ops, delay_us;
static int lock_good, lock_unparked;
static long waits_done; /* by the waiter thread */
static pid_t waiter_tid;

static void *waiter(void *arg)
{
	sem_t *s = arg;

	__atomic_store_n(&waiter_tid, gettid(), __ATOMIC_SEQ_CST);
	for (long i = 0; i < n_ops; i++) {
		while (sem_wait(s))
			if (errno != EINTR)
				exit(3);
		__atomic_store_n(&waits_done, i + 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

/* Whether thread `tid` of this process sleeps (state S: the waiter only ever sleeps in a wait). */
static int asleep(pid_t tid)
{
	char path[64], buf[256], *state;
	FILE *f;

	snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	state = fgets(buf, sizeof buf, f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	return state && state[1] == ' ' && state[2] == 'S';
}

static void run(sem_t *s)
{
	pthread_t t;

	__atomic_store_n(&waits_done, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&waiter_tid, 0, __ATOMIC_SEQ_CST);
	pthread_create(&t, NULL, waiter, s);
	for (long i = 0; i < n_ops; i++) {
		/* The previous wait returned, and the waiter sleeps in this one. */
		while (__atomic_load_n(&waits_done, __ATOMIC_SEQ_CST) < i ||
		       !__atomic_load_n(&waiter_tid, __ATOMIC_SEQ_CST) ||
		       !asleep(__atomic_load_n(&waiter_tid, __ATOMIC_SEQ_CST)))
			usleep(50);
		usleep(delay_us);
		sem_post(s);
	}
	pthread_join(t, NULL);
}

int main(int argc, char **argv)
{
	static struct wait_entry good, badnext, badback, zeroaddr, unparked, neverlinked, misaligned;
	static _Alignas(8) unsigned char misaligned_buf[32];
	static struct node head, other;
	struct wait_entry *pagestart;
	char line[64];
	char *pages;

	if (argc != 3) {
		fprintf(stderr, "usage: python_parkfake N D\n");
		return 2;
	}
	n_ops = atol(argv[1]);
	delay_us = atol(argv[2]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	if (!fgets(line, sizeof line, stdin))
		return 0;

	good.addr = (uintptr_t)&lock_good;
	good.node.next = good.node.prev = &head;
	head.next = head.prev = &good.node;

	badnext.addr = (uintptr_t)&lock_good;
	badnext.node.next = (struct node *)(uintptr_t)0x1000;

	badback.addr = (uintptr_t)&lock_good;
	badback.node.next = &other;
	other.prev = &head; /* not &badback.node */

	zeroaddr.addr = 0;
	zeroaddr.node.next = zeroaddr.node.prev = &zeroaddr.node; /* a lone node: well linked */

	unparked.addr = (uintptr_t)&lock_unparked; /* node pointers NULL (static) */
	unparked.is_unparking = 1;

	neverlinked.addr = (uintptr_t)&lock_good; /* node pointers NULL, is_unparking 0 */

	misaligned.addr = (uintptr_t)&lock_good;
	misaligned.node.next = (struct node *)(misaligned_buf + 1);
	misaligned.node.prev = &head;
	{
		struct node *self = &misaligned.node;

		memcpy(misaligned_buf + 1 + offsetof(struct node, prev), &self, sizeof self);
	}

	/* Two pages, the first unmapped again: the second starts with the semaphore. */
	pages = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pages == MAP_FAILED || munmap(pages, 4096))
		return 2;
	pagestart = (struct wait_entry *)(pages + 4096 - offsetof(struct wait_entry, sema));

	sem_init(&good.sema, 0, 0);
	sem_init(&badnext.sema, 0, 0);
	sem_init(&badback.sema, 0, 0);
	sem_init(&zeroaddr.sema, 0, 0);
	sem_init(&pagestart->sema, 0, 0);
	run(&good.sema);
	run(&badnext.sema);
	run(&badback.sema);
	run(&zeroaddr.sema);
	run(&pagestart->sema);
	sem_init(&unparked.sema, 0, 0);
	sem_init(&neverlinked.sema, 0, 0);
	run(&unparked.sema);
	run(&neverlinked.sema);
	sem_init(&misaligned.sema, 0, 0);
	run(&misaligned.sema);
	printf("sem good %p\nsem badnext %p\nsem badback %p\nsem zeroaddr %p\nsem pagestart %p\n",
	       (void *)&good.sema, (void *)&badnext.sema, (void *)&badback.sema,
	       (void *)&zeroaddr.sema, (void *)&pagestart->sema);
	printf("sem unparked %p\nsem neverlinked %p\nsem misaligned %p\n", (void *)&unparked.sema,
	       (void *)&neverlinked.sema, (void *)&misaligned.sema);
	printf("sem lock_good %p\nsem lock_unparked %p\ndone\n", (void *)&lock_good,
	       (void *)&lock_unparked);
	return 0;
}
