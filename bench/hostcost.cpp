// What every process on the host pays while gilstatd runs, measured in a process gilstatd does
// not watch (bench/gilstat_bench/section_host.py):
//   gilstat_bench_hostcost serve
//       Prints "ready PID", then runs one command per stdin line and answers
//       "OPS WALL_NS_PER_OP CPU_NS_PER_OP SWITCHES_PER_OP VOLUNTARY_PER_OP" (CPU: this
//       process's and its waited-for children's, user + system; other processes on a shared
//       machine do not count there; switches: their context switches, and of them the
//       voluntary ones, each of which a wake-up ends):
//         syscall SECONDS   getppid() in a loop (a syscall that is not futex)
//         futex SECONDS     FUTEX_WAKE on a private word nobody waits on (a futex call)
//         spawn COUNT       posix_spawn of /bin/true and waitpid, COUNT times (fork+exec+exit)
#include <linux/futex.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

double NsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
}

// CPU time (user + system, ns) and context switches (all, voluntary) of this process and its
// waited-for children.
struct Usage {
  double cpu_ns = 0;
  double switches = 0;
  double voluntary = 0;
};

Usage Now() {
  Usage n;
  for (int who : {RUSAGE_SELF, RUSAGE_CHILDREN}) {
    rusage u{};
    getrusage(who, &u);
    for (const timeval& t : {u.ru_utime, u.ru_stime}) {
      n.cpu_ns += static_cast<double>(t.tv_sec) * 1e9 + static_cast<double>(t.tv_usec) * 1e3;
    }
    n.switches += static_cast<double>(u.ru_nvcsw + u.ru_nivcsw);
    n.voluntary += static_cast<double>(u.ru_nvcsw);
  }
  return n;
}

void Report(long ops, double wall_ns, const Usage& u0) {
  const Usage u = Now();
  const double n = ops > 0 ? static_cast<double>(ops) : 1.0;
  std::printf("%ld %.2f %.2f %.4f %.4f\n", ops, wall_ns / n, (u.cpu_ns - u0.cpu_ns) / n,
              (u.switches - u0.switches) / n, (u.voluntary - u0.voluntary) / n);
}

// Runs `op` in batches of 1000 for about `seconds`.
template <typename Op>
void Loop(double seconds, Op op) {
  const auto t0 = Clock::now();
  const Usage u0 = Now();
  const double limit_ns = seconds * 1e9;
  long ops = 0;
  double ns = 0;
  do {
    for (int i = 0; i < 1000; ++i) op();
    ops += 1000;
    ns = NsSince(t0);
  } while (ns < limit_ns);
  Report(ops, ns, u0);
}

void Spawn(long count) {
  char true_path[] = "/bin/true";
  char* argv[] = {true_path, nullptr};
  const auto t0 = Clock::now();
  const Usage u0 = Now();
  long done = 0;
  for (long i = 0; i < count; ++i) {
    pid_t pid = 0;
    if (posix_spawn(&pid, true_path, nullptr, nullptr, argv, environ) != 0) break;
    int status = 0;
    waitpid(pid, &status, 0);
    ++done;
  }
  Report(done, NsSince(t0), u0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || std::string(argv[1]) != "serve") {
    std::fprintf(stderr, "usage: gilstat_bench_hostcost serve\n");
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::printf("ready %d\n", static_cast<int>(getpid()));
  static int word = 0;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd;
    double arg = 0;
    in >> cmd >> arg;
    if (cmd == "syscall") {
      Loop(arg, [] { syscall(SYS_getppid); });
    } else if (cmd == "futex") {
      Loop(arg, [] { syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0); });
    } else if (cmd == "spawn") {
      Spawn(static_cast<long>(arg));
    } else {
      std::printf("error unknown command '%s'\n", cmd.c_str());
    }
  }
  return 0;
}
