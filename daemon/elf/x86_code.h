// Reading x86-64 machine code of a function, as the semaphore probe needs it to place its
// uprobes: which instructions the kernel's uprobe code emulates (cheap to probe), and where
// glibc's semaphore functions branch. Pure functions over byte sequences. See docs/PROBES.md.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace gilstat::probes {

// Whether the x86 instruction at the start of `code` is emulated by the kernel's uprobe code
// (push, nop, jmp, call, jcc) rather than single-stepped.
bool IsEmulatedInstruction(std::span<const uint8_t> code);

// A function layout: its bytes (-1: any byte) and the offsets of its branch sites.
struct CodeLayout {
  std::vector<int> bytes;
  std::vector<uint64_t> sites;
};
// The layout's site offsets (from the function start) if `code` starts with it, allowing an
// endbr64 in front (which moves every site by 4); nullopt otherwise.
std::optional<std::vector<uint64_t>> MatchLayout(std::span<const uint8_t> code,
                                                 const CodeLayout& layout);

// Offsets (from the function start) of sem_trywait's two branch sites (fail `je`, success
// `jne`) and of sem_post's success `jne`, if the code has the expected layout (glibc 2.34+
// x86-64, optionally behind an endbr64); nullopt otherwise.
std::optional<std::vector<uint64_t>> FindTrywaitBranches(std::span<const uint8_t> code);
std::optional<std::vector<uint64_t>> FindPostBranch(std::span<const uint8_t> code);

// Where a wait function (sem_wait, sem_timedwait, sem_clockwait of glibc 2.34+ x86-64, behind an
// optional endbr64) goes when its fast path fails: `lock cmpxchg; jne SLOW`, where SLOW moves
// registers, pops and tail-jumps (`jmp rel32`) to the internal __new_sem_wait_slow64. Returns
// the jump target as an offset from the function start (negative: before it), or nullopt when
// the code has another shape.
std::optional<int64_t> FindSlowPathTarget(std::span<const uint8_t> code);

}  // namespace gilstat::probes
