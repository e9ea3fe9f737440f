// Loader of bpf/proctrack.bpf.c: process fork/exec/exit events from the kernel as a
// ProcEventSource (gilstat/proc_event.h). Needs the privileges of docs/SERVICE.md and kernel BTF,
// but not tracefs. When it cannot be opened the tracker
// falls back to periodic rescans alone.
#pragma once

#include <memory>

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

  int fd() const override;
  Result<int> Drain(const std::function<void(const ProcEvent&)>& fn) override;
  uint64_t LostEvents() override;

 private:
  ProctrackProbe() = default;
  static int OnRecord(void* ctx, void* data, size_t size);

  struct proctrack* skel_ = nullptr;
  struct ring_buffer* rb_ = nullptr;
  const std::function<void(const ProcEvent&)>* sink_ = nullptr;
  uint64_t malformed_ = 0;
};

}  // namespace gilstat::probes
