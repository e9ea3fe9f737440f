#include "cli/python_run.h"

namespace gilstat::cli {

int StartPythonRun(
    const TargetOptions& options, const RunEnv& env, std::ostream& err,
    const std::function<std::unique_ptr<ForwardToPython>(host::PythonTargets&)>& observer,
    PythonRun& run) {
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
  run.observer = observer(*run.py);
  run.tracker = std::make_unique<tracker::Tracker>(run.procfs.get(), std::move(targets).value(),
                                                   &run.attacher, topts, run.observer.get());
  run.tracker->Rescan(Clock::now());
  if (auto why = UntracedPid(options, *run.tracker)) {
    run.tracker->DetachAll();
    Fail(err, *why);
    return kExitRuntime;
  }
  return kExitOk;
}

}  // namespace gilstat::cli
