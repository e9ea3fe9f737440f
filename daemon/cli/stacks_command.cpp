#include "cli/stacks_command.h"

#include <fstream>
#include <map>

#include "host/python_host.h"
#include "probes/pygil_probe.h"
#include "profile/flame_svg.h"
#include "profile/gil_profile.h"

namespace gilstat::cli {
namespace {

constexpr std::chrono::milliseconds kNameEvery{200};

// The tracker's attacher: no semaphore probe; the GIL probes are attached by PythonTargets.
class NoSemaphores final : public tracker::Attacher {
 public:
  Status Attach(pid_t) override { return Status::Ok(); }
  Status Detach(pid_t) override { return Status::Ok(); }
};

// Forwards to the CPython targets, keeping a process's stacks when it goes away (a detach
// deletes them from the kernel's maps), and the pids that run no CPython with stacks.
class StacksObserver final : public tracker::TrackerObserver {
 public:
  explicit StacksObserver(host::PythonTargets& py) : py_(py) {}
  void Attached(const tracker::ProcessInfo& info) override { py_.Attached(info); }
  void Detaching(const tracker::ProcessInfo& info, bool exited) override {
    for (ProcessGilStacks& p : py_.Stacks()) {
      if (p.pid == info.pid) gone[info.pid] = std::move(p);
    }
    py_.Detaching(info, exited);
  }
  std::map<pid_t, ProcessGilStacks> gone;

 private:
  host::PythonTargets& py_;
};

Status WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << bytes;
  f.close();
  if (!f) return MakeError(ErrorCode::kUnavailable, "cannot write " + path);
  return Status::Ok();
}

// The files asked for; false (after an error message) when one could not be written.
bool WriteFiles(const StacksOptions& o, const std::vector<ProcessGilStacks>& stacks,
                double traced_s, std::ostream& err) {
  const profile::View view = o.holders ? profile::View::kHolders : profile::View::kWaiters;
  Status s = Status::Ok();
  if (!o.pprof_path.empty()) {
    s = WriteFile(o.pprof_path,
                  profile::Pprof(stacks, view, static_cast<uint64_t>(traced_s * 1e9)));
  }
  if (s.ok() && !o.svg_path.empty()) s = WriteFile(o.svg_path, profile::FlameSvg(stacks));
  if (!s.ok()) Fail(err, s.message());
  return s.ok();
}

std::vector<ProcessGilStacks> AllStacks(host::PythonTargets& py, StacksObserver& observer) {
  std::vector<ProcessGilStacks> out = py.Stacks();
  for (auto& [pid, p] : observer.gone) out.push_back(std::move(p));
  return out;
}

}  // namespace

int RunStacks(const StacksOptions& options, const RunEnv& env, std::ostream& out,
              std::ostream& err) {
  auto targets = tracker::TargetSet::Compile(TargetsOf(options), env.self_pid);
  if (!targets.ok()) {
    Fail(err, targets.error().message);
    return kExitUsage;
  }
  tracker::ProcFs procfs(env.proc_root);
  if (Status s = CheckBeforeLoading(options, env, procfs); !s.ok()) {
    Fail(err, s.message());
    return kExitRuntime;
  }
  auto probe = probes::PyGilProbe::Open();
  if (!probe.ok()) {
    Fail(err, "cannot load the probes: " + probe.error().message);
    return kExitRuntime;
  }
  std::unique_ptr<ProcEventSource> events = OpenEvents(*targets, env, err);
  tracker::TrackerOptions topts;
  topts.rescan_interval = events ? env.rescan_with_events : env.rescan_without_events;
  host::PythonTargets py(
      probe->get(), env.proc_root, [](pid_t) { return std::optional<std::string>(); },
      /*exact=*/false, /*stacks=*/true);
  StacksObserver observer(py);
  NoSemaphores attacher;
  tracker::Tracker tracker(&procfs, std::move(targets).value(), &attacher, topts, &observer);
  const Clock::time_point start = Clock::now();
  tracker.Rescan(start);
  if (auto why = UntracedPid(options, tracker)) {
    tracker.DetachAll();
    Fail(err, *why);
    return kExitRuntime;
  }
  PrintTracing(err, tracker, options, env);
  // Naming the stacks as they come (every kNameEvery): a process that exits keeps the names read
  // while it ran; stacks first seen in its last moments are shown as gone.
  (void)TraceUntilEnd(
      tracker, events.get(), env, start, options.duration_s, [&py] { (void)py.Stacks(); },
      kNameEvery);
  const double traced_s = std::chrono::duration<double>(Clock::now() - start).count();
  const std::vector<ProcessGilStacks> stacks = AllStacks(py, observer);
  const profile::View view = options.holders ? profile::View::kHolders : profile::View::kWaiters;
  if (options.json) {
    out << profile::Json(stacks, traced_s);
  } else if (options.folded) {
    out << profile::Folded(stacks, view);
  } else {
    out << profile::Table(stacks, options.top);
  }
  out.flush();
  const bool written = WriteFiles(options, stacks, traced_s, err);
  tracker.DetachAll();
  return written ? kExitOk : kExitRuntime;
}

}  // namespace gilstat::cli
