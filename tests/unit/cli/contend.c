/* A target for the gilstat tool tests: two threads hand two semaphores to each other, the
 * poster sleeping 100 us first so that the waiter is blocked, until SECONDS have passed or it is
 * killed. Prints "ready" once the semaphores exist.
 *
 *   contend SECONDS [MARKER]     (MARKER only makes the command line recognisable) */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static sem_t ping, pong;
static volatile int stop;

static void *partner(void *arg)
{
	(void)arg;
	while (!stop) {
		sem_wait(&ping);
		usleep(100);
		sem_post(&pong);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 10;
	struct timespec start, now;
	pthread_t t;

	sem_init(&ping, 0, 0);
	sem_init(&pong, 0, 0);
	if (pthread_create(&t, NULL, partner, NULL))
		return 2;
	printf("ready\n");
	fflush(stdout);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec + (now.tv_nsec - start.tv_nsec) / 1e9 > seconds)
			break;
		usleep(100);
		sem_post(&ping);
		sem_wait(&pong);
	}
	stop = 1;
	sem_post(&ping);
	pthread_join(t, NULL);
	return 0;
}
