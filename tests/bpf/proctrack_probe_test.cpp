// Root tests (label bpf) of the proctrack exec/exit event source and of the tracker driven by
// it on the real /proc. They skip, saying why, when not run as root.
#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sched.h>
#include <spawn.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "probes/proctrack_probe.h"
#include "tracker/tracker.h"

namespace gilstat::tracker {
namespace {

using probes::ProctrackProbe;
using std::chrono::milliseconds;

#define SKIP_UNLESS_ROOT()                                                      \
  do {                                                                          \
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (BPF programs); skipped"; \
  } while (0)

// Collects events from the source until pred holds or the timeout passes.
bool PollUntil(ProcEventSource& src, std::vector<ProcEvent>& got, const std::function<bool()>& pred,
               milliseconds timeout = milliseconds(5000)) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    pollfd p{src.fd(), POLLIN, 0};
    ::poll(&p, 1, 50);
    auto n = src.Drain([&](const ProcEvent& e) { got.push_back(e); });
    if (!n.ok()) return false;
  }
  return true;
}

// Hands every waiting event to `got`: how many, or -1 after a failed drain (a test failure).
int DrainInto(ProcEventSource& src, std::vector<ProcEvent>& got) {
  auto n = src.Drain([&](const ProcEvent& e) { got.push_back(e); });
  EXPECT_TRUE(n.ok());
  return n.ok() ? *n : -1;
}

int Count(const std::vector<ProcEvent>& v, ProcEvent::Type type, pid_t pid) {
  int n = 0;
  for (const auto& e : v) n += (e.type == type && e.pid == pid);
  return n;
}

pid_t SpawnSleep(const char* seconds) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sleep", "sleep", seconds, static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

bool IsTracefsMounted() {
  std::ifstream mounts("/proc/self/mounts");
  std::string line;
  while (std::getline(mounts, line)) {
    std::istringstream f(line);
    std::string dev, dir, type;
    f >> dev >> dir >> type;
    if (type == "tracefs" || type == "debugfs") return true;
  }
  return false;
}

TEST(Proctrack, ExecAndExitEventsOfAChild) {
  SKIP_UNLESS_ROOT();
  auto src = ProctrackProbe::Open();
  ASSERT_TRUE(src.ok()) << src.error().message;
  std::vector<ProcEvent> got;
  pid_t child = SpawnSleep("0.2");
  ASSERT_GT(child, 0);
  ASSERT_TRUE((*src)->Watch(child));  // exits are reported for watched processes only
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(PollUntil(**src, got, [&] { return Count(got, ProcEvent::Type::kExit, child) > 0; }));
  EXPECT_EQ(Count(got, ProcEvent::Type::kExec, child), 1);
  EXPECT_EQ(Count(got, ProcEvent::Type::kExit, child), 1);
  // The exec came before the exit.
  size_t exec_at = 0, exit_at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i].pid != child) continue;
    if (got[i].type == ProcEvent::Type::kExec) exec_at = i;
    if (got[i].type == ProcEvent::Type::kExit) exit_at = i;
  }
  EXPECT_LT(exec_at, exit_at);
  // The exec named the process after its new image: no rename record for that.
  EXPECT_EQ(Count(got, ProcEvent::Type::kRename, child), 0);
  EXPECT_EQ((*src)->LostEvents(), 0u);
}

// The exit of a process that is not watched costs no record (its exec does); unwatched again,
// a watched one reports no exit either.
TEST(Proctrack, ExitsOfProcessesNotWatchedAreNotReported) {
  SKIP_UNLESS_ROOT();
  auto src = ProctrackProbe::Open();
  ASSERT_TRUE(src.ok()) << src.error().message;
  std::vector<ProcEvent> got;
  pid_t watched = SpawnSleep("0.2"), other = SpawnSleep("0.2"), unwatched = SpawnSleep("0.2");
  ASSERT_GT(watched, 0);
  ASSERT_GT(other, 0);
  ASSERT_GT(unwatched, 0);
  ASSERT_TRUE((*src)->Watch(watched));
  ASSERT_TRUE((*src)->Watch(unwatched));
  (*src)->Unwatch(unwatched);
  int status = 0;
  for (pid_t p : {other, unwatched, watched}) ASSERT_EQ(::waitpid(p, &status, 0), p);
  ASSERT_TRUE(
      PollUntil(**src, got, [&] { return Count(got, ProcEvent::Type::kExit, watched) > 0; }));
  PollUntil(
      **src, got, [] { return false; }, milliseconds(200));  // anything late
  EXPECT_EQ(Count(got, ProcEvent::Type::kExec, other), 1);
  EXPECT_EQ(Count(got, ProcEvent::Type::kExit, other), 0);
  EXPECT_EQ(Count(got, ProcEvent::Type::kExit, unwatched), 0);
}

// Watch says when it came too late: a process that has exited (a zombie not reaped yet, or
// gone) would report no exit.
TEST(Proctrack, WatchingAProcessThatExitedAlreadyFails) {
  SKIP_UNLESS_ROOT();
  auto src = ProctrackProbe::Open();
  ASSERT_TRUE(src.ok()) << src.error().message;
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  siginfo_t info{};  // until it is a zombie, without reaping it
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT), 0);
  EXPECT_FALSE((*src)->Watch(child));
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_FALSE((*src)->Watch(child));
  EXPECT_TRUE((*src)->Watch(::getpid()));
  (*src)->Unwatch(::getpid());
}

// A reader whose drain found nothing is idle: its descriptor becomes readable for a record only
// (no timer ticks), and the first record wakes it at once.
TEST(Proctrack, AnIdleReaderIsWokenByTheFirstRecordOnly) {
  SKIP_UNLESS_ROOT();
  auto src = ProctrackProbe::Open();
  ASSERT_TRUE(src.ok()) << src.error().message;
  std::vector<ProcEvent> got;
  auto drain = [&] { return DrainInto(**src, got); };
  auto readable = [&](int ms) {
    pollfd p{(*src)->fd(), POLLIN, 0};
    return ::poll(&p, 1, ms) > 0;
  };
  // Other processes of the host may fork meanwhile: drain until a drain finds nothing.
  for (int i = 0; i < 100 && drain() != 0; ++i) readable(100);
  // Idle: over a second, the descriptor is readable only with records to read (the 50 ms
  // timer would make it readable ~20 times with none). A record wakes the reader and restarts
  // the timer, whose next tick may find nothing: never two empty wake-ups in a row.
  int empty_in_a_row = 0, wakeups = 0;
  for (int i = 0; i < 10; ++i) {
    if (!readable(100)) continue;
    ++wakeups;
    empty_in_a_row = drain() == 0 ? empty_in_a_row + 1 : 0;
    EXPECT_LT(empty_in_a_row, 2) << "the idle reader was woken with nothing to read";
  }
  EXPECT_LT(wakeups, 10);
  // The first record wakes an idle reader: readable well before a second has passed.
  while (readable(0)) drain();
  got.clear();
  pid_t child = SpawnSleep("0");
  ASSERT_GT(child, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  const auto t0 = std::chrono::steady_clock::now();
  while (Count(got, ProcEvent::Type::kExec, child) == 0 &&
         std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2)) {
    ASSERT_TRUE(readable(2000)) << "the child's records did not wake the idle reader";
    drain();
  }
  EXPECT_EQ(Count(got, ProcEvent::Type::kExec, child), 1);
}

// posix_spawn of /bin/true, reaped: its pid.
pid_t SpawnTrue() {
  pid_t pid = 0;
  char arg0[] = "true";
  char* argv[] = {arg0, nullptr};
  char* envp[] = {nullptr};
  if (::posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, envp) != 0) return -1;
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

// Pins the calling thread (and the processes it spawns) to one CPU while in scope.
class PinnedToOneCpu {
 public:
  PinnedToOneCpu() {
    ::sched_getaffinity(0, sizeof old_, &old_);
    cpu_set_t one;
    CPU_ZERO(&one);
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &old_)) {
        CPU_SET(c, &one);
        break;
      }
    }
    ::sched_setaffinity(0, sizeof one, &one);
  }
  ~PinnedToOneCpu() { ::sched_setaffinity(0, sizeof old_, &old_); }
  PinnedToOneCpu(const PinnedToOneCpu&) = delete;
  PinnedToOneCpu& operator=(const PinnedToOneCpu&) = delete;

 private:
  cpu_set_t old_;
};

// While the reader drains on its timer, execs wait in a queue per CPU: a burst of them between
// two drains is read whole, in order, and one longer than the queue loses its oldest, counted.
TEST(Proctrack, ExecsBetweenDrainsAreQueuedAndAnOverflowIsCounted) {
  SKIP_UNLESS_ROOT();
  auto src = ProctrackProbe::Open();
  ASSERT_TRUE(src.ok()) << src.error().message;
  std::vector<ProcEvent> got;
  auto drain = [&] { DrainInto(**src, got); };
  auto position = [&](pid_t pid) {
    for (size_t i = 0; i < got.size(); ++i) {
      if (got[i].type == ProcEvent::Type::kExec && got[i].pid == pid) return static_cast<int>(i);
    }
    return -1;
  };
  PinnedToOneCpu pin;
  // A drain that finds a record keeps the reader on its timer (not idle: no record wakes it).
  ASSERT_GT(SpawnTrue(), 0);
  drain();
  ASSERT_FALSE(got.empty());
  std::vector<pid_t> burst;
  for (int i = 0; i < 300; ++i) burst.push_back(SpawnTrue());
  got.clear();
  drain();
  int last = -1;
  for (pid_t p : burst) {
    ASSERT_GT(p, 0);
    const int at = position(p);
    ASSERT_GE(at, 0) << "the exec of " << p << " was not read";
    EXPECT_GT(at, last) << "execs out of order";
    last = at;
  }
  EXPECT_EQ((*src)->LostEvents(), 0u);

  std::vector<pid_t> flood;
  const int kOver = 100;
  for (int i = 0; i < PROCTRACK_EXEC_QUEUE + kOver; ++i) flood.push_back(SpawnTrue());
  got.clear();
  drain();
  EXPECT_GE((*src)->LostEvents(), static_cast<uint64_t>(kOver));
  EXPECT_LT(position(flood.front()), 0) << "the oldest exec was not overwritten";
  // The newest are read (other processes' execs on that CPU may have taken some of the queue).
  for (size_t i = flood.size() - PROCTRACK_EXEC_QUEUE / 2; i < flood.size(); ++i) {
    EXPECT_GE(position(flood[i]), 0) << "the exec of " << flood[i] << " was not read";
  }
}

// A fork is reported with the new process's pid; new threads are not processes.
// Forks of a watched process are reported (a worker runs its parent's image, no exec), not its
// new threads; forks of a process that is not watched are not (the child runs under its
// parent's name and matches no target its parent did not).
TEST(Proctrack, ForkEventsOfWatchedProcessesNotThreads) {
  SKIP_UNLESS_ROOT();
  auto src = ProctrackProbe::Open();
  ASSERT_TRUE(src.ok()) << src.error().message;
  std::vector<ProcEvent> got;
  auto fork_child = [] {
    pid_t child = ::fork();
    if (child == 0) {
      ::usleep(200 * 1000);
      ::_exit(0);
    }
    return child;
  };
  const pid_t before = fork_child();  // not watched yet
  ASSERT_GT(before, 0);
  ASSERT_TRUE((*src)->Watch(::getpid()));
  std::thread([] {}).join();  // a thread of this process: no fork event for this tgid
  const pid_t child = fork_child();
  ASSERT_GT(child, 0);
  (*src)->Unwatch(::getpid());
  const pid_t after = fork_child();  // not watched any more
  ASSERT_GT(after, 0);
  ASSERT_TRUE((*src)->Watch(child));
  int status = 0;
  for (pid_t p : {before, child, after}) ASSERT_EQ(::waitpid(p, &status, 0), p);
  ASSERT_TRUE(PollUntil(**src, got, [&] { return Count(got, ProcEvent::Type::kExit, child) > 0; }));
  EXPECT_EQ(Count(got, ProcEvent::Type::kFork, child), 1);
  EXPECT_EQ(Count(got, ProcEvent::Type::kExec, child), 0);
  EXPECT_EQ(Count(got, ProcEvent::Type::kFork, ::getpid()), 0);
  EXPECT_EQ(Count(got, ProcEvent::Type::kFork, before), 0);
  EXPECT_EQ(Count(got, ProcEvent::Type::kFork, after), 0);
}

// The exits of processes that are not watched are rejected by a mask of the watched pids' low
// bits first; one whose pid shares the watched one's bits is still not reported.
TEST(Proctrack, AnExitSharingAWatchedPidsMaskBitIsNotReported) {
  SKIP_UNLESS_ROOT();
  auto src = ProctrackProbe::Open();
  ASSERT_TRUE(src.ok()) << src.error().message;
  std::vector<ProcEvent> got;
  const pid_t watched = SpawnSleep("0.3");
  ASSERT_GT(watched, 0);
  ASSERT_TRUE((*src)->Watch(watched));
  // Children until one's pid has the watched one's low six bits; it waits for its pipe to close.
  pid_t twin = -1;
  for (int i = 0; i < 2000 && twin < 0; ++i) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t c = ::fork();
    if (c == 0) {
      ::close(fds[1]);
      char b;
      (void)!::read(fds[0], &b, 1);
      ::_exit(0);
    }
    ASSERT_GT(c, 0);
    ::close(fds[0]);
    ::close(fds[1]);  // it exits now
    int status = 0;
    ::waitpid(c, &status, 0);
    if ((c & 63) == (watched & 63) && c != watched) twin = c;
  }
  ASSERT_GT(twin, 0) << "no pid with the watched one's low bits in 2000 forks";
  int status = 0;
  ASSERT_EQ(::waitpid(watched, &status, 0), watched);
  ASSERT_TRUE(
      PollUntil(**src, got, [&] { return Count(got, ProcEvent::Type::kExit, watched) > 0; }));
  EXPECT_EQ(Count(got, ProcEvent::Type::kExit, twin), 0);
}

// A process that renames its main thread is reported, whether watched or not (it may match a
// target by its new name), by prctl or by writing its /proc comm (only a process's own threads
// may); a thread that names itself is not.
TEST(Proctrack, RenamesOfProcessesNotThreads) {
  SKIP_UNLESS_ROOT();
  auto src = ProctrackProbe::Open();
  ASSERT_TRUE(src.ok()) << src.error().message;
  std::vector<ProcEvent> got;
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  pid_t child = ::fork();
  if (child == 0) {
    ::close(go[1]);
    char c;
    if (::read(go[0], &c, 1) != 1) ::_exit(1);
    std::thread([] { pthread_setname_np(pthread_self(), "a-thread"); }).join();
    if (::prctl(PR_SET_NAME, "renamed-worker") != 0) ::_exit(2);
    ::usleep(100 * 1000);
    std::ofstream(std::string("/proc/self/comm")) << "renamed-again";
    ::usleep(300 * 1000);
    ::_exit(0);
  }
  ASSERT_GT(child, 0);
  ::close(go[0]);
  ASSERT_EQ(::write(go[1], "g", 1), 1);
  ::close(go[1]);
  ASSERT_TRUE(
      PollUntil(**src, got, [&] { return Count(got, ProcEvent::Type::kRename, child) > 1; }));
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(Count(got, ProcEvent::Type::kRename, child), 2);
  EXPECT_EQ(Count(got, ProcEvent::Type::kFork, child), 0);  // this process is not watched
}

// A process renaming itself as fast as it can writes one record per window
// (PROCTRACK_RENAME_WINDOW_NS, 50 ms), not one per rename: the ring buffer does not fill.
TEST(Proctrack, ARenameBurstIsOneRecordPerWindow) {
  SKIP_UNLESS_ROOT();
  auto src = ProctrackProbe::Open();
  ASSERT_TRUE(src.ok()) << src.error().message;
  constexpr int kRenames = 100000;
  int done[2];
  ASSERT_EQ(::pipe(done), 0);
  const auto start = std::chrono::steady_clock::now();
  pid_t child = ::fork();
  if (child == 0) {
    char name[16];
    for (int i = 0; i < kRenames; ++i) {
      std::snprintf(name, sizeof name, "burst-%d", i);
      if (::prctl(PR_SET_NAME, name) != 0) ::_exit(2);
    }
    char c = 'd';
    if (::write(done[1], &c, 1) != 1) ::_exit(3);
    ::usleep(200 * 1000);
    ::_exit(0);
  }
  ASSERT_GT(child, 0);
  ::close(done[1]);
  char c;
  ASSERT_EQ(::read(done[0], &c, 1), 1);
  ::close(done[0]);
  const auto ms =
      std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
  std::vector<ProcEvent> got;
  PollUntil(
      **src, got, [] { return false; }, milliseconds(150));
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  const int records = Count(got, ProcEvent::Type::kRename, child);
  EXPECT_GE(records, 1);
  EXPECT_LE(records, 2 + ms.count() / 50) << kRenames << " renames in " << ms.count() << " ms";
  EXPECT_EQ((*src)->LostEvents(), 0u);
}

// Threads that end are not process exits; a process whose main thread ended first exits when
// its last thread does.
TEST(Proctrack, OnlyWholeProcessExitsAreReported) {
  SKIP_UNLESS_ROOT();
  auto src = ProctrackProbe::Open();
  ASSERT_TRUE(src.ok()) << src.error().message;
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  if (child == 0) {
    // Four short-lived threads, then the main thread ends before a fifth, longer one.
    for (int i = 0; i < 4; ++i) std::thread([] {}).join();
    char c = 'r';
    if (::write(ready[1], &c, 1) != 1) ::_exit(1);
    pthread_t t;
    pthread_create(
        &t, nullptr,
        [](void*) -> void* {
          ::usleep(300 * 1000);
          return nullptr;
        },
        nullptr);
    // The main thread ends alone (the exit system call, not exit_group; no unwinding).
    ::syscall(SYS_exit, 0);
  }
  ASSERT_GT(child, 0);
  ::close(ready[1]);
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  // Watched once its main thread has ended: the last thread still runs, so its exit will come.
  ::usleep(50 * 1000);
  ASSERT_TRUE((*src)->Watch(child));
  std::vector<ProcEvent> got;
  // For 150 ms (threads done, the main thread gone, the last thread still running): no exit.
  PollUntil(
      **src, got, [] { return false; }, milliseconds(150));
  EXPECT_EQ(Count(got, ProcEvent::Type::kExit, child), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(PollUntil(**src, got, [&] { return Count(got, ProcEvent::Type::kExit, child) > 0; }));
  EXPECT_EQ(Count(got, ProcEvent::Type::kExit, child), 1);
}

TEST(Proctrack, WorksWithoutTracefs) {
  SKIP_UNLESS_ROOT();
  // A private mount namespace for this test process, without tracefs and debugfs.
  ASSERT_EQ(::unshare(CLONE_NEWNS), 0) << "unshare: " << std::strerror(errno);
  ASSERT_EQ(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0);
  for (const char* dir :
       {"/sys/kernel/debug/tracing", "/sys/kernel/tracing", "/sys/kernel/debug"}) {
    ::umount2(dir, MNT_DETACH);  // fails harmlessly where nothing is mounted
  }
  ASSERT_FALSE(IsTracefsMounted()) << "could not unmount tracefs/debugfs for the test";
  auto src = ProctrackProbe::Open();
  ASSERT_TRUE(src.ok()) << src.error().message;
  pid_t child = SpawnSleep("0.2");
  ASSERT_TRUE((*src)->Watch(child));
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  std::vector<ProcEvent> got;
  EXPECT_TRUE(PollUntil(**src, got, [&] { return Count(got, ProcEvent::Type::kExit, child) > 0; }));
  EXPECT_EQ(Count(got, ProcEvent::Type::kExec, child), 1);
}

class RecordingAttacher : public Attacher {
 public:
  Status Attach(pid_t pid) override {
    attached.push_back(pid);
    return Status::Ok();
  }
  Status Detach(pid_t pid) override {
    detached.push_back(pid);
    return Status::Ok();
  }
  std::vector<pid_t> attached, detached;
};

bool Contains(const std::vector<pid_t>& v, pid_t p) {
  return std::find(v.begin(), v.end(), p) != v.end();
}

// Pumps the tracker as the source's events come until pred holds or the timeout passes.
bool PumpUntil(Tracker& tracker, ProcEventSource& src, const std::function<bool()>& pred,
               milliseconds timeout = milliseconds(5000)) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (!pred() && std::chrono::steady_clock::now() < end) {
    pollfd p{src.fd(), POLLIN, 0};
    ::poll(&p, 1, 20);
    tracker.Pump();
  }
  return pred();
}

TEST(ProctrackTracker, ProcessStartedLaterIsAttachedAndDetachedOnExit) {
  SKIP_UNLESS_ROOT();
  auto src = ProctrackProbe::Open();
  ASSERT_TRUE(src.ok()) << src.error().message;
  ProcFs fs;
  // A command line no other process has.
  const std::string arg = "7." + std::to_string(::getpid());
  auto targets = TargetSet::Compile({{.cmdline_regex = "^sleep " + arg + "$"}}, ::getpid());
  ASSERT_TRUE(targets.ok());
  RecordingAttacher attacher;
  TrackerOptions opts;
  opts.rescan_interval = std::chrono::hours(1);  // only the events can find it
  opts.events = src->get();
  Tracker tracker(&fs, std::move(targets).value(), &attacher, opts);
  tracker.Rescan();
  EXPECT_TRUE(attacher.attached.empty());

  pid_t child = SpawnSleep(arg.c_str());
  ASSERT_GT(child, 0);
  auto pump_until = [&](const std::function<bool()>& pred) {
    return PumpUntil(tracker, **src, pred);
  };
  EXPECT_TRUE(pump_until([&] { return tracker.IsAttached(child); }));
  EXPECT_EQ(tracker.stats().exec_events >= 1, true);
  EXPECT_EQ(tracker.stats().scans, 1u);
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(pump_until([&] { return Contains(attacher.detached, child); }));
  EXPECT_FALSE(tracker.IsAttached(child));
  EXPECT_EQ(tracker.stats().exited_detaches, 1u);
  EXPECT_EQ(tracker.stats().scans, 1u);
}

// Processes that live about a millisecond, each matched on its exec: whichever the tracker
// attached is detached on its exit event, with no rescan (the race between an exit and the
// process being watched loses none).
TEST(ProctrackTracker, ShortLivedProcessesAreAllDetachedWithoutARescan) {
  SKIP_UNLESS_ROOT();
  auto src = ProctrackProbe::Open();
  ASSERT_TRUE(src.ok()) << src.error().message;
  ProcFs fs;
  const std::string arg = "0.001" + std::to_string(::getpid());  // ~1 ms, and unique
  auto targets = TargetSet::Compile({{.cmdline_regex = "^sleep " + arg + "$"}}, ::getpid());
  ASSERT_TRUE(targets.ok());
  RecordingAttacher attacher;
  TrackerOptions opts;
  opts.rescan_interval = std::chrono::hours(1);
  opts.events = src->get();
  Tracker tracker(&fs, std::move(targets).value(), &attacher, opts);
  tracker.Rescan();
  std::vector<pid_t> children;
  for (int i = 0; i < 40; ++i) {
    children.push_back(SpawnSleep(arg.c_str()));
    if (i % 4 == 0) tracker.Pump();  // some caught alive, some while exiting, some gone
  }
  int status = 0;
  for (pid_t c : children) ASSERT_EQ(::waitpid(c, &status, 0), c);
  PumpUntil(tracker, **src, [&] { return tracker.Attached().empty(); });
  EXPECT_TRUE(tracker.Attached().empty()) << tracker.Attached().size() << " still attached";
  EXPECT_EQ(attacher.detached.size(), attacher.attached.size());
  EXPECT_EQ(tracker.stats().scans, 1u);
}

// A process that renames itself to a target's name (after a burst of other names) is attached
// by its renames, with no rescan; so are its worker forked before the tracker marked it (found
// by its parent pid) and its worker forked after (a fork of a watched process); all detached on
// their exits.
TEST(ProctrackTracker, RenamedProcessAndItsWorkersAreAttachedWithoutARescan) {
  SKIP_UNLESS_ROOT();
  auto src = ProctrackProbe::Open();
  ASSERT_TRUE(src.ok()) << src.error().message;
  ProcFs fs;
  const std::string name = "gw" + std::to_string(::getpid());  // a comm no other process has
  auto targets = TargetSet::Compile({{.comm_regex = "^" + name + "$"}}, ::getpid());
  ASSERT_TRUE(targets.ok());
  RecordingAttacher attacher;
  TrackerOptions opts;
  opts.rescan_interval = std::chrono::hours(1);  // only the events can find them
  opts.events = src->get();
  Tracker tracker(&fs, std::move(targets).value(), &attacher, opts);
  tracker.Rescan();
  int go[2], pids[2];
  ASSERT_EQ(::pipe(go), 0);
  ASSERT_EQ(::pipe(pids), 0);
  auto worker = [] {
    pid_t w = ::fork();
    if (w == 0) {
      ::usleep(1500 * 1000);
      ::_exit(0);
    }
    return w;
  };
  pid_t parent = ::fork();
  if (parent == 0) {
    ::close(go[1]);
    ::close(pids[0]);
    // A burst of names first: the last one has no record of its own (within the window of
    // the burst's first), and is seen when the tracker reads that record or at its second look
    // (which tracker_test's ARenamedProcessIsMatchedByItsNewName checks).
    char other[16];
    for (int i = 0; i < 20000; ++i) {
      std::snprintf(other, sizeof other, "gx%d", i);
      if (::prctl(PR_SET_NAME, other) != 0) ::_exit(2);
    }
    if (::prctl(PR_SET_NAME, name.c_str()) != 0) ::_exit(2);
    pid_t w[2] = {worker(), 0};  // before the tracker can have seen the rename
    char c;
    if (::write(pids[1], &w[0], sizeof w[0]) != sizeof w[0] || ::read(go[0], &c, 1) != 1) {
      ::_exit(3);
    }
    w[1] = worker();
    if (::write(pids[1], &w[1], sizeof w[1]) != sizeof w[1]) ::_exit(4);
    for (pid_t p : w) ::waitpid(p, nullptr, 0);
    ::_exit(0);
  }
  ASSERT_GT(parent, 0);
  ::close(go[0]);
  ::close(pids[1]);
  pid_t early = 0, late = 0;
  ASSERT_EQ(::read(pids[0], &early, sizeof early), static_cast<ssize_t>(sizeof early));
  auto pump_until = [&](const std::function<bool()>& pred) {
    return PumpUntil(tracker, **src, pred);
  };
  EXPECT_TRUE(pump_until([&] { return tracker.IsAttached(parent); }));
  EXPECT_TRUE(pump_until([&] { return tracker.IsAttached(early); })) << "the early worker";
  ASSERT_EQ(::write(go[1], "g", 1), 1);
  ASSERT_EQ(::read(pids[0], &late, sizeof late), static_cast<ssize_t>(sizeof late));
  EXPECT_TRUE(pump_until([&] { return tracker.IsAttached(late); })) << "the late worker";
  EXPECT_GE(tracker.stats().rename_events, 1u);
  EXPECT_GE(tracker.stats().fork_events, 1u);
  int status = 0;
  ASSERT_EQ(::waitpid(parent, &status, 0), parent);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_TRUE(pump_until([&] { return tracker.Attached().empty(); }));
  EXPECT_EQ(tracker.stats().exited_detaches, 3u);
  EXPECT_EQ(tracker.stats().scans, 1u);
  ::close(go[1]);
  ::close(pids[0]);
}

}  // namespace
}  // namespace gilstat::tracker
