// The runtime: thread states, the eval-loop hooks (ticks, checks, pending calls, asynchronous
// exceptions), the lock-stats registry and snapshots.
#include "gilstat/rt/runtime.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <map>
#include <mutex>

#include "gil.h"
#include "gilstat/check.h"

namespace gilstat::rt {

namespace {
thread_local ThreadState* t_current = nullptr;

void AddThreadStats(ThreadSnapshot& into, const ThreadStats& s) {
  into.ticks += s.ticks.Load();
  into.gil_acquisitions += s.gil_acquisitions.Load();
  into.gil_wait_ns += s.gil_wait_ns.Load();
  into.gil_hold_ns += s.gil_hold_ns.Load();
  into.forced_releases += s.forced_releases.Load();
  into.voluntary_releases += s.voluntary_releases.Load();
}
}  // namespace

const char* PolicyName(Policy policy) {
  switch (policy) {
    case Policy::kClassic:
      return "classic";
    case Policy::kSwitching:
      return "switching";
    case Policy::kFair:
      return "fair";
  }
  return "unknown";
}

Result<Policy> ParsePolicy(std::string_view name) {
  for (Policy p : {Policy::kClassic, Policy::kSwitching, Policy::kFair}) {
    if (name == PolicyName(p)) return p;
  }
  return MakeError(ErrorCode::kInvalidArgument, "unknown GIL policy '" + std::string(name) +
                                                    "' (expected classic, switching or fair)");
}

ThreadState::ThreadState(Runtime* rt, uint32_t id, std::string name, bool is_main)
    : runtime_(rt), id_(id), tid_(gettid()), name_(std::move(name)), is_main_(is_main) {}

ThreadState::~ThreadState() = default;

// ---- Gil accounting shared by the policies ----

void Gil::NoteAcquired(ThreadState& ts, int64_t t0, int64_t t1, bool contended) {
  const uint64_t wait = t1 > t0 ? static_cast<uint64_t>(t1 - t0) : 0;
  stats_.acquisitions.AddExclusive(1);
  if (contended) stats_.contended.AddExclusive(1);
  stats_.wait_ns.AddExclusive(wait);
  stats_.wait_hist.RecordExclusive(wait);
  stats_.RecordMaxWait(wait);
  if (last_releaser_ != 0) {
    if (last_releaser_ != ts.id_) {
      stats_.handoffs.AddExclusive(1);
    } else if (last_release_forced_) {
      stats_.same_thread_reacquisitions.AddExclusive(1);
    }
  }
  if (last_holder_.load(std::memory_order_relaxed) != ts.id_) {
    switch_number_.AddExclusive(1);
    last_holder_.store(ts.id_, std::memory_order_relaxed);
  }
  ts.holds_gil_ = true;
  ts.acquired_at_ns_ = t1;
  ts.stats_.gil_acquisitions.AddExclusive(1);
  ts.stats_.gil_wait_ns.AddExclusive(wait);
}

void Gil::NoteReleasing(ThreadState& ts, ReleaseReason why, int64_t now) {
  const uint64_t hold =
      now > ts.acquired_at_ns_ ? static_cast<uint64_t>(now - ts.acquired_at_ns_) : 0;
  stats_.hold_hist.RecordExclusive(hold);
  stats_.releases.AddExclusive(1);
  switch (why) {
    case ReleaseReason::kForced:
      stats_.forced_releases.AddExclusive(1);
      ts.stats_.forced_releases.AddExclusive(1);
      break;
    case ReleaseReason::kVoluntary:
      stats_.voluntary_releases.AddExclusive(1);
      ts.stats_.voluntary_releases.AddExclusive(1);
      break;
    case ReleaseReason::kExit:
      stats_.exit_releases.AddExclusive(1);
      break;
  }
  ts.stats_.gil_hold_ns.AddExclusive(hold);
  ts.holds_gil_ = false;
  ts.last_release_ = why;
  last_releaser_ = ts.id_;
  last_release_forced_ = why == ReleaseReason::kForced;
}

// ---- Runtime ----

struct Runtime::Impl {
  struct Series {
    LockKind kind;
    std::unique_ptr<LockStats> stats;
    std::vector<NativeAddress> natives;
  };

  std::atomic<int> check_interval{100};
  std::atomic<int64_t> switch_interval_ns{5'000'000};
  LockStats gil_stats;
  Counter pending_calls_run;    // written by the main thread holding the GIL
  Counter async_exc_delivered;  // written by GIL holders

  std::mutex pending_mu;
  std::deque<std::function<int()>> pending;

  mutable std::mutex mu;  // guards everything below
  std::vector<std::unique_ptr<ThreadState>> threads;
  ThreadSnapshot exited;
  uint32_t next_id = 0;
  std::map<std::string, Series> series;
};

Runtime::Runtime(const RuntimeOptions& options)
    : options_(options), classic_(options.policy == Policy::kClassic), impl_(new Impl) {
  impl_->check_interval.store(options.check_interval);
  impl_->switch_interval_ns.store(options.switch_interval.count());
  ticker_.store(options.check_interval);
  switch (options.policy) {
    case Policy::kClassic:
      gil_ = MakeClassicGil(*this, impl_->gil_stats);
      break;
    case Policy::kSwitching:
      gil_ = MakeSwitchingGil(*this, impl_->gil_stats);
      break;
    case Policy::kFair:
      gil_ = MakeFairGil(*this, impl_->gil_stats);
      break;
  }
}

Runtime::~Runtime() {
  std::lock_guard lock(impl_->mu);
  GILSTAT_CHECK(impl_->threads.empty());
}

Result<std::unique_ptr<Runtime>> Runtime::Create(const RuntimeOptions& options) {
  if (options.check_interval < 1) {
    return MakeError(ErrorCode::kInvalidArgument, "check interval must be >= 1 tick");
  }
  if (options.switch_interval.count() <= 0) {
    return MakeError(ErrorCode::kInvalidArgument, "switch interval must be > 0");
  }
  if (options.max_pending_calls < 1) {
    return MakeError(ErrorCode::kInvalidArgument, "max_pending_calls must be >= 1");
  }
  if (options.policy != Policy::kClassic && options.policy != Policy::kSwitching &&
      options.policy != Policy::kFair) {
    return MakeError(ErrorCode::kInvalidArgument, "unknown GIL policy");
  }
  return std::unique_ptr<Runtime>(new Runtime(options));
}

Result<ThreadState*> Runtime::AttachThread(std::string name) {
  if (t_current != nullptr) {
    return MakeError(ErrorCode::kFailedPrecondition,
                     "thread already attached as '" + t_current->name() + "'");
  }
  ThreadState* ts;
  {
    std::lock_guard lock(impl_->mu);
    const uint32_t id = ++impl_->next_id;
    impl_->threads.emplace_back(new ThreadState(this, id, std::move(name), id == 1));
    ts = impl_->threads.back().get();
    gil_->InitThread(*ts);
  }
  t_current = ts;
  AcquireGil(*ts);
  return ts;
}

void Runtime::DetachThread(ThreadState* ts) {
  GILSTAT_CHECK(ts != nullptr && t_current == ts && ts->holds_gil_);
  gil_->Drop(*ts, ReleaseReason::kExit);
  std::unique_ptr<ThreadState> owned;
  {
    std::lock_guard lock(impl_->mu);
    auto& v = impl_->threads;
    auto it = std::find_if(v.begin(), v.end(), [ts](const auto& p) { return p.get() == ts; });
    GILSTAT_CHECK(it != v.end());
    AddThreadStats(impl_->exited, ts->stats_);
    owned = std::move(*it);
    v.erase(it);
  }
  gil_->FiniThread(*ts);
  t_current = nullptr;
}

ThreadState* Runtime::Current() { return t_current; }

void Runtime::ReleaseGil(ThreadState& ts, ReleaseReason why) {
  GILSTAT_CHECK(ts.holds_gil_);
  gil_->Drop(ts, why);
}

void Runtime::AcquireGil(ThreadState& ts) {
  GILSTAT_CHECK(!ts.holds_gil_);
  gil_->Take(ts);
  // An asynchronous exception for this thread may have been signalled while another thread
  // held the GIL (which cleared the bit): signal it again for this thread.
  if (!classic_ && ts.async_exc_.load(std::memory_order_relaxed) != 0) {
    eval_breaker_.fetch_or(kEvalAsyncExc, std::memory_order_acq_rel);
  }
}

AllowThreads::~AllowThreads() {
  const int saved = errno;
  ts_.runtime().AcquireGil(ts_);
  errno = saved;
}

int Runtime::check_interval() const { return impl_->check_interval.load(); }

Status Runtime::SetCheckInterval(int ticks) {
  if (ticks < 1) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "check interval must be >= 1 tick, got " + std::to_string(ticks));
  }
  impl_->check_interval.store(ticks);
  // Like sys.setcheckinterval: the new value applies from the next check on (the ticker is
  // reset to it then); a smaller value also takes effect at once.
  if (classic_ && ticker_.load(std::memory_order_relaxed) > ticks) {
    ticker_.store(ticks, std::memory_order_relaxed);
  }
  return Status::Ok();
}

std::chrono::nanoseconds Runtime::switch_interval() const {
  return std::chrono::nanoseconds(impl_->switch_interval_ns.load(std::memory_order_relaxed));
}

Status Runtime::SetSwitchInterval(std::chrono::nanoseconds interval) {
  if (interval.count() <= 0) {
    return MakeError(ErrorCode::kInvalidArgument, "switch interval must be > 0, got " +
                                                      std::to_string(interval.count()) + " ns");
  }
  impl_->switch_interval_ns.store(interval.count(), std::memory_order_relaxed);
  return Status::Ok();
}

Status Runtime::AddPendingCall(std::function<int()> fn) {
  if (!fn) return MakeError(ErrorCode::kInvalidArgument, "empty pending call");
  std::lock_guard lock(impl_->pending_mu);
  if (impl_->pending.size() >= options_.max_pending_calls) {
    return MakeError(
        ErrorCode::kResourceExhausted,
        "pending-call queue full (" + std::to_string(options_.max_pending_calls) + " calls)");
  }
  impl_->pending.push_back(std::move(fn));
  if (classic_) {
    ticker_.store(0, std::memory_order_relaxed);
  } else {
    eval_breaker_.fetch_or(kEvalPendingCalls, std::memory_order_acq_rel);
  }
  return Status::Ok();
}

bool Runtime::RunPendingCalls(ThreadState& ts) {
  size_t n;
  {
    std::lock_guard lock(impl_->pending_mu);
    n = impl_->pending.size();
  }
  // Run the calls queued at entry (not those they queue themselves), stop at the first that
  // fails: its code becomes an asynchronous exception of the main thread.
  for (size_t i = 0; i < n; ++i) {
    std::function<int()> fn;
    {
      std::lock_guard lock(impl_->pending_mu);
      if (impl_->pending.empty()) break;
      fn = std::move(impl_->pending.front());
      impl_->pending.pop_front();
    }
    const int rc = fn();
    impl_->pending_calls_run.AddExclusive(1);
    if (rc != 0) {
      ts.async_exc_.store(rc, std::memory_order_relaxed);
      break;
    }
  }
  std::lock_guard lock(impl_->pending_mu);
  const bool remain = !impl_->pending.empty();
  if (!remain && !classic_) eval_breaker_.fetch_and(~kEvalPendingCalls, std::memory_order_acq_rel);
  return remain;
}

Status Runtime::SetAsyncExc(uint32_t thread_id, int code) {
  if (code == 0) return MakeError(ErrorCode::kInvalidArgument, "async exception code must be != 0");
  std::lock_guard lock(impl_->mu);
  for (auto& t : impl_->threads) {
    if (t->id_ == thread_id) {
      t->async_exc_.store(code, std::memory_order_release);
      if (!classic_) eval_breaker_.fetch_or(kEvalAsyncExc, std::memory_order_acq_rel);
      return Status::Ok();
    }
  }
  return MakeError(ErrorCode::kNotFound, "no attached thread with id " + std::to_string(thread_id));
}

int Runtime::SlowTick(ThreadState& ts, bool next_enters_protected) {
  GILSTAT_CHECK(ts.holds_gil_);
  // The next instruction enters a protected region: no check here. The ticker stays expired
  // (classic) or the eval breaker stays set, so the check happens at the next ticking
  // instruction.
  if (next_enters_protected) return 0;
  if (classic_) {
    ticker_.store(impl_->check_interval.load(std::memory_order_relaxed), std::memory_order_relaxed);
    if (ts.is_main_ && RunPendingCalls(ts)) ticker_.store(0, std::memory_order_relaxed);
    // Unconditionally give the others a chance.
    gil_->Yield(ts);
  } else {
    const uint32_t eb = eval_breaker_.load(std::memory_order_acquire);
    if ((eb & kEvalPendingCalls) != 0 && ts.is_main_) RunPendingCalls(ts);
    if ((eb & kEvalDropRequest) != 0) {
      gil_->Yield(ts);
      if (ts.async_exc_.load(std::memory_order_relaxed) != 0) {
        eval_breaker_.fetch_or(kEvalAsyncExc, std::memory_order_acq_rel);
      }
    }
    if ((eval_breaker_.load(std::memory_order_relaxed) & kEvalAsyncExc) != 0) {
      // Cleared by whoever sees it; the target thread signals again when it takes the GIL.
      eval_breaker_.fetch_and(~kEvalAsyncExc, std::memory_order_acq_rel);
    }
  }
  if (ts.async_exc_.load(std::memory_order_acquire) != 0) {
    const int code = ts.async_exc_.exchange(0, std::memory_order_acq_rel);
    if (code != 0) {
      impl_->async_exc_delivered.AddExclusive(1);
      return code;
    }
  }
  return 0;
}

LockStats& Runtime::LockStatsFor(const std::string& name, LockKind kind) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->series.find(name);
  if (it == impl_->series.end()) {
    it = impl_->series.emplace(name, Impl::Series{kind, std::make_unique<LockStats>(), {}}).first;
  }
  return *it->second.stats;
}

void Runtime::RegisterNative(const std::string& series, const NativeAddress& addr) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->series.find(series);
  if (it == impl_->series.end()) {
    it = impl_->series
             .emplace(series, Impl::Series{LockKind::kLock, std::make_unique<LockStats>(), {}})
             .first;
  }
  it->second.natives.push_back(addr);
}

void Runtime::UnregisterNative(const std::string& series, uintptr_t address) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->series.find(series);
  if (it == impl_->series.end()) return;
  auto& v = it->second.natives;
  auto n = std::find_if(v.begin(), v.end(), [&](const auto& a) { return a.address == address; });
  if (n != v.end()) v.erase(n);
}

Snapshot Runtime::TakeSnapshot() const {
  Snapshot s;
  s.policy = options_.policy;
  s.check_interval = impl_->check_interval.load();
  s.switch_interval_ns = impl_->switch_interval_ns.load();
  s.pending_calls_run = impl_->pending_calls_run.Load();
  s.async_exc_delivered = impl_->async_exc_delivered.Load();
  s.drop_requests = drop_requests_.Load();
  s.switch_number = gil_->switch_number();
  s.gil = SnapshotOf("gil", LockKind::kGil, impl_->gil_stats);
  s.gil.addresses = gil_->Addresses();
  std::lock_guard lock(impl_->mu);
  s.exited_threads = impl_->exited;
  s.ticks = impl_->exited.ticks;
  for (const auto& t : impl_->threads) {
    ThreadSnapshot ts;
    ts.id = t->id_;
    ts.tid = t->tid_;
    ts.name = t->name_;
    ts.is_main = t->is_main_;
    AddThreadStats(ts, t->stats_);
    s.ticks += ts.ticks;
    s.threads.push_back(std::move(ts));
  }
  s.threads_attached = static_cast<uint32_t>(s.threads.size());
  for (const auto& [name, series] : impl_->series) {
    LockSnapshot l = SnapshotOf(name, series.kind, *series.stats);
    l.addresses = series.natives;
    s.locks.push_back(std::move(l));
  }
  return s;
}

}  // namespace gilstat::rt
