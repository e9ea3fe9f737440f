// x86-64 code reading on glibc 2.36's real semaphore functions and variants of them.
#include "elf/x86_code.h"

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include <gtest/gtest.h>

#include "tests/unit/elf/glibc236_code.h"

namespace gilstat::probes {
namespace {

using namespace ::gilstat::testing::glibc236;

TEST(X86Code, Glibc236Layouts) {
  auto t = FindTrywaitBranches(kTrywait);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(*t, (std::vector<uint64_t>{0x5, 0x10}));
  auto p = FindPostBranch(kPost);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(*p, (std::vector<uint64_t>{0x16}));
  // The branch sites are conditional jumps: emulated.
  EXPECT_TRUE(IsEmulatedInstruction(std::span(kTrywait).subspan(0x5)));
  EXPECT_TRUE(IsEmulatedInstruction(std::span(kTrywait).subspan(0x10)));
  EXPECT_TRUE(IsEmulatedInstruction(std::span(kPost).subspan(0x16)));
  // Their entries are loads: single-stepped.
  EXPECT_FALSE(IsEmulatedInstruction(kTrywait));
  EXPECT_FALSE(IsEmulatedInstruction(kPost));
}

TEST(X86Code, EndbrPrefixShiftsSites) {
  std::vector<uint8_t> code = {0xf3, 0x0f, 0x1e, 0xfa};
  code.insert(code.end(), kTrywait.begin(), kTrywait.end());
  auto t = FindTrywaitBranches(code);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(*t, (std::vector<uint64_t>{0x9, 0x14}));
}

TEST(X86Code, OtherCodeIsRejected) {
  std::vector<uint8_t> code = kTrywait;
  code[0xd] = 0x0e;  // cmpxchg with another register
  EXPECT_FALSE(FindTrywaitBranches(code).has_value());
  EXPECT_FALSE(FindPostBranch(kTrywait).has_value());
  EXPECT_FALSE(FindTrywaitBranches(std::vector<uint8_t>(kTrywait.begin(), kTrywait.begin() + 10))
                   .has_value());
}

TEST(X86Code, SlowPathTargets) {
  EXPECT_EQ(FindSlowPathTarget(kWait), std::optional<int64_t>(kWaitSlowAt - kWaitAt));
  EXPECT_EQ(FindSlowPathTarget(kTimedwait),
            std::optional<int64_t>(kTimedwaitSlowAt - kTimedwaitAt));
  EXPECT_EQ(FindSlowPathTarget(kClockwait),
            std::optional<int64_t>(kClockwaitSlowAt - kClockwaitAt));
  // Behind an endbr64 the target moves with the code: same absolute place, 4 bytes further
  // from the (earlier) function start.
  std::vector<uint8_t> code = {0xf3, 0x0f, 0x1e, 0xfa};
  code.insert(code.end(), kWait.begin(), kWait.end());
  EXPECT_EQ(FindSlowPathTarget(code), std::optional<int64_t>(kWaitSlowAt - kWaitAt + 4));
}

TEST(X86Code, SlowPathOtherCodeIsRejected) {
  // The zero test jumps elsewhere than the cmpxchg's failure branch.
  std::vector<uint8_t> code = kWait;
  code[0xf] = 0x12;
  EXPECT_FALSE(FindSlowPathTarget(code).has_value());
  // An instruction in the slow block that is not a move, pop or stack adjustment (a call).
  code = kWait;
  code[0x20] = 0xe8;
  EXPECT_FALSE(FindSlowPathTarget(code).has_value());
  // Cut before the jump; no cmpxchg at all.
  EXPECT_FALSE(
      FindSlowPathTarget(std::vector<uint8_t>(kWait.begin(), kWait.end() - 3)).has_value());
  EXPECT_FALSE(FindSlowPathTarget(kPost).has_value());
  EXPECT_FALSE(FindSlowPathTarget(kTrywait).has_value());
}

TEST(X86Code, EmulatedInstructions) {
  EXPECT_TRUE(IsEmulatedInstruction(std::vector<uint8_t>{0x53}));                    // push %rbx
  EXPECT_TRUE(IsEmulatedInstruction(std::vector<uint8_t>{0x41, 0x54}));              // push %r12
  EXPECT_TRUE(IsEmulatedInstruction(std::vector<uint8_t>{0x90}));                    // nop
  EXPECT_TRUE(IsEmulatedInstruction(std::vector<uint8_t>{0x0f, 0x84, 0, 0, 0, 0}));  // je rel32
  EXPECT_FALSE(IsEmulatedInstruction(std::vector<uint8_t>{0x83, 0xfe, 0x01}));       // cmp $1,%esi
  EXPECT_FALSE(IsEmulatedInstruction(std::vector<uint8_t>{}));
}

TEST(X86Code, MatchLayoutWildcardsAndLength) {
  const CodeLayout layout{{0x31, -1, 0xc3}, {1, 2}};
  EXPECT_EQ(MatchLayout(std::vector<uint8_t>{0x31, 0xc0, 0xc3}, layout),
            std::optional(std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(
      MatchLayout(std::vector<uint8_t>{0xf3, 0x0f, 0x1e, 0xfa, 0x31, 0x00, 0xc3, 0x90}, layout),
      std::optional(std::vector<uint64_t>{5, 6}));
  EXPECT_FALSE(MatchLayout(std::vector<uint8_t>{0x31, 0xc0, 0xc2}, layout).has_value());
  EXPECT_FALSE(MatchLayout(std::vector<uint8_t>{0x31, 0xc0}, layout).has_value());
}

}  // namespace
}  // namespace gilstat::probes
