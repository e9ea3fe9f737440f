// Process fork/exec/exit/rename events as plain values, and the interface of their source. The
// kernel-side source is probes/proctrack_probe.h (bpf/proctrack.bpf.c); the tracker consumes
// them. Here, below both, so that neither includes the other.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>

#include "gilstat/result.h"

namespace gilstat {

struct ProcEvent {
  // kFork: a new process (a copy of its parent); kExec: a process replaced its image; kExit:
  // the whole process exited; kRename: a process gave its main thread a new name (not by exec).
  enum class Type : uint8_t { kExec, kExit, kFork, kRename };
  Type type = Type::kExec;
  pid_t pid = 0;  // the process (thread-group) id
};

// A stream of process fork/exec/exit events.
class ProcEventSource {
 public:
  virtual ~ProcEventSource() = default;
  // A descriptor that becomes readable (poll/epoll) when events wait.
  virtual int fd() const = 0;
  // Hands every waiting event to fn, without blocking. Returns how many.
  virtual Result<int> Drain(const std::function<void(const ProcEvent&)>& fn) = 0;
  // Events dropped so far because the buffer was full (monotonic).
  virtual uint64_t LostEvents() = 0;
  // A source may report the forks and exits of watched processes only (bpf/proctrack.bpf.c
  // does, so that the fork and exit of every other process on the host cost no record); execs
  // and renames are reported for every process. Watch returns false when the process is gone or
  // exiting already: no exit may be reported for it then. A source that reports every fork and
  // exit keeps the defaults.
  virtual bool Watch(pid_t pid) {
    (void)pid;
    return true;
  }
  virtual void Unwatch(pid_t pid) { (void)pid; }
};

}  // namespace gilstat
