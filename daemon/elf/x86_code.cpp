#include "elf/x86_code.h"

#include <cstring>

namespace gilstat::probes {

// Instructions the x86 uprobe code emulates instead of single-stepping (cheap to probe):
// push, nop, call, jmp, jcc.
bool IsEmulatedInstruction(std::span<const uint8_t> code) {
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

namespace {

// glibc 2.34+ x86-64 sem_trywait: mov (%rdi),%rax; test %eax,%eax; je FAIL(+5);
// lea -1(%rax),%rdx; lock cmpxchg %rdx,(%rdi); jne RETRY(+0x10).
const CodeLayout kTrywaitLayout = {{0x48, 0x8b, 0x07, 0x85, 0xc0, 0x74, -1, 0x48, 0x8d, 0x50, 0xff,
                                    0xf0, 0x48, 0x0f, 0xb1, 0x17, 0x75, -1},
                                   {0x05, 0x10}};
// glibc 2.34+ x86-64 sem_post: mov 8(%rdi),%esi; mov (%rdi),%rax; cmp $0x7fffffff,%eax;
// je OVERFLOW; lea 1(%rax),%rdx; lock cmpxchg %rdx,(%rdi); jne RETRY(+0x16).
const CodeLayout kPostLayout = {
    {0x8b, 0x77, 0x08, 0x48, 0x8b, 0x07, 0x3d, 0xff, 0xff, 0xff, 0x7f, 0x74,
     -1,   0x48, 0x8d, 0x50, 0x01, 0xf0, 0x48, 0x0f, 0xb1, 0x17, 0x75, -1},
    {0x16}};

bool StartsWithEndbr64(std::span<const uint8_t> code) {
  return code.size() >= 4 && code[0] == 0xf3 && code[1] == 0x0f && code[2] == 0x1e &&
         code[3] == 0xfa;
}

// The end (offset after it) of a `jne rel8` at `i`, and its target.
int64_t Rel8Target(std::span<const uint8_t> code, size_t i) {
  return static_cast<int64_t>(i + 2) + static_cast<int8_t>(code[i + 1]);
}

// Whether a `test %eax,%eax; je rel8` before `end` jumps to `target`: then the block at
// `target` is reached exactly when the fast path failed (value zero or cmpxchg lost).
bool ZeroTestJumpsTo(std::span<const uint8_t> code, size_t end, int64_t target) {
  for (size_t j = 0; j + 4 <= end; ++j) {
    if (code[j] == 0x85 && code[j + 1] == 0xc0 && code[j + 2] == 0x74 &&
        Rel8Target(code, j + 2) == target) {
      return true;
    }
  }
  return false;
}

// The length of a register move, stack adjustment or pop at `p` (0: another instruction).
size_t EpilogueInstructionLength(std::span<const uint8_t> code, size_t p) {
  const size_t n = code.size();
  const uint8_t b = code[p];
  if (b >= 0x58 && b <= 0x5f) return 1;  // pop %reg
  if (b == 0x41 && p + 2 <= n && code[p + 1] >= 0x58 && code[p + 1] <= 0x5f) {
    return 2;  // pop %r8..%r15
  }
  if ((b == 0x48 || b == 0x4c || b == 0x49 || b == 0x4d) && p + 3 <= n && code[p + 1] == 0x89 &&
      (code[p + 2] & 0xc0) == 0xc0) {
    return 3;  // mov %reg64,%reg64
  }
  if (b == 0x89 && p + 2 <= n && (code[p + 1] & 0xc0) == 0xc0) return 2;  // mov %reg32,%reg32
  if (b == 0x48 && p + 4 <= n && code[p + 1] == 0x83 && code[p + 2] == 0xc4) {
    return 4;  // add $imm8,%rsp
  }
  return 0;
}

// The target of the `jmp rel32` ending the block at `p` (register moves, stack adjustment and
// pops, at most 12 instructions), or nullopt.
std::optional<int64_t> TailJumpTarget(std::span<const uint8_t> code, size_t p) {
  const size_t n = code.size();
  for (int insn = 0; insn < 12 && p < n; ++insn) {
    if (code[p] == 0xe9 && p + 5 <= n) {
      int32_t rel;
      std::memcpy(&rel, &code[p + 1], sizeof rel);
      return static_cast<int64_t>(p + 5) + rel;
    }
    const size_t len = EpilogueInstructionLength(code, p);
    if (len == 0) return std::nullopt;
    p += len;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::vector<uint64_t>> MatchLayout(std::span<const uint8_t> code,
                                                 const CodeLayout& layout) {
  for (size_t skip : {size_t{0}, size_t{4}}) {
    if (skip == 4 && !StartsWithEndbr64(code)) continue;
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

std::optional<std::vector<uint64_t>> FindTrywaitBranches(std::span<const uint8_t> code) {
  return MatchLayout(code, kTrywaitLayout);
}

std::optional<std::vector<uint64_t>> FindPostBranch(std::span<const uint8_t> code) {
  return MatchLayout(code, kPostLayout);
}

std::optional<int64_t> FindSlowPathTarget(std::span<const uint8_t> code) {
  for (size_t i = 0; i + 7 <= code.size(); ++i) {
    // lock cmpxchg %reg,(%reg); jne rel8: the first one decides.
    if (!(code[i] == 0xf0 && code[i + 1] == 0x48 && code[i + 2] == 0x0f && code[i + 3] == 0xb1 &&
          code[i + 5] == 0x75)) {
      continue;
    }
    const int64_t slow = Rel8Target(code, i + 5);
    if (slow < 0 || !ZeroTestJumpsTo(code, i, slow)) return std::nullopt;
    return TailJumpTarget(code, static_cast<size_t>(slow));
  }
  return std::nullopt;
}

}  // namespace gilstat::probes
