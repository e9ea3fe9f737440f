// Loader of bpf/proctrack.bpf.c (named proctrack_events so as not to shadow bpf/proctrack.h):
// process exec/exit events from the kernel as a ProcEventSource for the tracker. Needs root (or
// CAP_BPF + CAP_PERFMON) and kernel BTF, but not tracefs. When it cannot be opened the tracker
// falls back to periodic rescans alone.
#pragma once

#include <memory>

#include "gilstat/result.h"
#include "tracker.h"

struct proctrack;    // the generated skeleton
struct ring_buffer;  // libbpf

namespace gilstat::tracker {

class ProctrackEvents final : public ProcEventSource {
 public:
  // Loads and attaches the programs. kPermissionDenied without the privileges, kUnavailable
  // when the kernel lacks what they need (BPF, BTF, the tracepoints).
  static Result<std::unique_ptr<ProctrackEvents>> Open();
  ~ProctrackEvents() override;
  ProctrackEvents(const ProctrackEvents&) = delete;
  ProctrackEvents& operator=(const ProctrackEvents&) = delete;

  int fd() const override;
  Result<int> Drain(const std::function<void(const ProcEvent&)>& fn) override;
  uint64_t LostEvents() override;

 private:
  ProctrackEvents() = default;
  static int OnRecord(void* ctx, void* data, size_t size);

  struct proctrack* skel_ = nullptr;
  struct ring_buffer* rb_ = nullptr;
  const std::function<void(const ProcEvent&)>* sink_ = nullptr;
  uint64_t malformed_ = 0;
};

}  // namespace gilstat::tracker
