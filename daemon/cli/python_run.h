// What `gilstat stacks` and `gilstat top` share: the GIL probes with Python stacks attached to the
// target processes through a tracker, with the semaphore probes for the stacks of threading-lock
// waits when asked for, ready to be followed.
#pragma once

#include <functional>
#include <memory>
#include <ostream>

#include "cli/args.h"
#include "cli/trace_run.h"
#include "host/probe_host.h"
#include "host/python_host.h"
#include "probes/pygil_probe.h"

namespace gilstat::cli {

// The tracker's attacher: the semaphore probe when there is one (threading-lock stacks); a
// process it cannot attach to is still followed for its GIL, which PythonTargets attaches.
class OptionalSemaphores final : public tracker::Attacher {
 public:
  explicit OptionalSemaphores(std::ostream& err) : err_(err) {}
  void Use(std::unique_ptr<host::LockProbe> probe) { probe_ = std::move(probe); }
  host::LockProbe* probe() const { return probe_.get(); }
  Status Attach(pid_t pid) override;
  Status Detach(pid_t pid) override;

 private:
  std::ostream& err_;
  std::unique_ptr<host::LockProbe> probe_;
};

// Forwards attaches and detaches to the CPython targets.
class ForwardToPython : public tracker::TrackerObserver {
 public:
  explicit ForwardToPython(host::PythonTargets& py) : py_(py) {}
  void Attached(const tracker::ProcessInfo& info) override { py_.Attached(info); }
  void Detaching(const tracker::ProcessInfo& info, bool exited) override {
    py_.Detaching(info, exited);
  }

 protected:
  host::PythonTargets& py_;
};

struct PythonRun {
  std::unique_ptr<tracker::ProcFs> procfs;
  std::unique_ptr<probes::PyGilProbe> probe;
  std::unique_ptr<host::PythonTargets> py;
  std::unique_ptr<ProcEventSource> events;
  std::unique_ptr<ForwardToPython> observer;
  std::unique_ptr<OptionalSemaphores> attacher;
  std::unique_ptr<tracker::Tracker> tracker;
};

// Loads the probes and attaches them to the processes `options` name (a first scan done, every
// pid asked for traced): kExitOk, or the exit status after an error on `err`. `observer` makes
// the tracker's observer over the CPython targets (ForwardToPython, or one that does more).
// `threading_locks`: the semaphore probes too, for the stacks of threading-lock waits (where
// they cannot load, a warning and GIL waits only).
int StartPythonRun(
    const TargetOptions& options, const RunEnv& env, std::ostream& err,
    const std::function<std::unique_ptr<ForwardToPython>(host::PythonTargets&)>& observer,
    PythonRun& run, bool threading_locks = false);

}  // namespace gilstat::cli
