#include "cli/top_view.h"

#include <gtest/gtest.h>

namespace gilstat::cli {
namespace {

PyGilStats Gil(pid_t pid, uint64_t wait_ns, uint64_t handoffs) {
  PyGilStats s;
  s.pid = pid;
  s.wait.sum_ns = wait_ns;
  s.handoffs = handoffs;
  return s;
}

metrics::GilUtilization Sampled(pid_t pid, uint64_t held, uint64_t free) {
  metrics::GilUtilization u;
  u.pid = pid;
  u.held = held;
  u.free = free;
  return u;
}

ProcessGilStacks Stacks(pid_t pid, const char* waiter, const char* holder, uint64_t ns) {
  ProcessGilStacks p;
  p.pid = pid;
  p.pairs = {{{{{waiter, "/a.py", 1}}, false}, {{{holder, "/a.py", 2}}, false}, ns, 1}};
  return p;
}

TEST(GilByProcess, SubInterpreterGilsAddUp) {
  PyGilStats sub = Gil(7, 50, 2);
  sub.interpreter = 1;
  const auto by = GilByProcess({Gil(7, 100, 3), sub, Gil(8, 1, 1)});
  EXPECT_EQ(by.at(7).wait.sum_ns, 150u);
  EXPECT_EQ(by.at(7).handoffs, 5u);
  EXPECT_EQ(by.size(), 2u);
}

TEST(TopRows, RatesOverTheIntervalAndTheTopFunctions) {
  TopReading before, now;
  before.gil[7] = Gil(7, 1000000000, 100);
  now.gil[7] = Gil(7, 1500000000, 300);  // +0.5 s of wait, +200 handoffs in 2 s
  before.sampled[7] = Sampled(7, 10, 10);
  now.sampled[7] = Sampled(7, 40, 20);  // +30 held, +10 free: 75%
  now.gil[8] = Gil(8, 2000000000, 0);   // new: all of it in the interval
  const auto rows = TopRows(before, now, {Stacks(7, "waiter", "hog", 5)},
                            {{7, {"python3", "3.12.1"}}}, 2.0, TopSort::kWait);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].pid, 8);  // 1 s of wait per second, sorted first
  EXPECT_DOUBLE_EQ(rows[0].wait_per_s, 1.0);
  EXPECT_LT(rows[0].utilization, 0);  // not sampled
  const TopRow& r = rows[1];
  EXPECT_EQ(r.comm, "python3");
  EXPECT_EQ(r.version, "3.12.1");
  EXPECT_DOUBLE_EQ(r.wait_per_s, 0.25);
  EXPECT_DOUBLE_EQ(r.handoffs_per_s, 100);
  EXPECT_DOUBLE_EQ(r.utilization, 0.75);
  EXPECT_EQ(r.top_waiter, "waiter");
  EXPECT_EQ(r.top_holder, "hog");
  EXPECT_EQ(TopRows(before, now, {}, {}, 2.0, TopSort::kHandoffs)[0].pid, 7);
}

TEST(TopScreen, FitsTheTerminal) {
  std::vector<TopRow> rows(30);
  for (size_t i = 0; i < rows.size(); ++i) {
    rows[i].pid = static_cast<pid_t>(1000 + i);
    rows[i].comm = "a-very-long-process-name";
    rows[i].top_waiter = "SomeClass.some_rather_long_method_name";
    rows[i].top_holder = "Another.long_function_name_that_holds";
  }
  const std::string s = TopScreen(rows, std::string(200, 'h'), TopSort::kWait, 80, 24);
  size_t lines = 0;
  for (size_t at = 0, nl; (nl = s.find('\n', at)) != std::string::npos; at = nl + 1) {
    EXPECT_LE(nl - at, 80u);
    ++lines;
  }
  EXPECT_EQ(lines, 24u);
  EXPECT_NE(s.find("PID"), std::string::npos);
  EXPECT_NE(s.find("keys: w wait, u utilization, h handoffs, q quit"), std::string::npos);
  EXPECT_NE(TopScreen({}, "h", TopSort::kWait, 80, 24).find("no CPython process"),
            std::string::npos);
}

}  // namespace
}  // namespace gilstat::cli
