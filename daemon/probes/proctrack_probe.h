// Loader of bpf/proctrack.bpf.c: process fork/exec/exit events from the kernel as a
// ProcEventSource (gilstat/proc_event.h). Needs the privileges of docs/SERVICE.md and kernel BTF,
// but not tracefs. When it cannot be opened the tracker
// falls back to periodic rescans alone.
//
// Records wake no reader (a wake-up per fork/exec/exit cost every process on the host
// microseconds): fd() is readable every PROCTRACK_DRAIN_MS (bpf/proctrack.h) while the probe is
// open, and at once when the ring buffer is half full. An event is thus seen at most ~50 ms
// late by a reader that polls fd() and drains. Execs come from a queue per CPU while the reader
// drains on its timer, from the ring buffer otherwise; a drain hands the queued ones first.
#pragma once

#include <memory>
#include <unordered_set>
#include <vector>

#include "bpf/proctrack.h"

#include "gilstat/proc_event.h"
#include "gilstat/result.h"

struct proctrack;    // the generated skeleton
struct ring_buffer;  // libbpf

namespace gilstat::probes {

class ProctrackProbe final : public ProcEventSource {
 public:
  // Loads and attaches the programs. kPermissionDenied without the privileges, kUnavailable
  // when the kernel lacks what they need (BPF, BTF, the tracepoints).
  static Result<std::unique_ptr<ProctrackProbe>> Open();
  ~ProctrackProbe() override;
  ProctrackProbe(const ProctrackProbe&) = delete;
  ProctrackProbe& operator=(const ProctrackProbe&) = delete;

  // Readable when the drain timer expired, the ring buffer passed its wake-up fill, or a record
  // came while the reader was idle; Drain clears it. A drain that finds nothing stops the
  // timer until the next record (bpf/proctrack.bpf.c): the caller polls with a timeout of its
  // own (the daemon's loop: at most a second) to bound the rare record that wakes no one.
  int fd() const override;
  Result<int> Drain(const std::function<void(const ProcEvent&)>& fn) override;
  uint64_t LostEvents() override;
  // Marks the process watched (its exit is reported) through a pidfd, then tells whether one
  // of its threads has not begun to exit yet (then the last exit comes after the mark and is
  // reported). Where the mark fails for another reason than the process being gone, every
  // exit is reported from then on.
  bool Watch(pid_t pid) override;
  void Unwatch(pid_t pid) override;

 private:
  ProctrackProbe() = default;
  static int OnRecord(void* ctx, void* data, size_t size);
  Status StartDrainTimer();
  bool SetDrainTimer(bool on);  // the PROCTRACK_DRAIN_MS period, or stopped
  // Hands the execs queued per CPU since the last call to sink_ (the oldest first); counts the
  // ones overwritten before they were read as lost. Returns how many, or a negative errno.
  int DrainExecQueues();
  void PublishWatchedMask();  // the program's watched_mask from watched_

  struct proctrack* skel_ = nullptr;
  struct ring_buffer* rb_ = nullptr;
  int timer_fd_ = -1;  // the drain timer
  int epoll_fd_ = -1;  // the ring buffer's epoll fd and the timer
  const std::function<void(const ProcEvent&)>* sink_ = nullptr;
  uint64_t malformed_ = 0;
  std::vector<uint64_t> exec_read_;  // per CPU: the queued execs read so far
  std::vector<uint32_t> exec_keys_;
  std::vector<proctrack_exec_queue> exec_queues_;
  uint64_t exec_lost_ = 0;
  std::unordered_set<pid_t> watched_;  // marked (until unwatched or reported gone)
  bool idle_ = false;                  // the timer is stopped until a record wakes the reader
};

}  // namespace gilstat::probes
