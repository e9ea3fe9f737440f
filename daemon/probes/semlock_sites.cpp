#include "probes/semlock_sites.h"

#include <algorithm>
#include <map>

#include "bpf/semlock.h"
#include "elf/x86_code.h"

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
    case SiteMethod::kReadAtWait:
      return "read-at-wait";
  }
  return "unknown";
}

namespace {

// A function's status: named, and absent (saying `absent_note`) when the file has no such symbol.
SiteStatus NewSite(const SemFunctionCode& fn, const char* absent_note) {
  SiteStatus site;
  site.function = fn.name;
  site.symbol = fn.symbol;
  if (fn.symbol.empty()) {
    site.method = SiteMethod::kAbsent;
    site.note = absent_note;
  }
  return site;
}

// Plans one function after another; wait functions sharing a slow path are probed there once.
class Planner {
 public:
  Planner(ProbeMode mode, const ReadCodeAt& read_code_at)
      : mode_(mode), read_code_at_(read_code_at) {}

  void Plan(const SemFunctionCode& fn) {
    SiteStatus site = NewSite(fn, "not in this libc");
    if (fn.symbol.empty()) {
      plan_.sites.push_back(std::move(site));
      return;
    }
    if (fn.name == "sem_trywait") {
      PlanTrywait(fn, site);
    } else if (fn.name == "sem_post") {
      PlanPost(fn, site);
    } else {
      PlanWait(fn, site);
    }
    plan_.sites.push_back(std::move(site));
  }

  SemlockPlan Take() { return std::move(plan_); }

 private:
  void Add(SemlockProgram program, uint64_t file_offset, bool retprobe = false) {
    plan_.uprobes.push_back({program, file_offset, retprobe});
  }

  // Entry + uretprobe at the function's first instruction.
  void EntryReturn(const SemFunctionCode& fn, SemlockProgram entry, SiteStatus& site) {
    Add(entry, fn.file_offset);
    Add(SemlockProgram::kWaitReturn, fn.file_offset, true);
    site.method = SiteMethod::kEntryReturn;
    site.file_offsets = {fn.file_offset};
    site.return_probe = true;
    site.single_stepped = !IsEmulatedInstruction(fn.code);
  }

  // The file offset of the wait function's slow path, if default mode probes it there (its
  // first instruction must be emulated).
  std::optional<uint64_t> SlowPath(const SemFunctionCode& fn) const {
    if (mode_ != ProbeMode::kDefault) return std::nullopt;
    const auto slow = FindSlowPathTarget(fn.code);
    if (!slow || static_cast<int64_t>(fn.file_offset) + *slow <= 0) return std::nullopt;
    const uint64_t at = static_cast<uint64_t>(static_cast<int64_t>(fn.file_offset) + *slow);
    const auto code = read_code_at_(at);
    if (!code || !IsEmulatedInstruction(*code)) return std::nullopt;
    return at;
  }

  void PlanWait(const SemFunctionCode& fn, SiteStatus& site) {
    const SemlockProgram entry =
        fn.name == "sem_wait" ? SemlockProgram::kWaitEntry : SemlockProgram::kTimedwaitEntry;
    if (const auto at = SlowPath(fn)) {
      site.method = SiteMethod::kSlowPath;
      site.file_offsets = {*at};
      if (auto it = slow_paths_.find(*at); it != slow_paths_.end()) {
        site.note = "shares the slow path of " + it->second;
        site.shared = true;
        return;
      }
      slow_paths_.emplace(*at, fn.name);
      Add(entry, *at);
      Add(SemlockProgram::kWaitReturn, *at, true);
      site.return_probe = true;
      return;
    }
    EntryReturn(fn, entry, site);
    if (mode_ == ProbeMode::kDefault) {
      site.note = "slow path not recognised: every call probed at entry+return";
    } else if (site.single_stepped) {
      site.note = "entry instruction is single-stepped";
    }
  }

  void PlanTrywait(const SemFunctionCode& fn, SiteStatus& site) {
    if (mode_ == ProbeMode::kDefault) {
      site.method = SiteMethod::kNotProbed;
      site.note = "default mode: non-blocking tries are not observed";
      return;
    }
    const auto branches =
        mode_ == ProbeMode::kCounting ? FindTrywaitBranches(fn.code) : std::nullopt;
    if (!branches) {
      EntryReturn(fn, SemlockProgram::kTrywaitEntry, site);
      if (mode_ != ProbeMode::kExact)
        site.note = "code layout not recognised: entry+return fallback";
      return;
    }
    const uint64_t fail_at = fn.file_offset + (*branches)[0];
    const uint64_t ok_at = fn.file_offset + (*branches)[1];
    Add(SemlockProgram::kTrywaitFailBranch, fail_at);
    Add(SemlockProgram::kTrywaitOkBranch, ok_at);
    site.method = SiteMethod::kBranch;
    site.file_offsets = {fail_at, ok_at};
  }

  void PlanPost(const SemFunctionCode& fn, SiteStatus& site) {
    if (mode_ == ProbeMode::kExact) {
      Add(SemlockProgram::kPostEntry, fn.file_offset);
      site.method = SiteMethod::kEntry;
      site.file_offsets = {fn.file_offset};
      site.single_stepped = !IsEmulatedInstruction(fn.code);
      return;
    }
    const auto branch = mode_ == ProbeMode::kCounting ? FindPostBranch(fn.code) : std::nullopt;
    if (branch) {
      const uint64_t at = fn.file_offset + (*branch)[0];
      Add(SemlockProgram::kPostOkBranch, at);
      plan_.proc_flags |= SEMLOCK_PROC_POST_BRANCH;
      site.method = SiteMethod::kBranch;
      site.file_offsets = {at};
      return;
    }
    site.method = SiteMethod::kFutexWakes;
    site.note = mode_ == ProbeMode::kDefault
                    ? "default mode: posts counted from the futex wakes that release a waiter"
                    : "code layout not recognised: posts counted from futex wakes (only posts "
                      "that wake a waiter)";
    plan_.proc_flags |= SEMLOCK_PROC_POSTS_FROM_WAKES;
  }

  const ProbeMode mode_;
  const ReadCodeAt& read_code_at_;
  SemlockPlan plan_;
  // Slow paths already probed (file offset -> the wait function that owns it): two wait
  // functions sharing one must not count its calls twice.
  std::map<uint64_t, std::string> slow_paths_;
};

std::string SymbolName(const ElfSymbol& s) {
  if (s.version.empty()) return s.name;
  return s.name + (s.default_version ? "@@" : "@") + s.version;
}

}  // namespace

SemlockPlan PlanSemlockSites(ProbeMode mode, const std::vector<SemFunctionCode>& functions,
                             const ReadCodeAt& read_code_at) {
  Planner planner(mode, read_code_at);
  for (const SemFunctionCode& fn : functions) planner.Plan(fn);
  return planner.Take();
}

Result<std::vector<SemFunctionCode>> ReadSemFunctions(const ElfFile& libc) {
  struct Wanted {
    const char* name;
    bool required;
  };
  std::vector<SemFunctionCode> out;
  for (Wanted w :
       {Wanted{"sem_wait", true}, Wanted{"sem_timedwait", true}, Wanted{"sem_clockwait", false},
        Wanted{"sem_trywait", true}, Wanted{"sem_post", true}}) {
    SemFunctionCode fn;
    fn.name = w.name;
    auto sym = libc.FindFunction(w.name);
    if (!sym) {
      if (w.required) return sym.error();
      out.push_back(std::move(fn));
      continue;
    }
    fn.symbol = SymbolName(*sym);
    fn.file_offset = sym->file_offset;
    auto code = libc.ReadBytes(sym->file_offset,
                               std::max<uint64_t>(std::min<uint64_t>(sym->size, 160), 16));
    if (!code) return code.error();
    fn.code = std::move(*code);
    out.push_back(std::move(fn));
  }
  return out;
}

SiteStatus ParkingLotSite(const SemFunctionCode& fn) {
  SiteStatus site = NewSite(fn, "not in this interpreter (CPython before 3.13)");
  if (fn.symbol.empty()) return site;
  site.method = SiteMethod::kReadAtWait;
  return site;
}

}  // namespace gilstat::probes
