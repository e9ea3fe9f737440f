#include "cli/trace_run.h"

#include <poll.h>

#include <algorithm>

namespace gilstat::cli {

std::string ReasonText(tracker::AttachError reason) {
  switch (reason) {
    case tracker::AttachError::kNoLibc:
      return "it maps no libc (statically linked?)";
    case tracker::AttachError::kLibcNotLoaded:
      return "its dynamic loader had not mapped libc yet";
    case tracker::AttachError::kNoSuchProcess:
      return "no such process";
    case tracker::AttachError::kPermission:
      return "permission denied";
    case tracker::AttachError::kVanished:
      return "it exited";
    case tracker::AttachError::kRefusedFile:
      return "a file it maps was refused (not the mapped regular file, or out of bounds)";
    case tracker::AttachError::kOther:
      break;
  }
  return "attach failed";
}

void Fail(std::ostream& err, const std::string& msg) { err << "gilstat: error: " << msg << "\n"; }

// What must hold before the probes are loaded: the pids exist, privileges and BTF are there.
Status CheckBeforeLoading(const TargetOptions& options, const RunEnv& env,
                          const tracker::ProcFs& procfs) {
  for (pid_t pid : options.pids) {
    if (!procfs.Alive(pid)) {
      return MakeError(ErrorCode::kNotFound, "no process with pid " + std::to_string(pid));
    }
  }
  if (!env.check_privileges) return Status::Ok();
  if (Status s = CheckPrivileges(env.self_status_path); !s.ok()) return s;
  return CheckBtf(env.btf_path);
}

// The process events, unless the pids alone are traced or they cannot be had (then a warning).
std::unique_ptr<ProcEventSource> OpenEvents(const tracker::TargetSet& targets, const RunEnv& env,
                                            std::ostream& err) {
  if (targets.PidsOnly() || !env.open_events) return nullptr;
  auto ev = env.open_events();
  if (ev.ok()) return std::move(ev).value();
  err << "gilstat: warning: no process events (" << ev.error().message
      << "); new processes are found by rescanning /proc\n";
  return nullptr;
}

// Every pid asked for by number must be traced: why the first that is not, if one is not.
std::optional<std::string> UntracedPid(const TargetOptions& options,
                                       const tracker::Tracker& tracker) {
  for (pid_t pid : options.pids) {
    if (tracker.IsAttached(pid)) continue;
    auto failure = tracker.FailureOf(pid);
    std::string why =
        failure ? ReasonText(failure->reason) + ": " + failure->message : std::string("it exited");
    std::string comm =
        failure && !failure->info.comm.empty() ? " (" + failure->info.comm + ")" : std::string();
    return "cannot trace pid " + std::to_string(pid) + comm + ": " + why;
  }
  return std::nullopt;
}

void PrintTracing(std::ostream& err, const tracker::Tracker& tracker, const TargetOptions& options,
                  const RunEnv& env) {
  err << "gilstat: tracing " << tracker.stats().attached << " process"
      << (tracker.stats().attached == 1 ? "" : "es") << " matching "
      << tracker.targets().Describe();
  if (options.duration_s) {
    err << " for " << *options.duration_s << " s";
  }
  err << (env.stop_fd >= 0 ? "; Ctrl-C to end" : "") << "\n";
}

// Follows processes until the duration has passed or the stop fd is readable. Returns whether
// the stop fd ended the run.
bool TraceUntilEnd(tracker::Tracker& tracker, ProcEventSource* events, const RunEnv& env,
                   Clock::time_point start, std::optional<double> duration_s,
                   const std::function<bool()>& tick, std::chrono::milliseconds tick_every) {
  Clock::time_point next_tick = start + tick_every;
  const Clock::time_point end = duration_s ? start + std::chrono::duration_cast<Clock::duration>(
                                                         std::chrono::duration<double>(*duration_s))
                                           : Clock::time_point::max();
  for (;;) {
    Clock::time_point now = Clock::now();
    if (now >= end) return false;
    Clock::time_point wake = std::min(end, tracker.NextDeadline());
    if (tick) wake = std::min(wake, next_tick);
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(wake - now).count();
    int timeout = static_cast<int>(std::clamp<int64_t>(ms, 0, 1000));
    pollfd fds[2];
    nfds_t n = 0;
    if (env.stop_fd >= 0) fds[n++] = {env.stop_fd, POLLIN, 0};
    if (events) fds[n++] = {events->fd(), POLLIN, 0};
    int r = ::poll(fds, n, timeout);
    if (r > 0 && env.stop_fd >= 0 && (fds[0].revents & (POLLIN | POLLHUP))) return true;
    tracker.Pump(Clock::now());
    if (tick && Clock::now() >= next_tick) {
      if (!tick()) return true;
      next_tick = Clock::now() + tick_every;
    }
  }
}

}  // namespace gilstat::cli
