// Exact, cheap counters of the runtime and the snapshots they are read through.
//
// Writers never take a lock for a counter. Most counters of the GIL are written only by the
// thread that holds the GIL (and counters of a lock only by the thread holding that lock), so
// they use AddExclusive(): a relaxed load and store, no locked instruction; the lock that
// serialises the writers also orders them. Counters with concurrent writers use Add(). Readers
// (the snapshot, on a scrape thread) use relaxed loads: every value read is one that was
// written, and each counter is monotonic.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "gilstat/histogram.h"

namespace gilstat::rt {

using gilstat::kHistSlots;

class Counter {
 public:
  // Only when writers are serialised by a lock the writer holds.
  void AddExclusive(uint64_t d) {
    v_.store(v_.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
  }
  // Any number of concurrent writers.
  void Add(uint64_t d) { v_.fetch_add(d, std::memory_order_relaxed); }
  uint64_t Load() const { return v_.load(std::memory_order_relaxed); }
  // For monotonic maxima: replaces `expected` with `desired` if unchanged; on failure
  // `expected` receives the current value.
  bool CompareExchange(uint64_t& expected, uint64_t desired) {
    return v_.compare_exchange_weak(expected, desired, std::memory_order_relaxed);
  }

 private:
  std::atomic<uint64_t> v_{0};
};

using HistogramSnapshot = gilstat::HistogramData;

// log2 histogram of durations in nanoseconds, with sum and count kept beside it.
class Log2Histogram {
 public:
  void RecordExclusive(uint64_t ns) {
    slots_[gilstat_log2_slot(ns)].AddExclusive(1);
    sum_.AddExclusive(ns);
    count_.AddExclusive(1);
  }
  void Record(uint64_t ns) {
    slots_[gilstat_log2_slot(ns)].Add(1);
    sum_.Add(ns);
    count_.Add(1);
  }
  HistogramSnapshot Snapshot() const;

 private:
  std::array<Counter, kHistSlots> slots_;
  Counter sum_;
  Counter count_;
};

// The kind of object a lock series belongs to.
enum class LockKind { kGil, kLock, kRLock, kCondition, kSemaphore, kEvent };
const char* LockKindName(LockKind kind);

// The address of an OS-level object underlying a lock, so that a probe's view (e.g. a sem_t
// address seen by a uprobe) can be matched to a runtime lock.
struct NativeAddress {
  std::string type;  // "sem_t", "pthread_mutex_t" or "pthread_cond_t"
  std::string role;  // e.g. "gil", "mutex", "cond", "switch_mutex", "waiter"
  uintptr_t address = 0;
};

// Counters of one lock series. Locks that share a name share one LockStats (the runtime keeps it
// for the life of the runtime, so counters never go backwards when a lock object is destroyed).
struct LockStats {
  Counter acquisitions;     // successful acquisitions (blocking, timed and non-blocking)
  Counter contended;        // acquisitions that found the lock held and had to wait
  Counter failed_tries;     // non-blocking attempts that found the lock held
  Counter timeouts;         // timed attempts that gave up
  Counter wait_ns;          // total time spent waiting in acquisitions
  Counter max_wait_ns;      // longest single wait (monotonic maximum)
  Log2Histogram wait_hist;  // wait time per acquisition (uncontended ones included)
  Log2Histogram hold_hist;  // time from acquisition to release
  Counter releases;         // all releases
  Counter handoffs;         // acquisitions by another thread than the last releaser
  // GIL only:
  Counter forced_releases;             // check-interval expiries / honoured drop requests
  Counter voluntary_releases;          // releases around blocking calls (AllowThreads)
  Counter exit_releases;               // releases by a thread that detaches
  Counter same_thread_reacquisitions;  // re-acquired by the thread that was forced to release

  void RecordMaxWait(uint64_t ns);
};

struct LockSnapshot {
  std::string name;
  LockKind kind = LockKind::kLock;
  std::vector<NativeAddress> addresses;  // of the live objects in this series
  uint64_t acquisitions = 0, contended = 0, failed_tries = 0, timeouts = 0;
  uint64_t wait_ns = 0, max_wait_ns = 0, releases = 0, handoffs = 0;
  uint64_t forced_releases = 0, voluntary_releases = 0, exit_releases = 0;
  uint64_t same_thread_reacquisitions = 0;
  HistogramSnapshot wait;
  HistogramSnapshot hold;
};

LockSnapshot SnapshotOf(const std::string& name, LockKind kind, const LockStats& stats);

}  // namespace gilstat::rt
