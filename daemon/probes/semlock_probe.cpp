#include "probes/semlock_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <optional>

#include "bpf/semlock.skel.h"
#include "elf/elf_symbols.h"
#include "elf/proc_maps.h"
#include "probes/libbpf_util.h"
#include "probes/link_reaper.h"

namespace gilstat::probes {

const char* SiteMethodName(SiteMethod method) {
  switch (method) {
    case SiteMethod::kEntryReturn:
      return "entry+return";
    case SiteMethod::kEntry:
      return "entry";
    case SiteMethod::kBranch:
      return "branch";
    case SiteMethod::kSlowPath:
      return "slow-path";
    case SiteMethod::kNotProbed:
      return "not-probed";
    case SiteMethod::kFutexWakes:
      return "futex-wakes";
    case SiteMethod::kAbsent:
      return "absent";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------------
// Aggregation (pure; unit-tested with fakes).

namespace {

void AddHist(HistogramData& h, const __u64* slots, __u64 sum, __u64 count) {
  for (int i = 0; i < kHistSlots; ++i) h.slots[i] += slots[i];
  h.sum_ns += sum;
  h.count += count;
}

}  // namespace

SemLockStats AggregateSemlockStats(const semlock_key& key, std::span<const semlock_stats> cpus) {
  SemLockStats out;
  out.pid = static_cast<pid_t>(key.tgid);
  out.addr = key.addr;
  for (const semlock_stats& c : cpus) {
    out.acquisitions += c.wait_hist_count;
    out.failed_tries += c.failed_tries;
    out.timeouts += c.timeouts;
    out.contended += c.contended;
    out.wait_ns += c.wait_hist_sum;
    out.max_wait_ns = std::max<uint64_t>(out.max_wait_ns, c.max_wait_ns);
    out.blocked_ns += c.blocked_ns;
    out.handoffs += c.handoff_hist_count;
    out.posts += c.posts;
    AddHist(out.wait_hist, c.wait_hist, c.wait_hist_sum, c.wait_hist_count);
    AddHist(out.handoff_latency_hist, c.handoff_hist, c.handoff_hist_sum, c.handoff_hist_count);
  }
  return out;
}

Result<std::vector<SemLockStats>> ReadSemlockStats(SemlockMaps& maps) {
  std::vector<SemLockStats> out;
  Status st = maps.ForEachLock([&](const semlock_key& key, std::span<const semlock_stats> cpus) {
    out.push_back(AggregateSemlockStats(key, cpus));
  });
  if (!st.ok()) return st.error();
  std::sort(out.begin(), out.end(), [](const SemLockStats& a, const SemLockStats& b) {
    return a.pid != b.pid ? a.pid < b.pid : a.addr < b.addr;
  });
  return out;
}

ProbeHealth ReadSemlockHealth(SemlockMaps& maps) {
  ProbeHealth h;
  auto c = maps.ReadCounters();
  if (!c.ok() || c->size() < SEMLOCK_NR_COUNTERS) {
    h.read_errors = 1;
    return h;
  }
  const std::vector<uint64_t>& v = *c;
  h.locks_full = v[SEMLOCK_CNT_LOCKS_FULL];
  h.threads_full = v[SEMLOCK_CNT_THREADS_FULL];
  h.orphan_returns = v[SEMLOCK_CNT_ORPHAN_RETURNS];
  h.map_full_drops = h.locks_full + h.threads_full;
  return h;
}

// ---------------------------------------------------------------------------------------------
// Real maps.

namespace {

class BpfSemlockMaps : public SemlockMaps {
 public:
  BpfSemlockMaps(int index_fd, int locks_fd, int keys_fd, int counters_fd)
      : index_fd_(index_fd),
        locks_fd_(locks_fd),
        keys_fd_(keys_fd),
        counters_fd_(counters_fd),
        ncpus_(libbpf_num_possible_cpus()) {}

  Status ForEachLock(const LockFn& fn) override {
    if (ncpus_ <= 0) return MakeError(ErrorCode::kInternal, "cannot count possible CPUs");
    std::vector<semlock_stats> values(static_cast<size_t>(ncpus_));
    ForEachMapKey<semlock_key>(index_fd_, [&](const semlock_key& key) {
      uint32_t slot = 0;
      semlock_slot_key owner{};
      // Skipped when deleted meanwhile (a detach).
      if (bpf_map_lookup_elem(index_fd_, &key, &slot) != 0) return;
      if (bpf_map_lookup_elem(locks_fd_, &slot, values.data()) != 0) return;
      if (bpf_map_lookup_elem(keys_fd_, &slot, &owner) != 0) return;
      if (owner.tgid != key.tgid || owner.addr != key.addr) return;  // freed and given again
      fn(key, values);
    });
    return Status::Ok();
  }

  Result<std::vector<uint64_t>> ReadCounters() override {
    if (ncpus_ <= 0) return MakeError(ErrorCode::kInternal, "cannot count possible CPUs");
    std::vector<uint64_t> out(SEMLOCK_NR_COUNTERS);
    std::vector<uint64_t> cpus(static_cast<size_t>(ncpus_));
    for (uint32_t i = 0; i < SEMLOCK_NR_COUNTERS; ++i) {
      if (bpf_map_lookup_elem(counters_fd_, &i, cpus.data()) != 0) {
        return MakeError(ErrorCode::kInternal,
                         std::string("reading probe counters: ") + std::strerror(errno));
      }
      for (uint64_t v : cpus) out[i] += v;
    }
    return out;
  }

 private:
  int index_fd_;
  int locks_fd_;
  int keys_fd_;
  int counters_fd_;
  int ncpus_;
};

struct SkelDeleter {
  void operator()(semlock* s) const { semlock__destroy(s); }
};

// Instructions the x86 uprobe code emulates instead of single-stepping (cheap to probe):
// push, nop, call, jmp, jcc.
bool IsEmulated(const std::vector<uint8_t>& code) {
  if (code.empty()) return false;
  uint8_t b = code[0];
  size_t i = 0;
  if ((b & 0xf0) == 0x40 && code.size() > 1) b = code[i = 1];  // REX prefix (push %r12 …)
  if (b >= 0x50 && b <= 0x57) return true;
  if (i == 0 && (b == 0x90 || b == 0xe8 || b == 0xe9 || b == 0xeb || (b >= 0x70 && b <= 0x7f))) {
    return true;
  }
  if (i == 0 && b == 0x0f && code.size() > 1) {
    uint8_t b2 = code[1];
    return b2 == 0x1f || (b2 >= 0x80 && b2 <= 0x8f);
  }
  return false;
}

// A function layout: bytes (-1 = any) and the offsets of the branch sites in it.
struct Layout {
  std::vector<int> bytes;
  std::vector<uint64_t> sites;
};

// glibc 2.34+ x86-64 sem_trywait: mov (%rdi),%rax; test %eax,%eax; je FAIL(+5);
// lea -1(%rax),%rdx; lock cmpxchg %rdx,(%rdi); jne RETRY(+0x10).
const Layout kTrywaitLayout = {{0x48, 0x8b, 0x07, 0x85, 0xc0, 0x74, -1, 0x48, 0x8d, 0x50, 0xff,
                                0xf0, 0x48, 0x0f, 0xb1, 0x17, 0x75, -1},
                               {0x05, 0x10}};
// glibc 2.34+ x86-64 sem_post: mov 8(%rdi),%esi; mov (%rdi),%rax; cmp $0x7fffffff,%eax;
// je OVERFLOW; lea 1(%rax),%rdx; lock cmpxchg %rdx,(%rdi); jne RETRY(+0x16).
const Layout kPostLayout = {{0x8b, 0x77, 0x08, 0x48, 0x8b, 0x07, 0x3d, 0xff, 0xff, 0xff, 0x7f, 0x74,
                             -1,   0x48, 0x8d, 0x50, 0x01, 0xf0, 0x48, 0x0f, 0xb1, 0x17, 0x75, -1},
                            {0x16}};

// Offsets (from the function start) of the layout's sites if the code matches it, allowing an
// endbr64 in front.
std::optional<std::vector<uint64_t>> MatchLayout(const std::vector<uint8_t>& code,
                                                 const Layout& layout) {
  for (size_t skip : {size_t{0}, size_t{4}}) {
    if (skip == 4 && !(code.size() >= 4 && code[0] == 0xf3 && code[1] == 0x0f && code[2] == 0x1e &&
                       code[3] == 0xfa)) {
      continue;
    }
    if (code.size() < skip + layout.bytes.size()) continue;
    bool ok = true;
    for (size_t i = 0; i < layout.bytes.size() && ok; ++i) {
      ok = layout.bytes[i] < 0 || code[skip + i] == layout.bytes[i];
    }
    if (!ok) continue;
    std::vector<uint64_t> sites;
    for (uint64_t s : layout.sites) sites.push_back(s + skip);
    return sites;
  }
  return std::nullopt;
}

// The slow-path target of a wait function (see FindSlowPathTarget in the header).
std::optional<int64_t> SlowPathTarget(const std::vector<uint8_t>& code) {
  const size_t n = code.size();
  for (size_t i = 0; i + 7 <= n; ++i) {
    // lock cmpxchg %reg,(%reg); jne rel8
    if (!(code[i] == 0xf0 && code[i + 1] == 0x48 && code[i + 2] == 0x0f && code[i + 3] == 0xb1 &&
          code[i + 5] == 0x75)) {
      continue;
    }
    const int64_t slow = static_cast<int64_t>(i + 7) + static_cast<int8_t>(code[i + 6]);
    // The value-is-zero test before it (test %eax,%eax; je rel8) must go to the same block:
    // then that block is reached exactly when the fast path failed.
    bool zero_test = false;
    for (size_t j = 0; j + 4 <= i; ++j) {
      if (code[j] == 0x85 && code[j + 1] == 0xc0 && code[j + 2] == 0x74 &&
          static_cast<int64_t>(j + 4) + static_cast<int8_t>(code[j + 3]) == slow) {
        zero_test = true;
      }
    }
    if (!zero_test || slow < 0) return std::nullopt;
    // The block: register moves, stack adjustment and pops, then jmp rel32.
    size_t p = static_cast<size_t>(slow);
    for (int insn = 0; insn < 12 && p < n; ++insn) {
      const uint8_t b = code[p];
      if (b == 0xe9 && p + 5 <= n) {
        int32_t rel;
        std::memcpy(&rel, &code[p + 1], sizeof rel);
        return static_cast<int64_t>(p + 5) + rel;
      }
      if (b >= 0x58 && b <= 0x5f) {  // pop %reg
        p += 1;
      } else if (b == 0x41 && p + 2 <= n && code[p + 1] >= 0x58 && code[p + 1] <= 0x5f) {
        p += 2;  // pop %r8..%r15
      } else if ((b == 0x48 || b == 0x4c || b == 0x49 || b == 0x4d) && p + 3 <= n &&
                 code[p + 1] == 0x89 && (code[p + 2] & 0xc0) == 0xc0) {
        p += 3;  // mov %reg64,%reg64
      } else if (b == 0x89 && p + 2 <= n && (code[p + 1] & 0xc0) == 0xc0) {
        p += 2;  // mov %reg32,%reg32
      } else if (b == 0x48 && p + 4 <= n && code[p + 1] == 0x83 && code[p + 2] == 0xc4) {
        p += 4;  // add $imm8,%rsp
      } else {
        return std::nullopt;
      }
    }
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

std::optional<int64_t> FindSlowPathTarget(std::span<const uint8_t> code) {
  return SlowPathTarget(std::vector<uint8_t>(code.begin(), code.end()));
}

bool IsEmulatedInstruction(std::span<const uint8_t> code) {
  return IsEmulated(std::vector<uint8_t>(code.begin(), code.end()));
}
std::optional<std::vector<uint64_t>> FindTrywaitBranches(std::span<const uint8_t> code) {
  return MatchLayout(std::vector<uint8_t>(code.begin(), code.end()), kTrywaitLayout);
}
std::optional<std::vector<uint64_t>> FindPostBranch(std::span<const uint8_t> code) {
  return MatchLayout(std::vector<uint8_t>(code.begin(), code.end()), kPostLayout);
}

namespace {

std::string SymbolName(const ElfSymbol& s) {
  if (s.version.empty()) return s.name;
  return s.name + (s.default_version ? "@@" : "@") + s.version;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// SemlockProbe.

struct SemlockProbe::Impl {
  std::unique_ptr<semlock, SkelDeleter> skel;
  std::vector<BpfLinkPtr> kernel_links;
  struct Process {
    std::vector<BpfLinkPtr> links;
    AttachResult result;
  };
  std::map<pid_t, Process> procs;
  std::unique_ptr<BpfSemlockMaps> maps;
  // Lock slots taken out of the index at a detach, per pid in detach order: they are zeroed and
  // given back once that detach's links are destroyed (a thread still inside a probed call may
  // write them until then).
  std::map<pid_t, std::deque<std::vector<uint32_t>>> retired;

  // Detached processes' links are destroyed in the background (LinkReaper), then the entries
  // the process created meanwhile are deleted. pid 0: the kernel-side programs.
  std::unique_ptr<LinkReaper> reaper;  // destroyed first (see ~SemlockProbe)
};

SemlockProbe::SemlockProbe(const SemlockOptions& options)
    : options_(options), impl_(std::make_unique<Impl>()) {
  impl_->reaper = std::make_unique<LinkReaper>([this](pid_t pid) {
    std::lock_guard probe_lock(mu_);
    if (pid == 0) return;  // the kernel-side program: no entries
    // One batch per detach, destroyed in detach order: that detach's slots are free now.
    if (auto it = impl_->retired.find(pid); it != impl_->retired.end()) {
      if (!it->second.empty()) {
        RecycleSlots(it->second.front());
        it->second.pop_front();
      }
      if (it->second.empty()) impl_->retired.erase(it);
    }
    // Events between Detach and now may have re-created entries; unless the pid was attached
    // again meanwhile, they go too.
    if (!impl_->procs.count(pid)) RecycleSlots(DeleteProcessEntries(pid));
  });
}

SemlockProbe::~SemlockProbe() {
  if (!impl_) return;
  impl_->reaper.reset();  // destroys every link handed over so far
  // Links first (uprobes go away), then the object.
  impl_->procs.clear();
  impl_->kernel_links.clear();
}

Result<std::unique_ptr<SemlockProbe>> SemlockProbe::Open(const SemlockOptions& options) {
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
    return MakeError(ErrorCode::kUnavailable,
                     "kernel BTF (/sys/kernel/btf/vmlinux) is missing: the semaphore probes need "
                     "a kernel built with CONFIG_DEBUG_INFO_BTF");
  }
  if (options.max_locks == 0 || options.max_threads == 0 || options.max_processes == 0) {
    return MakeError(ErrorCode::kInvalidArgument, "semlock map sizes must be positive");
  }
  for (auto [size, what] : {std::pair{options.thread_slots, "thread array"},
                            std::pair{options.wake_cache, "wake cache"}}) {
    if (size == 0 || (size & (size - 1)) != 0) {
      return MakeError(ErrorCode::kInvalidArgument, std::string("the semlock ") + what +
                                                        " size must be a power of 2, not " +
                                                        std::to_string(size));
    }
  }
  std::unique_ptr<SemlockProbe> probe(new SemlockProbe(options));
  Impl& impl = *probe->impl_;
  LibbpfLogCapture capture;
  impl.skel.reset(semlock__open());
  if (!impl.skel) {
    int err = errno;
    return MakeError(ErrorCode::kInternal,
                     std::string("opening the semlock BPF object failed: ") + std::strerror(err));
  }
  semlock* s = impl.skel.get();
  for (bpf_map* m :
       {s->maps.lock_index, s->maps.locks, s->maps.slots, s->maps.slot_keys, s->maps.free_slots}) {
    bpf_map__set_max_entries(m, options.max_locks);
  }
  bpf_map__set_max_entries(s->maps.threads, options.max_threads);
  bpf_map__set_max_entries(s->maps.thread_slots, options.thread_slots);
  s->rodata->thread_slot_mask = options.thread_slots - 1;
  bpf_map__set_max_entries(s->maps.wake_cache, options.wake_cache);
  s->rodata->wake_cache_mask = options.wake_cache - 1;
  bpf_map__set_max_entries(s->maps.procs, options.max_processes);
  PrepareUprobeMulti(s->obj);
  if (int err = semlock__load(s); err != 0) {
    if (err == -EPERM || err == -EACCES) {
      return MakeError(ErrorCode::kPermissionDenied,
                       "loading the semlock BPF programs was refused (" +
                           std::string(std::strerror(-err)) +
                           "): run as root or with CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE; " +
                           SummarizeLoadFailure(capture.text(), err));
    }
    return MakeError(ErrorCode::kInternal, "loading the semlock BPF programs failed: " +
                                               SummarizeLoadFailure(capture.text(), err));
  }
  // Every slot is free.
  for (uint32_t slot = 0; slot < options.max_locks; ++slot) {
    if (bpf_map_update_elem(bpf_map__fd(s->maps.free_slots), nullptr, &slot, BPF_ANY) != 0) {
      return MakeError(ErrorCode::kInternal,
                       std::string("filling the free lock slots failed: ") + std::strerror(errno));
    }
  }
  impl.maps = std::make_unique<BpfSemlockMaps>(
      bpf_map__fd(s->maps.lock_index), bpf_map__fd(s->maps.locks), bpf_map__fd(s->maps.slot_keys),
      bpf_map__fd(s->maps.counters));
  return probe;
}

namespace {

// The futex syscall program runs for every syscall on the host (one compare for non-futex
// calls), so it is attached only while some process is attached.
Status AttachKernelSide(semlock* s, std::vector<BpfLinkPtr>& links) {
  if (!links.empty()) return Status::Ok();
  for (bpf_program* prog : {s->progs.futex_enter}) {
    BpfLinkPtr link(bpf_program__attach(prog));
    if (!link) {
      int err = errno;
      links.clear();
      return MakeError(err == EPERM ? ErrorCode::kPermissionDenied : ErrorCode::kUnavailable,
                       std::string("attaching ") + bpf_program__name(prog) +
                           " (raw syscall tracepoint) failed: " + std::strerror(err));
    }
    links.push_back(std::move(link));
  }
  return Status::Ok();
}

}  // namespace

Result<AttachResult> SemlockProbe::Attach(pid_t pid) {
  if (pid <= 0) return MakeError(ErrorCode::kInvalidArgument, "invalid pid " + std::to_string(pid));
  std::lock_guard lock(mu_);
  Impl& impl = *impl_;
  if (auto it = impl.procs.find(pid); it != impl.procs.end()) return it->second.result;
  // No event may be counted by old and new links: an exec'd process attached again, a first
  // process after the last one left.
  impl.reaper->DestroyNow(pid);
  if (impl.kernel_links.empty()) impl.reaper->DestroyNow(0);
  if (impl.procs.size() >= options_.max_processes) {
    return MakeError(
        ErrorCode::kResourceExhausted,
        "already attached to " + std::to_string(impl.procs.size()) + " processes (max_processes)");
  }
  auto libc = FindLibc(pid);
  if (!libc) return libc.error();
  auto elf = ElfFile::Open(libc->host_path);
  if (!elf) return elf.error();

  semlock* s = impl.skel.get();
  const SemlockMode mode = options_.mode;
  const bool exact = mode == SemlockMode::kExact;
  Impl::Process proc;
  proc.result.pid = pid;
  proc.result.libc_path = libc->path;
  uint32_t proc_flags = 0;
  const std::string& path = libc->host_path;

  auto fail = [&](const Error& e) -> Result<AttachResult> {
    proc.links.clear();  // destroyed here: nothing writes the process's slots any more
    RecycleSlots(DeleteProcessEntries(pid));
    if (impl.procs.empty()) impl.kernel_links.clear();
    return e;
  };
  if (Status st = AttachKernelSide(s, impl.kernel_links); !st.ok()) return st.error();

  // Sites are collected per (program, entry/return) and attached together at the end: one
  // uprobe_multi link each where the kernel has them.
  std::map<std::pair<bpf_program*, bool>, std::vector<uint64_t>> sites_of;
  auto add = [&](bpf_program* prog, uint64_t off, bool ret) -> Status {
    sites_of[{prog, ret}].push_back(off);
    return Status::Ok();
  };

  // Slow-path functions already probed (file offset -> the wait function that owns it): two
  // wait functions sharing one must not count its calls twice.
  std::map<uint64_t, std::string> slow_paths;
  struct Fn {
    const char* name;
    bool required;
  };
  for (Fn fn : {Fn{"sem_wait", true}, Fn{"sem_timedwait", true}, Fn{"sem_clockwait", false},
                Fn{"sem_trywait", true}, Fn{"sem_post", true}}) {
    SiteStatus site;
    site.function = fn.name;
    auto sym = elf->FindFunction(fn.name);
    if (!sym) {
      if (fn.required) return fail(sym.error());
      site.method = SiteMethod::kAbsent;
      site.note = "not in this libc";
      proc.result.sites.push_back(std::move(site));
      continue;
    }
    site.symbol = SymbolName(*sym);
    auto code = elf->ReadBytes(sym->file_offset,
                               std::max<uint64_t>(std::min<uint64_t>(sym->size, 160), 16));
    if (!code) return fail(code.error());
    const uint64_t base = sym->file_offset;
    const std::string fname = fn.name;
    Status st;
    if (fname == "sem_wait" || fname == "sem_timedwait" || fname == "sem_clockwait") {
      bpf_program* entry =
          fname == "sem_wait" ? s->progs.sem_wait_entry : s->progs.sem_timedwait_entry;
      // The slow path's file offset, if default mode probes it (its entry must be emulated).
      std::optional<uint64_t> slow_at;
      if (mode == SemlockMode::kDefault) {
        if (auto slow = SlowPathTarget(*code); slow && static_cast<int64_t>(base) + *slow > 0) {
          const uint64_t at = static_cast<uint64_t>(static_cast<int64_t>(base) + *slow);
          if (auto c = elf->ReadBytes(at, 16); c && IsEmulated(*c)) slow_at = at;
        }
      }
      if (slow_at) {
        const uint64_t at = *slow_at;
        site.method = SiteMethod::kSlowPath;
        site.file_offsets = {at};
        if (auto it = slow_paths.find(at); it != slow_paths.end()) {
          site.note = "shares the slow path of " + it->second;
        } else {
          slow_paths.emplace(at, fname);
          st = add(entry, at, false);
          if (st.ok()) st = add(s->progs.sem_wait_return, at, true);
        }
      } else {
        st = add(entry, base, false);
        if (st.ok()) st = add(s->progs.sem_wait_return, base, true);
        site.method = SiteMethod::kEntryReturn;
        site.file_offsets = {base};
        site.single_stepped = !IsEmulated(*code);
        if (mode == SemlockMode::kDefault) {
          site.note = "slow path not recognised: every call probed at entry+return";
        } else if (site.single_stepped) {
          site.note = "entry instruction is single-stepped";
        }
      }
    } else if (fname == "sem_trywait") {
      auto sites =
          mode == SemlockMode::kCounting ? MatchLayout(*code, kTrywaitLayout) : std::nullopt;
      if (mode == SemlockMode::kDefault) {
        site.method = SiteMethod::kNotProbed;
        site.note = "default mode: non-blocking tries are not observed";
      } else if (sites) {
        st = add(s->progs.sem_trywait_fail_branch, base + (*sites)[0], false);
        if (st.ok()) st = add(s->progs.sem_trywait_ok_branch, base + (*sites)[1], false);
        site.method = SiteMethod::kBranch;
        site.file_offsets = {base + (*sites)[0], base + (*sites)[1]};
      } else {
        st = add(s->progs.sem_trywait_entry, base, false);
        if (st.ok()) st = add(s->progs.sem_wait_return, base, true);
        site.method = SiteMethod::kEntryReturn;
        site.file_offsets = {base};
        site.single_stepped = !IsEmulated(*code);
        if (!exact) site.note = "code layout not recognised: entry+return fallback";
      }
    } else {  // sem_post
      auto sites = mode == SemlockMode::kCounting ? MatchLayout(*code, kPostLayout) : std::nullopt;
      if (exact) {
        st = add(s->progs.sem_post_entry, base, false);
        site.method = SiteMethod::kEntry;
        site.file_offsets = {base};
        site.single_stepped = !IsEmulated(*code);
      } else if (sites) {
        st = add(s->progs.sem_post_ok_branch, base + (*sites)[0], false);
        proc_flags |= SEMLOCK_PROC_POST_BRANCH;
        site.method = SiteMethod::kBranch;
        site.file_offsets = {base + (*sites)[0]};
      } else {
        site.method = SiteMethod::kFutexWakes;
        site.note = mode == SemlockMode::kDefault
                        ? "default mode: posts counted from the futex wakes that release a waiter"
                        : "code layout not recognised: posts counted from futex wakes (only posts "
                          "that wake a waiter)";
        proc_flags |= SEMLOCK_PROC_POSTS_FROM_WAKES;
      }
    }
    if (!st.ok()) return fail(st.error());
    proc.result.sites.push_back(std::move(site));
  }
  // Registered with its flags before its first uprobe can fire: a semaphore's slot copies the
  // flags when it is given.
  {
    uint32_t key = static_cast<uint32_t>(pid);
    if (bpf_map_update_elem(bpf_map__fd(s->maps.procs), &key, &proc_flags, BPF_ANY) != 0) {
      return fail(
          MakeError(ErrorCode::kResourceExhausted,
                    std::string("cannot register pid in the probe: ") + std::strerror(errno)));
    }
  }
  for (const auto& [what, offsets] : sites_of) {
    auto links = AttachUprobes(what.first, pid, path, offsets, what.second);
    if (!links) return fail(links.error());
    for (auto& l : *links) proc.links.push_back(std::move(l));
  }
  proc.result.links = static_cast<int>(proc.links.size());
  AttachResult result = proc.result;
  impl.procs.emplace(pid, std::move(proc));
  return result;
}

std::vector<uint32_t> SemlockProbe::DeleteProcessEntries(pid_t pid) {
  semlock* s = impl_->skel.get();
  const uint32_t tgid = static_cast<uint32_t>(pid);
  bpf_map_delete_elem(bpf_map__fd(s->maps.procs), &tgid);
  std::vector<uint32_t> slots;
  const int index_fd = bpf_map__fd(s->maps.lock_index);
  DeleteMapKeysIf<semlock_key>(index_fd, [&](const semlock_key& k) {
    uint32_t slot = 0;
    if (k.tgid != tgid || bpf_map_lookup_elem(index_fd, &k, &slot) != 0) return false;
    slots.push_back(slot);
    return true;
  });
  DeleteMapKeysIf<__u64>(bpf_map__fd(s->maps.threads),
                         [tgid](__u64 id) { return TgidOf(id) == tgid; });
  return slots;
}

void SemlockProbe::RecycleSlots(const std::vector<uint32_t>& slots) {
  if (slots.empty()) return;
  semlock* s = impl_->skel.get();
  const int ncpus = libbpf_num_possible_cpus();
  const std::vector<semlock_stats> zero_stats(static_cast<size_t>(std::max(ncpus, 1)));
  const semlock_slot zero_slot{};
  const semlock_slot_key no_owner{};
  for (uint32_t slot : slots) {
    // Zeroed before it can be given again; a slot that cannot be zeroed is not reused.
    if (bpf_map_update_elem(bpf_map__fd(s->maps.locks), &slot, zero_stats.data(), BPF_ANY) != 0 ||
        bpf_map_update_elem(bpf_map__fd(s->maps.slots), &slot, &zero_slot, BPF_ANY) != 0 ||
        bpf_map_update_elem(bpf_map__fd(s->maps.slot_keys), &slot, &no_owner, BPF_ANY) != 0) {
      continue;
    }
    bpf_map_update_elem(bpf_map__fd(s->maps.free_slots), nullptr, &slot, BPF_ANY);
  }
}

Status SemlockProbe::Detach(pid_t pid) {
  std::lock_guard lock(mu_);
  auto it = impl_->procs.find(pid);
  if (it == impl_->procs.end()) {
    return MakeError(ErrorCode::kNotFound, "pid " + std::to_string(pid) + " is not attached");
  }
  std::vector<BpfLinkPtr> links = std::move(it->second.links);
  impl_->procs.erase(it);
  // The kernel-side programs go with the last process (as pid 0: no entries to delete).
  std::vector<BpfLinkPtr> kernel;
  if (impl_->procs.empty()) kernel = std::move(impl_->kernel_links);
  impl_->kernel_links.clear();
  // Scrapes stop seeing it now; its slots are given back once its links are gone.
  impl_->retired[pid].push_back(DeleteProcessEntries(pid));
  impl_->reaper->Hand(pid, std::move(links));
  if (!kernel.empty()) impl_->reaper->Hand(0, std::move(kernel));
  return Status::Ok();
}

std::vector<pid_t> SemlockProbe::AttachedPids() const {
  std::lock_guard lock(mu_);
  std::vector<pid_t> out;
  for (const auto& [pid, p] : impl_->procs) out.push_back(pid);
  return out;
}

// Without mu_: the maps are read through their fds, which attaches and detaches do not change,
// so a scrape never waits for an attach stuck behind the kernel's uprobe mutex.
Result<std::vector<SemLockStats>> SemlockProbe::ReadLocks() {
  auto locks = ReadSemlockStats(*impl_->maps);
  if (locks && !SeesEveryAcquisition(options_.mode)) {
    for (SemLockStats& l : *locks) l.acquisitions_known = false;
  }
  return locks;
}

ProbeHealth SemlockProbe::ReadHealth() { return ReadSemlockHealth(*impl_->maps); }

}  // namespace gilstat::probes
