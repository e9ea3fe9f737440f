// The x86 site matcher (daemon/elf/x86_code.*) and the semaphore probe's site planner
// (daemon/probes/semlock_sites.*) on arbitrary machine code, as a target's libc could hold.
//
// Input: byte 0 the probe mode (modulo 3); then, for sem_wait, sem_timedwait, sem_clockwait,
// sem_trywait and sem_post, a length byte (0: the function is absent) and that many code bytes;
// the rest is what the file holds at any slow path the planner reads (none when empty).
// tests/fuzz/make_corpus.py writes glibc 2.36's functions in this form.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <span>
#include <vector>

#include "elf/x86_code.h"
#include "probes/semlock_sites.h"

namespace {

using namespace gilstat::probes;

constexpr const char* kNames[] = {"sem_wait", "sem_timedwait", "sem_clockwait", "sem_trywait",
                                  "sem_post"};

// Every site found lies inside the bytes it was found in.
void CheckSites(const std::optional<std::vector<uint64_t>>& sites, size_t code_size) {
  if (!sites) return;
  for (uint64_t s : *sites) {
    if (s >= code_size) std::abort();
  }
}

void MatchCode(std::span<const uint8_t> code) {
  (void)IsEmulatedInstruction(code);
  CheckSites(FindTrywaitBranches(code), code.size());
  CheckSites(FindPostBranch(code), code.size());
  (void)FindSlowPathTarget(code);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  if (in.empty()) return 0;
  const auto mode = static_cast<gilstat::ProbeMode>(in[0] % 3);
  in = in.subspan(1);
  std::vector<SemFunctionCode> functions;
  uint64_t offset = 0x10000;
  for (const char* name : kNames) {
    SemFunctionCode fn;
    fn.name = name;
    const size_t len = in.empty() ? 0 : std::min<size_t>(in[0], in.size() - 1);
    if (!in.empty()) in = in.subspan(1);
    if (len > 0) {
      fn.symbol = std::string(name) + "@@GLIBC_2.34";
      fn.file_offset = offset;
      fn.code.assign(in.begin(), in.begin() + static_cast<ptrdiff_t>(len));
      in = in.subspan(len);
      MatchCode(fn.code);
    }
    offset += 0x1000;
    functions.push_back(std::move(fn));
  }
  const std::vector<uint8_t> slow(in.begin(), in.end());
  MatchCode(slow);
  const ReadCodeAt read = [&](uint64_t) -> std::optional<std::vector<uint8_t>> {
    if (slow.empty()) return std::nullopt;
    return slow;
  };
  const SemlockPlan plan = PlanSemlockSites(mode, functions, read);
  if (plan.sites.size() != functions.size()) std::abort();  // one status per function
  // Every probed wait entry has its return probe at the same offset (a wait's end is its return).
  for (const PlannedUprobe& u : plan.uprobes) {
    if (u.program != SemlockProgram::kWaitEntry && u.program != SemlockProgram::kTimedwaitEntry) {
      continue;
    }
    const PlannedUprobe ret{SemlockProgram::kWaitReturn, u.file_offset, true};
    if (std::find(plan.uprobes.begin(), plan.uprobes.end(), ret) == plan.uprobes.end()) {
      std::abort();
    }
  }
  return 0;
}
