#include "probes/proctrack_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <vector>

#include "bpf/proctrack.h"
#include "bpf/proctrack.skel.h"
#include "gilstat/privileges.h"

namespace gilstat::probes {
namespace {

Error BpfError(int err, const std::string& what) {
  err = err < 0 ? -err : err;
  ErrorCode code = ErrorCode::kUnavailable;
  if (err == EPERM || err == EACCES) code = ErrorCode::kPermissionDenied;
  std::string msg = what + ": " + std::generic_category().message(err);
  if (code == ErrorCode::kPermissionDenied) msg += std::string(" (") + kPrivilegeAdvice + ")";
  return MakeError(code, msg);
}

}  // namespace

Result<std::unique_ptr<ProctrackProbe>> ProctrackProbe::Open() {
  std::unique_ptr<ProctrackProbe> self(new ProctrackProbe());
  self->skel_ = proctrack__open();
  if (!self->skel_) return BpfError(errno, "opening the proctrack BPF object");
  if (int err = proctrack__load(self->skel_); err) {
    return BpfError(err, "loading the proctrack BPF programs");
  }
  if (int err = proctrack__attach(self->skel_); err) {
    return BpfError(err, "attaching to sched_process_exec/exit");
  }
  self->rb_ = ring_buffer__new(bpf_map__fd(self->skel_->maps.events), &ProctrackProbe::OnRecord,
                               self.get(), nullptr);
  if (!self->rb_) return BpfError(errno, "creating the proctrack ring buffer");
  return self;
}

ProctrackProbe::~ProctrackProbe() {
  if (rb_) ring_buffer__free(rb_);
  if (skel_) proctrack__destroy(skel_);
}

int ProctrackProbe::fd() const { return ring_buffer__epoll_fd(rb_); }

int ProctrackProbe::OnRecord(void* ctx, void* data, size_t size) {
  auto* self = static_cast<ProctrackProbe*>(ctx);
  if (size < sizeof(proctrack_event)) {
    ++self->malformed_;
    return 0;
  }
  proctrack_event raw;
  std::memcpy(&raw, data, sizeof raw);
  ProcEvent e;
  e.pid = static_cast<pid_t>(raw.tgid);
  if (raw.type == PROCTRACK_EXEC) {
    e.type = ProcEvent::Type::kExec;
  } else if (raw.type == PROCTRACK_EXIT) {
    e.type = ProcEvent::Type::kExit;
  } else if (raw.type == PROCTRACK_FORK) {
    e.type = ProcEvent::Type::kFork;
  } else {
    ++self->malformed_;
    return 0;
  }
  if (self->sink_) (*self->sink_)(e);
  return 0;
}

Result<int> ProctrackProbe::Drain(const std::function<void(const ProcEvent&)>& fn) {
  sink_ = &fn;
  int n = ring_buffer__consume(rb_);
  sink_ = nullptr;
  if (n < 0) return BpfError(n, "reading the proctrack ring buffer");
  return n;
}

uint64_t ProctrackProbe::LostEvents() {
  int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) return 0;
  std::vector<uint64_t> values(static_cast<size_t>(ncpus));
  uint32_t key = PROCTRACK_CNT_LOST;
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.counters), &key, values.data()) != 0) return 0;
  uint64_t sum = malformed_;
  for (uint64_t v : values) sum += v;
  return sum;
}

}  // namespace gilstat::probes
