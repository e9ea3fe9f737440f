// Measures what the semaphore probes add to each semaphore operation in this process.
//
//   semlock_cost MODE OP [N] [REPEATS]
//   MODE: none | default | exact
//   OP:   post | wait (post+wait pair) | trywait_ok (post+trywait) | trywait_fail |
//         timedwait_ok (post+timedwait) | clockwait_ok (post+clockwait) |
//         syscall (getppid: what the futex tracepoint programs add to any syscall)
//
// Prints the best of REPEATS runs in ns per operation (per pair for the pairs).
#include <semaphore.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "probes/semlock_probe.h"

namespace {

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

double Run(const std::string& op, long n) {
  sem_t s;
  sem_init(&s, 0, 0);
  timespec far{};
  clock_gettime(CLOCK_REALTIME, &far);
  far.tv_sec += 3600;
  timespec farm{};
  clock_gettime(CLOCK_MONOTONIC, &farm);
  farm.tv_sec += 3600;
  const uint64_t t0 = NowNs();
  for (long i = 0; i < n; ++i) {
    if (op == "post") {
      sem_post(&s);
    } else if (op == "wait") {
      sem_post(&s);
      sem_wait(&s);
    } else if (op == "trywait_ok") {
      sem_post(&s);
      sem_trywait(&s);
    } else if (op == "trywait_fail") {
      sem_trywait(&s);
    } else if (op == "timedwait_ok") {
      sem_post(&s);
      sem_timedwait(&s, &far);
    } else if (op == "clockwait_ok") {
      sem_post(&s);
      sem_clockwait(&s, CLOCK_MONOTONIC, &farm);
    } else if (op == "syscall") {
      syscall(SYS_getppid);
    } else {
      std::fprintf(stderr, "unknown op %s\n", op.c_str());
      std::exit(2);
    }
  }
  const uint64_t t1 = NowNs();
  sem_destroy(&s);
  return static_cast<double>(t1 - t0) / static_cast<double>(n);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: semlock_cost none|default|counting|exact OP [N] [REPEATS]\n");
    return 2;
  }
  const std::string mode = argv[1];
  const std::string op = argv[2];
  const long n = argc > 3 ? std::atol(argv[3]) : 20000;
  const int repeats = argc > 4 ? std::atoi(argv[4]) : 5;
  std::unique_ptr<gilstat::probes::SemlockProbe> probe;
  if (mode != "none" && !gilstat::ParseProbeMode(mode)) {
    std::fprintf(stderr, "semlock_cost: unknown mode '%s'\n", mode.c_str());
    return 2;
  }
  if (mode != "none") {
    gilstat::probes::SemlockOptions opts;
    opts.mode = *gilstat::ParseProbeMode(mode);
    auto p = gilstat::probes::SemlockProbe::Open(opts);
    if (!p) {
      std::fprintf(stderr, "open: %s\n", p.status().ToString().c_str());
      return 1;
    }
    probe = std::move(*p);
    auto r = probe->Attach(getpid());
    if (!r) {
      std::fprintf(stderr, "attach: %s\n", r.status().ToString().c_str());
      return 1;
    }
  }
  Run(op, n / 10 + 1);  // warm up
  double best = 1e18;
  for (int i = 0; i < repeats; ++i) best = std::min(best, Run(op, n));
  std::printf("%s %s %.0f ns/op\n", mode.c_str(), op.c_str(), best);
  return 0;
}
