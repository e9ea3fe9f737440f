// What every process on the host pays while gilstatd runs, measured in a process gilstatd does
// not watch (bench/gilstat_bench/section_host.py):
//   gilstat_bench_hostcost serve
//       Prints "ready PID", then runs one command per stdin line and answers "OPS NS_PER_OP":
//         syscall SECONDS   getppid() in a loop (a syscall that is not futex)
//         futex SECONDS     FUTEX_WAKE on a private word nobody waits on (a futex call)
//         spawn COUNT       posix_spawn of /bin/true and waitpid, COUNT times (fork+exec+exit)
#include <linux/futex.h>
#include <spawn.h>
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

// Runs `op` in batches of 1000 for about `seconds`; ns per call.
template <typename Op>
void Loop(double seconds, Op op) {
  const auto t0 = Clock::now();
  const double limit_ns = seconds * 1e9;
  long ops = 0;
  double ns = 0;
  do {
    for (int i = 0; i < 1000; ++i) op();
    ops += 1000;
    ns = NsSince(t0);
  } while (ns < limit_ns);
  std::printf("%ld %.2f\n", ops, ns / static_cast<double>(ops));
}

void Spawn(long count) {
  char true_path[] = "/bin/true";
  char* argv[] = {true_path, nullptr};
  const auto t0 = Clock::now();
  long done = 0;
  for (long i = 0; i < count; ++i) {
    pid_t pid = 0;
    if (posix_spawn(&pid, true_path, nullptr, nullptr, argv, environ) != 0) break;
    int status = 0;
    waitpid(pid, &status, 0);
    ++done;
  }
  std::printf("%ld %.1f\n", done, done ? NsSince(t0) / static_cast<double>(done) : 0.0);
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
