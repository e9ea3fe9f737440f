#include "app/naming.h"

#include "gilstat/utf8.h"
#include "tracker/matchers.h"

namespace gilstat {

std::string ExpandGroupTemplate(const std::string& tmpl, const tracker::ProcessInfo& info) {
  std::string out;
  for (size_t i = 0; i < tmpl.size();) {
    if (tmpl[i] == '{') {
      const auto close = tmpl.find('}', i);
      if (close != std::string::npos) {
        const std::string key = tmpl.substr(i + 1, close - i - 1);
        if (key == "comm") {
          out += info.comm;
        } else if (key == "exe") {
          const auto slash = info.exe.rfind('/');
          out += slash == std::string::npos ? info.exe : info.exe.substr(slash + 1);
        } else if (key == "unit") {
          const std::string unit = tracker::SystemdUnitOfCgroup(info.cgroup);
          out += unit.empty() ? "none" : unit;
        } else if (key == "pid") {
          out += std::to_string(info.pid);
        } else {
          out += tmpl.substr(i, close - i + 1);
        }
        i = close + 1;
        continue;
      }
    }
    out += tmpl[i++];
  }
  // A label value: the process controls its name and path, which need not be UTF-8.
  return SanitizeUtf8(out.empty() ? info.comm : out);
}

Naming::Naming(config::LabelsConfig labels, std::string proc_root)
    : labels_(std::move(labels)), procfs_(std::move(proc_root)) {}

void Naming::Attached(const tracker::ProcessInfo& info) {
  tracker::ProcessInfo full = info;
  // The template may need fields the matchers did not read.
  const unsigned want = tracker::kProcComm | tracker::kProcExe | tracker::kProcCgroup;
  if ((full.fields & want) != want) {
    if (auto more = procfs_.Read(info.pid, want | tracker::kProcStat); more.ok()) full = *more;
  }
  std::lock_guard<std::mutex> lock(mu_);
  groups_[info.pid] = ExpandGroupTemplate(labels_.process, full);
  infos_[info.pid] = std::move(full);
}

void Naming::Detaching(const tracker::ProcessInfo& info, bool /*exited*/) {
  std::lock_guard<std::mutex> lock(mu_);
  groups_.erase(info.pid);
  infos_.erase(info.pid);
}

void Naming::SetLabels(const config::LabelsConfig& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  labels_ = labels;
  for (const auto& [pid, info] : infos_) groups_[pid] = ExpandGroupTemplate(labels_.process, info);
}

void Naming::SetRuntimeLocks(pid_t pid, const rt::Snapshot& snap) {
  std::map<uint64_t, std::string> locks;
  for (const auto& a : snap.gil.addresses) locks[a.address] = "gil";
  for (const auto& l : snap.locks) {
    for (const auto& a : l.addresses) locks[a.address] = l.name;
  }
  std::lock_guard<std::mutex> lock(mu_);
  runtime_pid_ = pid;
  runtime_locks_ = std::move(locks);
}

void Naming::ClearRuntimeLocks() {
  std::lock_guard<std::mutex> lock(mu_);
  runtime_pid_ = 0;
  runtime_locks_.clear();
}

std::optional<std::string> Naming::GroupOf(pid_t pid) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = groups_.find(pid);
  if (it == groups_.end()) return std::nullopt;
  return it->second;
}

void Naming::SetPython(host::PythonTargets* python) {
  std::lock_guard<std::mutex> lock(mu_);
  python_ = python;
}

std::string Naming::LockOf(pid_t pid, uint64_t addr) const {
  host::PythonTargets* python = nullptr;
  bool per_lock = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    per_lock = labels_.lock_address;
    if (pid == runtime_pid_) {
      auto it = runtime_locks_.find(addr);
      if (it != runtime_locks_.end()) return it->second;
    }
    python = python_;
  }
  // Outside our lock: PythonTargets asks GroupOf while holding its own.
  if (python) {
    if (auto l = python->LockOf(pid, addr, per_lock)) return *l;
  }
  return "other";
}

metrics::SemlockNaming Naming::ForCollector() const {
  metrics::SemlockNaming n;
  n.group_of = [this](pid_t pid) { return GroupOf(pid); };
  n.lock_of = [this](pid_t pid, uint64_t addr) { return LockOf(pid, addr); };
  n.state = series_state_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    n.pid_label = labels_.pid;
    n.max_lock_series = static_cast<size_t>(labels_.max_lock_series);
  }
  return n;
}

}  // namespace gilstat
