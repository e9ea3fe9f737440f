// Where the semaphore probes go in one libc: a pure planner from the probe mode and the code of
// libc's semaphore functions to the uprobe sites (file offsets, entry or return, the program of
// bpf/semlock.bpf.c for each), the per-function status reported to the user and the process
// flags. No BPF and no process: SemlockProbe::Attach reads the functions (ReadSemFunctions),
// plans, and attaches the plan. See docs/PROBES.md "Probe sites".
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "elf/elf_symbols.h"
#include "gilstat/probe_mode.h"
#include "gilstat/result.h"

namespace gilstat::probes {

// How one function is observed in one process.
enum class SiteMethod {
  kEntryReturn,  // uprobe at the entry + uretprobe
  kEntry,        // uprobe at the entry (sem_post in exact mode)
  kBranch,       // uprobe(s) on emulated conditional jumps inside the function
  kSlowPath,     // the function's slow path (default mode): the internal function it
                 // tail-calls when the semaphore is 0, entry + uretprobe
  kNotProbed,    // default mode: sem_trywait is not observed
  kFutexWakes,   // not probed in user space: posts counted from futex wakes on known semaphores
  kAbsent,       // the libc has no such function (e.g. sem_clockwait before glibc 2.30)
  kReadAtWait,   // not probed itself: read at the waits' probes (CPython's _PySemaphore_Wait:
                 // the wait entry around each semaphore waited on)
};
const char* SiteMethodName(SiteMethod method);

struct SiteStatus {
  std::string function;  // "sem_wait"
  std::string symbol;    // resolved symbol, e.g. "sem_wait@@GLIBC_2.34"
  SiteMethod method = SiteMethod::kAbsent;
  std::vector<uint64_t> file_offsets;  // where uprobes were placed
  bool single_stepped = false;  // a probed instruction is single-stepped (~15 µs per hit here)
  bool return_probe = false;    // a uretprobe at the first file offset (entry+return, slow path)
  bool shared = false;          // the slow path of another function, probed there once
  std::string note;             // why this method (fallbacks say so)
};

// The programs of bpf/semlock.bpf.c that run at user-space sites.
enum class SemlockProgram {
  kWaitEntry,          // sem_wait_entry
  kTimedwaitEntry,     // sem_timedwait_entry (sem_timedwait, sem_clockwait)
  kTrywaitEntry,       // sem_trywait_entry
  kWaitReturn,         // sem_wait_return (the uretprobe of every probed wait)
  kPostEntry,          // sem_post_entry
  kTrywaitFailBranch,  // sem_trywait_fail_branch
  kTrywaitOkBranch,    // sem_trywait_ok_branch
  kPostOkBranch,       // sem_post_ok_branch
};

// One libc semaphore function as read from the file.
struct SemFunctionCode {
  std::string name;           // "sem_wait"
  std::string symbol;         // as resolved, e.g. "sem_wait@@GLIBC_2.34"; empty: not in this libc
  uint64_t file_offset = 0;   // of its first instruction
  std::vector<uint8_t> code;  // its first bytes (at most 160)
};

struct PlannedUprobe {
  SemlockProgram program;
  uint64_t file_offset = 0;
  bool retprobe = false;
  bool operator==(const PlannedUprobe&) const = default;
};

struct SemlockPlan {
  std::vector<SiteStatus> sites;       // one per function, in the order given
  std::vector<PlannedUprobe> uprobes;  // what to attach
  uint32_t proc_flags = 0;             // SEMLOCK_PROC_* for the process's procs entry
};

// The first bytes of the file at an offset (a slow path's first instruction); nullopt when they
// cannot be read.
using ReadCodeAt = std::function<std::optional<std::vector<uint8_t>>(uint64_t file_offset)>;

// The plan for `functions` (those of ReadSemFunctions, absent ones with an empty symbol). Wait
// functions sharing one slow path are probed there once.
SemlockPlan PlanSemlockSites(ProbeMode mode, const std::vector<SemFunctionCode>& functions,
                             const ReadCodeAt& read_code_at);

// sem_wait, sem_timedwait, sem_clockwait (optional: absent before glibc 2.30), sem_trywait and
// sem_post of `libc`, with their first bytes. Errors: a required function missing or ambiguous
// (from ElfFile::FindFunction), its code unreadable.
Result<std::vector<SemFunctionCode>> ReadSemFunctions(const ElfFile& libc);

// CPython's parking lot (3.13+): a PyMutex (PyEvent, once flag...) wait that cannot take it at
// once parks on a semaphore inside its wait entry, whose word in front names the address parked
// on. A process whose interpreter file (the executable or libpython) exports _PySemaphore_Wait
// gets SEMLOCK_PROC_PARKING: its semaphore waits read the words around their semaphore at their
// entry probe and are counted for that address (bpf/semlock.bpf.c, parked_on). Nothing in the
// interpreter is probed.
inline constexpr const char* kSemaWaitFunction = "_PySemaphore_Wait";

// The status of the parking lot in an interpreter file (`fn`: _PySemaphore_Wait as found there,
// `fn.symbol` empty when the file has none): kReadAtWait, or kAbsent.
SiteStatus ParkingLotSite(const SemFunctionCode& fn);

}  // namespace gilstat::probes
