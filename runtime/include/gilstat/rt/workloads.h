// Named, parameterised workloads for the hosted interpreter: what the daemon runs in the
// background and what the benchmarks measure. See docs/RUNTIME.md ("Workloads").
//
//   countdown        T interpreter threads share N compute steps (CPU-bound)
//   echo             an interpreter thread serves 1-byte requests over a socketpair; a client OS
//                    thread outside the GIL drives it as fast as it can and counts round trips
//   convoy           echo plus K CPU-bound interpreter threads; paced (the embedded default's
//                    demo) when the CPU threads rest between bursts and the client sends one
//                    request per period
//   lock-contention  T threads contend for one runtime Lock around C compute steps
//   mixed            CPU threads, echo, lock contention, a condition/event producer-consumer and
//                    pending calls, all at once
//
// A workload runs either bounded (a fixed amount of work or a duration; RunWorkload) or
// continuously until stopped (Workload::Start + Stop). Stopping is prompt (well under 100 ms on
// an idle machine; each thread needs a CPU and the GIL once to see the flag):
// every loop checks a stop flag at least every few hundred microseconds of work, blocking waits
// use short timeouts, and the echo socketpair is shut down to wake threads blocked in read().
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "gilstat/result.h"
#include "gilstat/rt/interp.h"
#include "gilstat/rt/runtime.h"

namespace gilstat::rt {

enum class WorkloadKind { kCountdown, kEcho, kConvoy, kLockContention, kMixed };
const char* WorkloadName(WorkloadKind kind);
Result<WorkloadKind> ParseWorkloadKind(std::string_view name);
std::vector<std::string> WorkloadNames();

struct WorkloadSpec {
  WorkloadKind kind = WorkloadKind::kCountdown;
  // Run until Workload::Stop() instead of a fixed amount of work / duration.
  bool continuous = false;

  // countdown, lock-contention: interpreter threads (>= 1).
  int threads = 1;
  // countdown: total compute steps, split over the threads (>= 1). One step is a MIX and a
  // DJNZ: two ticking instructions.
  int64_t steps = 10'000'000;

  // convoy, mixed: CPU-bound interpreter threads beside the echo server (echo: always 0).
  int cpu_threads = 1;
  // echo, convoy, mixed, lock-contention (when iterations == 0): how long a bounded run lasts.
  std::chrono::nanoseconds duration = std::chrono::seconds(1);
  // echo, convoy: a bounded run ends after this many round trips (0: after `duration`).
  int64_t round_trips = 0;
  // echo, convoy, mixed: compute steps the server spends handling each request (>= 0).
  int request_steps = 0;
  // convoy, mixed: time the CPU threads run before the echo client starts measuring.
  std::chrono::nanoseconds warmup = std::chrono::milliseconds(20);
  // convoy: a CPU thread computes for this long (whole chunks of 10,000 steps, at least one),
  // then sleeps `cpu_rest` without the GIL, and again (0: it never rests). With `client_period`
  // this paces the convoy: the echo server still finds the GIL held during a burst (contention, a
  // drop request, a forced switch, a handoff), but the workload leaves most of a CPU idle.
  std::chrono::nanoseconds cpu_burst{0};
  std::chrono::nanoseconds cpu_rest{0};
  // convoy: the client sends one request per period, on a fixed schedule (0: the next request
  // as soon as the answer arrives).
  std::chrono::nanoseconds client_period{0};

  // lock-contention, mixed: compute steps inside / between critical sections (>= 1).
  int critical_steps = 10;
  int outside_steps = 10;
  // lock-contention: total critical sections of a bounded run (0: run for `duration`).
  int64_t iterations = 0;

  // mixed: lock-contention threads, and a pending call registered every N produced items.
  int lock_threads = 2;
  int pending_every = 64;
};

// The defaults of a workload (those of WorkloadSpec, but lock-contention runs 4 threads).
WorkloadSpec DefaultWorkload(WorkloadKind kind);
// The spec of workload `name` with its defaults, overridden by `params`. Keys (values are
// integers unless noted; durations take a unit: "500ms", "2s", "100us", "250000ns"):
//   countdown        threads, steps
//   echo             duration, round_trips, request_steps
//   convoy           cpu_threads, duration, round_trips, warmup, request_steps,
//                    cpu_burst, cpu_rest, client_period (durations)
//   lock-contention  threads, critical_steps, outside_steps, iterations, duration
//   mixed            cpu_threads, lock_threads, critical_steps, outside_steps, pending_every,
//                    duration, warmup, request_steps
//   any              continuous ("true"/"false")
// Unknown keys, keys that do not apply to the workload and bad values are kInvalidArgument.
Result<WorkloadSpec> ParseWorkload(std::string_view name,
                                   const std::map<std::string, std::string>& params = {});
// Checks ranges (e.g. threads >= 1); ParseWorkload calls it.
Status ValidateWorkload(const WorkloadSpec& spec);

struct WorkloadReport {
  WorkloadKind kind = WorkloadKind::kCountdown;
  int interp_threads = 0;    // interpreter threads the workload ran
  double elapsed_s = 0;      // countdown/lock-contention bounded: first start to last finish;
                             // echo/convoy: the client's measuring time; else start to stop
  uint64_t round_trips = 0;  // echo client: completed 1-byte round trips
  double round_trips_per_s = 0;
  uint64_t requests_served = 0;    // echo server: requests answered
  uint64_t cpu_steps = 0;          // compute steps completed by CPU-bound threads / countdown
  uint64_t critical_sections = 0;  // lock-contention critical sections completed
  double critical_sections_per_s = 0;
  uint64_t items_produced = 0, items_consumed = 0;  // mixed producer-consumer
  uint64_t pending_calls_queued = 0, pending_calls_run = 0;
  uint64_t unhandled_exceptions = 0;  // programs ended by an asynchronous exception
  bool stopped = false;               // ended by Stop() rather than by finishing its work
};

// One running instance of a workload. Threads attach to the runtime when started and detach
// when they finish. Destroying a running workload stops it.
class Workload {
 public:
  // Starts every thread of the workload and returns once they are attached and released.
  static Result<std::unique_ptr<Workload>> Start(Runtime& rt, const WorkloadSpec& spec);
  ~Workload();
  Workload(const Workload&) = delete;
  Workload& operator=(const Workload&) = delete;

  const WorkloadSpec& spec() const { return spec_; }
  // Asks every thread to finish; returns at once. Threads end within ~100 ms on an idle machine.
  void RequestStop();
  // True once a bounded workload has finished its work (or a stop was requested).
  bool finished() const;
  // Counters so far (cheap; any thread).
  WorkloadReport Progress() const;
  // Joins the threads (a continuous workload must have been asked to stop, or this blocks
  // until it is) and reports. An error when a thread failed (attach, or a program error).
  Result<WorkloadReport> Wait();
  // RequestStop() + Wait().
  Result<WorkloadReport> Stop();

  static constexpr int kNumCells = 8;  // shared counters of the workload programs

 private:
  Workload(Runtime& rt, const WorkloadSpec& spec);
  Status Setup();
  void StartInterp(std::string name, const Program* program, Regs regs);
  void StartClient();
  void StartTimer();
  const Program* Own(Program program);  // kept alive as long as the workload
  void StartCpuThreads(int count, const Program* cpu);
  void StartLockThreads();
  void StartMixedThreads(const Program* cpu, Regs server_regs);
  void StartThreads();                              // every thread of the spec's kind, at the gate
  void OpenGate(std::unique_lock<std::mutex>& lk);  // waits for all, then lets them go
  void InterpMain(std::string name, const Program* program, Regs regs);
  void ClientMain();
  void TimerMain();
  void Fail(const Error& e);
  void StopAll(bool by_owner);

  Runtime& rt_;
  WorkloadSpec spec_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> stop_requested_{false};
  std::array<std::atomic<int64_t>, kNumCells> cells_{};
  Env env_;
  int sock_[2] = {-1, -1};  // [0]: server (interpreter), [1]: client
  std::unique_ptr<Lock> lock_;
  std::unique_ptr<Condition> cond_;
  std::unique_ptr<Event> ready_;
  std::vector<std::unique_ptr<Program>> programs_;
  std::vector<std::thread> threads_;
  int interp_threads_ = 0;
  int active_interp_ = 0;  // bounded countdown / lock-contention: threads still working

  // Start gate: threads wait here (without the GIL) until every thread is attached.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int attached_ = 0;
  int expected_ = 0;
  bool go_ = false;
  bool finished_ = false;
  std::chrono::steady_clock::time_point t0_, t_end_;
  std::atomic<uint64_t> round_trips_{0};
  double client_elapsed_s_ = 0;
  uint64_t unhandled_ = 0;
  std::vector<Error> errors_;
  bool joined_ = false;
};

// Runs a bounded workload to completion on fresh threads and reports (kInvalidArgument for a
// continuous spec).
Result<WorkloadReport> RunWorkload(Runtime& rt, const WorkloadSpec& spec);

// The programs the workloads run, exposed for tests and documentation. Cell and object indices
// are those of the workload's environment.
Program CpuProgram(int64_t chunk_steps);  // r0: steps to do (remaining); chunked, stoppable
// Bursts of `burst_steps` (in chunks of at most `chunk_steps`, stoppable), each followed by a
// sleep of `rest_ns` without the GIL, until stopped.
Program PacedCpuProgram(int64_t chunk_steps, int64_t burst_steps, int64_t rest_ns);
Program EchoServerProgram();      // r6: request-handling compute steps
Program LockContentionProgram();  // r3: outside steps, r4: critical steps, r5: iterations
Program ProducerProgram();        // r3: compute steps per item, r4: items per pending call
Program ConsumerProgram();

}  // namespace gilstat::rt
