#include "host/gil_sampler.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <random>
#include <thread>

#include <gtest/gtest.h>

namespace gilstat::host {
namespace {

using std::chrono::milliseconds;

TEST(InterpretGilWord, LockedAndSemaphore) {
  EXPECT_EQ(InterpretGilWord(GilWord::kLocked, 1), GilReading::kHeld);
  EXPECT_EQ(InterpretGilWord(GilWord::kLocked, 0), GilReading::kFree);
  EXPECT_EQ(InterpretGilWord(GilWord::kLocked, 0xffffffffu), GilReading::kNotYet);
  EXPECT_EQ(InterpretGilWord(GilWord::kLocked, 2), GilReading::kInvalid);
  EXPECT_EQ(InterpretGilWord(GilWord::kSemaphore, 0), GilReading::kHeld);
  EXPECT_EQ(InterpretGilWord(GilWord::kSemaphore, 1), GilReading::kFree);
  EXPECT_EQ(InterpretGilWord(GilWord::kSemaphore, 5), GilReading::kInvalid);
}

metrics::GilUtilization Find(const std::vector<metrics::GilUtilization>& rows,
                             const std::string& group, pid_t pid) {
  for (const auto& r : rows) {
    if (r.group == group && r.pid == pid) return r;
  }
  return {};
}

TEST(GilSampleLedger, LeftProcessesStayInTheirGroup) {
  GilSampleLedger l;
  l.Add(10, "web");
  l.Add(11, "web");
  l.Record(10, true, 0.004);
  l.Record(10, false, 0.004);
  l.Record(11, true, 0.002);
  l.Record(99, true, 1.0);  // unknown: ignored
  auto r = Find(l.Rows(), "web", 10);
  EXPECT_EQ(r.held, 1u);
  EXPECT_EQ(r.free, 1u);
  EXPECT_DOUBLE_EQ(r.held_seconds, 0.004);
  l.Remove(10);
  EXPECT_FALSE(l.Has(10));
  auto rows = l.Rows();
  EXPECT_EQ(Find(rows, "web", 0).held, 1u);
  EXPECT_EQ(Find(rows, "web", 0).free, 1u);
  EXPECT_EQ(Find(rows, "web", 11).held, 1u);
  // A process moved to another group: what it counted stays with the old one.
  l.Regroup(11, "api");
  l.Record(11, true, 0.003);
  rows = l.Rows();
  EXPECT_EQ(Find(rows, "web", 0).held, 2u);
  EXPECT_DOUBLE_EQ(Find(rows, "web", 0).held_seconds, 0.006);
  EXPECT_EQ(Find(rows, "api", 11).held, 1u);
  EXPECT_DOUBLE_EQ(Find(rows, "api", 11).held_seconds, 0.003);
}

// The estimator on a square wave of known duty: a GIL held `hold` out of every `period`, sampled
// at the sampler's jittered intervals. With a period equal to the mean interval (the worst case
// for a fixed period, which would see the same phase every time) the estimate stays within
// the binomial bound; the fixed period itself is shown to alias.
struct Estimate {
  double sampled, held_rate;
  double n;
};
Estimate SampleSquareWave(double period, double hold, double mean, bool jitter, double seconds) {
  std::mt19937_64 rng(42);
  GilSampleLedger l;
  l.Add(1, "g");
  const double phase = 0.3 * period;
  double t = 0, last = 0;
  while (true) {
    t += jitter ? JitteredInterval(mean, rng) : mean;
    if (t > seconds) break;
    const bool held = std::fmod(t + phase, period) < hold;
    l.Record(1, held, t - last);
    last = t;
  }
  const auto r = l.Rows().front();
  const double n = static_cast<double>(r.held + r.free);
  return {static_cast<double>(r.held) / n, r.held_seconds / last, n};
}

TEST(GilSampler, JitteredEstimateOfAKnownDutyIsWithinItsBound) {
  for (double duty : {0.3, 0.8}) {
    for (double period : {0.004, 0.005, 0.010, 0.100}) {
      const Estimate e = SampleSquareWave(period, duty * period, 0.004, true, 60);
      const double bound = 3 * std::sqrt(duty * (1 - duty) / e.n);  // 3 sigma
      EXPECT_NEAR(e.sampled, duty, bound) << "period " << period;
      EXPECT_NEAR(e.held_rate, duty, 2 * bound) << "period " << period;
    }
  }
  // Without jitter a 4 ms sampler sees a 4 ms workload at one phase only: all held or all free.
  const Estimate fixed = SampleSquareWave(0.004, 0.3 * 0.004, 0.004, false, 60);
  EXPECT_GT(std::abs(fixed.sampled - 0.3), 0.25);
}

TEST(GilSampler, MeanIntervalGrowsWithProcessesBeyondTheCap) {
  GilSamplerOptions o;  // 10 ms, 1000 reads/s
  EXPECT_DOUBLE_EQ(GilSampler::MeanIntervalSeconds(o, 1), 0.010);
  EXPECT_DOUBLE_EQ(GilSampler::MeanIntervalSeconds(o, 10), 0.010);
  EXPECT_DOUBLE_EQ(GilSampler::MeanIntervalSeconds(o, 20), 0.020);
  EXPECT_DOUBLE_EQ(GilSampler::MeanIntervalSeconds(o, 1000), 1.0);
  o.mean_interval = std::chrono::microseconds(4000);  // gilstat top's
  EXPECT_DOUBLE_EQ(GilSampler::MeanIntervalSeconds(o, 4), 0.004);
  EXPECT_DOUBLE_EQ(GilSampler::MeanIntervalSeconds(o, 10), 0.010);
}

// The sampler thread reading a word of this very process (waits for the samples rather than a
// fixed time: the machine may be busy).
TEST(GilSampler, ReadsTheWordAndCountsHeldTime) {
  alignas(4) static std::atomic<int32_t> word{1};
  word = 1;
  GilSampler s(GilSamplerOptions{}, [](pid_t) { return std::optional<std::string>("self"); });
  s.Start();
  const auto t0 = std::chrono::steady_clock::now();
  s.Add(getpid(), GilWord::kLocked, reinterpret_cast<uintptr_t>(&word));
  auto wait_until = [&](auto done) {
    for (int i = 0; i < 500 && !done(Find(s.Rows(), "self", getpid())); ++i)
      std::this_thread::sleep_for(milliseconds(10));
  };
  wait_until([](const metrics::GilUtilization& r) { return r.held >= 20; });
  word = 0;
  const uint64_t held = Find(s.Rows(), "self", getpid()).held;
  wait_until([](const metrics::GilUtilization& r) { return r.free >= 10; });
  s.Stop();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto r = Find(s.Rows(), "self", getpid());
  EXPECT_GE(r.held, 20u);
  EXPECT_LE(r.held, held + 1);  // at most one sample in flight when the word changed
  EXPECT_GE(r.free, 10u);
  EXPECT_GT(r.held_seconds, 20 * 0.005);  // intervals are at least half the 10 ms mean
  EXPECT_LT(r.held_seconds, elapsed);
  const auto h = s.Health();
  EXPECT_EQ(h.gone + h.unreadable, 0u);
  EXPECT_EQ(h.processes, 1u);
}

TEST(GilSampler, FailedReadsAreCountedAndStopTheProcess) {
  alignas(4) static std::atomic<int32_t> bad{7};
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);  // reaped: the pid is gone
  GilSampler s(GilSamplerOptions{}, nullptr);
  s.Add(child, GilWord::kLocked, 0x1000);
  s.Add(getpid(), GilWord::kLocked, reinterpret_cast<uintptr_t>(&bad));
  s.Start();
  std::this_thread::sleep_for(milliseconds(100));
  s.Stop();
  const auto h = s.Health();
  EXPECT_EQ(h.gone, 1u);
  EXPECT_EQ(h.unreadable, 1u);  // 7 is no GIL state
  EXPECT_EQ(h.processes, 0u);
  s.Remove(child);
  s.Remove(getpid());
}

}  // namespace
}  // namespace gilstat::host
