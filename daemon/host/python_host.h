// CPython targets: for each attached process, which interpreter it runs and how its GIL can be
// measured (PlanPython), the GIL probes attached accordingly, the lock label of its semaphores
// ("gil" for 2.x's GIL semaphore, "threading" for the others), the sub-interpreters with their
// own GIL (3.12+: the interpreter list walked at attach and scrapes, each GIL registered with
// the probes), and what the collectors read at scrape time. See docs/PYTHON.md.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gilstat/gil_method.h"
#include "gilstat/gil_stacks.h"
#include "gilstat/result.h"
#include "host/gil_sampler.h"
#include "metrics/lock_families.h"
#include "metrics/python_collector.h"
#include "probes/pygil_probe.h"
#include "probes/semlock_probe.h"
#include "python/gil_state.h"
#include "python/py_frames.h"
#include "python/python_info.h"
#include "tracker/tracker.h"

namespace gilstat::host {

struct PythonPlan {
  python::InterpreterInfo info;
  GilMethod method = GilMethod::kNone;  // kNone: see `why`
  std::string build;                    // "unstripped", "stripped", "free-threaded"
  bool gil_enabled = true;
  std::optional<python::GilAddresses> gil;  // 3.x: where the GIL state is
  probes::PyGilTarget probe;                // for kTakeGil / kGilCondvar
  std::string why;                          // one line for the log: what is measured and how
  std::string stacks_why;  // Python stacks asked for: why they are not taken ("" when they are)
};

// The plan for process `pid`; nullopt when it does not run CPython. Errors: the process
// vanished or cannot be read. CPython 3: `exact` (probes.python: exact) asks for take_gil/
// drop_gil where the symbols are; otherwise the GIL condvar's waits wherever the GIL state is
// located (no probe hit by an uncontended release and re-take). See docs/PYTHON.md "Modes".
Result<std::optional<PythonPlan>> PlanPython(pid_t pid, const std::string& proc_root = "/proc",
                                             bool exact = false, bool stacks = false);
// Python stacks at contended waits (probes.python_stacks): the frame layout of `plan`'s version
// (3.11+) into its probe target, with the GIL's last_holder; else `stacks_why` says why not.
void PlanStacks(PythonPlan& plan);
// What a scrape reports of a planned process, given its GIL state just read (null: not read). A
// free-threaded build's GIL can be switched on at run time (an extension not marked
// free-threading-safe): its `enabled` word decides, 0 giving method gil_disabled; without a
// reading, how the process was started (PYTHON_GIL=1, -X gil=1). Other builds: the plan's.
struct GilAtScrape {
  GilMethod method = GilMethod::kNone;
  bool enabled = true;
};
GilAtScrape GilNow(const PythonPlan& plan, const python::GilState* state);

// The CPython 3 part of PlanPython (a GIL-enabled 3.x in `plan.info`). Exposed for tests.
void PlanGil3(pid_t pid, const std::string& proc_root, bool exact, PythonPlan& plan);

// Whether a free-threaded process was started with the GIL forced on (PYTHON_GIL=1 in its
// environment or -X gil=1 on its command line). Exposed for tests.
bool GilForcedOn(const std::string& environ_nul_separated,
                 const std::string& cmdline_nul_separated);

class PythonTargets : public tracker::TrackerObserver {
 public:
  // `probe` may be null (GIL probes unavailable): then only 2.x's semaphore labelling and the
  // state read from memory remain. `exact`: probes.python: exact (see PlanPython).
  // `stacks`: probes.python_stacks (Python stacks at contended waits, Stacks()).
  PythonTargets(probes::PyGilProbe* probe, std::string proc_root,
                std::function<std::optional<std::string>(pid_t)> group_of, bool exact = false,
                bool stacks = false);

  void Attached(const tracker::ProcessInfo& info) override;
  void Detaching(const tracker::ProcessInfo& info, bool exited) override;
  void DetachAll();
  // The GIL sampler that watched processes are handed to (may be null; set before attaching).
  void SetSampler(GilSampler* sampler) { sampler_ = sampler; }
  // With `stacks`: the semaphore probe that attaches to the same processes (before this is told
  // of them), asked to take the waiter's Python stack at contended threading-lock waits (may be
  // null: GIL waits only; set before attaching).
  void SetLockProbe(probes::SemlockProbe* locks) { locks_ = locks; }

  // The lock label of semaphore `addr` in `pid`: "gil" (2.x's GIL) or "threading" (with
  // `per_lock`: "threading@0x<addr>") for a CPython process; nullopt for other processes.
  std::optional<std::string> LockOf(pid_t pid, uint64_t addr, bool per_lock = false);
  // What the collectors read (scrape threads).
  std::vector<metrics::PythonProcess> Processes();
  std::vector<metrics::LockSeries> GilSeries(bool pid_label);
  // GIL probe attaches that failed, and the probes' own health.
  uint64_t probe_errors() const;
  PyGilHealth ProbeHealth();
  // The GIL waits, and with a lock probe the threading-lock waits, attributed to Python stacks
  // so far (with `stacks`; cumulative since each process's attach), named; `since`: only what
  // accumulated after that reading (ReadStacks).
  std::vector<ProcessGilStacks> Stacks(const probes::RawGilStacks* since = nullptr);
  // The GIL probes' statistics of every GIL of the processes (empty without a probe).
  std::vector<PyGilStats> GilStats();
  // pid -> (comm, interpreter version) of the processes planned.
  std::map<pid_t, std::pair<std::string, std::string>> Names();
  // pid -> "CPython 3.12.1, GIL measured by gil_condvar" of the processes planned.
  std::map<pid_t, std::string> Descriptions();
  // The probes' raw reading (empty without a probe), to take differences with Stacks(since).
  probes::RawGilStacks ReadStacks();
  // ReadStacks, after emptying the kernel's maps first when they are more than 3/4 full (what
  // a long-running daemon does before a profile; nothing else may be taking a difference).
  probes::RawGilStacks ReadStacksWithRoom();

 private:
  // Sub-interpreters are looked for at attach and at scrapes, at most this often per process.
  static constexpr std::chrono::milliseconds kRescanEvery{1000};
  // The most entries of a process's interpreter list walked.
  static constexpr size_t kMaxInterpreters = 64;
  struct Target {
    PythonPlan plan;
    bool probed = false;  // GIL probes attached
    std::chrono::steady_clock::time_point next_scan{};
    size_t sub_gils = 0;          // sub-interpreter GILs registered with the probe
    uint64_t untracked_gils = 0;  // found but not measured (the last scan)
    uint64_t gil_sem = 0;         // 2.x: address of the GIL's sem_t once created
    std::chrono::steady_clock::time_point next_gil_sem_read{};
    std::shared_ptr<python::CodeNames> names;  // Python stacks: its code objects' names
    std::string comm;                          // its name when attached
  };
  probes::PyGilProbe* probe_;
  std::string proc_root_;
  std::function<std::optional<std::string>(pid_t)> group_of_;
  bool exact_ = false;
  bool stacks_ = false;
  mutable std::mutex mu_;
  std::mutex names_mu_;  // the targets' CodeNames
  std::map<pid_t, Target> targets_;
  uint64_t probe_errors_ = 0;
  GilSampler* sampler_ = nullptr;
  probes::SemlockProbe* locks_ = nullptr;
  void StartSampling(pid_t pid, const PythonPlan& plan);
  void StartNaming(pid_t pid, const std::string& comm, Target& t);
  void RescanInterpreters(pid_t pid, Target& t, std::chrono::steady_clock::time_point now);
  void RescanAll();
};

}  // namespace gilstat::host
