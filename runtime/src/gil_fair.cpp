// The fair policy: gilstat's own interpreter lock.
//
// Goal: a thread that comes back from a blocking call (I/O) gets the GIL within about one
// instruction of a CPU-bound holder, instead of one switch interval (the convoy effect of the
// switching policy), while CPU-bound threads keep switching only once per interval and never
// starve.
//
// Algorithm
// - One mutex guards `locked_`, the queues and the switch count; each thread waits on its own
//   condition variable (ThreadState::PolicyData), so a wake-up reaches exactly one thread.
// - Two FIFO queues of waiters. A thread whose last release was voluntary (AllowThreads around a
//   blocking call) and short (it had held the GIL for less than one switch interval) is
//   *interactive*: it queues in the front queue and sets the drop request at once, so a
//   CPU-bound holder yields at its next ticking instruction. Any other thread (forced off the
//   GIL, new, or one that held it longer than an interval) is *CPU-bound*: it queues in the
//   normal queue and sets the drop request only after a full interval without a change of
//   holder, exactly like the switching policy.
// - A forced release (an honoured drop request) is a direct handoff: the GIL goes straight to
//   the next waiter (front queue first; a normal waiter that has waited more than
//   kAgingIntervals intervals goes first, so CPU-bound threads cannot starve behind a stream of
//   interactive ones) and the yielding thread queues as CPU-bound in the same critical section,
//   so it cannot win the GIL back: no "GIL battle", no forced-switching round trip.
// - A voluntary release frees the GIL and wakes the next waiter, without reserving the GIL for
//   it: if the releaser comes back before the woken waiter runs (a short blocking call such as
//   a send on a socket with buffer space), it simply takes the GIL again, and the waiter goes
//   back to sleep. The waiter that keeps losing this race stays at the head of its queue and
//   asks for a drop after one interval without a change of holder, which a holder honours with
//   a direct handoff: bounded unfairness in exchange for not paying two context switches per
//   I/O call.
// - A forced yield with nobody waiting keeps the GIL (one uncontended mutex round trip).
//
// Trade-offs
// - An I/O thread preempts a CPU-bound holder within one instruction plus one wake-up; the
//   CPU-bound thread pays one extra switch per I/O completion.
// - CPU-bound threads alone behave like the switching policy (one switch per interval), but
//   with direct handoff instead of forced switching: the GIL is idle while the chosen waiter is
//   woken (a few microseconds), and the order is strictly FIFO.
// - A thread can game the priority by releasing voluntarily in short bursts; holding the GIL
//   longer than one interval loses it until the next short hold, and aging bounds the damage.
#include <cerrno>
#include <deque>

#include "gil.h"
#include "gilstat/check.h"

namespace gilstat::rt {

ThreadState::PolicyData::PolicyData() { InitMonotonicCond(&cond); }
ThreadState::PolicyData::~PolicyData() { pthread_cond_destroy(&cond); }

namespace {
constexpr int64_t kAgingIntervals = 4;
constexpr int64_t kHandoffDivisor = 5;  // direct handoff at a voluntary release after interval/5
}  // namespace

class FairGil final : public Gil {
 public:
  FairGil(Runtime& rt, LockStats& stats) : Gil(rt, stats) { pthread_mutex_init(&mutex_, nullptr); }
  ~FairGil() override { pthread_mutex_destroy(&mutex_); }

  void InitThread(ThreadState& ts) override {
    auto d = std::make_unique<ThreadState::PolicyData>();
    d->ts = &ts;
    pthread_mutex_lock(&mutex_);
    nodes_.push_back(d.get());
    pthread_mutex_unlock(&mutex_);
    SetData(ts, std::move(d));
  }

  void FiniThread(ThreadState& ts) override {
    pthread_mutex_lock(&mutex_);
    for (auto it = nodes_.begin(); it != nodes_.end(); ++it) {
      if (*it == Data(ts)) {
        nodes_.erase(it);
        break;
      }
    }
    pthread_mutex_unlock(&mutex_);
  }

  void Take(ThreadState& ts) override {
    auto* d = Data(ts);
    const int64_t t0 = MonotonicNs();
    pthread_mutex_lock(&mutex_);
    const bool contended = locked_;
    if (!locked_) {
      TakeFree(ts.id_);
    } else {
      WaitForGil(d, d->interactive, t0);
    }
    NoteAcquired(ts, t0, MonotonicNs(), contended);
    pthread_mutex_unlock(&mutex_);
  }

  void Drop(ThreadState& ts, ReleaseReason why) override {
    const int64_t now = MonotonicNs();
    auto* d = Data(ts);
    d->interactive = why == ReleaseReason::kVoluntary &&
                     now - ts.acquired_at_ns_ < rt_.switch_interval().count();
    NoteReleasing(ts, why, now);
    pthread_mutex_lock(&mutex_);
    if (why == ReleaseReason::kForced) {
      if (!HandOff(now)) locked_ = false;
    } else {
      auto* next = PickNext(now);
      if (next != nullptr && now - next->enqueued_ns >= HandoffAfterNs()) {
        HandOff(now);  // it has waited long enough: no more barging past it
      } else {
        locked_ = false;
        // One wake-up per sleep: a waiter already signalled will look at `locked_` anyway.
        if (next != nullptr && !next->wake_pending) {
          next->wake_pending = true;
          pthread_cond_signal(&next->cond);
        }
      }
    }
    pthread_mutex_unlock(&mutex_);
  }

  void Yield(ThreadState& ts) override {
    auto* d = Data(ts);
    pthread_mutex_lock(&mutex_);
    if (front_.empty() && normal_.empty()) {
      // Nobody waits (the requester was served meanwhile): keep the GIL.
      rt_.eval_breaker().fetch_and(~kEvalDropRequest, std::memory_order_relaxed);
      pthread_mutex_unlock(&mutex_);
      return;
    }
    const int64_t t0 = MonotonicNs();
    d->interactive = false;
    NoteReleasing(ts, ReleaseReason::kForced, t0);
    GILSTAT_CHECK(HandOff(t0));
    WaitForGil(d, /*interactive=*/false, t0);
    NoteAcquired(ts, t0, MonotonicNs(), /*contended=*/true);
    pthread_mutex_unlock(&mutex_);
  }

  std::vector<NativeAddress> Addresses() const override {
    std::vector<NativeAddress> out;
    out.push_back({"pthread_mutex_t", "mutex", reinterpret_cast<uintptr_t>(&mutex_)});
    pthread_mutex_lock(&mutex_);
    for (const auto* d : nodes_) {
      out.push_back({"pthread_cond_t", "waiter", reinterpret_cast<uintptr_t>(&d->cond)});
    }
    pthread_mutex_unlock(&mutex_);
    return out;
  }

 private:
  // Under mutex_: the calling thread takes the free GIL.
  void TakeFree(uint32_t id) {
    locked_ = true;
    if (holder_ != id) ++switches_;
    holder_ = id;
    rt_.eval_breaker().fetch_and(~kEvalDropRequest, std::memory_order_relaxed);
  }

  // Under mutex_, the GIL held by another thread: queues `d` and sleeps until the GIL is handed
  // to it or freed (then it takes it). Returns holding the GIL, mutex_ still locked.
  void WaitForGil(ThreadState::PolicyData* d, bool interactive, int64_t t0) {
    auto& eb = rt_.eval_breaker();
    d->granted.store(false, std::memory_order_relaxed);
    d->enqueued_ns = t0;
    d->in_front = interactive;
    (interactive ? front_ : normal_).push_back(d);
    if (interactive) RequestDrop(eb);
    for (;;) {
      if (d->granted.load(std::memory_order_relaxed)) return;  // HandOff dequeued it
      if (!locked_) {
        Dequeue(d);
        TakeFree(d->ts->id_);
        return;
      }
      const uint64_t saved = switches_;
      const timespec abs = ToTimespec(MonotonicNs() + rt_.switch_interval().count());
      const int rc = pthread_cond_timedwait(&d->cond, &mutex_, &abs);
      d->wake_pending = false;
      if (rc == ETIMEDOUT && locked_ && !d->granted.load(std::memory_order_relaxed) &&
          switches_ == saved) {
        RequestDrop(eb);
      }
    }
  }

  // A waiter that has waited this long gets the GIL directly at the next voluntary release.
  int64_t HandoffAfterNs() const { return rt_.switch_interval().count() / kHandoffDivisor; }

  void RequestDrop(std::atomic<uint32_t>& eb) {
    if ((eb.fetch_or(kEvalDropRequest, std::memory_order_relaxed) & kEvalDropRequest) == 0) {
      rt_.drop_requests().Add(1);
    }
  }

  void Dequeue(ThreadState::PolicyData* d) {
    auto& q = d->in_front ? front_ : normal_;
    for (auto it = q.begin(); it != q.end(); ++it) {
      if (*it == d) {
        q.erase(it);
        return;
      }
    }
    GILSTAT_CHECK(false && "waiter not queued");
  }

  // Under mutex_: the waiter that should get the GIL next, or null.
  ThreadState::PolicyData* PickNext(int64_t now) const {
    if (!normal_.empty() &&
        (front_.empty() ||
         now - normal_.front()->enqueued_ns > kAgingIntervals * rt_.switch_interval().count())) {
      return normal_.front();
    }
    return front_.empty() ? nullptr : front_.front();
  }

  // Under mutex_: passes the GIL directly to the next waiter; false when nobody waits.
  bool HandOff(int64_t now) {
    auto* next = PickNext(now);
    if (next == nullptr) return false;
    Dequeue(next);
    next->granted.store(true, std::memory_order_relaxed);
    if (holder_ != next->ts->id_) ++switches_;
    holder_ = next->ts->id_;
    rt_.eval_breaker().fetch_and(~kEvalDropRequest, std::memory_order_relaxed);
    pthread_cond_signal(&next->cond);
    return true;
  }

  mutable pthread_mutex_t mutex_;
  bool locked_ = false;                          // under mutex_
  uint32_t holder_ = 0;                          // under mutex_: id of the current/last holder
  uint64_t switches_ = 0;                        // under mutex_: changes of holder
  std::deque<ThreadState::PolicyData*> front_;   // interactive waiters, FIFO
  std::deque<ThreadState::PolicyData*> normal_;  // CPU-bound waiters, FIFO
  std::vector<ThreadState::PolicyData*> nodes_;  // every attached thread's node
};

std::unique_ptr<Gil> MakeFairGil(Runtime& rt, LockStats& stats) {
  return std::make_unique<FairGil>(rt, stats);
}

}  // namespace gilstat::rt
