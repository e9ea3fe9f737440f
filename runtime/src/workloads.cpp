// Named workloads: their programs, their parameters and the threads that run them.
#include "gilstat/rt/workloads.h"

#include "gilstat/parse.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <optional>
#include <set>

#include "gilstat/rt/primitives.h"

namespace gilstat::rt {
namespace {

using Clock = std::chrono::steady_clock;

// Environment layout shared by every workload program.
constexpr int kFdServer = 0;
constexpr int kLock0 = 0;
constexpr int kCond0 = 0;
constexpr int kReady = 0;
constexpr int kCall0 = 0;
// Cells (must match Workload::Cell).
constexpr int kCellServed = 0, kCellCpuSteps = 1, kCellCritical = 2, kCellQueue = 3,
              kCellProduced = 4, kCellConsumed = 5, kCellPendQueued = 6, kCellPendRun = 7;
static_assert(kCellPendRun + 1 == Workload::kNumCells);

constexpr int64_t kCpuChunk = 10'000;         // steps between stop checks
constexpr int64_t kWaitSliceNs = 10'000'000;  // 10 ms: waits that must notice a stop
constexpr int64_t kProducerBacklog = 64;      // producer sleeps above this backlog
constexpr int64_t kProducerSleepNs = 50'000;  // 50 µs
constexpr int64_t kForever = INT64_MAX;       // "remaining work" of continuous loops

Program MustBuild(const ProgramBuilder& b) {
  Result<Program> p = b.Build();
  GILSTAT_CHECK(p.ok());
  return std::move(p).value();
}

Error Invalid(std::string msg) { return MakeError(ErrorCode::kInvalidArgument, std::move(msg)); }

Result<int64_t> ParseIntParam(const std::string& key, const std::string& v) {
  if (auto n = ParseInt(v)) return *n;
  return Invalid("workload parameter " + key + ": '" + v + "' is not an integer");
}

Result<std::chrono::nanoseconds> ParseDurationParam(const std::string& key, const std::string& v) {
  if (auto d = ParseDuration(v)) return *d;
  return Invalid("workload parameter " + key + ": '" + v +
                 "' is not a duration (a number with ns, us, ms or s)");
}

Result<bool> ParseBoolParam(const std::string& key, const std::string& v) {
  if (auto b = ParseBool(v)) return *b;
  return Invalid("workload parameter " + key + ": '" + v + "' is not a boolean");
}

// The keys each workload accepts (besides "continuous").
const std::set<std::string>& KeysOf(WorkloadKind k) {
  static const std::set<std::string> countdown{"threads", "steps"};
  static const std::set<std::string> echo{"duration", "round_trips", "request_steps"};
  static const std::set<std::string> convoy{"cpu_threads", "duration",      "round_trips",
                                            "warmup",      "request_steps", "cpu_burst",
                                            "cpu_rest",    "client_period"};
  static const std::set<std::string> lock{"threads", "critical_steps", "outside_steps",
                                          "iterations", "duration"};
  static const std::set<std::string> mixed{"cpu_threads",   "lock_threads",  "critical_steps",
                                           "outside_steps", "pending_every", "duration",
                                           "warmup",        "request_steps"};
  switch (k) {
    case WorkloadKind::kCountdown:
      return countdown;
    case WorkloadKind::kEcho:
      return echo;
    case WorkloadKind::kConvoy:
      return convoy;
    case WorkloadKind::kLockContention:
      return lock;
    case WorkloadKind::kMixed:
      break;
  }
  return mixed;
}

bool UsesEcho(WorkloadKind k) {
  return k == WorkloadKind::kEcho || k == WorkloadKind::kConvoy || k == WorkloadKind::kMixed;
}

// Splits `total` into `parts` shares that differ by at most one.
int64_t Share(int64_t total, int parts, int index) {
  return total / parts + (index < total % parts ? 1 : 0);
}

// The calling thread's state when it is attached to `rt` and holds its GIL: such a caller must
// release the GIL while it waits for workload threads, or they could never attach.
ThreadState* HolderOn(Runtime& rt) {
  ThreadState* ts = Runtime::Current();
  if (ts && &ts->runtime() == &rt && ts->holds_gil()) return ts;
  return nullptr;
}

}  // namespace

// ---- programs ----

Program CpuProgram(int64_t chunk_steps) {
  // r0 remaining steps, r3 steps of this chunk, r4 chunk counter, r6 chunk size.
  ProgramBuilder b("cpu");
  auto outer = b.NewLabel(), last = b.NewLabel(), body = b.NewLabel(), inner = b.NewLabel(),
       done = b.NewLabel();
  b.LoadI(6, chunk_steps);
  b.Bind(outer).Jz(0, done);
  b.Mov(3, 6).Jlt(0, 6, last).Sub(0, 6).JmpF(body);
  b.Bind(last).Mov(3, 0).LoadI(0, 0);
  b.Bind(body).Mov(4, 3);
  b.Bind(inner).Mix(1, 4).Djnz(4, inner);
  b.AddC(kCellCpuSteps, 3).Stopped(2).Jz(2, outer);
  b.Bind(done).Halt();
  return MustBuild(b);
}

Program PacedCpuProgram(int64_t chunk_steps, int64_t burst_ns, int64_t rest_ns) {
  // r5 the burst's deadline, r4 steps left in this chunk, r3 now, r6 chunk size, r7 burst
  // length. A burst is timed, not counted, so the duty cycle is the same on a slow (sanitizer)
  // build; it computes whole chunks, at least one.
  ProgramBuilder b("paced-cpu");
  auto burst = b.NewLabel(), chunk_l = b.NewLabel(), inner = b.NewLabel(), done = b.NewLabel();
  b.LoadI(6, std::max<int64_t>(1, chunk_steps)).LoadI(7, burst_ns);
  b.Bind(burst).Clock(5).Add(5, 7);
  b.Bind(chunk_l).Mov(4, 6);
  b.Bind(inner).Mix(1, 4).Djnz(4, inner);
  b.AddC(kCellCpuSteps, 6).Stopped(2).Jnz(2, done).Clock(3).Jlt(3, 5, chunk_l);
  b.Sleep(rest_ns).Stopped(2).Jz(2, burst);
  b.Bind(done).Halt();
  return MustBuild(b);
}

Program EchoServerProgram() {
  // r6: compute steps of request handling between READ and WRITE (0: none).
  ProgramBuilder b("echo-server");
  auto loop = b.NewLabel(), work = b.NewLabel(), reply = b.NewLabel(), done = b.NewLabel();
  b.LoadI(7, 1);
  b.Bind(loop).Read(0, kFdServer, 1).Jlt(0, 7, done);  // 0: end of file, < 0: error
  b.Mov(2, 6).Jz(2, reply);
  b.Bind(work).Mix(3, 2).Djnz(2, work);
  b.Bind(reply).Write(1, kFdServer, 1).Jlt(1, 7, done);
  b.AddC(kCellServed, 7).Jmp(loop);
  b.Bind(done).Halt();
  return MustBuild(b);
}

Program LockContentionProgram() {
  // r3 outside steps, r4 critical steps, r5 iterations left, r6 exception code.
  ProgramBuilder b("lock-contention");
  auto loop = b.NewLabel(), cs = b.NewLabel(), out = b.NewLabel(), done = b.NewLabel(),
       handler = b.NewLabel();
  b.LoadI(7, 1);
  b.Bind(loop).LockAcq(0, kLock0).Setup(handler, 6);  // no check between acquire and SETUP
  b.Mov(1, 4);
  b.Bind(cs).Mix(2, 1).Djnz(1, cs);
  b.PopH().LockRel(kLock0).AddC(kCellCritical, 7);
  b.Mov(1, 3);
  b.Bind(out).Mix(2, 1).Djnz(1, out);
  b.Stopped(0).Jnz(0, done).Djnz(5, loop);
  b.Bind(done).Halt();
  b.Bind(handler).LockRel(kLock0).Raise(6);  // "finally": release, then re-raise
  return MustBuild(b);
}

Program ProducerProgram() {
  // r3 compute steps per item, r4 items per pending call, r5 items until the next one.
  ProgramBuilder b("producer");
  auto ready = b.NewLabel(), loop = b.NewLabel(), work = b.NewLabel(), check = b.NewLabel(),
       nosleep = b.NewLabel(), done = b.NewLabel(), handler = b.NewLabel();
  b.LoadI(7, 1).Mov(5, 4);
  b.Bind(ready).EvtWait(0, kReady, kWaitSliceNs).Jnz(0, loop);
  b.Stopped(0).Jz(0, ready).JmpF(done);
  b.Bind(loop).Mov(1, 3);
  b.Bind(work).Mix(2, 1).Djnz(1, work);
  b.CondAcq(0, kCond0).Setup(handler, 6);
  b.AddC(kCellQueue, 7).CondNotify(kCond0, 1);
  b.PopH().CondRel(kCond0).AddC(kCellProduced, 7);
  b.Djnz(5, check).Mov(5, 4).Pending(0, kCall0).Jz(0, check).AddC(kCellPendQueued, 7);
  b.Bind(check).LoadC(1, kCellQueue).LoadI(0, kProducerBacklog).Jlt(1, 0, nosleep);
  b.Sleep(kProducerSleepNs);
  b.Bind(nosleep).Stopped(0).Jz(0, loop);
  b.Bind(done).Halt();
  b.Bind(handler).CondRel(kCond0).Raise(6);
  return MustBuild(b);
}

Program ConsumerProgram() {
  ProgramBuilder b("consumer");
  auto loop = b.NewLabel(), check = b.NewLabel(), take = b.NewLabel(), done = b.NewLabel(),
       handler = b.NewLabel();
  b.LoadI(7, 1).LoadI(5, -1).EvtSet(kReady);
  b.Bind(loop).CondAcq(0, kCond0).Setup(handler, 6);
  b.Bind(check).LoadC(1, kCellQueue).Jnz(1, take);
  b.CondWait(0, kCond0, kWaitSliceNs).Stopped(2).Jz(2, check);
  b.PopH().CondRel(kCond0).JmpF(done);
  b.Bind(take).AddC(kCellQueue, 5).PopH().CondRel(kCond0).AddC(kCellConsumed, 7);
  b.Stopped(2).Jz(2, loop);
  b.Bind(done).Halt();
  b.Bind(handler).CondRel(kCond0).Raise(6);
  return MustBuild(b);
}

// ---- names and parameters ----

const char* WorkloadName(WorkloadKind kind) {
  switch (kind) {
    case WorkloadKind::kCountdown:
      return "countdown";
    case WorkloadKind::kEcho:
      return "echo";
    case WorkloadKind::kConvoy:
      return "convoy";
    case WorkloadKind::kLockContention:
      return "lock-contention";
    case WorkloadKind::kMixed:
      return "mixed";
  }
  return "?";
}

std::vector<std::string> WorkloadNames() {
  return {"countdown", "echo", "convoy", "lock-contention", "mixed"};
}

Result<WorkloadKind> ParseWorkloadKind(std::string_view name) {
  for (WorkloadKind k : {WorkloadKind::kCountdown, WorkloadKind::kEcho, WorkloadKind::kConvoy,
                         WorkloadKind::kLockContention, WorkloadKind::kMixed}) {
    if (name == WorkloadName(k)) return k;
  }
  return MakeError(ErrorCode::kNotFound, "unknown workload '" + std::string(name) +
                                             "' (countdown, echo, convoy, lock-contention, mixed)");
}

Status ValidateWorkload(const WorkloadSpec& s) {
  auto range = [](const char* what, int64_t v, int64_t lo, int64_t hi) -> Status {
    if (v < lo || v > hi) {
      return Status(Invalid(std::string("workload parameter ") + what + " = " + std::to_string(v) +
                            " outside " + std::to_string(lo) + ".." + std::to_string(hi)));
    }
    return Status::Ok();
  };
  constexpr int64_t kMaxThreads = 256;
  constexpr int64_t kMaxSteps = int64_t{1} << 40;
  Status st;
  switch (s.kind) {
    case WorkloadKind::kCountdown:
      if (!(st = range("threads", s.threads, 1, kMaxThreads))) return st;
      if (!(st = range("steps", s.steps, 1, kMaxSteps))) return st;
      break;
    case WorkloadKind::kEcho:
    case WorkloadKind::kConvoy:
      if (!(st = range("cpu_threads", s.cpu_threads, 0, kMaxThreads))) return st;
      if (!(st = range("round_trips", s.round_trips, 0, kMaxSteps))) return st;
      break;
    case WorkloadKind::kLockContention:
      if (!(st = range("threads", s.threads, 1, kMaxThreads))) return st;
      if (!(st = range("iterations", s.iterations, 0, kMaxSteps))) return st;
      break;
    case WorkloadKind::kMixed:
      if (!(st = range("cpu_threads", s.cpu_threads, 0, kMaxThreads))) return st;
      if (!(st = range("lock_threads", s.lock_threads, 0, kMaxThreads))) return st;
      if (!(st = range("pending_every", s.pending_every, 1, kMaxSteps))) return st;
      break;
  }
  if (!(st = range("critical_steps", s.critical_steps, 1, 1'000'000'000))) return st;
  if (!(st = range("outside_steps", s.outside_steps, 1, 1'000'000'000))) return st;
  if (!(st = range("request_steps", s.request_steps, 0, 1'000'000'000))) return st;
  if (s.duration.count() <= 0) return Status(Invalid("workload parameter duration must be > 0"));
  if (s.warmup.count() < 0) return Status(Invalid("workload parameter warmup must be >= 0"));
  if (s.cpu_burst.count() < 0 || s.cpu_rest.count() < 0 || s.client_period.count() < 0) {
    return Status(
        Invalid("workload parameters cpu_burst, cpu_rest and client_period must be >= 0"));
  }
  if (s.cpu_burst.count() > 0 && s.cpu_rest.count() == 0) {
    return Status(Invalid("workload parameter cpu_burst needs a cpu_rest > 0"));
  }
  return Status::Ok();
}

WorkloadSpec DefaultWorkload(WorkloadKind kind) {
  WorkloadSpec s;
  s.kind = kind;
  if (kind == WorkloadKind::kEcho) s.cpu_threads = 0;
  if (kind == WorkloadKind::kLockContention) s.threads = 4;
  return s;
}

namespace {

// The spec's field of a duration parameter, nullptr for the other keys.
std::chrono::nanoseconds* DurationField(WorkloadSpec& s, const std::string& key) {
  if (key == "duration") return &s.duration;
  if (key == "warmup") return &s.warmup;
  if (key == "cpu_burst") return &s.cpu_burst;
  if (key == "cpu_rest") return &s.cpu_rest;
  if (key == "client_period") return &s.client_period;
  return nullptr;
}

}  // namespace

Result<WorkloadSpec> ParseWorkload(std::string_view name,
                                   const std::map<std::string, std::string>& params) {
  Result<WorkloadKind> kind = ParseWorkloadKind(name);
  if (!kind) return kind.error();
  WorkloadSpec s = DefaultWorkload(*kind);
  const std::set<std::string>& keys = KeysOf(s.kind);
  for (const auto& [key, value] : params) {
    if (key == "continuous") {
      Result<bool> b = ParseBoolParam(key, value);
      if (!b) return b.error();
      s.continuous = *b;
      continue;
    }
    if (!keys.count(key)) {
      std::string valid;
      for (const std::string& k : keys) valid += " " + k;
      return Invalid("workload " + std::string(name) + " has no parameter '" + key +
                     "' (valid: continuous" + valid + ")");
    }
    if (std::chrono::nanoseconds* field = DurationField(s, key)) {
      Result<std::chrono::nanoseconds> d = ParseDurationParam(key, value);
      if (!d) return d.error();
      *field = *d;
      continue;
    }
    Result<int64_t> v = ParseIntParam(key, value);
    if (!v) return v.error();
    auto as_int = [&v, &key = key](int& field) -> Status {  // clang 14 captures no binding
      if (*v < INT32_MIN || *v > INT32_MAX) {
        return Status(Invalid("workload parameter " + key + " out of range"));
      }
      field = static_cast<int>(*v);
      return Status::Ok();
    };
    Status st;
    if (key == "threads") {
      st = as_int(s.threads);
    } else if (key == "steps") {
      s.steps = *v;
    } else if (key == "cpu_threads") {
      st = as_int(s.cpu_threads);
    } else if (key == "round_trips") {
      s.round_trips = *v;
    } else if (key == "critical_steps") {
      st = as_int(s.critical_steps);
    } else if (key == "outside_steps") {
      st = as_int(s.outside_steps);
    } else if (key == "iterations") {
      s.iterations = *v;
    } else if (key == "lock_threads") {
      st = as_int(s.lock_threads);
    } else if (key == "request_steps") {
      st = as_int(s.request_steps);
    } else if (key == "pending_every") {
      st = as_int(s.pending_every);
    }
    if (!st) return st.error();
  }
  if (Status st = ValidateWorkload(s); !st) return st.error();
  return s;
}

// ---- the running workload ----

Workload::Workload(Runtime& rt, const WorkloadSpec& spec) : rt_(rt), spec_(spec) {}

Workload::~Workload() {
  if (!joined_) {
    RequestStop();
    (void)Wait();
  }
  for (int fd : sock_) {
    if (fd >= 0) ::close(fd);
  }
}

Status Workload::Setup() {
  if (UsesEcho(spec_.kind)) {
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sock_) != 0) {
      return Status(
          MakeError(ErrorCode::kUnavailable, std::string("socketpair: ") + std::strerror(errno)));
    }
    env_.fds = {sock_[0]};
  }
  if (spec_.kind == WorkloadKind::kLockContention || spec_.kind == WorkloadKind::kMixed) {
    lock_ = std::make_unique<Lock>(rt_, "workload.contended");
    env_.locks = {lock_.get()};
  }
  if (spec_.kind == WorkloadKind::kMixed) {
    cond_ = std::make_unique<Condition>(rt_, "workload.queue");
    ready_ = std::make_unique<Event>(rt_, "workload.ready");
    env_.conditions = {cond_.get()};
    env_.events = {ready_.get()};
    env_.pending_calls = {[this] {
      cells_[kCellPendRun].fetch_add(1, std::memory_order_relaxed);
      return 0;
    }};
  }
  env_.cells = std::span<std::atomic<int64_t>>(cells_.data(), cells_.size());
  env_.stop = &stop_;
  return Status::Ok();
}

void Workload::StartInterp(std::string name, const Program* program, Regs regs) {
  ++expected_;
  ++interp_threads_;
  threads_.emplace_back(
      [this, name = std::move(name), program, regs] { InterpMain(name, program, regs); });
}

void Workload::StartClient() {
  ++expected_;
  threads_.emplace_back([this] { ClientMain(); });
}

void Workload::StartTimer() {
  ++expected_;
  threads_.emplace_back([this] { TimerMain(); });
}

const Program* Workload::Own(Program program) {
  programs_.push_back(std::make_unique<Program>(std::move(program)));
  return programs_.back().get();
}

void Workload::StartCpuThreads(int count, const Program* cpu) {
  for (int i = 0; i < count; ++i) {
    Regs r{};
    r[0] = kForever;
    StartInterp("cpu-" + std::to_string(i), cpu, r);
  }
}

void Workload::StartLockThreads() {
  const WorkloadSpec& s = spec_;
  const Program* p = Own(LockContentionProgram());
  const bool by_count = !s.continuous && s.iterations > 0;
  if (by_count) active_interp_ = s.threads;
  for (int i = 0; i < s.threads; ++i) {
    Regs r{};
    r[3] = s.outside_steps;
    r[4] = s.critical_steps;
    r[5] = by_count ? Share(s.iterations, s.threads, i) : kForever;
    if (r[5] == 0) {
      --active_interp_;
      continue;
    }
    StartInterp("lock-" + std::to_string(i), p, r);
  }
  if (!by_count && !s.continuous) StartTimer();
  if (by_count && active_interp_ == 0) finished_ = true;
}

void Workload::StartMixedThreads(const Program* cpu, Regs server_regs) {
  const WorkloadSpec& s = spec_;
  StartInterp("echo-server", Own(EchoServerProgram()), server_regs);
  StartClient();
  StartCpuThreads(s.cpu_threads, cpu);
  const Program* lockp = Own(LockContentionProgram());
  for (int i = 0; i < s.lock_threads; ++i) {
    Regs r{};
    r[3] = s.outside_steps;
    r[4] = s.critical_steps;
    r[5] = kForever;
    StartInterp("lock-" + std::to_string(i), lockp, r);
  }
  Regs pr{};
  pr[3] = s.critical_steps;
  pr[4] = s.pending_every;
  StartInterp("producer", Own(ProducerProgram()), pr);
  StartInterp("consumer", Own(ConsumerProgram()), Regs{});
  if (!s.continuous) StartTimer();
}

void Workload::StartThreads() {
  const WorkloadSpec& s = spec_;
  const Program* cpu = Own(CpuProgram(kCpuChunk));
  Regs server_regs{};
  server_regs[6] = s.request_steps;
  switch (s.kind) {
    case WorkloadKind::kCountdown:
      active_interp_ = s.threads;
      for (int i = 0; i < s.threads; ++i) {
        Regs r{};
        r[0] = s.continuous ? kForever : Share(s.steps, s.threads, i);
        StartInterp("countdown-" + std::to_string(i), cpu, r);
      }
      break;
    case WorkloadKind::kEcho:
    case WorkloadKind::kConvoy:
      StartInterp("echo-server", Own(EchoServerProgram()), server_regs);
      if (s.kind == WorkloadKind::kConvoy) {
        StartCpuThreads(s.cpu_threads, s.cpu_burst.count() > 0
                                           ? Own(PacedCpuProgram(kCpuChunk, s.cpu_burst.count(),
                                                                 s.cpu_rest.count()))
                                           : cpu);
      }
      StartClient();
      break;
    case WorkloadKind::kLockContention:
      StartLockThreads();
      break;
    case WorkloadKind::kMixed:
      StartMixedThreads(cpu, server_regs);
      break;
  }
}

void Workload::OpenGate(std::unique_lock<std::mutex>& lk) {
  // Wait (without the GIL, if the caller holds it) until every thread has arrived at the gate.
  ThreadState* holder = HolderOn(rt_);
  std::optional<AllowThreads> allow;
  if (holder) {
    lk.unlock();
    allow.emplace(*holder);
    lk.lock();
  }
  cv_.wait(lk, [&] { return attached_ == expected_; });
  go_ = true;
  t0_ = Clock::now();
  lk.unlock();
  cv_.notify_all();
}

Result<std::unique_ptr<Workload>> Workload::Start(Runtime& rt, const WorkloadSpec& spec) {
  if (Status st = ValidateWorkload(spec); !st) return st.error();
  std::unique_ptr<Workload> w(new Workload(rt, spec));
  if (Status st = w->Setup(); !st) return st.error();
  std::unique_lock<std::mutex> lk(w->mu_);  // threads wait at the gate until `go_`
  w->StartThreads();
  w->OpenGate(lk);
  return w;
}

void Workload::InterpMain(std::string name, const Program* program, Regs regs) {
  Result<ThreadState*> ts = rt_.AttachThread(name);
  if (!ts) {
    Fail(ts.error());
    std::unique_lock<std::mutex> lk(mu_);
    ++attached_;
    cv_.notify_all();
    if (active_interp_ > 0 && --active_interp_ == 0) finished_ = true;
    return;
  }
  {
    AllowThreads allow(**ts);
    std::unique_lock<std::mutex> lk(mu_);
    ++attached_;
    cv_.notify_all();
    cv_.wait(lk, [&] { return go_; });
  }
  Result<RunResult> r = RunProgram(**ts, *program, env_, regs);
  const auto t = Clock::now();
  rt_.DetachThread(*ts);
  if (!r) Fail(r.error());
  std::lock_guard<std::mutex> lk(mu_);
  if (r && r->exception != 0) ++unhandled_;
  if (active_interp_ > 0 && --active_interp_ == 0) {
    t_end_ = t;
    finished_ = true;
    cv_.notify_all();
  }
}

void Workload::ClientMain() {
  {
    std::unique_lock<std::mutex> lk(mu_);
    ++attached_;
    cv_.notify_all();
    cv_.wait(lk, [&] { return go_; });
    if (spec_.kind != WorkloadKind::kEcho && spec_.warmup.count() > 0) {
      cv_.wait_for(lk, spec_.warmup, [&] { return stop_.load(); });
    }
  }
  const bool bounded = !spec_.continuous && spec_.kind != WorkloadKind::kMixed;
  const int fd = sock_[1];
  const auto start = Clock::now();
  const auto deadline = start + spec_.duration;
  uint64_t n = 0;
  char byte = 'x';
  auto next = start;
  while (!stop_.load(std::memory_order_relaxed)) {
    if (spec_.client_period.count() > 0) {  // paced: one request per period
      std::unique_lock<std::mutex> lk(mu_);
      if (cv_.wait_until(lk, next, [&] { return stop_.load(); })) break;
      next = std::max(next + spec_.client_period, Clock::now());  // late: no catching up
    }
    ssize_t w;
    do {
      w = ::send(fd, &byte, 1, MSG_NOSIGNAL);
    } while (w < 0 && errno == EINTR);
    if (w != 1) break;
    ssize_t got;
    do {
      got = ::read(fd, &byte, 1);
    } while (got < 0 && errno == EINTR);
    if (got != 1) break;
    round_trips_.store(++n, std::memory_order_relaxed);
    if (bounded) {
      if (spec_.round_trips > 0 && static_cast<int64_t>(n) >= spec_.round_trips) break;
      if (spec_.round_trips == 0 && Clock::now() >= deadline) break;
    }
  }
  const auto end = Clock::now();
  ::shutdown(fd, SHUT_WR);  // the server reads end of file and halts
  std::lock_guard<std::mutex> lk(mu_);
  client_elapsed_s_ = std::chrono::duration<double>(end - start).count();
  if (bounded) {
    stop_.store(true);  // CPU threads end at their next check
    if (!finished_) {
      t_end_ = end;
      finished_ = true;
    }
    cv_.notify_all();
  }
}

void Workload::TimerMain() {
  std::unique_lock<std::mutex> lk(mu_);
  ++attached_;
  cv_.notify_all();
  cv_.wait(lk, [&] { return go_; });
  cv_.wait_until(lk, t0_ + spec_.duration, [&] { return stop_.load(); });
  stop_.store(true);
  if (!finished_) {
    t_end_ = Clock::now();
    finished_ = true;
  }
  cv_.notify_all();
}

void Workload::Fail(const Error& e) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    errors_.push_back(e);
  }
  StopAll(/*by_owner=*/false);
}

void Workload::RequestStop() { StopAll(/*by_owner=*/true); }

void Workload::StopAll(bool by_owner) {
  std::lock_guard<std::mutex> lk(mu_);
  stop_.store(true);
  if (by_owner) stop_requested_.store(true);
  if (!finished_) {
    t_end_ = Clock::now();
    finished_ = true;
  }
  // Wake threads blocked on the socketpair; the descriptors stay open until destruction.
  for (int fd : sock_) {
    if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
  }
  cv_.notify_all();
}

bool Workload::finished() const {
  std::lock_guard<std::mutex> lk(mu_);
  return finished_;
}

WorkloadReport Workload::Progress() const {
  WorkloadReport rep;
  rep.kind = spec_.kind;
  rep.interp_threads = interp_threads_;
  auto cell = [&](int c) {
    int64_t v = cells_[c].load(std::memory_order_relaxed);
    return v < 0 ? uint64_t{0} : static_cast<uint64_t>(v);
  };
  rep.requests_served = cell(kCellServed);
  rep.cpu_steps = cell(kCellCpuSteps);
  rep.critical_sections = cell(kCellCritical);
  rep.items_produced = cell(kCellProduced);
  rep.items_consumed = cell(kCellConsumed);
  rep.pending_calls_queued = cell(kCellPendQueued);
  rep.pending_calls_run = cell(kCellPendRun);
  rep.round_trips = round_trips_.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lk(mu_);
  auto end = finished_ ? t_end_ : Clock::now();
  rep.elapsed_s = go_ ? std::chrono::duration<double>(end - t0_).count() : 0.0;
  rep.unhandled_exceptions = unhandled_;
  rep.stopped = stop_requested_.load();
  return rep;
}

Result<WorkloadReport> Workload::Wait() {
  if (!joined_) {
    ThreadState* holder = HolderOn(rt_);
    std::optional<AllowThreads> allow;
    if (holder) allow.emplace(*holder);
    for (std::thread& t : threads_) t.join();
    joined_ = true;
  }
  WorkloadReport rep = Progress();
  if (UsesEcho(spec_.kind) && spec_.kind != WorkloadKind::kMixed) {
    rep.elapsed_s = client_elapsed_s_;
  }
  if (rep.elapsed_s > 0) {
    rep.round_trips_per_s = static_cast<double>(rep.round_trips) / rep.elapsed_s;
    rep.critical_sections_per_s = static_cast<double>(rep.critical_sections) / rep.elapsed_s;
  }
  std::lock_guard<std::mutex> lk(mu_);
  if (!errors_.empty()) {
    Error e = errors_.front();
    e.message = std::string("workload ") + WorkloadName(spec_.kind) + ": " + e.message;
    return e;
  }
  return rep;
}

Result<WorkloadReport> Workload::Stop() {
  RequestStop();
  return Wait();
}

Result<WorkloadReport> RunWorkload(Runtime& rt, const WorkloadSpec& spec) {
  if (spec.continuous) return Invalid("RunWorkload needs a bounded workload (continuous=false)");
  Result<std::unique_ptr<Workload>> w = Workload::Start(rt, spec);
  if (!w) return w.error();
  return (*w)->Wait();
}

}  // namespace gilstat::rt
