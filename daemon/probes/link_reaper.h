// Destroys uprobe links off the caller's thread. The kernel takes ~0.1-0.3 s per uprobe link (it
// waits for grace periods; perf-event uprobes under a global mutex, which new uprobes wait
// behind too), too long to hold a probe's lock (scrapes wait on it) or the tracker's loop: a
// detach hands its links here and returns at once.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "probes/libbpf_util.h"

namespace gilstat::probes {

class LinkReaper {
 public:
  // `after(pid)` runs on the reaper thread once a handed-over batch is destroyed (e.g. to delete
  // map entries the process created meanwhile).
  explicit LinkReaper(std::function<void(pid_t)> after = {});
  ~LinkReaper();  // destroys everything still pending
  LinkReaper(const LinkReaper&) = delete;
  LinkReaper& operator=(const LinkReaper&) = delete;

  void Hand(pid_t pid, std::vector<BpfLinkPtr> links);
  // Destroys the links of `pid` still pending, now, on the calling thread: before attaching the
  // same process again, so that no event is counted by old and new links.
  void DestroyNow(pid_t pid);

 private:
  void Loop();
  struct Batch {
    pid_t pid;
    std::vector<BpfLinkPtr> links;
  };
  std::function<void(pid_t)> after_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> batches_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace gilstat::probes
