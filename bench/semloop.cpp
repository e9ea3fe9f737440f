// The semaphore micro-loops of the benchmark report (bench/report.py), in a process that the
// tools under comparison attach to from outside: nothing, the empty floor programs
// (gilstat_bench_floor), gilstatd, bpftrace.
//
//   gilstat_bench_semloop serve
//       Prints "ready PID", then runs one command per stdin line and answers one line each:
//         post SECONDS      sem_post alone (the value climbs)
//         wait SECONDS      sem_wait alone, uncontended: batches of posts (not timed) raise the
//                           value, then the waits that take it back down are timed
//         pair SECONDS      uncontended sem_post + sem_wait on one semaphore, repeated for about
//                           SECONDS (an op = one post+wait pair)
//         pingpong SECONDS  two threads hand two semaphores back and forth (every wait blocks
//                           until the other thread posts); an op = one handoff: a post and
//                           the wait it releases
//         quit
//       Each answers "OPS CPU_NS WALL_NS": CPU time per operation (of the thread, both threads
//       for pingpong: probe work is charged to them, the time other processes run is not) and
//       wall-clock time per operation.
//   gilstat_bench_semloop load PAIRS_PER_S SECONDS THREADS
//       Prints "ready PID", waits for a line on stdin, then each of THREADS threads performs
//       post+wait pairs on its own semaphore, paced to PAIRS_PER_S in all (0: as fast as it
//       can), for SECONDS; prints "done PAIRS ELAPSED_S CPU_S" (the exact number of pairs
//       performed, and the process's CPU time) and exits when stdin is closed.
//   gilstat_bench_semloop idle
//       A mostly idle target: a post+wait pair every 100 ms on each of 4 semaphores (one of them
//       handed between two threads) until stdin is closed.
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <limits>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

double ClockS(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
double NowS() { return ClockS(CLOCK_MONOTONIC); }
// CPU time of this thread: what its operations cost, without the time other processes ran.
double ThreadCpuS() { return ClockS(CLOCK_THREAD_CPUTIME_ID); }
double ProcessCpuS() { return ClockS(CLOCK_PROCESS_CPUTIME_ID); }

// A measurement: operations, CPU ns per operation, wall-clock ns per operation.
struct Measured {
  long ops = 0;
  double cpu_ns = 0;
  double wall_ns = 0;
};

[[noreturn]] void Die(const char* what) {
  std::perror(what);
  std::exit(2);
}

void Post(sem_t* s) {
  if (sem_post(s) != 0) Die("sem_post");
}

void Wait(sem_t* s) {
  while (sem_wait(s) != 0) {
    if (errno != EINTR) Die("sem_wait");
  }
}

// Batches between clock reads: the clock must not dominate an 8 ns loop.
constexpr long kBatch = 256;

Measured Per(long n, double cpu_s, double wall_s) {
  return {n, cpu_s * 1e9 / static_cast<double>(n), wall_s * 1e9 / static_cast<double>(n)};
}

// Runs `op` on one fresh semaphore in batches of kBatch for about `seconds` (at most `max_ops`
// operations), timed in the thread's CPU time and wall time.
template <typename Op>
Measured TimedOps(double seconds, long max_ops, Op op) {
  sem_t s;
  sem_init(&s, 0, 0);
  long n = 0;
  const double c0 = ThreadCpuS();
  const double t0 = NowS();
  double t1 = t0;
  do {
    for (long i = 0; i < kBatch; ++i) op(&s);
    n += kBatch;
    t1 = NowS();
  } while (t1 - t0 < seconds && n < max_ops);
  const double c1 = ThreadCpuS();
  sem_destroy(&s);
  return Per(n, c1 - c0, t1 - t0);
}

// Uncontended post+wait pairs for about `seconds`.
Measured Pairs(double seconds) {
  return TimedOps(seconds, std::numeric_limits<long>::max(), [](sem_t* s) {
    Post(s);
    Wait(s);
  });
}

// sem_post alone for about `seconds` (the value stays below SEM_VALUE_MAX).
Measured PostsOnly(double seconds) { return TimedOps(seconds, 1l << 30, Post); }

// Uncontended sem_wait alone: only the waits are timed.
Measured WaitsOnly(double seconds) {
  sem_t s;
  sem_init(&s, 0, 0);
  long n = 0;
  double wall = 0, cpu = 0;
  const double start = NowS();
  do {
    for (long i = 0; i < kBatch; ++i) Post(&s);
    const double c0 = ThreadCpuS();
    const double t0 = NowS();
    for (long i = 0; i < kBatch; ++i) Wait(&s);
    wall += NowS() - t0;
    cpu += ThreadCpuS() - c0;
    n += kBatch;
  } while (NowS() - start < seconds);
  sem_destroy(&s);
  return Per(n, cpu, wall);
}

// Pins the calling thread to one CPU: the last one it may run on.
void PinToOneCpu() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return;
  int last = -1;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) last = c;
  }
  if (last < 0) return;
  CPU_ZERO(&set);
  CPU_SET(last, &set);
  sched_setaffinity(0, sizeof set, &set);
}

// Ping-pong between this thread and a partner for about `seconds`: each round trip is two
// handoffs. Both threads run on one CPU, so every handoff is a wake-up and a context switch on
// that CPU, in series with the probes' work (between two CPUs of a VM the time an idle CPU takes
// to wake up dominates and varies by 10x). Per handoff; CPU time of the whole process (both
// threads).
Measured PingPong(double seconds) {
  cpu_set_t saved;
  sched_getaffinity(0, sizeof saved, &saved);
  PinToOneCpu();
  sem_t ping, pong;
  sem_init(&ping, 0, 0);
  sem_init(&pong, 0, 0);
  std::atomic<bool> stop{false};
  std::thread partner([&] {
    PinToOneCpu();
    for (;;) {
      Wait(&ping);
      if (stop.load(std::memory_order_relaxed)) break;
      Post(&pong);
    }
  });
  // One warm-up round trip: both threads running and blocked where they should be.
  Post(&ping);
  Wait(&pong);
  long rounds = 0;
  const double c0 = ProcessCpuS();
  const double t0 = NowS();
  double t1 = t0;
  do {
    for (long i = 0; i < 64; ++i) {
      Post(&ping);
      Wait(&pong);
    }
    rounds += 64;
    t1 = NowS();
  } while (t1 - t0 < seconds);
  const double c1 = ProcessCpuS();
  stop.store(true);
  Post(&ping);
  partner.join();
  sem_destroy(&ping);
  sem_destroy(&pong);
  sched_setaffinity(0, sizeof saved, &saved);
  return Per(2 * rounds, c1 - c0, t1 - t0);
}

int Serve() {
  std::printf("ready %d\n", static_cast<int>(getpid()));
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd;
    double seconds = 0;
    in >> cmd >> seconds;
    if (cmd == "quit") break;
    Measured r;
    if (cmd == "post") {
      r = PostsOnly(seconds);
    } else if (cmd == "wait") {
      r = WaitsOnly(seconds);
    } else if (cmd == "pair") {
      r = Pairs(seconds);
    } else if (cmd == "pingpong") {
      r = PingPong(seconds);
    } else {
      std::printf("error unknown command '%s'\n", cmd.c_str());
      std::fflush(stdout);
      continue;
    }
    std::printf("%ld %.1f %.1f\n", r.ops, r.cpu_ns, r.wall_ns);
    std::fflush(stdout);
  }
  return 0;
}

int Load(double pairs_per_s, double seconds, int threads) {
  std::printf("ready %d\n", static_cast<int>(getpid()));
  std::fflush(stdout);
  std::string line;
  std::getline(std::cin, line);
  std::atomic<long> total{0};
  const double c0 = ProcessCpuS();
  const double t0 = NowS();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&] {
      sem_t s;
      sem_init(&s, 0, 0);
      const double rate = pairs_per_s / threads;  // per thread
      long n = 0;
      for (;;) {
        const double now = NowS();
        if (now - t0 >= seconds) break;
        if (rate > 0) {
          const double ahead = static_cast<double>(n) / rate - (now - t0);
          if (ahead > 0.0005) {
            usleep(static_cast<useconds_t>(ahead * 1e6));
            continue;
          }
        }
        for (long i = 0; i < kBatch; ++i) {
          Post(&s);
          Wait(&s);
        }
        n += kBatch;
      }
      sem_destroy(&s);
      total += n;
    });
  }
  for (auto& t : ts) t.join();
  std::printf("done %ld %.6f %.6f\n", total.load(), NowS() - t0, ProcessCpuS() - c0);
  std::fflush(stdout);
  while (std::getline(std::cin, line)) {
  }  // stay (and stay attached) until the caller has read the counts
  return 0;
}

int Idle() {
  sem_t a, b, ping, pong;
  for (sem_t* s : {&a, &b, &ping, &pong}) sem_init(s, 0, 0);
  std::atomic<bool> stop{false};
  std::thread partner([&] {
    for (;;) {
      Wait(&ping);
      if (stop.load()) break;
      Post(&pong);
    }
  });
  std::thread ticker([&] {
    while (!stop.load()) {
      Post(&a);
      Wait(&a);
      Post(&b);
      Wait(&b);
      Post(&ping);
      Wait(&pong);
      usleep(100000);
    }
  });
  std::printf("ready %d\n", static_cast<int>(getpid()));
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  stop.store(true);
  ticker.join();
  Post(&ping);
  partner.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "serve") return Serve();
  if (mode == "load" && argc == 5) {
    return Load(std::atof(argv[2]), std::atof(argv[3]), std::max(1, std::atoi(argv[4])));
  }
  if (mode == "idle") return Idle();
  std::fprintf(stderr,
               "usage: gilstat_bench_semloop serve | load PAIRS_PER_S SECONDS THREADS | idle\n");
  return 2;
}
