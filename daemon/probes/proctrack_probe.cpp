#include "probes/proctrack_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>
#include <vector>

#include "bpf/proctrack.h"
#include "bpf/proctrack.skel.h"
#include "gilstat/privileges.h"
#include "gilstat/proc_stat.h"

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

// Whether the thread of `stat_path` (/proc/PID/task/TID/stat) has begun to exit: PF_EXITING in
// its ninth field, the flags (counted after the parenthesised name). *gone: it is not there.
bool ThreadExiting(const std::string& stat_path, bool* gone) {
  char buf[1024];
  const int fd = ::open(stat_path.c_str(), O_RDONLY | O_CLOEXEC);
  ssize_t n = fd < 0 ? -1 : ::read(fd, buf, sizeof buf - 1);
  if (fd >= 0) ::close(fd);
  *gone = n <= 0;
  if (n <= 0) return true;
  const auto fields = StatFieldsAfterName(std::string_view(buf, static_cast<size_t>(n)), 7);
  return fields.size() >= 7 &&
         (std::strtoul(std::string(fields[6]).c_str(), nullptr, 10) & kPfExiting);
}

// Whether a thread of process `pid` has not begun to exit (no PF_EXITING): its exit, and so
// the process's last one, is still to come.
bool AnyThreadNotExiting(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return false;
  bool running = false;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    bool gone = false;
    if (!ThreadExiting(dir + "/" + e->d_name + "/stat", &gone) && !gone) {
      running = true;
      break;
    }
  }
  ::closedir(d);
  return running;
}

}  // namespace

Result<std::unique_ptr<ProctrackProbe>> ProctrackProbe::Open() {
  std::unique_ptr<ProctrackProbe> self(new ProctrackProbe());
  self->skel_ = proctrack__open();
  if (!self->skel_) return BpfError(errno, "opening the proctrack BPF object");
  const int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) return BpfError(ncpus, "counting the possible CPUs");
  if (int err =
          bpf_map__set_max_entries(self->skel_->maps.exec_queues, static_cast<uint32_t>(ncpus));
      err) {
    return BpfError(err, "sizing the proctrack exec queues");
  }
  if (int err = proctrack__load(self->skel_); err) {
    return BpfError(err, "loading the proctrack BPF programs");
  }
  if (int err = proctrack__attach(self->skel_); err) {
    return BpfError(err, "attaching to sched_process_fork/exec/exit and task_rename");
  }
  self->rb_ = ring_buffer__new(bpf_map__fd(self->skel_->maps.events), &ProctrackProbe::OnRecord,
                               self.get(), nullptr);
  if (!self->rb_) return BpfError(errno, "creating the proctrack ring buffer");
  self->exec_read_.assign(static_cast<size_t>(ncpus), 0);
  self->exec_keys_.resize(static_cast<size_t>(ncpus));
  self->exec_queues_.resize(static_cast<size_t>(ncpus));
  if (Status st = self->StartDrainTimer(); !st.ok()) return st.error();
  return self;
}

Status ProctrackProbe::StartDrainTimer() {
  timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (timer_fd_ < 0) return BpfError(errno, "creating the proctrack drain timer");
  if (!SetDrainTimer(true)) return BpfError(errno, "starting the proctrack drain timer");
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return BpfError(errno, "creating the proctrack epoll set");
  for (int fd : {ring_buffer__epoll_fd(rb_), timer_fd_}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      return BpfError(errno, "adding to the proctrack epoll set");
    }
  }
  return Status::Ok();
}

ProctrackProbe::~ProctrackProbe() {
  if (epoll_fd_ >= 0) close(epoll_fd_);
  if (timer_fd_ >= 0) close(timer_fd_);
  if (rb_) ring_buffer__free(rb_);
  if (skel_) proctrack__destroy(skel_);
}

int ProctrackProbe::fd() const { return epoll_fd_; }

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
    if (self->watched_.erase(e.pid)) self->PublishWatchedMask();
  } else if (raw.type == PROCTRACK_FORK) {
    e.type = ProcEvent::Type::kFork;
  } else if (raw.type == PROCTRACK_RENAME) {
    e.type = ProcEvent::Type::kRename;
  } else {
    ++self->malformed_;
    return 0;
  }
  if (self->sink_) (*self->sink_)(e);
  return 0;
}

int ProctrackProbe::DrainExecQueues() {
  // Every CPU's queue in one call (its count first: an entry is written before its count, so
  // the entries below the count are in the copy).
  __u32 count = static_cast<__u32>(exec_queues_.size()), out_batch = 0;
  if (bpf_map_lookup_batch(bpf_map__fd(skel_->maps.exec_queues), nullptr, &out_batch,
                           exec_keys_.data(), exec_queues_.data(), &count, nullptr) != 0 &&
      errno != ENOENT) {  // ENOENT: the last batch (all of them here)
    return -errno;
  }
  // A CPU may write more entries while its queue is copied: those within kCopyMargin of a whole
  // queue past the first unread one may have been overwritten during the copy. They, and the
  // ones overwritten before it, are counted as lost.
  constexpr uint64_t kSize = PROCTRACK_EXEC_QUEUE, kCopyMargin = 64;
  int n = 0;
  for (__u32 i = 0; i < count; ++i) {
    const uint32_t c = exec_keys_[i];
    if (c >= exec_read_.size()) continue;
    const uint64_t to = exec_queues_[i].head;
    uint64_t from = std::min(exec_read_[c], to);  // (the count only grows)
    if (to - from > kSize - kCopyMargin) {
      exec_lost_ += to - (kSize - kCopyMargin) - from;
      from = to - (kSize - kCopyMargin);
    }
    for (uint64_t k = from; k < to; ++k) {
      ProcEvent e;
      e.type = ProcEvent::Type::kExec;
      e.pid = static_cast<pid_t>(exec_queues_[i].tgid[k & (kSize - 1)]);
      if (sink_) (*sink_)(e);
      ++n;
    }
    exec_read_[c] = to;
  }
  return n;
}

bool ProctrackProbe::SetDrainTimer(bool on) {
  constexpr long kPeriodNs = PROCTRACK_DRAIN_MS * 1000000L;
  itimerspec period{};  // all zero: stopped
  if (on) {
    period.it_interval.tv_nsec = kPeriodNs;
    period.it_value.tv_nsec = kPeriodNs;
  }
  return timerfd_settime(timer_fd_, 0, &period, nullptr) == 0;
}

Result<int> ProctrackProbe::Drain(const std::function<void(const ProcEvent&)>& fn) {
  uint64_t expirations = 0;  // the timer is re-armed by reading it (non-blocking)
  [[maybe_unused]] ssize_t r = read(timer_fd_, &expirations, sizeof expirations);
  sink_ = &fn;
  // The queued execs first: an exec's exit, if reported, is in the ring buffer.
  auto consume = [this] {
    const int q = DrainExecQueues();
    if (q < 0) return q;
    const int records = ring_buffer__consume(rb_);
    return records < 0 ? records : q + records;
  };
  int n = consume();
  auto* idle = &skel_->bss->reader_idle;
  if (n == 0 && !idle_) {
    // Nothing since the last drain: the timer stops and the next record wakes the reader. A
    // record the program wrote before it saw the flag is read here; one written while the
    // flag was being set, without a wake-up, is read at the daemon's next poll timeout (at
    // most a second).
    __atomic_store_n(idle, 1, __ATOMIC_SEQ_CST);
    n = consume();
    idle_ = n == 0 && SetDrainTimer(false);
    if (!idle_) __atomic_store_n(idle, 0, __ATOMIC_SEQ_CST);
  } else if (n > 0 && idle_) {
    // Woken by a record (the program cleared the flag) or read at a poll timeout: drained on
    // the timer again while records come.
    __atomic_store_n(idle, 0, __ATOMIC_SEQ_CST);
    idle_ = !SetDrainTimer(true);
  }
  sink_ = nullptr;
  if (n < 0) return BpfError(n, "reading the proctrack events");
  return n;
}

void ProctrackProbe::PublishWatchedMask() {
  uint64_t mask = 0;
  for (pid_t p : watched_) mask |= uint64_t{1} << (static_cast<uint32_t>(p) & 63);
  __atomic_store_n(&skel_->bss->watched_mask, mask, __ATOMIC_SEQ_CST);
}

bool ProctrackProbe::Watch(pid_t pid) {
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0 && errno == ESRCH) return false;
  // In the mask before the mark: a marked process's exit always reaches the storage lookup.
  watched_.insert(pid);
  __atomic_fetch_or(&skel_->bss->watched_mask, uint64_t{1} << (static_cast<uint32_t>(pid) & 63),
                    __ATOMIC_SEQ_CST);
  const uint8_t one = 1;
  if (pidfd < 0 || bpf_map_update_elem(bpf_map__fd(skel_->maps.watched), &pidfd, &one, 0) != 0) {
    const bool gone = errno == ESRCH;
    if (pidfd >= 0) ::close(pidfd);
    if (gone) {
      Unwatch(pid);
      return false;
    }
    __atomic_store_n(&skel_->bss->report_all, 1, __ATOMIC_SEQ_CST);  // nothing is missed
    return true;
  }
  ::close(pidfd);
  // Marked. A thread that has not begun to exit yet exits after the mark, and so does the
  // last thread of the process: that exit is reported. Otherwise the last exit may have run
  // the program before the mark, unreported: the caller treats the process as gone.
  if (AnyThreadNotExiting(pid)) return true;
  Unwatch(pid);
  return false;
}

void ProctrackProbe::Unwatch(pid_t pid) {
  if (watched_.erase(pid)) PublishWatchedMask();
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return;  // gone: its mark went with its task
  (void)bpf_map_delete_elem(bpf_map__fd(skel_->maps.watched), &pidfd);
  ::close(pidfd);
}

uint64_t ProctrackProbe::LostEvents() {
  int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) return 0;
  std::vector<uint64_t> values(static_cast<size_t>(ncpus));
  uint32_t key = PROCTRACK_CNT_LOST;
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.counters), &key, values.data()) != 0) return 0;
  uint64_t sum = malformed_ + exec_lost_;
  for (uint64_t v : values) sum += v;
  return sum;
}

}  // namespace gilstat::probes
