// Stand-in for a CPython 3.6 interpreter (libpython3.6m.so, or the executable python3.6m): the
// GIL state of Python/ceval_gil.h as data symbols named like its statics, holding known values.
// Built as a shared library (dlopen'ed by the test) and as a PIE executable that prints its
// values and waits for a line on stdin.
#include <pthread.h>
#include <stdio.h>

static const char kVersion[] = "3.6.15";

int gil_locked = -1;
void* gil_last_holder = 0;
unsigned long gil_switch_number = 0;
unsigned long gil_interval = 5000;
pthread_cond_t gil_cond = PTHREAD_COND_INITIALIZER;
pthread_mutex_t gil_mutex = PTHREAD_MUTEX_INITIALIZER;

const char* Py_GetVersion(void) { return kVersion; }

#ifdef FAKE_PYTHON_MAIN
int main(void) {
  static int thread_state;
  gil_locked = 1;
  gil_last_holder = &thread_state;
  gil_switch_number = 4242;
  gil_interval = 1234;
  printf("ready %lu %lu\n", (unsigned long)gil_last_holder, (unsigned long)&gil_locked);
  fflush(stdout);
  char line[16];
  if (!fgets(line, sizeof(line), stdin)) return 1;
  return 0;
}
#endif
