#include "host/python_host.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "gilstat/format.h"
#include "host/gil_stacks.h"
#include "python/remote_memory.h"
#include "tracker/proc.h"

namespace gilstat::host {

namespace {

std::vector<std::string> SplitNul(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find('\0', start);
    if (end == std::string::npos) end = s.size();
    out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

bool GilForcedOn(const std::string& environ, const std::string& cmdline) {
  for (const std::string& e : SplitNul(environ)) {
    if (e == "PYTHON_GIL=1") return true;
  }
  const auto args = SplitNul(cmdline);
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "-Xgil=1") return true;
    if (args[i] == "-X" && i + 1 < args.size() && args[i + 1] == "gil=1") return true;
  }
  return false;
}

namespace {

// take_gil/drop_gil and their compiler copies in the interpreter: the exact method's sites.
void AddTakeDropSites(const python::InterpreterInfo& in, probes::PyGilTarget& probe) {
  probe.interpreter_path = in.binary;
  probe.interpreter_file = in.file;
  for (const auto& [name, sym] : in.symbols) {
    for (auto [fn, offsets] : {std::pair{std::string_view("take_gil"), &probe.take_gil_offsets},
                               std::pair{std::string_view("drop_gil"), &probe.drop_gil_offsets}}) {
      if (python::IsSymbolOrClone(name, fn) && sym.file_offset != 0)
        offsets->push_back(sym.file_offset);
    }
  }
}

}  // namespace

// CPython 3 with a GIL: the condvar's waits (default) wherever the GIL state is located;
// take_gil/drop_gil in exact mode, or when the state is not located but the symbols are there.
void PlanGil3(pid_t pid, const std::string& proc_root, bool exact, PythonPlan& plan) {
  const python::InterpreterInfo& in = plan.info;
  auto gil = python::LocateGil(pid, in, proc_root);
  if (gil.ok()) plan.gil = *gil;
  const bool symbols = in.gil_method == GilMethod::kTakeGil;
  if (symbols && (exact || !gil.ok())) {
    plan.method = GilMethod::kTakeGil;
    AddTakeDropSites(in, plan.probe);
    plan.why = exact ? "exact mode: take_gil/drop_gil uprobes"
                     : "take_gil/drop_gil uprobes (the GIL condvar cannot be located)";
    const size_t copies = plan.probe.take_gil_offsets.size() + plan.probe.drop_gil_offsets.size();
    if (copies > 2) plan.why += " (and " + std::to_string(copies - 2) + " compiler copies)";
  } else if (gil.ok()) {
    plan.method = GilMethod::kGilCondvar;
    plan.why = std::string(exact ? "exact mode without take_gil/drop_gil symbols: " : "") +
               "waits on the GIL condvar only (contended acquisitions; no hold times)";
  } else {
    plan.why =
        "no take_gil/drop_gil symbols and the GIL state cannot be located: " + gil.error().message;
    return;
  }
  if (gil.ok()) {
    if (gil->interpreters && gil->state != 0) {
      // 3.12+: take_gil/drop_gil are attributed to the GIL their arguments name.
      plan.probe.by_argument = true;
      plan.probe.tstate_interp = gil->interpreters->tstate_interp;
      plan.probe.interp_gil = gil->interpreters->ceval_gil;
      plan.probe.drop_arg_gil = gil->interpreters->drop_arg_gil;
      plan.probe.cond_in_gil = static_cast<uint32_t>(gil->cond - gil->state);
      const python::InterpreterWalk& w = *gil->interpreters;
      plan.probe.main_interp = gil->state - w.own_gil;
      plan.probe.main_drop_arg = plan.probe.main_interp + w.ceval_gil - w.drop_arg_gil;
    }
    plan.probe.cond_addr = gil->cond;
    plan.probe.locked_addr = gil->locked;
    plan.probe.switch_addr = gil->switch_number;
    plan.probe.interval_addr = gil->interval;
    plan.why += "; GIL state at " + HexAddress(gil->state ? gil->state : gil->locked) + " (" +
                gil->how + ")";
  } else {
    plan.why += "; GIL state not located (" + gil.error().message +
                "): forced and voluntary releases are not told apart";
  }
}

void PlanStacks(PythonPlan& plan) {
  const python::InterpreterInfo& in = plan.info;
  const auto layout = python::FrameLayoutFor(in.major, in.minor);
  if (!layout) {
    plan.stacks_why = "no frame layout for CPython " + in.VersionString() + " (3.11 .. 3.15)";
  } else if (in.free_threaded) {
    plan.stacks_why = "free-threaded builds are not supported";
  } else if (!plan.gil || plan.gil->last_holder == 0 || plan.probe.cond_addr == 0) {
    plan.stacks_why = "the GIL state is not located";
  } else if (!in.has("PyCode_Type")) {
    plan.stacks_why = "no PyCode_Type symbol to tell code objects by";
  } else {
    pygil_frames f{};
    f.threads_head = layout->threads_head;
    f.tstate_next = layout->tstate_next;
    f.native_thread_id = layout->native_thread_id;
    f.tstate_interp = layout->tstate_interp;
    f.cframe = layout->cframe;
    f.current_frame = layout->current_frame;
    f.previous = layout->previous;
    f.code = layout->code;
    f.owner = layout->owner;
    f.first_hidden_owner = layout->first_hidden_owner;
    f.instr = layout->instr;
    plan.probe.stacks = f;
    plan.probe.last_holder_addr = plan.gil->last_holder;
    plan.stacks_why.clear();
  }
}

Result<std::optional<PythonPlan>> PlanPython(pid_t pid, const std::string& proc_root, bool exact,
                                             bool stacks) {
  auto info = python::InspectProcess(pid, proc_root);
  if (!info.ok()) return info.error();
  if (info->kind != python::InterpreterInfo::Kind::kCPython) return std::optional<PythonPlan>();
  PythonPlan plan;
  plan.info = std::move(info).value();
  const python::InterpreterInfo& in = plan.info;
  plan.build = in.free_threaded ? "free-threaded" : in.stripped ? "stripped" : "unstripped";

  if (in.free_threaded) {
    // How it was started: what is reported until (or where) the GIL's `enabled` word is read.
    const std::string dir = proc_root + "/" + std::to_string(pid);
    auto env = tracker::ReadSmallFile(dir + "/environ");
    auto cmd = tracker::ReadSmallFile(dir + "/cmdline");
    plan.gil_enabled = GilForcedOn(env.ok() ? *env : "", cmd.ok() ? *cmd : "");
  }

  // What the binary allows was decided by InspectProcess (info.gil_method); the process's memory
  // decides the rest (where the GIL state is).
  if (in.major == 2) {
    if (in.gil_method == GilMethod::kInterpreterLock) {
      plan.method = GilMethod::kInterpreterLock;
      plan.why = "the GIL is the semaphore `interpreter_lock` points to (semaphore probes)";
    } else {
      plan.why = in.method;
    }
    return std::optional<PythonPlan>(std::move(plan));
  }

  PlanGil3(pid, proc_root, exact, plan);
  if (stacks) PlanStacks(plan);
  if (in.free_threaded && plan.gil) {
    // The GIL can be switched on at run time: probed either way, reported from `enabled`.
    plan.why = "free-threaded build (" + in.free_threaded_marker +
               "): the GIL is probed, and whether it is on is read from its `enabled` word at "
               "every scrape; " +
               plan.why;
  } else if (in.free_threaded && !plan.gil_enabled) {
    plan.method = GilMethod::kGilDisabled;
    plan.probe = {};
    plan.why = "free-threaded build (" + in.free_threaded_marker +
               ") started without the GIL, whose state cannot be located: there is no GIL to "
               "wait for unless it is switched on later (not followed: " +
               plan.why + ")";
  }
  return std::optional<PythonPlan>(std::move(plan));
}

GilAtScrape GilNow(const PythonPlan& plan, const python::GilState* state) {
  GilAtScrape g{plan.method, plan.gil_enabled};
  if (!plan.info.free_threaded) return g;
  if (state) g.enabled = state->enabled != 0;
  if (plan.method == GilMethod::kTakeGil || plan.method == GilMethod::kGilCondvar) {
    g.method = g.enabled ? plan.method : GilMethod::kGilDisabled;
  }
  return g;
}

PythonTargets::PythonTargets(probes::PyGilProbe* probe, std::string proc_root,
                             std::function<std::optional<std::string>(pid_t)> group_of, bool exact,
                             bool stacks)
    : probe_(probe),
      proc_root_(std::move(proc_root)),
      group_of_(std::move(group_of)),
      exact_(exact),
      stacks_(stacks) {}

void PythonTargets::Attached(const tracker::ProcessInfo& info) {
  const pid_t pid = info.pid;
  {
    // Already planned and probed: a reload's new tracker announces every process again.
    // Attaching again would start its GIL counters from zero (an exec is a Detaching first).
    std::lock_guard lock(mu_);
    if (targets_.count(pid)) return;
  }
  auto plan = PlanPython(pid, proc_root_, exact_, stacks_);
  if (!plan.ok()) {
    spdlog::warn("pid {} ({}): cannot identify its interpreter: {}", pid, info.comm,
                 plan.error().message);
    return;
  }
  if (!*plan) return;  // not CPython
  Target t;
  t.plan = std::move(**plan);
  t.comm = info.comm;
  const GilMethod m = t.plan.method;
  if ((m == GilMethod::kTakeGil || m == GilMethod::kGilCondvar) && probe_) {
    Status s = probe_->Attach(pid, t.plan.probe);
    if (s.ok()) {
      t.probed = true;
    } else {
      std::lock_guard lock(mu_);
      ++probe_errors_;
      spdlog::warn("pid {} ({}): GIL probes not attached: {}", pid, info.comm, s.message());
    }
  }
  spdlog::info("pid {} ({}): CPython {} ({}, version from {}), GIL measured by {}: {}", pid,
               info.comm, t.plan.info.VersionString(), t.plan.build,
               python::VersionSourceName(t.plan.info.version_source), GilMethodLabel(m),
               t.plan.why);
  if (stacks_) StartNaming(pid, info.comm, t);
  StartSampling(pid, t.plan);
  std::lock_guard lock(mu_);
  Target& stored = targets_[pid] = std::move(t);
  RescanInterpreters(pid, stored, std::chrono::steady_clock::now());
}

// Holding mu_. The sub-interpreters with their own GIL, registered with the probe: at most once
// per kRescanEvery per process (a few process_vm_readv calls per interpreter).
void PythonTargets::RescanInterpreters(pid_t pid, Target& t,
                                       std::chrono::steady_clock::time_point now) {
  if (!t.probed || !probe_ || !t.plan.gil || !t.plan.gil->interpreters) return;
  if (now < t.next_scan) return;
  t.next_scan = now + kRescanEvery;
  bool truncated = false;
  auto list =
      python::ListSubInterpreterGils(pid, *t.plan.gil->interpreters, kMaxInterpreters, &truncated);
  if (!list.ok()) return;  // gone or changing: the next scan tells
  std::vector<probes::PyGilSubGil> gils;
  for (const python::InterpreterGil& g : *list) {
    gils.push_back(
        {g.id, g.gil.cond, g.gil.locked, g.gil.switch_number, g.gil.interval, g.gil.last_holder});
  }
  auto dropped = probe_->SetSubInterpreterGils(pid, gils);
  if (!dropped.ok()) return;
  // Own GILs beyond the probe's slots, and a list longer than what is walked (at least 1).
  const uint64_t untracked = *dropped + (truncated ? 1 : 0);
  if (untracked > t.untracked_gils) {
    spdlog::warn(
        "pid {}: {} sub-interpreter GIL(s) not measured (at most {} per process, {} in "
        "all; {} interpreters walked)",
        pid, untracked, PYGIL_MAX_GILS - 1, PYGIL_MAX_SUB_GILS, kMaxInterpreters);
  }
  t.untracked_gils = untracked;
  t.sub_gils = gils.size() - *dropped;
}

void PythonTargets::RescanAll() {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  for (auto& [pid, t] : targets_) RescanInterpreters(pid, t, now);
}

// The GIL word the sampler reads: 3.x gil->locked once located (a free-threaded build's too,
// free while its GIL is off); 2.x the GIL's semaphore, looked for until the program creates it.
void PythonTargets::StartSampling(pid_t pid, const PythonPlan& plan) {
  if (!sampler_) return;
  if (plan.gil && plan.gil->locked != 0) {
    sampler_->Add(pid, GilWord::kLocked, plan.gil->locked);
  } else if (plan.method == GilMethod::kInterpreterLock) {
    sampler_->Add(pid, GilWord::kSemaphore, 0, [pid, info = plan.info, root = proc_root_] {
      auto a = python::ReadInterpreterLock(pid, info, root);
      return a.ok() ? *a : uint64_t{0};
    });
  }
}

void PythonTargets::Detaching(const tracker::ProcessInfo& info, bool /*exited*/) {
  bool probed = false;
  {
    std::lock_guard lock(mu_);
    auto it = targets_.find(info.pid);
    if (it == targets_.end()) return;
    probed = it->second.probed;
    targets_.erase(it);
  }
  if (sampler_) sampler_->Remove(info.pid);
  if (probed && probe_) (void)probe_->Detach(info.pid);
}

void PythonTargets::DetachAll() {
  std::map<pid_t, Target> all;
  {
    std::lock_guard lock(mu_);
    all.swap(targets_);
  }
  for (const auto& [pid, t] : all) {
    if (sampler_) sampler_->Remove(pid);
  }
  for (const auto& [pid, t] : all) {
    if (t.probed && probe_) (void)probe_->Detach(pid);
  }
}

std::optional<std::string> PythonTargets::LockOf(pid_t pid, uint64_t addr, bool per_lock) {
  std::lock_guard lock(mu_);
  auto it = targets_.find(pid);
  if (it == targets_.end()) return std::nullopt;
  Target& t = it->second;
  if (t.plan.method == GilMethod::kInterpreterLock) {
    // 2.x creates the GIL with the first thread: look again now and then until it exists.
    const auto now = std::chrono::steady_clock::now();
    if (t.gil_sem == 0 && now >= t.next_gil_sem_read) {
      t.next_gil_sem_read = now + std::chrono::seconds(1);
      if (auto a = python::ReadInterpreterLock(pid, t.plan.info, proc_root_); a.ok())
        t.gil_sem = *a;
    }
    if (t.gil_sem != 0 && addr == t.gil_sem) return "gil";
  }
  if (per_lock) return "threading@" + HexAddress(addr);
  return "threading";
}

std::vector<metrics::PythonProcess> PythonTargets::Processes() {
  RescanAll();
  std::map<pid_t, uint64_t> drops;
  if (probe_) {
    if (auto stats = probe_->Read(); stats.ok()) {
      for (const auto& s : *stats) {
        if (s.condvar && s.interpreter == 0) drops[s.pid] = s.drop_requests;
      }
    }
  }
  std::vector<metrics::PythonProcess> out;
  std::lock_guard lock(mu_);
  for (const auto& [pid, t] : targets_) {
    auto group = group_of_(pid);
    if (!group) continue;
    metrics::PythonProcess p;
    p.pid = pid;
    p.group = *group;
    p.version = t.plan.info.VersionString();
    p.build = t.plan.build;
    std::optional<python::GilState> state;
    if (t.plan.gil) {
      p.layout = t.plan.gil->layout_assumed ? "assumed" : "known";
      if (auto st = python::ReadGilState(pid, *t.plan.gil); st.ok()) {
        state = *st;
        p.switch_interval_us = st->interval_us;
        p.interpreter_switches = st->switch_number;
      }
    }
    const GilAtScrape now = GilNow(t.plan, state ? &*state : nullptr);
    p.method = now.method;
    p.gil_enabled = now.enabled;
    if (auto d = drops.find(pid); d != drops.end()) p.drop_requests = d->second;
    if (t.plan.gil && t.plan.gil->interpreters && t.probed) p.untracked_gils = t.untracked_gils;
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<metrics::LockSeries> PythonTargets::GilSeries(bool pid_label) {
  std::vector<metrics::LockSeries> out;
  if (!probe_) return out;
  RescanAll();
  auto stats = probe_->Read();
  if (!stats.ok()) return out;
  for (const auto& s : *stats) {
    auto group = group_of_(s.pid);
    if (!group) continue;
    out.push_back(metrics::PyGilLockSeries(s, *group, pid_label));
  }
  return out;
}

uint64_t PythonTargets::probe_errors() const {
  std::lock_guard lock(mu_);
  return probe_errors_;
}

PyGilHealth PythonTargets::ProbeHealth() {
  PyGilHealth h = probe_ ? probe_->ReadHealth() : PyGilHealth{};
  if (locks_ && stacks_) {  // the threading-lock waits' stacks count with the GIL waits'
    const PyGilHealth l = locks_->ReadStackHealth();
    h.stacks_full += l.stacks_full;
    h.pairs_full += l.pairs_full;
    h.truncated += l.truncated;
    h.no_tstate += l.no_tstate;
  }
  return h;
}

}  // namespace gilstat::host

namespace gilstat::host {

// Python stacks: the names of the process's code objects are read through a cache that knows
// PyCode_Type's address in it.
void PythonTargets::StartNaming(pid_t pid, const std::string& comm, Target& t) {
  if (!t.probed || !t.plan.probe.stacks) {
    if (!t.plan.stacks_why.empty())
      spdlog::info("pid {} ({}): no Python stacks: {}", pid, comm, t.plan.stacks_why);
    return;
  }
  auto bias = python::LoadBias(pid, t.plan.info, proc_root_);
  if (!bias.ok()) {
    spdlog::info("pid {} ({}): no Python stacks: {}", pid, comm, bias.error().message);
    return;
  }
  const auto layout = python::FrameLayoutFor(t.plan.info.major, t.plan.info.minor);
  t.names = std::make_shared<python::CodeNames>(
      pid, *layout, *bias + t.plan.info.symbols.at("PyCode_Type").value);
  if (!locks_) return;
  if (Status s =
          locks_->EnablePythonStacks(pid, *t.plan.probe.stacks, t.plan.probe.last_holder_addr);
      !s.ok()) {
    spdlog::info("pid {} ({}): no Python stacks at threading-lock waits: {}", pid, comm,
                 s.message());
  }
}

std::vector<PyGilStats> PythonTargets::GilStats() {
  if (!probe_) return {};
  auto stats = probe_->Read();
  return stats.ok() ? std::move(stats).value() : std::vector<PyGilStats>{};
}

std::map<pid_t, std::pair<std::string, std::string>> PythonTargets::Names() {
  std::map<pid_t, std::pair<std::string, std::string>> out;
  std::lock_guard lock(mu_);
  for (const auto& [pid, t] : targets_) out[pid] = {t.comm, t.plan.info.VersionString()};
  return out;
}

std::map<pid_t, std::string> PythonTargets::Descriptions() {
  std::map<pid_t, std::string> out;
  std::lock_guard lock(mu_);
  for (const auto& [pid, t] : targets_) {
    out[pid] = "CPython " + t.plan.info.VersionString() + ", GIL measured by " +
               GilMethodLabel(t.plan.method);
  }
  return out;
}

probes::RawGilStacks PythonTargets::ReadStacks() {
  if (!probe_) return {};
  auto raw = probe_->ReadStacks();
  probes::RawGilStacks out = raw.ok() ? std::move(raw).value() : probes::RawGilStacks{};
  if (!locks_) return out;
  // A stack id is a hash of the stack's frames: one id in both probes' maps is one stack.
  if (auto locks = locks_->ReadStacks(); locks.ok()) {
    out.pairs.insert(out.pairs.end(), locks->pairs.begin(), locks->pairs.end());
    out.stacks.merge(locks->stacks);
  }
  return out;
}

probes::RawGilStacks PythonTargets::ReadStacksWithRoom() {
  probes::RawGilStacks raw = ReadStacks();
  size_t gil_pairs = 0;
  for (const probes::RawGilPair& p : raw.pairs) gil_pairs += p.lock == 0 ? 1 : 0;
  const size_t lock_pairs = raw.pairs.size() - gil_pairs;
  // Each probe's maps hold up to PYGIL_MAX_STACKS stacks; the stacks read are both probes'.
  if (probe_ && (raw.stacks.size() > PYGIL_MAX_STACKS * 3 / 4 ||
                 gil_pairs > PYGIL_MAX_PAIRS * 3 / 4 || lock_pairs > PYGIL_MAX_PAIRS * 3 / 4)) {
    spdlog::info("Python stacks: the kernel's maps are {} stacks and {} pairs full; emptied",
                 raw.stacks.size(), raw.pairs.size());
    probe_->ClearStacks();
    if (locks_) locks_->ClearStacks();
    raw = ReadStacks();
  }
  return raw;
}

std::vector<ProcessGilStacks> PythonTargets::Stacks(const probes::RawGilStacks* since) {
  if (!probe_) return {};
  probes::RawGilStacks raw = ReadStacks();
  if (since) raw = GilStacksSince(*since, raw);
  std::map<pid_t, std::shared_ptr<python::CodeNames>> names;
  {
    std::lock_guard lock(mu_);
    for (const auto& [pid, t] : targets_) {
      if (t.names) names[pid] = t.names;
    }
  }
  const auto meta = Names();  // comm, version
  WaitTotals totals;
  if (!since) {
    if (auto stats = probe_->Read(); stats.ok()) {
      for (const PyGilStats& s : *stats) totals.gil[s.pid] += s.wait.sum_ns;
    }
    auto locks = locks_ ? locks_->ReadLocks()
                        : Result<std::vector<SemLockStats>>(std::vector<SemLockStats>{});
    if (locks.ok()) {
      // A CPython 3 process's semaphores are its threading locks (3.x's GIL is no semaphore).
      for (const SemLockStats& l : *locks) {
        if (names.count(l.pid)) totals.threading[l.pid] += l.wait_hist.sum_ns;
      }
    }
  }
  auto name = [&](pid_t pid, uint64_t code, uint32_t instr) -> python::CodeName {
    auto it = names.find(pid);
    if (it == names.end()) return {};
    std::lock_guard l(names_mu_);  // CodeNames is not thread-safe; requests may run at once
    return it->second->Lookup(code, instr);
  };
  std::vector<ProcessGilStacks> out = NameGilStacks(raw, name, totals);
  // The kernel counts full maps per probe, not per process: each process shows the probes' counts.
  const PyGilHealth health = ProbeHealth();
  for (ProcessGilStacks& p : out) {
    if (auto it = meta.find(p.pid); it != meta.end()) std::tie(p.comm, p.version) = it->second;
    p.health.pairs_full = health.pairs_full;
    p.health.stacks_full = health.stacks_full;
  }
  return out;
}

}  // namespace gilstat::host
