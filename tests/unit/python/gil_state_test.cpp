#include "python/gil_state.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "tests/unit/python/live_python.h"

namespace gilstat::python {
namespace {

using namespace testing_live;  // NOLINT: the live interpreters' helpers

std::string Hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// Python 3.6+ script: prints "ready <PyThreadState* of the main thread>" and blocks on stdin
// (the GIL released); then runs two CPU-bound threads, prints "spinning" and blocks on stdin
// again; then sets a 10 us switch interval, prints "fast" and blocks; then stops the threads and
// prints "done". argv[1]: switch interval to set first (0: default).
constexpr const char* kScript3 = R"(
import sys, threading
interval = float(sys.argv[1])
if interval > 0:
    sys.setswitchinterval(interval)
try:
    import ctypes
    get = ctypes.pythonapi.PyThreadState_Get
    get.restype = ctypes.c_void_p
    main_ts = get() or 0
except Exception:
    main_ts = 0
sys.stdout.write("ready %d\n" % main_ts)
sys.stdout.flush()
sys.stdin.readline()
stop = [False]
def spin():
    n = 0
    while not stop[0]:
        n += 1
threads = [threading.Thread(target=spin) for _ in range(2)]
for t in threads:
    t.start()
sys.stdout.write("spinning\n")
sys.stdout.flush()
sys.stdin.readline()
sys.setswitchinterval(0.00001)
sys.stdout.write("fast\n")
sys.stdout.flush()
sys.stdin.readline()
stop[0] = True
for t in threads:
    t.join()
sys.stdout.write("done\n")
sys.stdout.flush()
)";

// `n` bytes of process `pid` at `addr` (empty when they cannot be read).
std::vector<uint8_t> Peek(pid_t pid, uint64_t addr, size_t n) {
  std::vector<uint8_t> out(n);
  iovec local{out.data(), n};
  iovec remote{reinterpret_cast<void*>(static_cast<uintptr_t>(addr)), n};
  if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != static_cast<ssize_t>(n)) out.clear();
  return out;
}

template <typename T>
T At(const std::vector<uint8_t>& b, size_t offset) {
  T v{};
  if (b.size() >= offset + sizeof(T)) std::memcpy(&v, b.data() + offset, sizeof(T));
  return v;
}

// glibc x86-64: pthread_cond_t starts with __wseq, which every waiter advances by 2;
// pthread_mutex_t is {int __lock; unsigned __count; int __owner (tid); ...}.
uint64_t CondWaitSequence(pid_t pid, uint64_t cond) { return At<uint64_t>(Peek(pid, cond, 8), 0); }

// The GIL of a live interpreter, read through InspectProcess + LocateGil + ReadGilState:
// released with the right interval and last holder while the process blocks, taken and switching
// while two threads spin.
// `python`: the command that starts the interpreter (its path, or chroot ROOT PATH).
void CheckLiveGil(std::vector<std::string> python, double set_interval, uint64_t want_interval_us) {
  std::vector<std::string> argv = python;
  for (const char* a : {"-c", kScript3}) argv.emplace_back(a);
  argv.push_back(std::to_string(set_interval));
  Child child(argv);
  ASSERT_GT(child.pid(), 0);
  const std::string ready = ExpectLine(child, "ready");
  ASSERT_FALSE(ready.empty()) << python.back() << " did not start";
  const uint64_t main_ts = std::stoull(ready);

  auto info = Inspect(child.pid());
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  auto addrs = LocateGil(child.pid(), *info);
  ASSERT_TRUE(addrs.ok()) << info->VersionString() << ": " << addrs.status().ToString();
  std::printf(
      "%s %s (%s): state %s locked %s last_holder %s switch_number %s interval %s\n  how: %s\n",
      python.back().c_str(), info->VersionString().c_str(), info->binary.c_str(),
      Hex(addrs->state).c_str(), Hex(addrs->locked).c_str(), Hex(addrs->last_holder).c_str(),
      Hex(addrs->switch_number).c_str(), Hex(addrs->interval).c_str(), addrs->how.c_str());
  if (info->has_debug_offsets && info->minor >= 13) {
    EXPECT_TRUE(addrs->how.starts_with("_Py_DebugOffsets")) << addrs->how;
    EXPECT_EQ(addrs->how.find("NOT KNOWN"), std::string::npos) << addrs->how;
    EXPECT_FALSE(addrs->layout_assumed);
  } else if (info->minor >= 7) {
    EXPECT_TRUE(addrs->how.starts_with("_PyRuntime + table 3.")) << addrs->how;
  } else {
    EXPECT_NE(addrs->how.find("statics"), std::string::npos) << addrs->how;
  }
  if (info->has_debug_offsets && info->minor >= 13) {
    // Both ways must find the same state; the table serves default builds only (a debug build's
    // _PyRuntime has another size and is refused).
    auto table = LocateGilFromTable(child.pid(), *info);
    const auto layout = GilLayoutFor(info->major, info->minor);
    ASSERT_TRUE(layout.has_value());
    if (info->symbols.at("_PyRuntime").size == layout->runtime_size) {
      ASSERT_TRUE(table.ok()) << table.status().ToString();
      EXPECT_EQ(table->state, addrs->state) << table->how;
      EXPECT_EQ(table->locked, addrs->locked);
      EXPECT_EQ(table->interval, addrs->interval);
    } else {
      ASSERT_FALSE(table.ok()) << table->how;
      EXPECT_NE(table.error().message.find("debug or custom build"), std::string::npos)
          << table.error().message;
    }
  }

  // Blocked in readline: the GIL is released (once the child gets there), its last holder is the
  // main thread.
  Result<GilState> s = MakeError(ErrorCode::kInternal, "not read");
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  do {
    s = ReadGilState(child.pid(), *addrs);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    if (!s->locked) break;
    std::this_thread::sleep_for(milliseconds(1));
  } while (Clock::now() < deadline);
  EXPECT_FALSE(s->locked) << "the GIL stays taken while the only thread blocks in read()";
  EXPECT_EQ(s->interval_us, want_interval_us);
  EXPECT_NE(s->last_holder, 0u);
  if (main_ts != 0) {
    EXPECT_EQ(s->last_holder, main_ts) << "last holder is not the main thread's PyThreadState";
  } else {
    std::printf("  (no ctypes: main thread state not known, last_holder only checked non-zero)\n");
  }
  const uint64_t idle_switches = s->switch_number;
  for (int i = 0; i < 5; ++i) {
    auto again = ReadGilState(child.pid(), *addrs);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_FALSE(again->locked);
    EXPECT_EQ(again->switch_number, idle_switches) << "the GIL changed hands while idle";
  }

  // Two CPU-bound threads: the GIL is held nearly always and changes hands every interval.
  child.WriteLine("go");
  ExpectLine(child, "spinning");
  auto first = ReadGilState(child.pid(), *addrs);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  const uint64_t first_wseq = CondWaitSequence(child.pid(), addrs->cond);
  int locked = 0, samples = 0;
  for (; samples < 20; ++samples) {
    std::this_thread::sleep_for(milliseconds(10));
    auto x = ReadGilState(child.pid(), *addrs);
    ASSERT_TRUE(x.ok()) << x.status().ToString();
    locked += x->locked ? 1 : 0;
  }
  auto last = ReadGilState(child.pid(), *addrs);
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  const uint64_t last_wseq = CondWaitSequence(child.pid(), addrs->cond);
  std::printf(
      "  idle: switch_number %llu; spinning: %llu -> %llu in ~200 ms, locked in %d/%d "
      "reads, last_holder %s (main %s)\n",
      static_cast<unsigned long long>(idle_switches),
      static_cast<unsigned long long>(first->switch_number),
      static_cast<unsigned long long>(last->switch_number), locked, samples,
      Hex(last->last_holder).c_str(), Hex(main_ts).c_str());
  std::printf("  cond __wseq %llu -> %llu\n", static_cast<unsigned long long>(first_wseq),
              static_cast<unsigned long long>(last_wseq));
  EXPECT_GT(last->switch_number, first->switch_number);
  EXPECT_GT(last_wseq, first_wseq) << "nobody waits on the condvar at " << Hex(addrs->cond);
  EXPECT_GE(first->switch_number, idle_switches);
  EXPECT_GE(locked * 2, samples) << "the GIL is mostly free while two threads spin";
  EXPECT_NE(last->last_holder, 0u);
  if (main_ts != 0) {
    EXPECT_NE(last->last_holder, main_ts) << "a spinner should hold it";
  }
  EXPECT_EQ(last->interval_us, want_interval_us);

  child.WriteLine("go");
  ExpectLine(child, "fast");
  auto fast = ReadGilState(child.pid(), *addrs);
  ASSERT_TRUE(fast.ok()) << fast.status().ToString();
  EXPECT_EQ(fast->interval_us, static_cast<uint64_t>(1e6 * 0.00001));
  // The GIL's mutex is held for a moment at every hand-over: with hand-overs every 10 us, catch
  // it held, by a thread of the child.
  int owner = 0;
  const auto mutex_deadline = Clock::now() + std::chrono::seconds(10);
  while (owner == 0 && Clock::now() < mutex_deadline) {
    const std::vector<uint8_t> m = Peek(child.pid(), addrs->mutex, 12);
    ASSERT_EQ(m.size(), 12u) << "mutex at " << Hex(addrs->mutex) << " not readable";
    if (At<int32_t>(m, 0) != 0) owner = At<int32_t>(m, 8);
  }
  EXPECT_NE(owner, 0) << "the GIL's mutex was never seen held in 10 s";
  if (owner != 0) {
    EXPECT_TRUE(
        fs::exists("/proc/" + std::to_string(child.pid()) + "/task/" + std::to_string(owner)))
        << "mutex owner " << owner << " is not a thread of " << child.pid();
  }
  std::printf("  10 us interval: mutex seen held by tid %d\n", owner);

  child.WriteLine("go");
  ExpectLine(child, "done");
}

class LiveGil : public testing::TestWithParam<std::string> {};

TEST_P(LiveGil, DefaultSwitchInterval) {
  const std::vector<std::string> python = PythonFor(GetParam());
  if (python.empty()) GTEST_SKIP() << Absent(GetParam());
  CheckLiveGil(python, 0, 5000);
}

TEST_P(LiveGil, SetSwitchInterval) {
  const std::vector<std::string> python = PythonFor(GetParam());
  if (python.empty()) GTEST_SKIP() << Absent(GetParam());
  CheckLiveGil(python, 0.0123, 12300);
}

INSTANTIATE_TEST_SUITE_P(Interpreters, LiveGil,
                         testing::Values("debian", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11",
                                         "3.12", "3.13", "sid-3.14", "sid-3.15", "sid-3.14-dbg"),
                         [](const testing::TestParamInfo<std::string>& p) {
                           std::string n = p.param;
                           for (char& c : n) c = c == '.' || c == '-' ? '_' : c;
                           return n;
                         });

// 2.7: the script prints "ready" before any thread exists, starts one (and waits for it to end)
// and prints "started", then spins in the main thread after "spinning". It blocks on stdin after
// "ready" and "started".
constexpr const char* kScript27 = R"(
import sys, thread
sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.readline()
done = thread.allocate_lock()
done.acquire()
thread.start_new_thread(done.release, ())
done.acquire()
sys.stdout.write("started\n")
sys.stdout.flush()
sys.stdin.readline()
sys.stdout.write("spinning\n")
sys.stdout.flush()
while True:
    pass
)";

// The value of the sem_t at `addr` in `pid` (glibc: the count is the low 32 bits of its first
// word).
int64_t SemValue(pid_t pid, uint64_t addr) {
  uint32_t v = 0;
  iovec local{&v, sizeof(v)};
  iovec remote{reinterpret_cast<void*>(static_cast<uintptr_t>(addr)), sizeof(v)};
  if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != sizeof(v)) return -1;
  return v;
}

TEST(InterpreterLock, Pyenv27CreatedLazilyAndUsedAsSemaphore) {
  const std::string python = PyenvPython("2.7");
  if (python.empty()) GTEST_SKIP() << "no pyenv 2.7 interpreter installed";
  Child child({python, "-c", kScript27});
  ASSERT_GT(child.pid(), 0);
  ExpectLine(child, "ready");
  auto info = Inspect(child.pid());
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_EQ(info->major, 2);

  auto gil = LocateGil(child.pid(), *info);
  ASSERT_FALSE(gil.ok());
  EXPECT_EQ(gil.error().code, ErrorCode::kUnavailable);

  auto before = ReadInterpreterLock(child.pid(), *info);
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  EXPECT_EQ(*before, 0u) << "2.7 has a GIL before the first thread is started";

  child.WriteLine("go");
  ExpectLine(child, "started");
  auto lock = ReadInterpreterLock(child.pid(), *info);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  ASSERT_NE(*lock, 0u) << "no GIL after a thread was started";

  // Main thread blocked in readline, the other thread gone: the semaphore is released (1).
  int64_t value = -1;
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < deadline && (value = SemValue(child.pid(), *lock)) != 1) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_EQ(value, 1) << "sem_t at " << Hex(*lock) << " is not a released semaphore";
  for (int i = 0; i < 5; ++i) EXPECT_EQ(SemValue(child.pid(), *lock), 1);

  // Main thread spinning: it holds the GIL (0) except for the instant of each check interval's
  // release and re-acquire.
  child.WriteLine("go");
  ExpectLine(child, "spinning");
  int held = 0, samples = 0;
  for (; samples < 100; ++samples) {
    const int64_t v = SemValue(child.pid(), *lock);
    ASSERT_TRUE(v == 0 || v == 1) << "sem value " << v;
    held += v == 0 ? 1 : 0;
    std::this_thread::sleep_for(milliseconds(1));
  }
  std::printf("2.7 interpreter_lock -> sem_t %s: taken in %d/%d reads while spinning\n",
              Hex(*lock).c_str(), held, samples);
  EXPECT_GE(held * 2, samples);
  auto same = ReadInterpreterLock(child.pid(), *info);
  ASSERT_TRUE(same.ok()) << same.status().ToString();
  EXPECT_EQ(*same, *lock);
}

// The synthetic 3.6 library loaded here: LocateGil finds the symbols dlsym finds (load bias of a
// shared library), ReadGilState reads what is stored there.
TEST(LocateGil, Synthetic36LibraryInThisProcess) {
  void* lib = dlopen(GILSTAT_FAKE_PYTHON36, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(lib, nullptr) << dlerror();
  auto* locked = static_cast<int*>(dlsym(lib, "gil_locked"));
  auto* holder = static_cast<void**>(dlsym(lib, "gil_last_holder"));
  auto* switches = static_cast<unsigned long*>(dlsym(lib, "gil_switch_number"));
  auto* interval = static_cast<unsigned long*>(dlsym(lib, "gil_interval"));
  ASSERT_TRUE(locked && holder && switches && interval);

  auto info = InspectBinary(GILSTAT_FAKE_PYTHON36);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->VersionString(), "3.6.15");
  for (const char* s : {"gil_locked", "gil_last_holder", "gil_switch_number", "gil_interval",
                        "gil_cond", "gil_mutex"}) {
    ASSERT_TRUE(info->has(s)) << s;
    EXPECT_FALSE(info->symbols.at(s).function);
  }
  auto addrs = LocateGil(getpid(), *info);
  ASSERT_TRUE(addrs.ok()) << addrs.status().ToString();
  EXPECT_EQ(addrs->state, 0u);
  EXPECT_EQ(addrs->locked, reinterpret_cast<uintptr_t>(locked));
  EXPECT_EQ(addrs->last_holder, reinterpret_cast<uintptr_t>(holder));
  EXPECT_EQ(addrs->switch_number, reinterpret_cast<uintptr_t>(switches));
  EXPECT_EQ(addrs->interval, reinterpret_cast<uintptr_t>(interval));
  EXPECT_EQ(addrs->cond, reinterpret_cast<uintptr_t>(dlsym(lib, "gil_cond")));
  EXPECT_EQ(addrs->mutex, reinterpret_cast<uintptr_t>(dlsym(lib, "gil_mutex")));

  auto fresh = ReadGilState(getpid(), *addrs);
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  EXPECT_FALSE(fresh->locked) << "-1: not created yet";
  EXPECT_EQ(fresh->interval_us, 5000u);
  *locked = 1;
  *holder = &info;
  *switches = 77;
  *interval = 321;
  auto g = ReadGilState(getpid(), *addrs);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_TRUE(g->locked);
  EXPECT_EQ(g->last_holder, reinterpret_cast<uintptr_t>(&info));
  EXPECT_EQ(g->switch_number, 77u);
  EXPECT_EQ(g->interval_us, 321u);
  *locked = 7;  // not a GIL value
  auto bad = ReadGilState(getpid(), *addrs);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kUnavailable);
  *locked = -1;
  dlclose(lib);
}

// The synthetic 3.6 as a PIE executable in a child: the interpreter is the executable itself.
TEST(LocateGil, Synthetic36PieExecutable) {
  Child child({GILSTAT_FAKE_PYTHON36_EXE});
  ASSERT_GT(child.pid(), 0);
  const std::string ready = ExpectLine(child, "ready");
  ASSERT_FALSE(ready.empty());
  const size_t space = ready.find(' ');
  const uint64_t holder = std::stoull(ready.substr(0, space));
  const uint64_t locked_addr = std::stoull(ready.substr(space + 1));
  auto info = Inspect(child.pid());
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(fs::path(info->binary).filename(), "python3.6m");
  auto addrs = LocateGil(child.pid(), *info);
  ASSERT_TRUE(addrs.ok()) << addrs.status().ToString();
  EXPECT_EQ(addrs->locked, locked_addr);
  auto g = ReadGilState(child.pid(), *addrs);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_TRUE(g->locked);
  EXPECT_EQ(g->last_holder, holder);
  EXPECT_EQ(g->switch_number, 4242u);
  EXPECT_EQ(g->interval_us, 1234u);
  child.WriteLine("bye");
}

TEST(LocateGil, Stripped36) {
  auto info = InspectBinary(GILSTAT_FAKE_PYTHON36);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  info->stripped = true;
  for (auto it = info->symbols.begin(); it != info->symbols.end();) {
    it = it->first.starts_with("gil_") ? info->symbols.erase(it) : std::next(it);
  }
  auto addrs = LocateGil(getpid(), *info);
  ASSERT_FALSE(addrs.ok());
  EXPECT_EQ(addrs.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(addrs.error().message.find("stripped"), std::string::npos) << addrs.error().message;
  EXPECT_NE(addrs.error().message.find("gil_locked"), std::string::npos) << addrs.error().message;
}

TEST(LocateGil, NoRuntimeSymbol) {
  auto info = InspectBinary(GILSTAT_FAKE_PYTHON39);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  auto addrs = LocateGil(getpid(), *info);
  ASSERT_FALSE(addrs.ok());
  EXPECT_EQ(addrs.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(addrs.error().message.find("CPython 3.9"), std::string::npos) << addrs.error().message;
  EXPECT_NE(addrs.error().message.find("no _PyRuntime"), std::string::npos)
      << addrs.error().message;
}

// The synthetic 3.13t library: without _Py_DebugOffsets nothing locates a free-threaded GIL;
// with them (loaded here) its made-up offsets do not describe a GIL and are refused.
TEST(LocateGil, FreeThreaded) {
  auto info = InspectBinary(GILSTAT_FAKE_PYTHON_FT);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_TRUE(info->free_threaded);
  info->has_debug_offsets = false;
  auto plain = LocateGil(getpid(), *info);
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(plain.error().message.find("free-threaded"), std::string::npos)
      << plain.error().message;
  info->has_debug_offsets = true;
  void* lib = dlopen(GILSTAT_FAKE_PYTHON_FT, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(lib, nullptr) << dlerror();
  auto addrs = LocateGil(getpid(), *info);
  ASSERT_FALSE(addrs.ok()) << addrs->how;
  EXPECT_EQ(addrs.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(addrs.error().message.find("free-threaded build: GIL layout unknown"),
            std::string::npos)
      << addrs.error().message;
  dlclose(lib);
}

// A synthetic library built from fake_python316.c, loaded in this process, and its controls.
struct FakeRuntimeLib {
  explicit FakeRuntimeLib(const char* path) : handle(dlopen(path, RTLD_NOW | RTLD_LOCAL)) {
    if (!handle) return;
    state = reinterpret_cast<void* (*)()>(dlsym(handle, "fake_gil_state"));
    set = reinterpret_cast<void (*)(int, unsigned long, unsigned long)>(
        dlsym(handle, "fake_set_gil"));
    elsewhere = reinterpret_cast<void (*)(int)>(dlsym(handle, "fake_point_gil_elsewhere"));
    set_enabled = reinterpret_cast<void (*)(int)>(dlsym(handle, "fake_set_enabled"));
  }
  ~FakeRuntimeLib() {
    if (handle) dlclose(handle);
  }
  bool ok() const { return handle && state && set && elsewhere; }
  void* handle;
  void* (*state)() = nullptr;
  void (*set)(int, unsigned long, unsigned long) = nullptr;
  void (*elsewhere)(int) = nullptr;
  void (*set_enabled)(int) = nullptr;  // free-threaded build only
};

// The GIL state's fields at `gil` (+8 each after `enabled` in a free-threaded build).
void ExpectStateAt(const GilAddresses& addrs, uint64_t gil, uint64_t shift) {
  EXPECT_EQ(addrs.state, gil);
  EXPECT_EQ(addrs.enabled, shift ? gil : 0);
  EXPECT_EQ(addrs.interval, gil + shift);
  EXPECT_EQ(addrs.last_holder, gil + shift + 8);
  EXPECT_EQ(addrs.locked, gil + shift + 16);
  EXPECT_EQ(addrs.switch_number, gil + shift + 24);
  EXPECT_EQ(addrs.cond, gil + shift + 32);
}

// A free-threaded 3.15.2 (synthetic, loaded here): its GIL state found through _Py_DebugOffsets,
// `enabled` first and the other fields 8 bytes further; `enabled` read with the state (the GIL
// can be switched on at run time).
TEST(LocateGil, FreeThreadedThroughDebugOffsets) {
  auto info = InspectBinary(GILSTAT_FAKE_PYTHON315T);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->VersionString(), "3.15.2");
  EXPECT_TRUE(info->free_threaded);
  EXPECT_TRUE(info->has_debug_offsets);
  FakeRuntimeLib lib(GILSTAT_FAKE_PYTHON315T);
  ASSERT_TRUE(lib.ok() && lib.set_enabled) << dlerror();
  auto addrs = LocateGil(getpid(), *info);
  ASSERT_TRUE(addrs.ok()) << addrs.status().ToString();
  ExpectStateAt(*addrs, reinterpret_cast<uintptr_t>(lib.state()), 8);
  EXPECT_NE(addrs->how.find("free-threaded"), std::string::npos) << addrs->how;
  EXPECT_EQ(addrs->how.find("NOT KNOWN"), std::string::npos) << addrs->how;
  EXPECT_FALSE(addrs->layout_assumed);

  auto off = ReadGilState(getpid(), *addrs);
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_EQ(off->enabled, 0) << "the GIL starts disabled";
  EXPECT_EQ(off->interval_us, 5000u);
  lib.set_enabled(1);
  lib.set(1, 9, 5000);
  auto on = ReadGilState(getpid(), *addrs);
  ASSERT_TRUE(on.ok()) << on.status().ToString();
  EXPECT_EQ(on->enabled, 1);
  EXPECT_TRUE(on->locked);
  EXPECT_EQ(on->switch_number, 9u);

  // The file says free-threaded, the memory must too.
  info->free_threaded = false;
  auto mismatch = LocateGil(getpid(), *info);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.error().message.find("free-threaded"), std::string::npos)
      << mismatch.error().message;
  lib.set_enabled(0);
  lib.set(-1, 0, 5000);
}

// A version after the table, with and without _Py_DebugOffsets (the synthetic 3.13t library,
// presented as a default build of 3.16): without them nothing is known; with them the newest
// known layout is tried, and refused because the version in the target's memory is not 3.16.
TEST(LocateGil, UnknownVersion) {
  auto info = InspectBinary(GILSTAT_FAKE_PYTHON_FT);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  info->free_threaded = false;
  info->minor = 16;
  info->has_debug_offsets = false;
  auto plain = LocateGil(getpid(), *info);
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(plain.error().message.find("CPython 3.16: GIL layout unknown and no _Py_DebugOffsets"),
            std::string::npos)
      << plain.error().message;
  info->has_debug_offsets = true;
  void* lib = dlopen(GILSTAT_FAKE_PYTHON_FT, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(lib, nullptr) << dlerror();
  auto debug = LocateGil(getpid(), *info);
  ASSERT_FALSE(debug.ok());
  EXPECT_EQ(debug.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(debug.error().message.find("_Py_DebugOffsets unusable"), std::string::npos)
      << debug.error().message;
  EXPECT_NE(debug.error().message.find("is not CPython 3.16"), std::string::npos)
      << debug.error().message;
  dlclose(lib);
  EXPECT_FALSE(GilLayoutFor(3, 16).has_value());
  EXPECT_FALSE(GilLayoutFor(3, 6).has_value());
  EXPECT_FALSE(GilLayoutFor(2, 7).has_value());
}

// A minor version newer than every known one, stripped, _PyRuntime not exported (synthetic 3.16
// library loaded here): _PyRuntime comes from the .PyRuntime section, the GIL from its
// _Py_DebugOffsets read with the newest known layout, and the log text says what was assumed.
TEST(LocateGil, NewerMinorThroughSectionAndDebugOffsets) {
  auto info = InspectBinary(GILSTAT_FAKE_PYTHON316);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->VersionString(), "3.16.0");
  EXPECT_TRUE(info->stripped);
  EXPECT_TRUE(info->has_debug_offsets);
  ASSERT_TRUE(info->has("_PyRuntime"));
  EXPECT_EQ(info->symbols.at("_PyRuntime").name, "_PyRuntime (the .PyRuntime section)");
  EXPECT_EQ(info->gil_method, GilMethod::kGilCondvar) << info->method;

  FakeRuntimeLib lib(GILSTAT_FAKE_PYTHON316);
  ASSERT_TRUE(lib.ok()) << dlerror();
  auto addrs = LocateGil(getpid(), *info);
  ASSERT_TRUE(addrs.ok()) << addrs.status().ToString();
  ExpectStateAt(*addrs, reinterpret_cast<uintptr_t>(lib.state()), 0);
  EXPECT_NE(addrs->how.find("NOT KNOWN"), std::string::npos) << addrs->how;
  EXPECT_TRUE(addrs->layout_assumed);
  EXPECT_NE(addrs->how.find("those of 3.15 assumed"), std::string::npos) << addrs->how;
  lib.set(1, 42, 777);
  auto g = ReadGilState(getpid(), *addrs);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_TRUE(g->locked);
  EXPECT_EQ(g->switch_number, 42u);
  EXPECT_EQ(g->interval_us, 777u);

  // An interpreter whose GIL pointer disagrees with the assumed offsets is not read.
  lib.elsewhere(1);
  auto bad = LocateGil(getpid(), *info);
  ASSERT_FALSE(bad.ok()) << bad->how;
  EXPECT_EQ(bad.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(bad.error().message.find("layout mismatch"), std::string::npos) << bad.error().message;
  lib.elsewhere(0);
  lib.set(-1, 0, 5000);
}

// Two sub-interpreters with their own GIL (3.14+: concurrent.interpreters; 3.13: _interpreters;
// 3.12: _xxsubinterpreters) and one sharing the main GIL (the legacy config), then "ready";
// exits without finalizing on a line from the test.
constexpr const char* kTwoSubInterpreters = R"PY(
import os, sys
try:
    import _interpreters as low
except ImportError:
    import _xxsubinterpreters as low
def create(config):
    try:
        return low.create(config)
    except TypeError:
        return low.create(isolated=config == 'isolated')
try:
    from concurrent import interpreters as m
    subs = [m.create() for _ in range(2)]
except ImportError:
    subs = [create('isolated') for _ in range(2)]
shared = create('legacy')
print('ready', flush=True)
sys.stdin.readline()
os._exit(0)
)PY";

class LiveSubInterpreters : public testing::TestWithParam<std::string> {};

// The interpreter list walked from the main GIL's location finds both sub-interpreters with
// their own GIL (not the one sharing the main GIL), each with its own GIL state (readable, the
// default switch interval), apart from the main GIL; on 3.13+ the built-in table's walk is the one
// _Py_DebugOffsets give; a walk cut short says so.
TEST_P(LiveSubInterpreters, OwnGilsFoundByWalkingTheList) {
  std::vector<std::string> argv = PythonFor(GetParam());
  if (argv.empty()) GTEST_SKIP() << Absent(GetParam());
  argv.push_back("-c");
  argv.push_back(kTwoSubInterpreters);
  Child child(argv);
  ExpectLine(child, "ready");
  auto info = InspectProcess(child.pid());
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  auto main = LocateGil(child.pid(), *info);
  ASSERT_TRUE(main.ok()) << main.status().ToString();
  ASSERT_TRUE(main->interpreters.has_value()) << main->how;
  bool truncated = true;
  auto subs = ListSubInterpreterGils(child.pid(), *main->interpreters, 64, &truncated);
  ASSERT_TRUE(subs.ok()) << subs.status().ToString();
  EXPECT_FALSE(truncated);
  ASSERT_EQ(subs->size(), 2u) << main->how;
  std::set<int64_t> ids;
  std::set<uint64_t> gils = {main->state};
  for (const InterpreterGil& g : *subs) {
    ids.insert(g.id);
    gils.insert(g.gil.state);
    EXPECT_EQ(g.gil.cond - g.gil.state, main->cond - main->state);
    auto st = ReadGilState(child.pid(), g.gil);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    EXPECT_EQ(st->interval_us, 5000u) << "interpreter " << g.id;
  }
  EXPECT_EQ(ids, (std::set<int64_t>{1, 2}));
  EXPECT_EQ(gils.size(), 3u) << "each interpreter has its own GIL";
  // Four interpreters in the list (main, two own GILs, one shared): a walk of three is cut short.
  auto four = ListSubInterpreterGils(child.pid(), *main->interpreters, 4, &truncated);
  ASSERT_TRUE(four.ok()) << four.status().ToString();
  EXPECT_FALSE(truncated);
  EXPECT_EQ(four->size(), 2u);
  auto three = ListSubInterpreterGils(child.pid(), *main->interpreters, 3, &truncated);
  ASSERT_TRUE(three.ok()) << three.status().ToString();
  EXPECT_TRUE(truncated);
  auto table = LocateGilFromTable(child.pid(), *info);
  if (table.ok() && info->has_debug_offsets) {
    ASSERT_TRUE(table->interpreters.has_value());
    const InterpreterWalk& a = *table->interpreters;
    const InterpreterWalk& b = *main->interpreters;
    EXPECT_EQ(
        std::tie(a.head, a.id, a.next, a.ceval_gil, a.own_gil, a.tstate_interp, a.drop_arg_gil),
        std::tie(b.head, b.id, b.next, b.ceval_gil, b.own_gil, b.tstate_interp, b.drop_arg_gil));
  }
  child.WriteLine("go");
}

INSTANTIATE_TEST_SUITE_P(Interpreters, LiveSubInterpreters,
                         testing::Values("3.12", "3.13", "sid-3.14", "sid-3.15", "sid-3.14-dbg"),
                         [](const testing::TestParamInfo<std::string>& p) {
                           std::string n = p.param;
                           for (char& c : n) c = c == '.' || c == '-' ? '_' : c;
                           return n;
                         });

// The built-in rows for 3.14 and 3.15 agree with the _Py_DebugOffsets that the sid root's
// stripped interpreters carry in their files: the main GIL's offset from the interpreter state
// (gil_from_runtime - main_gil_ptr + offsetof(PyInterpreterState, ceval.gil)) is the published
// interpreter_state.gil_runtime_state, and runtime_state.size is the table's _PyRuntime size.
TEST(GilLayoutFor, AgreesWithSidRootDebugOffsets) {
  int checked = 0;
  for (const char* name : {"python3.14", "python3.15"}) {
    const std::string path = std::string(kSidRoot) + "/usr/bin/" + name;
    if (!Exists(path)) continue;
    auto info = InspectBinary(path);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    const auto layout = GilLayoutFor(info->major, info->minor);
    ASSERT_TRUE(layout.has_value()) << info->VersionString();
    const SymbolInfo& rt = info->symbols.at("_PyRuntime");
    EXPECT_EQ(rt.size, layout->runtime_size) << path;
    std::FILE* f = std::fopen(path.c_str(), "rb");
    ASSERT_NE(f, nullptr) << path;
    uint64_t head[20] = {};
    ASSERT_EQ(std::fseek(f, static_cast<long>(rt.file_offset), SEEK_SET), 0);
    ASSERT_EQ(std::fread(head, sizeof(head), 1, f), 1u);
    std::fclose(f);
    // 3.14/3.15 rows: runtime_state.size @24, interpreter_state.ceval_gil @120,
    // gil_runtime_state @128, locked @144, last_holder @152.
    EXPECT_EQ(head[24 / 8], layout->runtime_size) << path;
    const uint64_t ceval_gil = head[120 / 8], gil = head[128 / 8];
    EXPECT_EQ(layout->gil_from_runtime - layout->main_gil_ptr + ceval_gil, gil) << path;
    EXPECT_EQ(head[144 / 8], gil + layout->locked) << path;
    EXPECT_EQ(head[152 / 8], gil + layout->last_holder) << path;
    ++checked;
  }
  if (checked == 0) GTEST_SKIP() << kSidRoot << " absent (scripts/sid_root.sh provisions it)";
}

// A _PyRuntime whose size is not the table's (debug or custom build) is not read.
TEST(LocateGil, RuntimeSizeMismatch) {
  auto info = InspectBinary(GILSTAT_FAKE_PYTHON_FT);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  info->free_threaded = false;
  info->has_debug_offsets = false;
  auto addrs = LocateGil(getpid(), *info);
  ASSERT_FALSE(addrs.ok());
  EXPECT_EQ(addrs.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(addrs.error().message.find("_PyRuntime is 64 bytes"), std::string::npos)
      << addrs.error().message;
}

TEST(LocateGil, NotMappedOrNoProcess) {
  auto info = InspectBinary(GILSTAT_FAKE_PYTHON36_EXE);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_EQ(info->kind, InterpreterInfo::Kind::kCPython);
  auto here = LocateGil(getpid(), *info);  // this process does not map that executable
  ASSERT_FALSE(here.ok());
  EXPECT_EQ(here.error().code, ErrorCode::kNotFound);
  EXPECT_NE(here.error().message.find("not mapped"), std::string::npos) << here.error().message;
  auto gone = LocateGil(999999999, *info);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
}

TEST(LocateGil, Python2) {
  auto info = InspectBinary(GILSTAT_FAKE_PYTHON36);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  info->major = 2;
  info->minor = 7;
  auto addrs = LocateGil(getpid(), *info);
  ASSERT_FALSE(addrs.ok());
  EXPECT_EQ(addrs.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(addrs.error().message.find("ReadInterpreterLock"), std::string::npos);
  auto lock = ReadInterpreterLock(getpid(), *info);  // no interpreter_lock symbol
  ASSERT_FALSE(lock.ok());
  EXPECT_EQ(lock.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(lock.error().message.find("interpreter_lock"), std::string::npos);
  info->major = 3;
  auto not2 = ReadInterpreterLock(getpid(), *info);
  ASSERT_FALSE(not2.ok());
  EXPECT_EQ(not2.error().code, ErrorCode::kInvalidArgument);
}

TEST(ReadGilState, Errors) {
  auto none = ReadGilState(getpid(), GilAddresses{});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, ErrorCode::kInvalidArgument);
  GilAddresses unmapped;
  unmapped.locked = 8;
  unmapped.last_holder = 16;
  unmapped.switch_number = 24;
  unmapped.interval = 32;
  auto fault = ReadGilState(getpid(), unmapped);
  ASSERT_FALSE(fault.ok());
  EXPECT_EQ(fault.error().code, ErrorCode::kUnavailable);
  auto gone = ReadGilState(999999999, unmapped);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
}

TEST(GilLayoutFor, Table) {
  for (int minor = 7; minor <= 15; ++minor) {
    auto l = GilLayoutFor(3, minor);
    ASSERT_TRUE(l.has_value()) << minor;
    EXPECT_EQ(l->source, "table 3." + std::to_string(minor));
    EXPECT_GT(l->runtime_size, l->gil_from_runtime);
    EXPECT_EQ(l->main_gil_ptr != 0, minor >= 12);
  }
}

}  // namespace
}  // namespace gilstat::python
