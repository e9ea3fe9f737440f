/* A statically linked target: it maps no libc, so the semaphore probes cannot attach. */
#include <unistd.h>

int main(void) {
  for (;;) pause();
}
