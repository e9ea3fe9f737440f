// GIL utilization by sampling: one thread reads each watched CPython process's GIL
// word (3.x: gil->locked; 2.x: the value of the GIL's semaphore) with process_vm_readv at
// jittered intervals and counts held and free samples per process. Its cost depends on the
// number of processes (capped in total), never on how often their GILs change hands. The
// per-process totals are kept per process group when a process leaves, so that the exported
// counters never decrease. See docs/PYTHON.md ("GIL utilization by sampling").
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "metrics/python_collector.h"

namespace gilstat::host {

// Which word is read and what it means.
enum class GilWord {
  kLocked,     // 3.x `gil->locked` (int): 1 held, 0 free, -1 not created yet
  kSemaphore,  // 2.x: the sem_t `interpreter_lock` points to; its value: 0 held, 1 free
};

// What a read of the 32-bit word `value` says: held, free, not created yet (3.x before the GIL
// exists), or invalid (a value no GIL can have: the address is not a GIL's).
enum class GilReading { kHeld, kFree, kNotYet, kInvalid };
GilReading InterpretGilWord(GilWord word, uint32_t value);

// The time to the next sample: uniform in [0.5, 1.5] × `mean_s`.
double JitteredInterval(double mean_s, std::mt19937_64& rng);

// The sample counts of processes and process groups (no I/O; the sampler's bookkeeping).
// A process's totals are attributed to the group it was last seen in; when it leaves (Remove)
// or moves to another group (Regroup), its totals so far stay with the old group.
class GilSampleLedger {
 public:
  void Add(pid_t pid, const std::string& group);
  // One sample of `pid`: held or not, `interval_s` the time since its previous sample (the
  // sample stands for that interval). Unknown pids are ignored.
  void Record(pid_t pid, bool held, double interval_s);
  void Regroup(pid_t pid, const std::string& group);
  void Remove(pid_t pid);
  bool Has(pid_t pid) const { return live_.count(pid) != 0; }
  // Live processes (pid set) and the totals of processes that left, per group (pid 0).
  std::vector<metrics::GilUtilization> Rows() const;

 private:
  struct Totals {
    std::string group;
    uint64_t held = 0, free = 0;
    double held_seconds = 0;
  };
  static void AddTo(Totals& into, const Totals& t);
  std::map<pid_t, Totals> live_;
  std::map<std::string, Totals> retired_;
};

struct GilSamplerOptions {
  // The mean time between two samples of one process (jittered uniformly by ±50%, so that it
  // cannot alias with the 5 ms switch interval or a periodic workload). gilstatd's always-on
  // default: 100 samples/s, ±0.65% (1σ) in a one-minute window; each sample costs a wake-up of
  // the sampler thread, which on a busy 2-CPU host takes CPU time from the programs it watches
  // (docs/PYTHON.md, "Cost").
  std::chrono::microseconds mean_interval{10000};
  // Reads per second over all processes at most: with more than mean_interval × this many
  // processes each one is sampled less often (see docs/PYTHON.md).
  double max_reads_per_second = 1000;
  // The sampler thread's nice value. 0: a lower priority lets other processes delay samples
  // exactly when they preempt a GIL holder, which biases the estimate on a busy machine
  // (docs/PYTHON.md); the sampler's CPU is small either way.
  int nice = 0;
};

class GilSampler {
 public:
  // `group_of` names a process's group (nullopt: not known, keep the last one).
  GilSampler(GilSamplerOptions options, std::function<std::optional<std::string>(pid_t)> group_of);
  ~GilSampler();
  GilSampler(const GilSampler&) = delete;
  GilSampler& operator=(const GilSampler&) = delete;

  void Start();
  void Stop();

  // Samples `pid`'s GIL word at `addr`; with addr 0, `locate` is asked (at most once a second)
  // until it returns an address (2.x creates its GIL with the first thread).
  void Add(pid_t pid, GilWord word, uint64_t addr, std::function<uint64_t()> locate = nullptr);
  void Remove(pid_t pid);

  // For the collector (scrape threads).
  std::vector<metrics::GilUtilization> Rows();
  metrics::GilSamplerHealth Health() const;

  // The mean time between two samples of one process with `n` processes.
  static double MeanIntervalSeconds(const GilSamplerOptions& o, size_t n);

 private:
  struct Target {
    GilWord word = GilWord::kLocked;
    uint64_t addr = 0;
    std::function<uint64_t()> locate;
    std::chrono::steady_clock::time_point next_locate{};
    std::chrono::steady_clock::time_point last{};
    bool stopped = false;  // a read failed: not sampled any more
  };
  void Run();
  void SampleAll();
  void SampleOne(pid_t pid, Target& t, std::chrono::steady_clock::time_point now);
  void Failed(pid_t pid, Target& t, int err, const std::string& why);

  GilSamplerOptions options_;
  std::function<std::optional<std::string>(pid_t)> group_of_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool running_ = false;
  std::thread thread_;
  std::map<pid_t, Target> targets_;
  GilSampleLedger ledger_;
  uint64_t gone_ = 0, unreadable_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace gilstat::host
