#include "cli/python_run.h"

namespace gilstat::cli {

Status OptionalSemaphores::Attach(pid_t pid) {
  if (!probe_) return Status::Ok();
  if (Status s = probe_->Attach(pid); !s.ok()) {
    err_ << "gilstat: pid " << pid << ": no threading-lock stacks: " << s.message() << "\n";
  }
  return Status::Ok();
}

Status OptionalSemaphores::Detach(pid_t pid) {
  if (probe_) (void)probe_->Detach(pid);  // not attached (its attach failed): nothing to do
  return Status::Ok();
}

int StartPythonRun(
    const TargetOptions& options, const RunEnv& env, std::ostream& err,
    const std::function<std::unique_ptr<ForwardToPython>(host::PythonTargets&)>& observer,
    PythonRun& run, bool threading_locks) {
  auto targets = tracker::TargetSet::Compile(TargetsOf(options), env.self_pid);
  if (!targets.ok()) {
    Fail(err, targets.error().message);
    return kExitUsage;
  }
  run.procfs = std::make_unique<tracker::ProcFs>(env.proc_root);
  if (Status s = CheckBeforeLoading(options, env, *run.procfs); !s.ok()) {
    Fail(err, s.message());
    return kExitRuntime;
  }
  auto probe = probes::PyGilProbe::Open();
  if (!probe.ok()) {
    Fail(err, "cannot load the probes: " + probe.error().message);
    return kExitRuntime;
  }
  run.probe = std::move(probe).value();
  run.events = OpenEvents(*targets, env, err);
  tracker::TrackerOptions topts;
  topts.rescan_interval = run.events ? env.rescan_with_events : env.rescan_without_events;
  topts.events = run.events.get();
  run.py = std::make_unique<host::PythonTargets>(
      run.probe.get(), env.proc_root, [](pid_t) { return std::optional<std::string>(); },
      /*exact=*/false, /*stacks=*/true);
  run.attacher = std::make_unique<OptionalSemaphores>(err);
  if (threading_locks) {
    if (auto locks = host::OpenSemlockProbe(ProbeMode::kDefault); locks.ok()) {
      run.attacher->Use(std::move(locks).value());
      run.py->SetLockProbe(host::SemlockProbeOf(*run.attacher->probe()));
    } else {
      err << "gilstat: no threading-lock stacks (GIL waits only): the semaphore probes did not "
             "load: "
          << locks.error().message << "\n";
    }
  }
  run.observer = observer(*run.py);
  run.tracker = std::make_unique<tracker::Tracker>(run.procfs.get(), std::move(targets).value(),
                                                   run.attacher.get(), topts, run.observer.get());
  run.tracker->Rescan(Clock::now());
  if (auto why = UntracedPid(options, *run.tracker)) {
    run.tracker->DetachAll();
    Fail(err, *why);
    return kExitRuntime;
  }
  return kExitOk;
}

}  // namespace gilstat::cli
