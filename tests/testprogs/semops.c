/* A target for the semaphore probe tests: performs known numbers of semaphore operations.
 *
 *   semops wait N T        T threads, each N x (sem_post; sem_wait) on one semaphore
 *   semops trywait N K T   T threads, each N x sem_trywait on a semaphore of value K
 *   semops timed N M       N sem_timedwait that time out (1 ms), then M that succeed
 *   semops clock N M       the same with sem_clockwait (CLOCK_MONOTONIC)
 *   semops pingpong N D    two threads hand two semaphores to each other N times, the poster
 *                          sleeping D microseconds first so the waiter is surely blocked
 *
 * Protocol: prints "ready" and waits for a line on stdin (the test attaches meanwhile), runs,
 * prints "sem NAME 0xADDR" for each semaphore used and "done", and exits. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static sem_t sem_a, sem_b;
static long n_ops, k_val, delay_us;

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static void *wait_thread(void *arg)
{
	(void)arg;
	for (long i = 0; i < n_ops; i++) {
		if (sem_post(&sem_a))
			die("sem_post");
		while (sem_wait(&sem_a))
			if (errno != EINTR)
				die("sem_wait");
	}
	return NULL;
}

static long try_ok;
static pthread_mutex_t try_mu = PTHREAD_MUTEX_INITIALIZER;

static void *trywait_thread(void *arg)
{
	long ok = 0;

	(void)arg;
	for (long i = 0; i < n_ops; i++) {
		if (sem_trywait(&sem_a) == 0)
			ok++;
		else if (errno != EAGAIN)
			die("sem_trywait");
	}
	pthread_mutex_lock(&try_mu);
	try_ok += ok;
	pthread_mutex_unlock(&try_mu);
	return NULL;
}

static void *pong_thread(void *arg)
{
	(void)arg;
	for (long i = 0; i < n_ops; i++) {
		while (sem_wait(&sem_a))
			;
		usleep(delay_us);
		sem_post(&sem_b);
	}
	return NULL;
}

static void run_threads(void *(*fn)(void *), long nthreads)
{
	pthread_t t[64];

	if (nthreads < 1 || nthreads > 64)
		die("threads");
	for (long i = 0; i < nthreads; i++)
		if (pthread_create(&t[i], NULL, fn, NULL))
			die("pthread_create");
	for (long i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
}

static void deadline(clockid_t clk, struct timespec *ts, long ns)
{
	clock_gettime(clk, ts);
	ts->tv_nsec += ns;
	while (ts->tv_nsec >= 1000000000L) {
		ts->tv_nsec -= 1000000000L;
		ts->tv_sec++;
	}
}

static void timed(int use_clock, long fails, long oks)
{
	struct timespec ts;
	int r;

	for (long i = 0; i < fails + oks; i++) {
		if (i >= fails)
			sem_post(&sem_a);
		if (use_clock) {
			deadline(CLOCK_MONOTONIC, &ts, 1000000);
			r = sem_clockwait(&sem_a, CLOCK_MONOTONIC, &ts);
		} else {
			deadline(CLOCK_REALTIME, &ts, 1000000);
			r = sem_timedwait(&sem_a, &ts);
		}
		if (i < fails && !(r == -1 && errno == ETIMEDOUT))
			die("timed wait did not time out");
		if (i >= fails && r != 0)
			die("timed wait failed");
	}
}

int main(int argc, char **argv)
{
	char line[64];
	const char *op;

	if (argc < 3) {
		fprintf(stderr, "usage: semops wait|trywait|timed|clock|pingpong ARGS\n");
		return 2;
	}
	op = argv[1];
	n_ops = atol(argv[2]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	if (!fgets(line, sizeof line, stdin))
		return 0;
	sem_init(&sem_a, 0, 0);
	sem_init(&sem_b, 0, 0);
	if (!strcmp(op, "wait") && argc == 4) {
		run_threads(wait_thread, atol(argv[3]));
	} else if (!strcmp(op, "trywait") && argc == 5) {
		k_val = atol(argv[3]);
		sem_destroy(&sem_a);
		sem_init(&sem_a, 0, (unsigned)k_val);
		run_threads(trywait_thread, atol(argv[4]));
		printf("try_ok %ld\n", try_ok);
	} else if ((!strcmp(op, "timed") || !strcmp(op, "clock")) && argc == 4) {
		timed(!strcmp(op, "clock"), n_ops, atol(argv[3]));
	} else if (!strcmp(op, "pingpong") && argc == 4) {
		pthread_t t;

		delay_us = atol(argv[3]);
		pthread_create(&t, NULL, pong_thread, NULL);
		for (long i = 0; i < n_ops; i++) {
			usleep(delay_us);
			sem_post(&sem_a);
			while (sem_wait(&sem_b))
				;
		}
		pthread_join(t, NULL);
	} else {
		fprintf(stderr, "semops: bad arguments\n");
		return 2;
	}
	printf("sem a %p\nsem b %p\ndone\n", (void *)&sem_a, (void *)&sem_b);
	return 0;
}
