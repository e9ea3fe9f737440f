#include "link_reaper.h"

#include <algorithm>

#include <utility>

namespace gilstat::probes {
namespace {

// Each uprobe link's destruction waits for an SRCU grace period under a kernel-wide mutex
// (perf_uprobe_destroy), so links destroyed from several threads mostly queue there; a few
// threads still overlap the grace periods (measured: 6 processes' links 5.5 s -> 2.7 s). Few:
// every thread waiting in the kernel counts in the load average.
void DestroyTogether(std::vector<BpfLinkPtr>& links) {
  constexpr size_t kMaxThreads = 4;
  if (links.size() <= 1) {
    links.clear();
    return;
  }
  const size_t nthreads = std::min(links.size(), kMaxThreads);
  std::vector<std::thread> threads;
  threads.reserve(nthreads);
  for (size_t t = 0; t < nthreads; ++t) {
    threads.emplace_back([&links, t, nthreads] {
      for (size_t i = t; i < links.size(); i += nthreads) links[i].reset();
    });
  }
  for (auto& t : threads) t.join();
  links.clear();
}

}  // namespace

LinkReaper::LinkReaper(std::function<void(pid_t)> after) : after_(std::move(after)) {
  thread_ = std::thread([this] { Loop(); });
}

LinkReaper::~LinkReaper() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void LinkReaper::Hand(pid_t pid, std::vector<BpfLinkPtr> links) {
  {
    std::lock_guard lock(mu_);
    batches_.push_back(Batch{pid, std::move(links)});
  }
  cv_.notify_one();
}

void LinkReaper::DestroyNow(pid_t pid) {
  std::vector<BpfLinkPtr> links;
  {
    std::lock_guard lock(mu_);
    for (auto& b : batches_) {
      if (b.pid != pid) continue;
      for (auto& l : b.links) links.push_back(std::move(l));
      b.links.clear();
    }
  }
  DestroyTogether(links);  // outside the lock
}

void LinkReaper::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !batches_.empty(); });
    if (batches_.empty()) return;  // stopping, nothing left
    // One batch at a time while running; everything at once when stopping (an exiting daemon
    // must not wait for grace periods one process after another).
    std::deque<Batch> now;
    if (stopping_) {
      now.swap(batches_);
    } else {
      now.push_back(std::move(batches_.front()));
      batches_.pop_front();
    }
    lock.unlock();
    std::vector<BpfLinkPtr> links;
    for (auto& b : now) {
      for (auto& l : b.links) links.push_back(std::move(l));
    }
    DestroyTogether(links);  // the slow part, without the lock
    if (after_) {
      for (const auto& b : now) after_(b.pid);
    }
    lock.lock();
  }
}

}  // namespace gilstat::probes
