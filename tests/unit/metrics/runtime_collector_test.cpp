#include "metrics/runtime_collector.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <thread>

namespace gilstat::metrics {
namespace {

double Value(const std::vector<prometheus::MetricFamily>& fams, const std::string& name,
             const std::string& lock = "gil") {
  for (const auto& f : fams) {
    if (f.name != name) continue;
    for (const auto& m : f.metric) {
      bool match = true;
      for (const auto& l : m.label) {
        if (l.name == "lock" && l.value != lock) match = false;
      }
      if (match) return f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
    }
  }
  return -1;
}

TEST(RuntimeCollector, ExportsTheRuntimeCountersOfAClassicRun) {
  auto rt = rt::Runtime::Create({});
  ASSERT_TRUE(rt.ok());
  rt::Runtime& r = **rt;
  ASSERT_TRUE(r.SetCheckInterval(10).ok());
  auto work = [&r](const char* name) {
    auto ts = r.AttachThread(name);
    ASSERT_TRUE(ts.ok());
    for (int i = 0; i < 1000; ++i) r.Tick(**ts);
    r.DetachThread(*ts);
  };
  std::thread a(work, "a"), b(work, "b");
  a.join();
  b.join();

  RuntimeCollector c([&r] { return r.TakeSnapshot(); }, "gilstatd", "none");
  const auto fams = c.Collect();
  const rt::Snapshot snap = r.TakeSnapshot();
  EXPECT_EQ(Value(fams, "gilstat_runtime_ticks_total"), 2000);
  EXPECT_EQ(Value(fams, "gilstat_lock_acquisitions_total"),
            static_cast<double>(snap.gil.acquisitions));
  EXPECT_GE(snap.gil.acquisitions, 2u + 2 * (1000 / 11));
  EXPECT_EQ(Value(fams, "gilstat_runtime_check_interval_ticks"), 10);
  const std::string text = prometheus::TextSerializer().Serialize(fams);
  EXPECT_NE(text.find("gilstat_runtime_info{policy=\"classic\",process=\"gilstatd\","
                      "workload=\"none\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("gilstat_gil_switches_total{lock=\"gil\",process=\"gilstatd\","
                      "source=\"runtime\",reason=\"forced\"}"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("gilstat_gil_hold_seconds_bucket"), std::string::npos);
}

}  // namespace
}  // namespace gilstat::metrics
