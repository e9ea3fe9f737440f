#include "app/daemon.h"

#include <poll.h>
#include <prometheus/text_serializer.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <shared_mutex>

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
#include "tracker/matchers.h"
#include "tracker/tracker.h"
#include "web/http_server.h"

namespace gilstat {
namespace {

// The process-group label of the hosted runtime's series.
constexpr const char* kRuntimeGroupDefault = "gilstatd";

probes::SemlockOptions ProbeOptionsOf(const config::ProbesConfig& p) {
  probes::SemlockOptions o;
  o.mode = p.mode;
  o.max_locks = p.max_locks;
  return o;
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
  Observers observers;  // naming, then python
  std::unique_ptr<LoggingAttacher> attacher;
  std::unique_ptr<ProcEventSource> events;
  std::unique_ptr<tracker::ProcFs> procfs;
  std::unique_ptr<tracker::Tracker> tracker;

  // What a scrape reads; swapped as a whole on reload.
  mutable std::shared_mutex collectors_mu;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectors;
  std::mutex state_mu;
  DaemonState state;

  std::unique_ptr<web::MetricsServer> server;
  Notifier notifier;
  int sigfd = -1;

  Status StartRuntime(const config::Config& c);
  void StopRuntime();
  Status StartProbes(const config::Config& c);
  void StopProbes();
  Status Retarget(const config::Config& c);
  void BuildCollectors();
  void PublishState();
  void Reload();
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
  if (auto g = probes::PyGilProbe::Open(); g.ok()) {
    gil_probe = std::move(g).value();
  } else {
    spdlog::warn("CPython GIL probes unavailable ({}); Python targets get semaphore probes only",
                 g.error().message);
  }
  Naming* n = naming.get();
  python = std::make_unique<host::PythonTargets>(
      gil_probe.get(), env.proc_root, [n](pid_t pid) { return n->GroupOf(pid); },
      c.probes.python_exact);
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
  tracker = std::make_unique<tracker::Tracker>(procfs.get(), std::move(targets).value(),
                                               attacher.get(), topts, &observers);
  tracker->Rescan();
  for (pid_t pid : before) {
    if (!tracker->IsAttached(pid)) {
      tracker::ProcessInfo gone;
      gone.pid = pid;
      observers.Detaching(gone, false);
      (void)attacher->Detach(pid);
    }
  }
  return Status::Ok();
}

void Daemon::Impl::StopProbes() {
  if (tracker) tracker->DetachAll();
  tracker.reset();
  if (python) python->DetachAll();
  if (naming) naming->SetPython(nullptr);
  observers = Observers();
  python.reset();
  gil_sampler.reset();
  gil_probe.reset();
  events.reset();
  attacher.reset();
  probe.reset();
}

void Daemon::Impl::BuildCollectors() {
  std::vector<std::shared_ptr<prometheus::Collectable>> next;
  next.push_back(std::make_shared<metrics::BuildInfoCollector>(env.version, "unknown"));
  next.push_back(std::make_shared<metrics::ProcessCollector>());
  next.push_back(std::make_shared<metrics::DaemonCollector>([this] {
    std::lock_guard<std::mutex> lock(state_mu);
    return DaemonStatsOf(state);
  }));
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
                                            h.read_errors};
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
  if (tracker) state.tracker = tracker->stats();
}

std::string Daemon::Impl::StatusLine() const {
  std::string s = "serving on port " + std::to_string(server ? server->port() : 0);
  if (tracker) s += ", " + std::to_string(tracker->stats().attached) + " process(es) attached";
  if (runtime) s += ", runtime " + std::string(rt::PolicyName(runtime->policy()));
  return s;
}

void Daemon::Impl::Reload() {
  notifier.Reloading();
  auto fail = [this](const std::string& why) {
    spdlog::error("reload failed, keeping the running configuration: {}", why);
    std::lock_guard<std::mutex> lock(state_mu);
    ++state.reloads_failed;
    state.last_reload_ok = false;
  };
  if (!flags.config_file) {
    spdlog::info("SIGHUP: running on the embedded default, nothing to reload");
    notifier.Status(StatusLine());
    return;
  }
  auto next = config::LoadConfigFile(*flags.config_file);
  if (!next.ok()) return fail(next.error().message);
  // Check everything that can be checked before changing anything.
  if (auto t = config::CompileMatchers(*next, self); !t.ok()) return fail(t.error().message);
  if (auto w = config::CompileWorkload(*next); !w.ok()) return fail(w.error().message);

  // From here on parts may be replaced: no scrape may reach an object being destroyed, so the
  // collectors go first and come back (for whatever then runs) on every way out.
  {
    std::unique_lock<std::shared_mutex> lock(collectors_mu);
    collectors.clear();
  }
  struct Rebuild {
    Impl* m;
    ~Rebuild() {
      m->BuildCollectors();
      m->PublishState();
    }
  } rebuild{this};

  // A failure past this point leaves what was already applied in place and says so.
  if (!(next->runtime == cfg.runtime)) {
    StopRuntime();
    if (Status s = StartRuntime(*next); !s.ok()) {
      return fail(s.message() + " (the hosted runtime is stopped)");
    }
    cfg.runtime = next->runtime;
  }
  if (!(next->labels == cfg.labels)) naming->SetLabels(next->labels);
  cfg.labels = next->labels;  // BuildCollectors names the runtime's group from it
  const bool probes_changed = !(next->probes == cfg.probes);
  if (next->targets.empty() || probes_changed) StopProbes();
  if (!next->targets.empty()) {
    Status s = probe ? Retarget(*next) : StartProbes(*next);
    if (!s.ok()) return fail(s.message() + " (probes not attached)");
  }
  cfg = std::move(next).value();
  {
    std::lock_guard<std::mutex> lock(state_mu);
    ++state.reloads_ok;
    state.last_reload_ok = true;
  }
  spdlog::info("configuration reloaded from {}", cfg.source);
  notifier.Status(StatusLine());
}

Daemon::Daemon(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Daemon::~Daemon() {
  if (!impl_) return;
  impl_->server.reset();
  impl_->StopProbes();
  impl_->StopRuntime();
  if (impl_->sigfd >= 0) close(impl_->sigfd);
}

Result<std::unique_ptr<Daemon>> Daemon::Create(const DaemonFlags& flags, config::Config cfg,
                                               DaemonEnv env) {
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
  if (c.web.basic_auth)
    so.basic_auth = web::BasicAuth{c.web.basic_auth->username, c.web.basic_auth->password};
  so.landing_details = "<p>Configuration: " + c.source + "</p>\n";
  Daemon* self = d.get();
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

int Daemon::Run() {
  Impl& m = *impl_;
  m.notifier.Ready(m.StatusLine());
  spdlog::info("ready: {}", m.StatusLine());
  for (;;) {
    auto timeout = std::chrono::milliseconds(1000);
    if (m.tracker) {
      const auto until = m.tracker->NextDeadline() - tracker::Tracker::Clock::now();
      timeout = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(until),
                           std::chrono::milliseconds(0), timeout);
    }
    pollfd fds[2] = {{m.sigfd, POLLIN, 0}, {m.events ? m.events->fd() : -1, POLLIN, 0}};
    const int n = poll(fds, m.events ? 2 : 1, static_cast<int>(timeout.count()));
    if (n < 0 && errno != EINTR) {
      spdlog::error("poll: {}", std::strerror(errno));
      return kExitRuntimeError;
    }
    if (n > 0 && (fds[0].revents & POLLIN)) {
      signalfd_siginfo si;
      while (read(m.sigfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
        if (si.ssi_signo == SIGHUP) {
          spdlog::info("SIGHUP: reloading");
          m.Reload();
        } else {
          spdlog::info("{}: stopping", strsignal(static_cast<int>(si.ssi_signo)));
          m.notifier.Stopping();
          m.server.reset();
          m.StopProbes();
          m.StopRuntime();
          return kExitOk;
        }
      }
    }
    if (m.tracker) m.tracker->Pump(m.events.get());
    m.PublishState();
    m.notifier.MaybeWatchdog();
  }
}

}  // namespace gilstat
