#include "metrics/lock_address_limit.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <cstdio>
#include <set>

#include "metrics/semlock_collector.h"
#include "tests/unit/metrics/fake_lock_source.h"

namespace gilstat::metrics {
namespace {

SemLockStats Sem(pid_t pid, uint64_t addr, uint64_t wait_ns) {
  SemLockStats s;
  s.pid = pid;
  s.addr = addr;
  s.acquisitions = 3;
  s.contended = 1;
  s.wait_hist.slots[12] = 1;
  s.wait_hist.count = 1;
  s.wait_hist.sum_ns = wait_ns;
  return s;
}

SemlockNaming PerAddress(size_t k) {
  SemlockNaming n;
  n.group_of = [](pid_t) -> std::optional<std::string> { return "web"; };
  n.lock_of = [](pid_t, uint64_t addr) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "threading@0x%llx", static_cast<unsigned long long>(addr));
    return std::string(buf);
  };
  n.max_lock_series = k;
  return n;
}

// 16,000 contended locks in one process with labels.lock_address: without a bound that was a
// million series; now 20 locks keep a series each and the rest are one "threading@other".
TEST(LockAddressLimit, SixteenThousandLocksAreBoundedAndSumsKept) {
  FakeSource src;
  for (uint64_t i = 0; i < 16'000; ++i) src.locks.push_back(Sem(100, 0x1000 + i * 64, 1000 + i));
  SemlockCollector c(src, PerAddress(LockAddressLimit::kDefaultMaxPerProcess));
  const auto families = c.Collect();
  double acq_sum = 0;
  size_t series = 0;
  std::set<std::string> locks;
  for (const auto& f : families) {
    series += f.metric.size();
    if (f.name != "gilstat_lock_acquisitions_total") continue;
    for (const auto& m : f.metric) {
      acq_sum += m.counter.value;
      for (const auto& l : m.label)
        if (l.name == "lock") locks.insert(l.value);
    }
  }
  EXPECT_EQ(acq_sum, 16'000 * 3);  // nothing lost
  EXPECT_EQ(locks.size(), 21u);    // 20 own series + threading@other
  EXPECT_TRUE(locks.count("threading@other"));
  // The 20 that waited longest: the last addresses.
  char top[32];
  std::snprintf(top, sizeof top, "threading@0x%llx",
                static_cast<unsigned long long>(0x1000 + 15'999 * 64));
  EXPECT_TRUE(locks.count(top));
  EXPECT_LT(series, 500u);
  const std::string text = prometheus::TextSerializer().Serialize(families);
  EXPECT_NE(text.find("gilstat_lock_series_dropped_total 15980\n"), std::string::npos);
  EXPECT_LT(text.size(), 200'000u);
  // A second scrape counts nothing twice and keeps the same series.
  const std::string again = prometheus::TextSerializer().Serialize(c.Collect());
  EXPECT_NE(again.find("gilstat_lock_series_dropped_total 15980\n"), std::string::npos);
}

TEST(LockAddressLimit, ALockKeepsItsSeriesWhileItsProcessLives) {
  LockAddressLimit limit;
  auto series = [](uint64_t addr, uint64_t wait) {
    LockSeries s;
    s.labels = {"web", "threading@" + std::to_string(addr), "ebpf", ""};
    s.origin_pid = 7;
    s.origin_addr = addr;
    s.wait.sum_ns = wait;
    return s;
  };
  std::vector<LockSeries> first = {series(1, 10), series(2, 20)};
  limit.Apply(first, 1);
  EXPECT_EQ(first[0].labels.lock, "threading@other");
  EXPECT_EQ(first[1].labels.lock, "threading@2");
  // Lock 1 now waited longer, but lock 2 keeps its series and 1 stays in "other" (no series
  // moves between the two, so both stay monotonic).
  std::vector<LockSeries> second = {series(1, 1000), series(2, 21)};
  limit.Apply(second, 1);
  EXPECT_EQ(second[0].labels.lock, "threading@other");
  EXPECT_EQ(second[1].labels.lock, "threading@2");
  EXPECT_EQ(limit.folded_total(), 1u);
  // Labels without an address are left alone.
  std::vector<LockSeries> plain = {series(3, 5)};
  plain[0].labels.lock = "threading";
  limit.Apply(plain, 1);
  EXPECT_EQ(plain[0].labels.lock, "threading");
  EXPECT_TRUE(IsPerAddressLock("threading@0x10"));
  EXPECT_FALSE(IsPerAddressLock("threading@other"));
  EXPECT_FALSE(IsPerAddressLock("gil"));
}

}  // namespace
}  // namespace gilstat::metrics
