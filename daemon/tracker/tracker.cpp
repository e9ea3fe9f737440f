#include "tracker/tracker.h"

#include <algorithm>
#include <set>

#include "gilstat/auxv.h"

namespace gilstat::tracker {

const char* AttachErrorName(AttachError e) {
  switch (e) {
    case AttachError::kNoLibc:
      return "no_libc";
    case AttachError::kPermission:
      return "permission";
    case AttachError::kVanished:
      return "vanished";
    case AttachError::kRefusedFile:
      return "refused_file";
    case AttachError::kOther:
      return "other";
    case AttachError::kLibcNotLoaded:
      return "libc_not_loaded";
    case AttachError::kNoSuchProcess:
      return "no_such_process";
  }
  return "other";
}

namespace {

// Whether the process now at info.pid runs a different image than the one recorded.
bool ImageChanged(const ProcessInfo& before, const ProcessInfo& now) {
  if ((before.fields & now.fields & kProcExe) && before.exe != now.exe) return true;
  if ((before.fields & now.fields & kProcComm) && before.comm != now.comm) return true;
  return false;
}

}  // namespace

Tracker::Tracker(const ProcFs* procfs, TargetSet targets, Attacher* attacher,
                 TrackerOptions options, TrackerObserver* observer)
    : procfs_(procfs),
      targets_(std::move(targets)),
      attacher_(attacher),
      options_(options),
      observer_(observer) {}

void Tracker::Publish() {
  std::lock_guard<std::mutex> lock(published_mu_);
  published_ = stats_;
}

TrackerStats Tracker::Snapshot() const {
  std::lock_guard<std::mutex> lock(published_mu_);
  return published_;
}

void Tracker::UpdateGauges() {
  stats_.attached = attached_.size();
  // Only matched processes waiting for a retry: a fork waiting to be looked at has not been
  // matched against the targets yet (every fork on the host passes through pending_).
  stats_.pending = static_cast<uint64_t>(std::count_if(
      pending_.begin(), pending_.end(), [](const auto& p) { return !p.second.fork; }));
  Publish();  // every public entry point ends here
}

void Tracker::Forget(pid_t pid) {
  pending_.erase(pid);
  failed_.erase(pid);
}

void Tracker::DropPending(pid_t pid) {
  auto it = pending_.find(pid);
  if (it == pending_.end()) return;
  if (!it->second.fork) ++stats_.attach_errors[static_cast<size_t>(AttachError::kVanished)];
  pending_.erase(it);
}

void Tracker::DetachOne(pid_t pid, bool exited) {
  auto it = attached_.find(pid);
  if (it == attached_.end()) return;
  if (observer_) observer_->Detaching(it->second, exited);
  // A probe refuses only a pid it does not hold: nothing is left to undo either way.
  (void)attacher_->Detach(pid);
  if (options_.events) options_.events->Unwatch(pid);
  ++stats_.detaches;
  if (exited) ++stats_.exited_detaches;
  attached_.erase(it);
  UpdateGauges();
}

std::optional<AttachError> Tracker::Classify(const ProcessInfo& info, const Status& s,
                                             int retries_left, Clock::time_point now, bool first) {
  const pid_t pid = info.pid;
  if (!procfs_->Alive(pid, info.start_time)) return AttachError::kVanished;
  if (s.code() == ErrorCode::kPermissionDenied) return AttachError::kPermission;
  if (s.code() == ErrorCode::kInvalidArgument) return AttachError::kRefusedFile;
  if (s.code() != ErrorCode::kNotFound) return AttachError::kOther;
  // No libc: a dynamically linked program caught before its loader mapped libc is tried again
  // (also when a scan, not an exec event, found it); a statically linked one never will be.
  const auto dynamic = HasInterpreter(pid, procfs_->root());
  const bool loading = dynamic.ok() && *dynamic;
  if (loading && first && retries_left == 0) retries_left = options_.exec_retries;
  if (retries_left > 0 && !(dynamic.ok() && !*dynamic)) {
    ++stats_.attach_retries;
    pending_[pid] = Pending{info, retries_left - 1, now + options_.exec_retry_delay, false};
    UpdateGauges();
    return std::nullopt;
  }
  return loading ? AttachError::kLibcNotLoaded : AttachError::kNoLibc;
}

void Tracker::TryAttach(const ProcessInfo& info, int retries_left, Clock::time_point now,
                        bool first) {
  const pid_t pid = info.pid;
  pending_.erase(pid);
  // Watched first: an exit after this is reported. One before it is not, and then the process
  // is gone or going: not attached.
  if (options_.events && !options_.events->Watch(pid)) {
    CountFailure(info, AttachError::kVanished, "the process exited");
    return;
  }
  Status s = attacher_->Attach(pid);
  if (s.ok()) {
    failed_.erase(pid);
    attached_[pid] = info;
    ++stats_.attaches;
    UpdateGauges();
    if (observer_) observer_->Attached(info);
    if (!rescanning_) ConsiderChildren(pid, now);
    return;
  }
  const auto reason_or_retry = Classify(info, s, retries_left, now, first);
  if (!reason_or_retry) return;  // retried later
  CountFailure(info, *reason_or_retry, s.message());
}

void Tracker::CountFailure(const ProcessInfo& info, AttachError reason,
                           const std::string& message) {
  ++stats_.attach_errors[static_cast<size_t>(reason)];
  if (reason == AttachError::kVanished) {
    failed_.erase(info.pid);
  } else {
    failed_[info.pid] = Failure{info, reason, message};
  }
  UpdateGauges();
  if (observer_) observer_->AttachFailed(info.pid, reason, message);
}

void Tracker::Consider(const ProcessInfo& info, int retries, Clock::time_point now) {
  if (!targets_.Matches(info)) return;
  TryAttach(info, retries, now);
}

// The source reports the forks of a process only once it is watched: children forked between
// its start (or exec) and the mark are found here, from the parent's children lists, or where
// the kernel keeps none by the parent pid of every process. A rescan considers every process
// anyway.
void Tracker::ConsiderChildren(pid_t parent, Clock::time_point now) {
  if (!options_.events || targets_.PidsOnly()) return;
  const auto children = procfs_->ChildrenOf(parent);
  for (pid_t pid : children ? *children : procfs_->ListPids()) {
    if (pid == parent || IsAttached(pid) || pending_.count(pid)) continue;
    if (!children) {
      auto stat = procfs_->Read(pid, kProcStat);
      if (!stat.ok() || stat->ppid != parent) continue;
    }
    ProcessInfo info;
    info.pid = pid;
    pending_[pid] = Pending{info, 0, now, true};  // looked at in Tick, as a fork
  }
}

void Tracker::Rescan(Clock::time_point now) {
  ++stats_.scans;
  rescanning_ = true;
  next_rescan_ = now + options_.rescan_interval;
  std::vector<pid_t> pids = targets_.PidsOnly() ? targets_.ExplicitPids() : procfs_->ListPids();
  std::set<pid_t> seen;
  const unsigned fields = ScanFields();
  for (pid_t pid : pids) {
    auto info = procfs_->Read(pid, fields);
    if (!info.ok()) continue;  // gone (or going) already
    seen.insert(pid);
    if (auto it = attached_.find(pid); it != attached_.end()) {
      if (it->second.start_time != info->start_time) {
        DetachOne(pid, /*exited=*/true);  // the pid was reused by a new process
      } else if (ImageChanged(it->second, *info)) {
        DetachOne(pid, /*exited=*/false);  // an exec that no event told us about
      } else {
        continue;
      }
    } else if (auto p = pending_.find(pid); p != pending_.end()) {
      if (p->second.fork || p->second.info.start_time == info->start_time) {
        continue;  // its turn comes in Tick
      }
      pending_.erase(p);
    } else if (auto f = failed_.find(pid); f != failed_.end()) {
      if (f->second.info.start_time == info->start_time && !ImageChanged(f->second.info, *info)) {
        continue;  // failed before and nothing changed: do not retry (and count) every scan
      }
      failed_.erase(f);
    }
    Consider(*info, 0, now);
  }
  // Attached processes that are no longer there have exited and their exit event was missed.
  std::vector<pid_t> gone;
  for (const auto& [pid, info] : attached_) {
    if (!seen.count(pid)) gone.push_back(pid);
  }
  for (pid_t pid : gone) DetachOne(pid, /*exited=*/true);
  std::erase_if(failed_, [&](const auto& kv) { return !seen.count(kv.first); });
  std::vector<pid_t> gone_pending;
  for (const auto& [pid, p] : pending_) {
    if (!seen.count(pid)) gone_pending.push_back(pid);
  }
  for (pid_t pid : gone_pending) DropPending(pid);
  NoteMissing(seen);
  rescanning_ = false;
  UpdateGauges();
}

void Tracker::NoteMissing(const std::set<pid_t>& seen) {
  for (pid_t pid : targets_.ExplicitPids()) {
    if (seen.count(pid) || procfs_->Alive(pid)) {
      missing_.erase(pid);  // there (a process that does not match is no error)
      continue;
    }
    if (!missing_.insert(pid).second) continue;
    ++stats_.attach_errors[static_cast<size_t>(AttachError::kNoSuchProcess)];
    if (observer_) observer_->AttachFailed(pid, AttachError::kNoSuchProcess, "no such process");
  }
}

void Tracker::HandleEvent(const ProcEvent& event, Clock::time_point now) {
  const pid_t pid = event.pid;
  if (event.type == ProcEvent::Type::kExit) {
    ++stats_.exit_events;
    DetachOne(pid, /*exited=*/true);
    DropPending(pid);
    Forget(pid);
    UpdateGauges();
    return;
  }
  if (event.type == ProcEvent::Type::kFork) {
    ++stats_.fork_events;
    // Looked at a little later: most forks exec at once, and their exec event covers them.
    if (IsAttached(pid) || pending_.count(pid)) {
      UpdateGauges();
      return;
    }
    ProcessInfo info;
    info.pid = pid;
    pending_[pid] = Pending{info, 0, now + options_.fork_delay, true};
    UpdateGauges();
    return;
  }
  if (event.type == ProcEvent::Type::kRename) {
    ++stats_.rename_events;
    HandleRename(pid, now);
    UpdateGauges();
    return;
  }
  ++stats_.exec_events;
  auto info = procfs_->Read(pid, ScanFields());
  if (!info.ok()) {  // exited already
    DetachOne(pid, /*exited=*/true);
    DropPending(pid);
    Forget(pid);
    UpdateGauges();
    return;
  }
  // A new image: whatever was attached belonged to the old one.
  DetachOne(pid, /*exited=*/false);
  Forget(pid);
  Consider(*info, options_.exec_retries, now);
  UpdateGauges();
}

bool Tracker::LookAgain(pid_t pid, Clock::time_point now) {
  auto info = procfs_->Read(pid, ScanFields());
  if (!info.ok()) return false;  // gone already: its exit, if watched, is reported
  if (auto f = failed_.find(pid); f != failed_.end()) {
    if (f->second.info.start_time == info->start_time && !ImageChanged(f->second.info, *info)) {
      return true;
    }
    failed_.erase(f);
  }
  Consider(*info, options_.exec_retries, now);
  return true;
}

// A process that renamed itself (the same image): an attached one stays as it is. Any other is
// matched by its name now and looked at once more rename_recheck later (the source may not
// report the renames that follow within its window).
void Tracker::HandleRename(pid_t pid, Clock::time_point now) {
  if (IsAttached(pid)) return;
  if (auto p = pending_.find(pid); p != pending_.end()) {
    if (!p->second.fork) return;  // an attach retry after an exec: its turn comes
    pending_.erase(p);            // a look to come: now instead, and again later
  }
  if (!LookAgain(pid, now) || IsAttached(pid) || pending_.count(pid)) return;
  ProcessInfo info;
  info.pid = pid;
  pending_[pid] = Pending{info, 0, now + options_.rename_recheck, true};
}

void Tracker::Tick(Clock::time_point now) {
  std::vector<Pending> due;
  for (const auto& [pid, p] : pending_) {
    if (p.due <= now) due.push_back(p);
  }
  for (const auto& p : due) {
    if (!p.fork) {
      TryAttach(p.info, p.retries_left, now, /*first=*/false);
      continue;
    }
    pending_.erase(p.info.pid);
    LookAgain(p.info.pid, now);
  }
  UpdateGauges();
  if (now >= next_rescan_) Rescan(now);
}

void Tracker::Pump(Clock::time_point now) {
  if (ProcEventSource* source = options_.events) {
    auto n = source->Drain([&](const ProcEvent& e) { HandleEvent(e, now); });
    (void)n;  // a failed drain is caught up by the rescan below
    uint64_t lost = source->LostEvents();
    if (lost != seen_lost_ || !n.ok()) {
      stats_.lost_events += lost - seen_lost_;
      seen_lost_ = lost;
      Rescan(now);
    }
  }
  Tick(now);
}

Tracker::Clock::time_point Tracker::NextDeadline() const {
  Clock::time_point t = next_rescan_;
  for (const auto& [pid, p] : pending_) t = std::min(t, p.due);
  return t;
}

void Tracker::DetachAll() {
  std::vector<pid_t> pids;
  for (const auto& [pid, info] : attached_) pids.push_back(pid);
  for (pid_t pid : pids) DetachOne(pid, /*exited=*/false);
  pending_.clear();
  UpdateGauges();
}

std::vector<ProcessInfo> Tracker::Attached() const {
  std::vector<ProcessInfo> out;
  for (const auto& [pid, info] : attached_) out.push_back(info);
  return out;
}

std::optional<Tracker::Failure> Tracker::FailureOf(pid_t pid) const {
  auto it = failed_.find(pid);
  if (it == failed_.end()) return std::nullopt;
  return it->second;
}

}  // namespace gilstat::tracker
