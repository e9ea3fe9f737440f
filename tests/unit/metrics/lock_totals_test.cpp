#include "metrics/lock_totals.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <map>
#include <sstream>

#include "metrics/python_collector.h"
#include "metrics/semlock_collector.h"
#include "tests/unit/metrics/fake_lock_source.h"

namespace gilstat::metrics {
namespace {

SemLockStats Sem(pid_t pid, uint64_t addr, uint64_t n) {
  SemLockStats s;
  s.pid = pid;
  s.addr = addr;
  s.acquisitions = n;
  s.contended = n / 2;
  s.handoffs = n / 4;
  s.blocked_ns = n * 1000;
  s.wait_hist.slots[12] = n / 2;
  s.wait_hist.count = n / 2;
  s.wait_hist.sum_ns = n * 2000;
  return s;
}

PyGilStats Gil(pid_t pid, uint64_t n) {
  PyGilStats s;
  s.pid = pid;
  s.take_drop = true;
  s.condvar = true;
  s.acquisitions = n;
  s.contended = n / 2;
  s.handoffs = n / 3;
  s.forced = n / 5;
  s.voluntary = n / 7;
  s.wait.slots[10] = n;
  s.wait.count = n;
  s.wait.sum_ns = n * 1000;
  s.hold = s.wait;
  s.handoff_latency = s.wait;
  return s;
}

// Every sample of the exposition: "name{labels}" -> value.
std::map<std::string, double> Samples(const std::vector<prometheus::MetricFamily>& families) {
  std::map<std::string, double> out;
  std::istringstream in(prometheus::TextSerializer().Serialize(families));
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

bool IsCounterSample(const std::string& key) {
  const std::string name = key.substr(0, key.find('{'));
  for (const char* suffix : {"_total", "_bucket", "_sum", "_count"}) {
    if (name.ends_with(suffix)) return true;
  }
  return false;
}

// Every counter, bucket, sum and count of `before` is present in `after` and not lower.
void ExpectMonotonic(const std::map<std::string, double>& before,
                     const std::map<std::string, double>& after) {
  for (const auto& [key, v] : before) {
    if (!IsCounterSample(key)) continue;
    auto it = after.find(key);
    ASSERT_NE(it, after.end()) << key << " vanished";
    EXPECT_GE(it->second, v) << key;
  }
}

struct Fixture {
  FakeSource src;
  std::vector<PyGilStats> gil;
  std::shared_ptr<SemlockState> state = std::make_shared<SemlockState>();

  SemlockNaming Naming() {
    SemlockNaming n;
    n.group_of = [this](pid_t pid) -> std::optional<std::string> {
      for (const auto& l : src.locks)
        if (l.pid == pid) return "web";
      for (const auto& g : gil)
        if (g.pid == pid) return "web";
      return std::nullopt;
    };
    n.lock_of = [](pid_t, uint64_t addr) { return addr == 0x1000 ? "gil" : "other"; };
    n.state = state;
    return n;
  }
  std::map<std::string, double> Scrape() {
    SemlockCollector c(src, Naming(), [this] {
      std::vector<LockSeries> out;
      for (const auto& g : gil) out.push_back(PyGilLockSeries(g, "web", false));
      return out;
    });
    return Samples(c.Collect());
  }
};

const char* kAcq = "gilstat_lock_acquisitions_total{lock=\"gil\",process=\"web\",source=\"ebpf\"}";
const char* kOther =
    "gilstat_lock_acquisitions_total{lock=\"other\",process=\"web\",source=\"ebpf\"}";

TEST(LockTotals, AGroupKeepsTheCountsOfAProcessThatExited) {
  Fixture f;
  f.src.locks = {Sem(100, 0x1000, 200'000), Sem(101, 0x1000, 200'000), Sem(101, 0x2000, 10)};
  auto s1 = f.Scrape();
  EXPECT_EQ(s1[kAcq], 400'000);
  f.src.locks = {Sem(100, 0x1000, 200'100)};  // 101 exited
  auto s2 = f.Scrape();
  EXPECT_EQ(s2[kAcq], 400'100);
  EXPECT_EQ(s2[kOther], 10);
  ExpectMonotonic(s1, s2);
  // 101 attached again (a new process or probes opened again): its counters start from zero.
  f.src.locks = {Sem(100, 0x1000, 200'200), Sem(101, 0x1000, 50)};
  auto s3 = f.Scrape();
  EXPECT_EQ(s3[kAcq], 400'250);
  ExpectMonotonic(s2, s3);
  // A process whose counters went down (an exec) restarted: its old counts are kept too.
  f.src.locks = {Sem(100, 0x1000, 5), Sem(101, 0x1000, 60)};
  auto s4 = f.Scrape();
  EXPECT_EQ(s4[kAcq], 200'000 + 200'200 + 5 + 60);
  ExpectMonotonic(s3, s4);
}

TEST(LockTotals, TheGilSeriesKeepTheirCountsToo) {
  Fixture f;
  f.gil = {Gil(10, 3000), Gil(11, 6000)};
  auto s1 = f.Scrape();
  EXPECT_EQ(s1[kAcq], 9000);
  EXPECT_GT(s1.count("gilstat_gil_switches_total{lock=\"gil\",process=\"web\",source=\"ebpf\","
                     "reason=\"forced\"}"),
            0u);
  f.gil = {Gil(10, 3100)};
  auto s2 = f.Scrape();
  EXPECT_EQ(s2[kAcq], 9100);
  ExpectMonotonic(s1, s2);
  f.gil = {};
  auto s3 = f.Scrape();
  ExpectMonotonic(s2, s3);
  f.gil = {Gil(10, 1)};
  ExpectMonotonic(s3, f.Scrape());
}

// A reload builds new collectors; the state they share keeps the totals.
TEST(LockTotals, SharedStateSurvivesANewCollector) {
  Fixture f;
  f.src.locks = {Sem(100, 0x1000, 100), Sem(101, 0x1000, 100)};
  auto s1 = f.Scrape();
  f.src.locks = {Sem(100, 0x1000, 100)};
  auto s2 = f.Scrape();  // each Scrape() builds a new collector on the same state
  EXPECT_EQ(s2[kAcq], 200);
  ExpectMonotonic(s1, s2);
}

TEST(LockTotals, RetainedSeriesEndAfterTheRetention) {
  LockTotals t(std::chrono::seconds(60));
  const auto t0 = LockTotals::Clock::now();
  LockSeries s;
  s.labels = {"batch", "other", "ebpf", ""};
  s.origin_pid = 5;
  s.acquisitions = 10;
  EXPECT_EQ(t.Keep({s}, t0).size(), 1u);
  auto gone = t.Keep({}, t0 + std::chrono::seconds(1));
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].acquisitions, 10u);
  EXPECT_EQ(t.Keep({}, t0 + std::chrono::seconds(30)).size(), 1u);
  EXPECT_TRUE(t.Keep({}, t0 + std::chrono::seconds(62)).empty());
  EXPECT_EQ(t.retained_series(), 0u);
}

TEST(LockTotals, PerAddressSeriesOfAGoneProcessGoToOther) {
  LockTotals t;
  const auto t0 = LockTotals::Clock::now();
  LockSeries a;
  a.labels = {"web", "threading@0x10", "ebpf", ""};
  a.origin_pid = 5;
  a.origin_addr = 0x10;
  a.contended = 7;
  t.Keep({a}, t0);
  auto after = t.Keep({}, t0);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].labels.lock, "threading@other");
  EXPECT_EQ(after[0].contended, 7u);
}

TEST(AnyCounterDecreased, SeesEveryCounter) {
  LockSeries a, b;
  EXPECT_FALSE(AnyCounterDecreased(a, b));
  b.wait.count = 1;
  EXPECT_TRUE(AnyCounterDecreased(a, b));
  b = {};
  b.hold = HistogramData{};
  b.hold->sum_ns = 5;
  a.hold = HistogramData{};
  EXPECT_TRUE(AnyCounterDecreased(a, b));
  a = b = {};
  a.forced_switches = 1;
  b.forced_switches = 2;
  EXPECT_TRUE(AnyCounterDecreased(a, b));
}

}  // namespace
}  // namespace gilstat::metrics
