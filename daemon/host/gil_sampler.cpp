#include "host/gil_sampler.h"

#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "gilstat/format.h"

namespace gilstat::host {

GilReading InterpretGilWord(GilWord word, uint32_t value) {
  if (word == GilWord::kLocked) {
    if (value == 1) return GilReading::kHeld;
    if (value == 0) return GilReading::kFree;
    if (value == 0xffffffffu) return GilReading::kNotYet;  // -1: GIL not created
    return GilReading::kInvalid;
  }
  // A binary semaphore: 1 free, 0 taken (its waiters are counted in the upper half of the
  // 64-bit word, not read here).
  if (value == 0) return GilReading::kHeld;
  if (value == 1) return GilReading::kFree;
  return GilReading::kInvalid;
}

double JitteredInterval(double mean_s, std::mt19937_64& rng) {
  return std::uniform_real_distribution<double>(0.5 * mean_s, 1.5 * mean_s)(rng);
}

// --- GilSampleLedger ------------------------------------------------------------------------

void GilSampleLedger::AddTo(Totals& into, const Totals& t) {
  into.held += t.held;
  into.free += t.free;
  into.held_seconds += t.held_seconds;
}

void GilSampleLedger::Add(pid_t pid, const std::string& group) {
  if (live_.count(pid)) return;
  live_[pid].group = group;
}

void GilSampleLedger::Record(pid_t pid, bool held, double interval_s) {
  auto it = live_.find(pid);
  if (it == live_.end()) return;
  if (held) {
    ++it->second.held;
    it->second.held_seconds += interval_s;
  } else {
    ++it->second.free;
  }
}

void GilSampleLedger::Regroup(pid_t pid, const std::string& group) {
  auto it = live_.find(pid);
  if (it == live_.end() || it->second.group == group) return;
  Totals& old = retired_[it->second.group];
  old.group = it->second.group;
  AddTo(old, it->second);
  it->second = Totals{group};
}

void GilSampleLedger::Remove(pid_t pid) {
  auto it = live_.find(pid);
  if (it == live_.end()) return;
  Totals& old = retired_[it->second.group];
  old.group = it->second.group;
  AddTo(old, it->second);
  live_.erase(it);
}

std::vector<metrics::GilUtilization> GilSampleLedger::Rows() const {
  std::vector<metrics::GilUtilization> out;
  auto row = [](pid_t pid, const Totals& t) {
    metrics::GilUtilization u;
    u.group = t.group;
    u.pid = pid;
    u.held = t.held;
    u.free = t.free;
    u.held_seconds = t.held_seconds;
    return u;
  };
  for (const auto& [pid, t] : live_) out.push_back(row(pid, t));
  for (const auto& [group, t] : retired_) out.push_back(row(0, t));
  return out;
}

// --- GilSampler -----------------------------------------------------------------------------

GilSampler::GilSampler(GilSamplerOptions options,
                       std::function<std::optional<std::string>(pid_t)> group_of)
    : options_(options), group_of_(std::move(group_of)), rng_(std::random_device{}()) {}

GilSampler::~GilSampler() { Stop(); }

double GilSampler::MeanIntervalSeconds(const GilSamplerOptions& o, size_t n) {
  const double base = std::chrono::duration<double>(o.mean_interval).count();
  if (o.max_reads_per_second <= 0) return base;
  return std::max(base, static_cast<double>(n) / o.max_reads_per_second);
}

void GilSampler::Start() {
  std::lock_guard lock(mu_);
  if (running_) return;
  running_ = true;
  thread_ = std::thread([this] { Run(); });
}

void GilSampler::Stop() {
  {
    std::lock_guard lock(mu_);
    running_ = false;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void GilSampler::Add(pid_t pid, GilWord word, uint64_t addr, std::function<uint64_t()> locate) {
  std::string group = std::to_string(pid);
  if (auto g = group_of_ ? group_of_(pid) : std::nullopt) group = *g;
  std::lock_guard lock(mu_);
  Target& t = targets_[pid];
  t = Target{};
  t.word = word;
  t.addr = addr;
  t.locate = std::move(locate);
  t.last = std::chrono::steady_clock::now();
  ledger_.Add(pid, group);
}

void GilSampler::Remove(pid_t pid) {
  std::lock_guard lock(mu_);
  targets_.erase(pid);
  ledger_.Remove(pid);
}

std::vector<metrics::GilUtilization> GilSampler::Rows() {
  std::vector<pid_t> pids;
  {
    std::lock_guard lock(mu_);
    for (const auto& [pid, t] : targets_) pids.push_back(pid);
  }
  std::vector<std::pair<pid_t, std::string>> groups;
  for (pid_t pid : pids) {
    if (auto g = group_of_ ? group_of_(pid) : std::nullopt) groups.emplace_back(pid, *g);
  }
  std::lock_guard lock(mu_);
  for (const auto& [pid, g] : groups) ledger_.Regroup(pid, g);
  return ledger_.Rows();
}

metrics::GilSamplerHealth GilSampler::Health() const {
  std::lock_guard lock(mu_);
  metrics::GilSamplerHealth h;
  h.gone = gone_;
  h.unreadable = unreadable_;
  size_t n = 0;
  for (const auto& [pid, t] : targets_) n += t.stopped ? 0 : 1;
  h.processes = n;
  h.mean_interval_seconds = MeanIntervalSeconds(options_, n);
  return h;
}

void GilSampler::Run() {
  pthread_setname_np(pthread_self(), "gil-sampler");
  // The nice value (per thread on Linux): normal by default, see GilSamplerOptions.
  if (setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), options_.nice) != 0) {
    spdlog::debug("GIL sampler: setpriority: {}", std::strerror(errno));
  }
  std::unique_lock lock(mu_);
  while (running_) {
    size_t n = 0;
    for (const auto& [pid, t] : targets_) n += t.stopped ? 0 : 1;
    const double mean = MeanIntervalSeconds(options_, n);
    const auto wait = std::chrono::duration<double>(JitteredInterval(mean, rng_));
    cv_.wait_for(lock, wait, [this] { return !running_; });
    if (!running_) break;
    SampleAll();
  }
}

void GilSampler::SampleAll() {
  const auto now = std::chrono::steady_clock::now();
  for (auto& [pid, t] : targets_) {
    if (!t.stopped) SampleOne(pid, t, now);
  }
}

void GilSampler::SampleOne(pid_t pid, Target& t, std::chrono::steady_clock::time_point now) {
  if (t.addr == 0) {
    if (!t.locate || now < t.next_locate) return;
    t.next_locate = now + std::chrono::seconds(1);
    t.addr = t.locate();
    if (t.addr == 0) return;
    t.last = now;
  }
  uint32_t value = 0;
  iovec local{&value, sizeof(value)};
  iovec remote{reinterpret_cast<void*>(static_cast<uintptr_t>(t.addr)), sizeof(value)};
  const ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
  if (n != static_cast<ssize_t>(sizeof(value))) {
    const int err = n < 0 ? errno : EFAULT;
    Failed(pid, t, err, std::strerror(err));
    return;
  }
  const GilReading r = InterpretGilWord(t.word, value);
  if (r == GilReading::kInvalid) {
    Failed(pid, t, 0, "value " + std::to_string(value) + " is not a GIL state");
    return;
  }
  const double interval = std::chrono::duration<double>(now - t.last).count();
  t.last = now;
  if (r == GilReading::kNotYet) return;
  ledger_.Record(pid, r == GilReading::kHeld, interval);
}

void GilSampler::Failed(pid_t pid, Target& t, int err, const std::string& why) {
  // Logged once per process: it is not sampled any more.
  t.stopped = true;
  if (err == ESRCH) {
    ++gone_;
    spdlog::debug("pid {}: GIL sampler stops: the process is gone", pid);
    return;
  }
  ++unreadable_;
  spdlog::warn("pid {}: GIL sampler stops: reading the GIL word at {}: {}", pid, HexAddress(t.addr),
               why);
}

}  // namespace gilstat::host
