#include "app/daemon.h"

#include <malloc.h>
#include <poll.h>
#include <prometheus/text_serializer.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <shared_mutex>
#include <thread>

#include "app/log.h"
#include "app/naming.h"
#include "app/notify.h"
#include "config/config_compiler.h"
#include "gilstat/auxv.h"
#include "gilstat/rt/workloads.h"
#include "host/probe_host.h"
#include "host/python_host.h"
#include "metrics/daemon_collector.h"
#include "metrics/process_collector.h"
#include "metrics/python_collector.h"
#include "metrics/runtime_collector.h"
#include "metrics/semlock_collector.h"
#include "probes/pygil_probe.h"
#include "profile/gil_profile.h"
#include "tracker/matchers.h"
#include "tracker/tracker.h"
#include "web/http_server.h"

namespace gilstat {
namespace {

// The profile endpoints: path and file name (the path's last part) of each kind.
constexpr std::pair<Daemon::Profile, const char*> kProfilePaths[] = {
    {Daemon::Profile::kGilWait, "/debug/pprof/gil_wait"},
    {Daemon::Profile::kGilBlame, "/debug/pprof/gil_blame"},
    {Daemon::Profile::kLockWait, "/debug/pprof/lock_wait"},
};
constexpr int kProfileDefaultS = 10, kProfileMaxS = 60;

// `seconds=N` of a profile's query string: 1..kProfileMaxS, kProfileDefaultS when absent.
Result<int> ProfileSeconds(const std::string& query) {
  int seconds = kProfileDefaultS;
  size_t at = 0;
  while (at <= query.size()) {
    size_t end = query.find('&', at);
    if (end == std::string::npos) end = query.size();
    const std::string kv = query.substr(at, end - at);
    if (kv.rfind("seconds=", 0) == 0) {
      const std::string v = kv.substr(8);
      if (v.empty() || v.size() > 3 || v.find_first_not_of("0123456789") != std::string::npos ||
          std::stoi(v) < 1 || std::stoi(v) > kProfileMaxS) {
        return MakeError(
            ErrorCode::kInvalidArgument,
            "seconds must be 1.." + std::to_string(kProfileMaxS) + ", not '" + v + "'");
      }
      seconds = std::stoi(v);
    }
    at = end + 1;
  }
  return seconds;
}

// The process-group label of the hosted runtime's series.
constexpr const char* kRuntimeGroupDefault = "gilstatd";

// malloc arenas for the whole process (Daemon::Create).
constexpr int kMallocArenas = 2;

// How long SIGTERM waits for a reload under way (the unit's TimeoutStopSec is 20 s).
constexpr std::chrono::seconds kStopWaitForReload{10};

probes::SemlockOptions ProbeOptionsOf(const config::ProbesConfig& p) {
  probes::SemlockOptions o;
  o.mode = p.mode;
  o.max_locks = p.max_locks;
  return o;
}

std::optional<web::BasicAuth> BasicAuthOf(const config::Config& c) {
  if (!c.web.basic_auth) return std::nullopt;
  return web::BasicAuth{c.web.basic_auth->username, c.web.basic_auth->password};
}

// The counters of `from` added to `into`; the gauges (attached, pending) are left alone. A
// reload replaces the tracker: the counters of the one replaced are kept this way, so the
// exported totals never go down.
void AddCounters(tracker::TrackerStats& into, const tracker::TrackerStats& from) {
  into.scans += from.scans;
  into.fork_events += from.fork_events;
  into.rename_events += from.rename_events;
  into.exec_events += from.exec_events;
  into.exit_events += from.exit_events;
  into.lost_events += from.lost_events;
  into.attaches += from.attaches;
  into.attach_retries += from.attach_retries;
  into.detaches += from.detaches;
  into.exited_detaches += from.exited_detaches;
  for (size_t i = 0; i < into.attach_errors.size(); ++i) {
    into.attach_errors[i] += from.attach_errors[i];
  }
}

}  // namespace

int ExitStatusOf(const Error& e) {
  return e.code == ErrorCode::kInvalidArgument ? kExitConfigError : kExitRuntimeError;
}

void BlockSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

// A dynamically linked process caught before its loader mapped libc (gilstat/auxv.h).
bool LibcNotLoadedYet(pid_t pid, const Status& s) {
  if (s.code() != ErrorCode::kNotFound) return false;
  auto dynamic = HasInterpreter(pid);
  return dynamic.ok() && *dynamic;
}

// Forwards to the probe and logs each process's attach failure once (the tracker counts them).
class LoggingAttacher : public tracker::Attacher {
 public:
  LoggingAttacher(host::LockProbe& probe, LogOnce& once) : probe_(probe), once_(once) {}
  Status Attach(pid_t pid) override {
    Status s = probe_.Attach(pid);
    if (!s.ok() && LibcNotLoadedYet(pid, s)) {
      // Retried by the tracker; told (Observers::AttachFailed) only if it never loads.
      spdlog::debug("pid {}: {}; retrying", pid, s.message());
    } else if (!s.ok() && once_.First("attach " + std::to_string(pid))) {
      spdlog::warn("cannot attach to pid {}: {}", pid, s.message());
    } else if (s.ok()) {
      once_.Forget("attach " + std::to_string(pid));
      spdlog::info("attached to pid {}", pid);
    }
    return s;
  }
  Status Detach(pid_t pid) override {
    once_.Forget("attach " + std::to_string(pid));
    Status s = probe_.Detach(pid);
    spdlog::debug("detached from pid {}", pid);
    return s;
  }

 private:
  host::LockProbe& probe_;
  LogOnce& once_;
};

// The tracker reports to one observer: this one passes each event on to several, in order.
class Observers : public tracker::TrackerObserver {
 public:
  void Add(tracker::TrackerObserver* o) { list_.push_back(o); }
  void Attached(const tracker::ProcessInfo& info) override {
    for (auto* o : list_) o->Attached(info);
  }
  void Detaching(const tracker::ProcessInfo& info, bool exited) override {
    for (auto* o : list_) o->Detaching(info, exited);
  }
  // The failures LoggingAttacher does not log: a missing pid target, a loader that never
  // mapped libc (one line each).
  void AttachFailed(pid_t pid, tracker::AttachError reason, const std::string& message) override {
    if (reason == tracker::AttachError::kNoSuchProcess) {
      spdlog::warn("target pid {}: no such process", pid);
    } else if (reason == tracker::AttachError::kLibcNotLoaded) {
      spdlog::warn("cannot attach to pid {}: {}", pid, message);
    }
    for (auto* o : list_) o->AttachFailed(pid, reason, message);
  }

 private:
  std::vector<tracker::TrackerObserver*> list_;
};

struct DaemonState {
  tracker::TrackerStats tracker;
  uint64_t reloads_ok = 0;
  uint64_t reloads_failed = 0;
  bool last_reload_ok = true;
};

// The daemon's own series read this, copied under the state lock.
metrics::DaemonStats DaemonStatsOf(const DaemonState& s) {
  metrics::DaemonStats d;
  d.attached = s.tracker.attached;
  d.pending = s.tracker.pending;
  for (size_t i = 0; i < tracker::kAttachErrorCount; ++i) {
    d.attach_errors.emplace_back(tracker::AttachErrorName(static_cast<tracker::AttachError>(i)),
                                 s.tracker.attach_errors[i]);
  }
  d.exec_events = s.tracker.exec_events;
  d.exit_events = s.tracker.exit_events;
  d.fork_events = s.tracker.fork_events;
  d.rename_events = s.tracker.rename_events;
  d.lost_events = s.tracker.lost_events;
  d.detaches = s.tracker.detaches;
  d.reloads_ok = s.reloads_ok;
  d.reloads_failed = s.reloads_failed;
  d.last_reload_ok = s.last_reload_ok;
  return d;
}

struct Daemon::Impl {
  DaemonFlags flags;
  DaemonEnv env;
  config::Config cfg;
  pid_t self = getpid();

  // The hosted runtime.
  std::unique_ptr<rt::Runtime> runtime;
  std::unique_ptr<rt::Workload> workload;
  std::string workload_name;

  // Probes and tracking (only with targets).
  LogOnce log_once;
  std::unique_ptr<Naming> naming;
  std::unique_ptr<host::LockProbe> probe;
  std::unique_ptr<probes::PyGilProbe> gil_probe;  // null when it cannot load
  std::unique_ptr<host::GilSampler> gil_sampler;  // GIL utilization of the Python targets
  std::unique_ptr<host::PythonTargets> python;
  // `python` is made and dropped under python_mu (the profile endpoints read it across a wait).
  mutable std::shared_mutex python_mu;
  uint64_t probes_generation = 0;                // how many times StartProbes made `python`
  mutable std::atomic<int> profiles_running{0};  // /debug/pprof requests under way
  bool python_stacks = false;                    // probes.python_stacks of the running probes
  Observers observers;                           // naming, then python
  std::unique_ptr<LoggingAttacher> attacher;
  std::unique_ptr<ProcEventSource> events;
  std::unique_ptr<tracker::ProcFs> procfs;
  std::unique_ptr<tracker::Tracker> tracker;
  tracker::TrackerStats retired;  // counters of the trackers replaced or stopped (no gauges)

  // What a scrape reads; swapped as a whole on reload.
  mutable std::shared_mutex collectors_mu;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectors;
  std::mutex state_mu;
  DaemonState state;

  std::unique_ptr<web::MetricsServer> server;
  Notifier notifier;
  int sigfd = -1;

  // A reload runs on a thread of its own (attaching probes can take seconds) while the main
  // loop goes on answering signals and pinging the watchdog; the loop leaves the probes, the
  // tracker and the runtime to it meanwhile. A SIGHUP during a reload queues one more.
  std::thread reload_thread;
  std::atomic<bool> reloading{false};
  bool reload_queued = false;
  int reload_done_fd = -1;  // eventfd: the reload thread is done

  Status StartRuntime(const config::Config& c);
  void StopRuntime();
  Status StartProbes(const config::Config& c);
  void StopProbes();
  Status Retarget(const config::Config& c);
  std::vector<std::shared_ptr<prometheus::Collectable>> OwnCollectors();
  void BuildCollectors();
  void PublishState();
  struct ReloadOutcome;
  void Reload();
  void StartReload();
  void ReloadDone();
  void JoinReload();
  bool HandleSignal(const signalfd_siginfo& si);
  std::string StatusLine() const;
};

Status Daemon::Impl::StartRuntime(const config::Config& c) {
  if (!c.runtime.enabled) return Status::Ok();
  auto w = config::CompileWorkload(c);
  if (!w.ok()) return w.error();
  auto r = rt::Runtime::Create(config::RuntimeOptionsOf(c.runtime));
  if (!r.ok()) return config::ConfigErrorAt(c.source, {}, "runtime: " + r.error().message);
  runtime = std::move(r).value();
  workload_name = c.runtime.workload;
  if (*w) {
    auto started = rt::Workload::Start(*runtime, **w);
    if (!started.ok()) {
      runtime.reset();
      return MakeError(ErrorCode::kInternal, "cannot start the " + workload_name +
                                                 " workload: " + started.error().message);
    }
    workload = std::move(started).value();
  }
  spdlog::info("hosted runtime: policy {}, workload {}", rt::PolicyName(c.runtime.policy),
               workload_name.empty() ? "none" : workload_name);
  return Status::Ok();
}

void Daemon::Impl::StopRuntime() {
  if (workload) {
    auto report = workload->Stop();
    if (!report.ok()) spdlog::warn("workload ended with an error: {}", report.error().message);
  }
  workload.reset();
  runtime.reset();
  if (naming) naming->ClearRuntimeLocks();
}

Status Daemon::Impl::StartProbes(const config::Config& c) {
  if (c.targets.empty()) return Status::Ok();
  if (Status s = host::CheckBtf(env.btf_path); !s.ok()) return s;
  if (Status s = host::CheckPrivileges(env.self_status_path); !s.ok()) return s;
  auto p = host::OpenSemlockProbe(ProbeOptionsOf(c.probes));
  if (!p.ok()) return p.error();
  probe = std::move(p).value();
  if (const probes::FutexProgramInfo* futex = host::FutexProgramOf(*probe)) {
    if (futex->fallback_reason.empty()) {
      spdlog::info("semaphore probes: futex calls seen by {}", futex->program);
    } else {
      spdlog::warn(
          "semaphore probes: futex calls seen by {} (it runs for every syscall on the "
          "host while a process is attached), because {}",
          futex->program, futex->fallback_reason);
    }
  }
  // One wake-up program for the semaphores and the GIL condvar: the GIL probe shares the
  // semaphore probe's GIL-wait maps.
  const probes::SemlockProbe* sem = host::SemlockProbeOf(*probe);
  if (auto g = probes::PyGilProbe::Open(PYGIL_MAX_PROCS,
                                        sem ? sem->gil_wait_maps() : probes::GilWaitMaps{});
      g.ok()) {
    gil_probe = std::move(g).value();
    if (!gil_probe->HandoffLatencyUnavailable().empty()) {
      spdlog::warn("CPython GIL probes: no handoff latency by the GIL condvar ({})",
                   gil_probe->HandoffLatencyUnavailable());
    }
  } else {
    spdlog::warn("CPython GIL probes unavailable ({}); Python targets get semaphore probes only",
                 g.error().message);
  }
  Naming* n = naming.get();
  {
    std::unique_lock<std::shared_mutex> lock(python_mu);
    python = std::make_unique<host::PythonTargets>(
        gil_probe.get(), env.proc_root, [n](pid_t pid) { return n->GroupOf(pid); },
        c.probes.python_exact, c.probes.python_stacks);
    // Python stacks at threading-lock waits too: the semaphore probe attaches first.
    if (c.probes.python_stacks) python->SetLockProbe(host::SemlockProbeOf(*probe));
    ++probes_generation;
    python_stacks = c.probes.python_stacks;
  }
  gil_sampler = std::make_unique<host::GilSampler>(host::GilSamplerOptions{},
                                                   [n](pid_t pid) { return n->GroupOf(pid); });
  gil_sampler->Start();
  python->SetSampler(gil_sampler.get());
  naming->SetPython(python.get());
  observers = Observers();
  observers.Add(naming.get());
  observers.Add(python.get());
  attacher = std::make_unique<LoggingAttacher>(*probe, log_once);
  auto ev = host::OpenProctrackProbe();
  if (ev.ok()) {
    events = std::move(ev).value();
  } else {
    spdlog::warn("no process events ({}); finding processes by rescanning every {} ms",
                 ev.error().message,
                 std::chrono::duration_cast<std::chrono::milliseconds>(c.rescan_interval).count());
  }
  procfs = std::make_unique<tracker::ProcFs>(env.proc_root);
  return Retarget(c);
}

// A new tracker for the targets of `c`, on the same probe: processes that still match keep
// their probes and counters; the others are detached.
Status Daemon::Impl::Retarget(const config::Config& c) {
  auto targets = config::CompileMatchers(c, self);
  if (!targets.ok()) return targets.error();
  std::vector<pid_t> before;
  if (tracker) {
    for (const auto& info : tracker->Attached()) before.push_back(info.pid);
  }
  tracker::TrackerOptions topts;
  topts.rescan_interval = std::chrono::duration_cast<std::chrono::milliseconds>(c.rescan_interval);
  topts.events = events.get();
  if (tracker) AddCounters(retired, tracker->stats());
  tracker = std::make_unique<tracker::Tracker>(procfs.get(), std::move(targets).value(),
                                               attacher.get(), topts, &observers);
  tracker->Rescan();
  for (pid_t pid : before) {
    if (!tracker->IsAttached(pid)) {
      tracker::ProcessInfo gone;
      gone.pid = pid;
      observers.Detaching(gone, false);
      (void)attacher->Detach(pid);
      ++retired.detaches;
    }
  }
  return Status::Ok();
}

void Daemon::Impl::StopProbes() {
  if (tracker) {
    tracker->DetachAll();
    AddCounters(retired, tracker->stats());
  }
  tracker.reset();
  if (python) python->DetachAll();
  if (naming) naming->SetPython(nullptr);
  observers = Observers();
  {
    std::unique_lock<std::shared_mutex> lock(python_mu);
    python.reset();
  }
  gil_sampler.reset();
  gil_probe.reset();
  events.reset();
  attacher.reset();
  probe.reset();
}

// The daemon's own series: they reference nothing a reload replaces.
std::vector<std::shared_ptr<prometheus::Collectable>> Daemon::Impl::OwnCollectors() {
  std::vector<std::shared_ptr<prometheus::Collectable>> own;
  own.push_back(std::make_shared<metrics::BuildInfoCollector>(env.version, "unknown"));
  own.push_back(std::make_shared<metrics::ProcessCollector>());
  own.push_back(std::make_shared<metrics::DaemonCollector>([this] {
    std::lock_guard<std::mutex> lock(state_mu);
    return DaemonStatsOf(state);
  }));
  return own;
}

void Daemon::Impl::BuildCollectors() {
  std::vector<std::shared_ptr<prometheus::Collectable>> next = OwnCollectors();
  if (runtime) {
    rt::Runtime* r = runtime.get();
    // The same group name the eBPF series of this process get, so the two sources line up.
    std::string group = kRuntimeGroupDefault;
    tracker::ProcFs fs(env.proc_root);
    if (auto info = fs.Read(self); info.ok())
      group = ExpandGroupTemplate(cfg.labels.process, *info);
    next.push_back(std::make_shared<metrics::RuntimeCollector>([r] { return r->TakeSnapshot(); },
                                                               group, workload_name));
  }
  if (probe) {
    host::PythonTargets* py = python.get();
    const bool pid_label = cfg.labels.pid;
    next.push_back(std::make_shared<metrics::SemlockCollector>(
        *probe, naming->ForCollector(), [py, pid_label] { return py->GilSeries(pid_label); }));
    next.push_back(std::make_shared<metrics::PythonCollector>(
        [py] { return py->Processes(); },
        [py] {
          const PyGilHealth h = py->ProbeHealth();
          return metrics::PythonProbeErrors{py->probe_errors(), h.threads_full + h.stats_full,
                                            h.read_errors, h.stacks_full + h.pairs_full};
        },
        pid_label, naming->PythonTotals()));
    host::GilSampler* sampler = gil_sampler.get();
    next.push_back(std::make_shared<metrics::GilUtilizationCollector>(
        [sampler] { return sampler->Rows(); }, [sampler] { return sampler->Health(); }, pid_label));
  }
  std::unique_lock<std::shared_mutex> lock(collectors_mu);
  collectors = std::move(next);
}

void Daemon::Impl::PublishState() {
  if (runtime && naming) naming->SetRuntimeLocks(self, runtime->TakeSnapshot());
  std::lock_guard<std::mutex> lock(state_mu);
  state.tracker = retired;  // gauges 0: nothing attached without a tracker
  if (tracker) {
    const tracker::TrackerStats& now = tracker->stats();
    AddCounters(state.tracker, now);
    state.tracker.attached = now.attached;
    state.tracker.pending = now.pending;
  }
}

std::string Daemon::Impl::StatusLine() const {
  std::string s = "serving on port " + std::to_string(server ? server->port() : 0);
  if (tracker) s += ", " + std::to_string(tracker->stats().attached) + " process(es) attached";
  if (runtime) s += ", runtime " + std::string(rt::PolicyName(runtime->policy()));
  return s;
}

// What a reload leaves on its way out, whichever way it takes: the collectors rebuilt (when they
// were dropped), then the outcome counted, so that a scrape that sees the reload counted sees
// the series under its labels too.
struct Daemon::Impl::ReloadOutcome {
  Impl* m;
  bool rebuild = false;
  std::optional<bool> ok;
  ~ReloadOutcome() {
    if (rebuild) m->BuildCollectors();
    if (ok) {
      std::lock_guard<std::mutex> lock(m->state_mu);
      ++(*ok ? m->state.reloads_ok : m->state.reloads_failed);
      m->state.last_reload_ok = *ok;
    }
    if (rebuild) m->PublishState();
  }
};

// Runs on the reload thread (StartReload). Everything is checked before anything changes; then
// the credentials, the runtime, the labels and the targets are applied in that order.
void Daemon::Impl::Reload() {
  notifier.Reloading();
  ReloadOutcome finish{this};
  auto fail = [&finish](const std::string& why) {
    spdlog::error("reload failed, keeping the running configuration: {}", why);
    finish.ok = false;
  };
  if (!flags.config_file) {
    spdlog::info("SIGHUP: running on the embedded default, nothing to reload");
    return;
  }
  auto next = config::LoadConfigFile(*flags.config_file);
  if (!next.ok()) return fail(next.error().message);
  // Check everything that can be checked before changing anything.
  if (auto t = config::CompileMatchers(*next, self); !t.ok()) return fail(t.error().message);
  if (auto w = config::CompileWorkload(*next); !w.ok()) return fail(w.error().message);

  // The credentials first: from the next request on, only the new ones are accepted.
  const auto auth = BasicAuthOf(*next);
  const auto old_auth = BasicAuthOf(cfg);
  if (auth.has_value() != old_auth.has_value() ||
      (auth && (auth->username != old_auth->username || auth->password != old_auth->password))) {
    server->SetBasicAuth(auth);
    spdlog::info("web.basic_auth: {}", auth ? "new credentials in force" : "none, open endpoint");
  }
  cfg.web = next->web;

  // A scrape must not reach an object being destroyed or relabelled: before the runtime, the
  // labels or the probes change, only the daemon's own collectors stay; all come back on every
  // way out. A reload that only retargets keeps them all, so scrapes stay whole meanwhile.
  bool collectors_gone = false;
  auto drop_collectors = [&] {
    if (collectors_gone) return;
    auto own = OwnCollectors();
    std::unique_lock<std::shared_mutex> lock(collectors_mu);
    collectors = std::move(own);
    collectors_gone = true;
  };
  finish.rebuild = true;

  // A failure past this point leaves what was already applied in place and says so.
  if (!(next->runtime == cfg.runtime)) {
    drop_collectors();
    StopRuntime();
    if (Status s = StartRuntime(*next); !s.ok()) {
      return fail(s.message() + " (the hosted runtime is stopped)");
    }
    cfg.runtime = next->runtime;
  }
  if (!(next->labels == cfg.labels)) {
    drop_collectors();
    naming->SetLabels(next->labels);
  }
  cfg.labels = next->labels;  // BuildCollectors names the runtime's group from it
  const bool probes_changed = !(next->probes == cfg.probes);
  if (next->targets.empty() || probes_changed) {
    if (probe) drop_collectors();
    StopProbes();
  }
  if (!next->targets.empty()) {
    Status s = probe ? Retarget(*next) : StartProbes(*next);
    if (!s.ok()) return fail(s.message() + " (probes not attached)");
  }
  cfg = std::move(next).value();
  finish.ok = true;
  spdlog::info("configuration reloaded from {}", cfg.source);
}

void Daemon::Impl::StartReload() {
  if (reloading.load()) {
    if (!reload_queued) spdlog::info("SIGHUP during a reload: reloading again once it is done");
    reload_queued = true;
    return;
  }
  spdlog::info("SIGHUP: reloading");
  JoinReload();
  reloading.store(true);
  reload_thread = std::thread([this] {
    Reload();
    reloading.store(false);
    const uint64_t one = 1;
    if (write(reload_done_fd, &one, sizeof one) < 0) {
      spdlog::warn("reload: cannot wake the main loop: {}", std::strerror(errno));
    }
  });
}

// On the main loop, when the reload thread has signalled its end.
void Daemon::Impl::ReloadDone() {
  uint64_t n = 0;
  if (read(reload_done_fd, &n, sizeof n) < 0 && errno != EAGAIN) {
    spdlog::warn("reload: {}", std::strerror(errno));
  }
  if (reloading.load()) return;
  JoinReload();
  notifier.Ready(StatusLine());  // ends the RELOADING=1 state
  if (reload_queued) {
    reload_queued = false;
    StartReload();
  }
}

void Daemon::Impl::JoinReload() {
  if (reload_thread.joinable()) reload_thread.join();
}

Daemon::Daemon(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Daemon::~Daemon() {
  if (!impl_) return;
  impl_->JoinReload();
  impl_->server.reset();
  impl_->StopProbes();
  impl_->StopRuntime();
  if (impl_->sigfd >= 0) close(impl_->sigfd);
  if (impl_->reload_done_fd >= 0) close(impl_->reload_done_fd);
}

Result<std::unique_ptr<Daemon>> Daemon::Create(const DaemonFlags& flags, config::Config cfg,
                                               DaemonEnv env) {
  // Before any thread starts: every thread that allocates would otherwise get a malloc arena of
  // its own (up to 8 per CPU), each keeping the memory of the scrapes it rendered. With the HTTP
  // server's 256 workers that made the peak RSS 57 MB instead of 23 MB (100 targets, 20
  // scrapes); two arenas give back the 23 MB.
  mallopt(M_ARENA_MAX, kMallocArenas);
  auto impl = std::make_unique<Impl>();
  impl->flags = flags;
  impl->env = std::move(env);
  impl->cfg = std::move(cfg);
  const config::Config& c = impl->cfg;

  // Configuration errors first, before anything starts.
  if (auto t = config::CompileMatchers(c, impl->self); !t.ok()) return t.error();
  if (auto w = config::CompileWorkload(c); !w.ok()) return w.error();

  impl->naming = std::make_unique<Naming>(c.labels, impl->env.proc_root);
  std::unique_ptr<Daemon> d(new Daemon(std::move(impl)));
  Impl& m = *d->impl_;
  // Probes first: attached before the runtime starts, they see every one of its operations,
  // so the two sources' totals for the hosted GIL can be compared directly.
  if (Status s = m.StartProbes(c); !s.ok()) return s.error();
  if (Status s = m.StartRuntime(c); !s.ok()) return s.error();
  m.BuildCollectors();
  m.PublishState();

  web::ServerOptions so;
  so.listen_address = flags.listen_address;
  so.telemetry_path = flags.telemetry_path;
  so.basic_auth = BasicAuthOf(c);
  so.landing_details = "<p>Configuration: " + c.source + "</p>\n";
  Daemon* self = d.get();
  for (const auto& [kind, path] : kProfilePaths) {
    so.handlers[path] = [self, kind = kind](const std::string& query) {
      return self->GilProfile(kind, query);
    };
  }
  auto server = web::MetricsServer::Start(so, [self] { return self->Render(); });
  if (!server.ok()) {
    // A bad address is a flag error; a port in use is an environment error.
    return server.error();
  }
  m.server = std::move(server).value();

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  m.sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (m.sigfd < 0) {
    return MakeError(ErrorCode::kInternal, std::string("signalfd: ") + std::strerror(errno));
  }
  m.reload_done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (m.reload_done_fd < 0) {
    return MakeError(ErrorCode::kInternal, std::string("eventfd: ") + std::strerror(errno));
  }
  spdlog::info("listening on {} (port {}), metrics at {}", flags.listen_address, m.server->port(),
               flags.telemetry_path);
  return d;
}

int Daemon::port() const { return impl_->server ? impl_->server->port() : 0; }

std::string Daemon::Render() const {
  std::vector<prometheus::MetricFamily> fams;
  {
    std::shared_lock<std::shared_mutex> lock(impl_->collectors_mu);
    for (const auto& c : impl_->collectors) {
      auto f = c->Collect();
      fams.insert(fams.end(), std::make_move_iterator(f.begin()), std::make_move_iterator(f.end()));
    }
  }
  // Families of one name from several sources (runtime and ebpf) must be one family.
  std::stable_sort(fams.begin(), fams.end(),
                   [](const auto& a, const auto& b) { return a.name < b.name; });
  std::vector<prometheus::MetricFamily> merged;
  for (auto& f : fams) {
    if (!merged.empty() && merged.back().name == f.name) {
      auto& into = merged.back().metric;
      into.insert(into.end(), std::make_move_iterator(f.metric.begin()),
                  std::make_move_iterator(f.metric.end()));
    } else {
      merged.push_back(std::move(f));
    }
  }
  return prometheus::TextSerializer().Serialize(merged);
}

// /debug/pprof/gil_wait, gil_blame and lock_wait: the waits of the next `seconds` (1..60,
// default 10) as a pprof profile of the waiters' or the holders' stacks.
web::HttpResponse Daemon::GilProfile(Profile kind, const std::string& query) const {
  auto text = [](int status, std::string msg) {
    return web::HttpResponse{status, "text/plain; charset=utf-8", std::move(msg) + "\n", ""};
  };
  auto seconds = ProfileSeconds(query);
  if (!seconds.ok()) return text(400, seconds.error().message);
  uint64_t generation = 0;
  probes::RawGilStacks before;
  {
    std::shared_lock<std::shared_mutex> lock(impl_->python_mu);
    if (!impl_->python || !impl_->python_stacks) {
      return text(404, "Python stacks are off: set probes.python_stacks: true (docs/PYTHON.md)");
    }
    generation = impl_->probes_generation;
    // The first of overlapping requests may empty full maps: the others' differences would
    // lose what they had.
    before = impl_->profiles_running.fetch_add(1) == 0 ? impl_->python->ReadStacksWithRoom()
                                                       : impl_->python->ReadStacks();
  }
  struct Done {
    std::atomic<int>& n;
    ~Done() { n.fetch_sub(1); }
  } done{impl_->profiles_running};
  std::this_thread::sleep_for(std::chrono::seconds(*seconds));
  std::vector<ProcessGilStacks> stacks;
  {
    std::shared_lock<std::shared_mutex> lock(impl_->python_mu);
    if (!impl_->python || impl_->probes_generation != generation) {
      return text(503, "the probes were restarted (configuration reload) during the profile");
    }
    stacks = impl_->python->Stacks(&before);
  }
  const auto view = kind == Profile::kGilBlame ? profile::View::kHolders : profile::View::kWaiters;
  const WaitLock lock = kind == Profile::kLockWait ? WaitLock::kThreading : WaitLock::kGil;
  std::string name;
  for (const auto& [k, path] : kProfilePaths) {
    if (k == kind) name = std::string(path).substr(std::string(path).rfind('/') + 1);
  }
  return {200, "application/octet-stream",
          profile::Pprof(stacks, view, static_cast<uint64_t>(*seconds) * 1000000000ull, lock),
          "Content-Disposition: attachment; filename=\"" + name + ".pb.gz\"\r\n"};
}

// One signal from the signalfd; false when it asks to stop.
bool Daemon::Impl::HandleSignal(const signalfd_siginfo& si) {
  if (si.ssi_signo == SIGHUP) {
    StartReload();
    return true;
  }
  spdlog::info("{}: stopping", strsignal(static_cast<int>(si.ssi_signo)));
  notifier.Stopping();
  // The reload uses the server (its credentials) and the probes: it finishes first, within
  // half of the unit's stop timeout; past that the process ends as it is (the kernel removes
  // its probes with its file descriptors).
  if (reloading.load()) {
    spdlog::info("waiting for the reload under way to finish");
    const auto deadline = std::chrono::steady_clock::now() + kStopWaitForReload;
    while (reloading.load() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (reloading.load()) {
      spdlog::error("the reload did not finish within {} s: exiting without detaching",
                    kStopWaitForReload.count());
      std::_Exit(kExitRuntimeError);
    }
  }
  JoinReload();
  server.reset();
  StopProbes();
  StopRuntime();
  return false;
}

int Daemon::Run() {
  Impl& m = *impl_;
  m.notifier.Ready(m.StatusLine());
  spdlog::info("ready: {}", m.StatusLine());
  for (;;) {
    // While a reload runs, the tracker, the probes and the runtime are its own.
    const bool reloading = m.reloading.load();
    auto timeout = std::chrono::milliseconds(1000);
    if (m.tracker && !reloading) {
      const auto until = m.tracker->NextDeadline() - tracker::Tracker::Clock::now();
      timeout = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(until),
                           std::chrono::milliseconds(0), timeout);
    }
    const bool events = m.events && !reloading;
    pollfd fds[3] = {{m.sigfd, POLLIN, 0},
                     {m.reload_done_fd, POLLIN, 0},
                     {events ? m.events->fd() : -1, POLLIN, 0}};
    const int n = poll(fds, events ? 3 : 2, static_cast<int>(timeout.count()));
    if (n < 0 && errno != EINTR) {
      spdlog::error("poll: {}", std::strerror(errno));
      return kExitRuntimeError;
    }
    if (n > 0 && (fds[1].revents & POLLIN)) m.ReloadDone();
    if (n > 0 && (fds[0].revents & POLLIN)) {
      signalfd_siginfo si;
      while (read(m.sigfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
        if (!m.HandleSignal(si)) return kExitOk;
      }
    }
    if (!m.reloading.load()) {
      if (m.tracker) m.tracker->Pump();
      m.PublishState();
    }
    m.notifier.MaybeWatchdog();
  }
}

}  // namespace gilstat
