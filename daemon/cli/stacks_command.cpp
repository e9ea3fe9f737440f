#include "cli/stacks_command.h"

#include <fstream>
#include <map>

#include "cli/python_run.h"
#include "host/python_host.h"
#include "probes/pygil_probe.h"
#include "profile/flame_svg.h"
#include "profile/gil_profile.h"

namespace gilstat::cli {
namespace {

constexpr std::chrono::milliseconds kNameEvery{200};

// Forwards to the CPython targets, keeping a process's stacks when it goes away (a detach
// deletes them from the kernel's maps).
class StacksObserver final : public ForwardToPython {
 public:
  using ForwardToPython::ForwardToPython;
  void Detaching(const tracker::ProcessInfo& info, bool exited) override {
    for (ProcessGilStacks& p : py_.Stacks()) {
      if (p.pid == info.pid) gone[info.pid] = std::move(p);
    }
    ForwardToPython::Detaching(info, exited);
  }
  std::map<pid_t, ProcessGilStacks> gone;
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
                  profile::Pprof(stacks, view, static_cast<uint64_t>(traced_s * 1e9), o.lock));
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
  PythonRun run;
  StacksObserver* observer = nullptr;
  const int started = StartPythonRun(
      options, env, err,
      [&observer](host::PythonTargets& py) {
        auto o = std::make_unique<StacksObserver>(py);
        observer = o.get();
        return o;
      },
      run, /*threading_locks=*/true);
  if (started != kExitOk) return started;
  host::PythonTargets& py = *run.py;
  tracker::Tracker& tracker = *run.tracker;
  const Clock::time_point start = Clock::now();
  PrintTracing(err, tracker, options, env);
  // Naming the stacks as they come (every kNameEvery): a process that exits keeps the names read
  // while it ran; stacks first seen in its last moments are shown as gone.
  (void)TraceUntilEnd(
      tracker, run.events.get(), env, start, options.duration_s,
      [&py] {
        (void)py.Stacks();
        return true;
      },
      kNameEvery);
  const double traced_s = std::chrono::duration<double>(Clock::now() - start).count();
  const std::vector<ProcessGilStacks> stacks = AllStacks(py, *observer);
  const profile::View view = options.holders ? profile::View::kHolders : profile::View::kWaiters;
  if (options.json) {
    out << profile::Json(stacks, traced_s);
  } else if (options.folded) {
    out << profile::Folded(stacks, view, options.lock);
  } else {
    out << profile::Table(stacks, options.top);
  }
  out.flush();
  const bool written = WriteFiles(options, stacks, traced_s, err);
  tracker.DetachAll();
  return written ? kExitOk : kExitRuntime;
}

}  // namespace gilstat::cli
