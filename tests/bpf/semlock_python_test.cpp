// The probes on real Python 3 processes: Debian's python3 (threading.Lock is a sem_t, acquired
// with sem_trywait then sem_wait, released with sem_post), and CPython 3.13+ (the parking lot).
#include <glob.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "probes/semlock_probe.h"
#include "tests/bpf/bpf_test_util.h"

namespace gilstat::probes {
namespace {

using ::gilstat::testing::Child;

// pylock.py: two threads hand two locks to each other kN times, the releaser sleeping 1 ms
// first, so each acquire fails its trywait, blocks in sem_wait and is woken by the release.
// Tolerance 10% on contended/handoffs per lock: a thread delayed for > 1 ms by the scheduler
// before it blocks acquires without blocking.
TEST(SemlockPythonTest, ThreadingLockHandoffsAreSeen) {
  GILSTAT_SKIP_UNLESS_BPF();
  const char* python = "/usr/bin/python3";
  if (access(python, X_OK) != 0) {
    std::fprintf(stderr, "SKIPPED: %s not installed\n", python);
    GTEST_SKIP() << python << " not installed";
  }
  for (ProbeMode mode : {ProbeMode::kDefault, ProbeMode::kCounting, ProbeMode::kExact}) {
    SCOPED_TRACE(ProbeModeName(mode));
    SemlockOptions opts;
    opts.mode = mode;
    auto probe = SemlockProbe::Open(opts);
    ASSERT_TRUE(probe.ok()) << probe.status().ToString();
    constexpr uint64_t kN = 100;
    Child py({python, std::string(GILSTAT_TESTPROGS_DIR) + "/pylock.py", std::to_string(kN)});
    ASSERT_TRUE(py.WaitReady());
    auto a = (*probe)->Attach(py.pid());
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    py.Go();
    ASSERT_TRUE(py.ReadResults());
    EXPECT_EQ(py.Wait(), 0);
    auto locks = (*probe)->ReadLocks();
    ASSERT_TRUE(locks.ok());
    // The two handed-over locks: the entries with the most handoffs.
    int handed = 0;
    for (const SemLockStats& s : *locks) {
      if (s.pid != py.pid() || s.handoffs < kN * 90 / 100) continue;
      ++handed;
      EXPECT_GE(s.contended, kN * 90 / 100);
      if (SeesEveryAcquisition(mode)) {
        EXPECT_GE(s.acquisitions, kN);
        EXPECT_GE(s.failed_tries, kN * 90 / 100);
        EXPECT_GE(s.posts, kN);
      } else {
        // Default mode: the blocking acquisitions after the failed try (each found the lock
        // taken) and the releases that woke them; tries are not probed.
        EXPECT_GE(s.acquisitions, kN * 90 / 100);
        EXPECT_EQ(s.failed_tries, 0u);
        EXPECT_GE(s.posts, kN * 90 / 100);
      }
      EXPECT_GE(s.blocked_ns, kN * 500'000u);  // ~1 ms per blocked acquisition
      EXPECT_EQ(s.handoff_latency_hist.count, s.handoffs);
    }
    EXPECT_EQ(handed, 2) << "expected two threading.Lock semaphores with ~" << kN
                         << " handoffs each";
    EXPECT_TRUE((*probe)->Detach(py.pid()).ok());
  }
}

// The CPython 3.13+ interpreters here, each as the argv prefix that runs a script (its path
// inside the root for the sid root's, scripts/sid_root.sh) and how the script is named:
// pyenv's 3.13, and the sid root's stripped 3.14 and 3.15 in a chroot.
struct Interpreter {
  std::string name;
  std::vector<std::string> argv;
  std::string root;  // the chroot's directory, or empty
};

std::vector<Interpreter> Python313Plus() {
  std::vector<Interpreter> out;
  glob_t g{};
  if (glob("/root/.pyenv/versions/3.13*/bin/python3.13", 0, nullptr, &g) == 0 && g.gl_pathc) {
    out.push_back({g.gl_pathv[0], {g.gl_pathv[0]}, ""});
  }
  globfree(&g);
  const char* env_root = std::getenv("GILSTAT_SID_ROOT");
  const std::string root = env_root ? env_root : "/var/cache/gilstat/sid-root";
  for (const char* exe : {"/usr/bin/python3.14", "/usr/bin/python3.15"}) {
    if (access((root + exe).c_str(), X_OK) == 0 && access("/usr/sbin/chroot", X_OK) == 0) {
      out.push_back({"sid:" + std::string(exe), {"/usr/sbin/chroot", root, exe}, root});
    }
  }
  return out;
}

// pymutex.py's "key value" lines.
std::map<std::string, double> Values(const std::vector<std::string>& lines) {
  std::map<std::string, double> out;
  for (const std::string& l : lines) {
    const auto sp = l.rfind(' ');
    if (sp != std::string::npos) out[l.substr(0, sp)] = std::strtod(l.c_str() + sp + 1, nullptr);
  }
  return out;
}

// pymutex.py on CPython 3.13+, every mode: the contended threading.Lock's waits are counted for
// its own address (3.14+: its PyMutex, whose waiters park on semaphores of their own threads;
// 3.13: its sem_t), one per acquisition that found it held (each sleeps once), as many
// handoffs; the lock never contended has no contended wait.
TEST(SemlockPythonTest, ParkedWaitsAreNamedByTheirLock) {
  GILSTAT_SKIP_UNLESS_BPF();
  const auto pythons = Python313Plus();
  if (pythons.empty()) {
    std::fprintf(stderr, "SKIPPED: no CPython 3.13+ (pyenv's 3.13, the sid root)\n");
    GTEST_SKIP() << "no CPython 3.13+";
  }
  const std::string script = std::string(GILSTAT_TESTPROGS_DIR) + "/pymutex.py";
  for (const Interpreter& py : pythons) {
    std::vector<std::string> argv = py.argv;
    argv.push_back(script);
    if (!py.root.empty()) {
      std::filesystem::create_directories(py.root + "/tmp/gilstat-scripts");
      std::filesystem::copy_file(script, py.root + "/tmp/gilstat-scripts/pymutex.py",
                                 std::filesystem::copy_options::overwrite_existing);
      argv.back() = "/tmp/gilstat-scripts/pymutex.py";
    }
    argv.push_back("100");
    for (ProbeMode mode : {ProbeMode::kDefault, ProbeMode::kCounting, ProbeMode::kExact}) {
      SCOPED_TRACE(py.name + " " + ProbeModeName(mode));
      SemlockOptions opts;
      opts.mode = mode;
      auto probe = SemlockProbe::Open(opts);
      ASSERT_TRUE(probe.ok()) << probe.status().ToString();
      Child child(argv);
      ASSERT_TRUE(child.WaitReady());
      auto a = (*probe)->Attach(child.pid());
      ASSERT_TRUE(a.ok()) << a.status().ToString();
      bool park_site = false;
      for (const SiteStatus& s : a->sites) {
        if (s.function != kSemaWaitFunction) continue;
        park_site = true;
        EXPECT_EQ(s.method, SiteMethod::kReadAtWait) << s.note;
        EXPECT_TRUE(s.file_offsets.empty());
      }
      EXPECT_TRUE(park_site);
      child.Go();
      ASSERT_TRUE(child.ReadResults());
      auto values = Values(child.lines());
      auto locks = (*probe)->ReadLocks();
      EXPECT_EQ(child.Wait(), 0);
      ASSERT_TRUE(locks.ok());
      const auto hot = static_cast<uint64_t>(values["hot"]);
      const auto cold = static_cast<uint64_t>(values["cold"]);
      const auto found = static_cast<uint64_t>(values["found_held"]);
      ASSERT_NE(hot, 0u);
      EXPECT_GE(found, 100u);
      const SemLockStats* h = nullptr;
      for (const SemLockStats& s : *locks) {
        if (s.pid != child.pid()) continue;
        if (s.addr == hot) h = &s;
        if (s.addr == cold) {
          EXPECT_EQ(s.contended, 0u);
        }
      }
      ASSERT_NE(h, nullptr) << "no entry at the lock's address";
      EXPECT_GE(h->contended, found * 9 / 10);
      EXPECT_LE(h->contended, found * 5 / 4 + 5);
      EXPECT_GE(h->handoffs, h->contended * 9 / 10);
      EXPECT_TRUE((*probe)->Detach(child.pid()).ok());
    }
  }
}

// python_parkfake: a process that looks like CPython 3.13+ and waits inside crafted wait
// entries, each wait asleep before its post. Only the well-formed entry's waits are counted for
// the address it names; a malformed one's (its next node unreadable or not linked back, address
// 0, the words before its semaphore unmapped) keep their semaphore's own name; no wait is
// counted anywhere else. (In exact mode a post that came before the waiter's first wait was
// read is counted at its semaphore, as in CPython: that entry has no waits.)
TEST(SemlockPythonTest, CraftedWaitEntriesAreNamedOnlyWhenWellFormed) {
  GILSTAT_SKIP_UNLESS_BPF();
  constexpr uint64_t kN = 50;
  for (ProbeMode mode : {ProbeMode::kDefault, ProbeMode::kExact}) {
    SCOPED_TRACE(ProbeModeName(mode));
    SemlockOptions opts;
    opts.mode = mode;
    auto probe = SemlockProbe::Open(opts);
    ASSERT_TRUE(probe.ok()) << probe.status().ToString();
    Child child(
        {std::string(GILSTAT_TESTPROGS_DIR) + "/python_parkfake", std::to_string(kN), "200"});
    ASSERT_TRUE(child.WaitReady());
    auto a = (*probe)->Attach(child.pid());
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    bool park_site = false;
    for (const SiteStatus& s : a->sites) park_site |= s.method == SiteMethod::kReadAtWait;
    ASSERT_TRUE(park_site) << "python_parkfake is not taken for CPython 3.13+";
    child.Go();
    ASSERT_TRUE(child.ReadResults());
    auto locks = (*probe)->ReadLocks();
    EXPECT_EQ(child.Wait(), 0);
    ASSERT_TRUE(locks.ok());
    std::map<uint64_t, const SemLockStats*> of;
    for (const SemLockStats& s : *locks) {
      if (s.pid == child.pid()) of[s.addr] = &s;
    }
    const uint64_t lock_good = child.sem("lock_good"), lock_unparked = child.sem("lock_unparked");
    ASSERT_NE(lock_good, 0u);
    ASSERT_NE(lock_unparked, 0u);
    // An entry dequeued by its unparking thread (unlinked, is_unparking set) names its lock; one
    // merely unlinked keeps its semaphore's name, as does one whose node pointer is misaligned
    // (no list node is; the words after a semaphore that is not a wait entry's often are).
    std::set<uint64_t> named = {lock_good, lock_unparked};
    for (const char* name :
         {"badnext", "badback", "zeroaddr", "pagestart", "neverlinked", "misaligned"}) {
      named.insert(child.sem(name));
    }
    for (uint64_t addr : named) {
      SCOPED_TRACE(addr == lock_good       ? "the well-formed entry's lock"
                   : addr == lock_unparked ? "the unparked entry's lock"
                                           : "a malformed entry's sem");
      ASSERT_TRUE(of.count(addr)) << "no entry";
      const SemLockStats& s = *of[addr];
      EXPECT_EQ(s.contended, kN) << "each wait sleeps";
      EXPECT_EQ(s.wait_hist.count, kN);
      if (mode == ProbeMode::kExact) {
        EXPECT_EQ(s.acquisitions, kN);
      }
    }
    for (const auto& [addr, s] : of) {
      if (named.count(addr)) continue;
      EXPECT_EQ(s->contended, 0u) << "waits counted at 0x" << std::hex << addr
                                  << (addr == child.sem("good") ? " (the well-formed entry's sem)"
                                      : addr == child.sem("unparked")
                                          ? " (the unparked entry's sem)"
                                          : "");
      EXPECT_EQ(s->wait_hist.count, 0u);
    }
    EXPECT_EQ((*probe)->ReadHealth().map_full_drops, 0u);
    EXPECT_TRUE((*probe)->Detach(child.pid()).ok());
  }
}

}  // namespace
}  // namespace gilstat::probes
