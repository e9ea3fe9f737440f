#include "cli/report.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace gilstat::cli {
namespace {

SemLockStats Lock(pid_t pid, uint64_t addr, uint64_t acq, uint64_t wait_ns) {
  SemLockStats l;
  l.pid = pid;
  l.addr = addr;
  l.acquisitions = acq;
  l.wait_ns = wait_ns;
  l.max_wait_ns = wait_ns;
  return l;
}

TEST(FormatLog2Hist, RowsFromFirstToLastNonEmptySlot) {
  HistogramData h;
  h.slots[0] = 1;  // 0..1 ns
  h.slots[2] = 4;  // 3..4 ns
  h.slots[3] = 8;  // 5..8 ns
  const std::string expected =
      "     nsecs               : count    distribution\n"
      "         0 -> 1          : 1        |*****                                   |\n"
      "         2 -> 2          : 0        |                                        |\n"
      "         3 -> 4          : 4        |********************                    |\n"
      "         5 -> 8          : 8        |****************************************|\n";
  EXPECT_EQ(FormatLog2Hist(h), expected);
}

TEST(FormatLog2Hist, LeadingEmptySlotsAreSkippedAndWideBoundsWidenColumns) {
  HistogramData h;
  h.slots[40] = 3;  // (2^39, 2^40] ns: about 9 to 18 minutes
  std::string s = FormatLog2Hist(h);
  EXPECT_NE(s.find("549755813889 -> 1099511627776 : 3"), std::string::npos) << s;
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 2);  // header + one row
  EXPECT_EQ(FormatLog2Hist(HistogramData{}), "");
}

TEST(FormatDuration, Units) {
  EXPECT_EQ(FormatDuration(0), "0 ns");
  EXPECT_EQ(FormatDuration(999), "999 ns");
  EXPECT_EQ(FormatDuration(12300), "12.3 us");
  EXPECT_EQ(FormatDuration(4560000), "4.56 ms");
  EXPECT_EQ(FormatDuration(1200000000), "1.200 s");
}

TEST(BuildProcessReports, SortedByTotalWaitAndFiltered) {
  std::map<pid_t, ProcessMeta> meta = {{10, {10, "a", "/bin/a", false}},
                                       {20, {20, "b", "/bin/b", true}},
                                       {30, {30, "idle", "/bin/idle", false}}};
  std::vector<SemLockStats> locks = {Lock(10, 0x100, 5, 100), Lock(10, 0x200, 50, 900),
                                     Lock(20, 0x300, 7, 5000), Lock(20, 0x400, 1, 99999)};
  auto r = BuildProcessReports(locks, meta, /*min_acquisitions=*/2);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].meta.pid, 20);  // 5000 (the lock acquired once is hidden)
  EXPECT_EQ(r[0].total_wait_ns, 5000u);
  ASSERT_EQ(r[0].locks.size(), 1u);
  EXPECT_TRUE(r[0].meta.exited);
  EXPECT_EQ(r[1].meta.pid, 10);
  EXPECT_EQ(r[1].total_wait_ns, 1000u);
  EXPECT_EQ(r[1].acquisitions, 55u);
  ASSERT_EQ(r[1].locks.size(), 2u);
  EXPECT_EQ(r[1].locks[0].addr, 0x200u);  // larger wait first
  EXPECT_EQ(r[2].meta.pid, 30);           // traced, nothing seen
  EXPECT_TRUE(r[2].locks.empty());
}

Report SampleReport() {
  Report r;
  r.duration_s = 1.0;
  r.mode = ProbeMode::kExact;
  SemLockStats l = Lock(42, 0x7f00deadbeef, 3, 7000);
  l.contended = 2;
  l.failed_tries = 1;
  l.timeouts = 1;
  l.blocked_ns = 6000;
  l.handoffs = 2;
  l.posts = 3;
  l.max_wait_ns = 4000;
  l.wait_hist.slots[10] = 1;
  l.wait_hist.slots[12] = 2;
  l.wait_hist.count = 3;
  l.wait_hist.sum_ns = 7000;
  l.handoff_latency_hist.slots[13] = 2;
  l.handoff_latency_hist.count = 2;
  l.handoff_latency_hist.sum_ns = 10000;
  std::map<pid_t, ProcessMeta> meta = {{42, {42, "py\"thon", "/usr/bin/python3", false}}};
  r.processes = BuildProcessReports({l}, meta, 0);
  r.tracker.attached = 1;
  r.tracker.attaches = 1;
  r.tracker.attach_errors[static_cast<size_t>(tracker::AttachError::kNoLibc)] = 2;
  r.health.lost_events = 4;
  return r;
}

TEST(FormatText, TableAndHistograms) {
  std::string s = FormatText(SampleReport());
  EXPECT_NE(s.find("Traced 1.0 s (exact mode): 1 process."), std::string::npos) << s;
  EXPECT_NE(s.find("PID 42  py\"thon  /usr/bin/python3"), std::string::npos) << s;
  EXPECT_NE(s.find("1 lock, 3 acquisitions, total wait 7 us"), std::string::npos) << s;
  EXPECT_NE(s.find("0x7f00deadbeef"), std::string::npos);
  EXPECT_NE(s.find("lock 0x7f00deadbeef: wait time per acquisition"), std::string::npos);
  EXPECT_NE(s.find("       513 -> 1024       : 1"), std::string::npos) << s;
  EXPECT_NE(s.find("lock 0x7f00deadbeef: handoff latency"), std::string::npos);
  EXPECT_NE(s.find("Attach failures: 2 no_libc, 0 permission, 0 vanished, 0 refused_file, 0 other, "
                   "0 libc_not_loaded, 0 no_such_process\n"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("4 probe events lost"), std::string::npos);
}

// The keys of an object, in the order written.
std::vector<std::string> Keys(const nlohmann::ordered_json& j) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : j.items()) keys.push_back(key);
  return keys;
}

using Strings = std::vector<std::string>;

TEST(FormatJson, SchemaKeysTypesAndValues) {
  const std::string s = FormatJson(SampleReport());
  ASSERT_TRUE(nlohmann::json::accept(s)) << s;
  EXPECT_EQ(s.back(), '\n');
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 1) << "one line";
  const auto j = nlohmann::ordered_json::parse(s);
  EXPECT_EQ(Keys(j), (Strings{"schema", "time_unit", "duration_s", "mode", "interrupted",
                              "processes", "tracker", "health"}));
  EXPECT_EQ(j["schema"], "gilstat.locks/2");
  EXPECT_EQ(j["time_unit"], "ns");
  EXPECT_TRUE(j["duration_s"].is_number_float());
  EXPECT_DOUBLE_EQ(j["duration_s"].get<double>(), 1.0);
  EXPECT_EQ(j["mode"], "exact");
  EXPECT_EQ(j["interrupted"], false);
  ASSERT_EQ(j["processes"].size(), 1u);
  const auto& p = j["processes"][0];
  EXPECT_EQ(Keys(p),
            (Strings{"pid", "comm", "exe", "exited", "total_wait_ns", "acquisitions", "locks"}));
  EXPECT_EQ(p["pid"], 42);
  EXPECT_EQ(p["comm"], "py\"thon");
  EXPECT_EQ(p["exe"], "/usr/bin/python3");
  EXPECT_EQ(p["exited"], false);
  EXPECT_EQ(p["total_wait_ns"], 7000);
  EXPECT_EQ(p["acquisitions"], 3);
  ASSERT_EQ(p["locks"].size(), 1u);
  const auto& l = p["locks"][0];
  EXPECT_EQ(Keys(l), (Strings{"addr", "acquisitions", "contended", "failed_tries", "timeouts",
                              "wait_ns", "max_wait_ns", "blocked_ns", "handoffs", "posts",
                              "wait_hist", "handoff_latency_hist"}));
  EXPECT_EQ(l["addr"], "0x7f00deadbeef");
  EXPECT_EQ(l["acquisitions"], 3);
  EXPECT_EQ(l["contended"], 2);
  EXPECT_EQ(l["failed_tries"], 1);
  EXPECT_EQ(l["timeouts"], 1);
  EXPECT_EQ(l["wait_ns"], 7000);
  EXPECT_EQ(l["max_wait_ns"], 4000);
  EXPECT_EQ(l["blocked_ns"], 6000);
  EXPECT_EQ(l["handoffs"], 2);
  EXPECT_EQ(l["posts"], 3);
  EXPECT_EQ(
      l["wait_hist"].dump(),
      R"({"count":3,"sum_ns":7000,"buckets":[{"le_ns":1024,"count":1},{"le_ns":4096,"count":2}]})");
  EXPECT_EQ(l["handoff_latency_hist"].dump(),
            R"({"count":2,"sum_ns":10000,"buckets":[{"le_ns":8192,"count":2}]})");
  EXPECT_EQ(Keys(j["tracker"]),
            (Strings{"attached", "attaches", "exited_detaches", "fork_events", "rename_events",
                     "exec_events", "exit_events", "lost_events", "attach_errors"}));
  EXPECT_EQ(j["tracker"]["attached"], 1);
  EXPECT_EQ(j["tracker"]["attach_errors"].dump(),
            R"({"no_libc":2,"permission":0,"vanished":0,"refused_file":0,"other":0,)"
            R"("libc_not_loaded":0,"no_such_process":0})");
  EXPECT_EQ(j["health"].dump(),
            R"({"map_full_drops":0,"lost_events":4,"locks_full":0,"threads_full":0,)"
            R"("orphan_returns":0,"read_errors":0})");
}

TEST(FormatJson, DurationToTheMillisecond) {
  Report r = SampleReport();
  r.duration_s = 2.50049;
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(FormatJson(r))["duration_s"].get<double>(), 2.5);
  r.duration_s = 0.0504;
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(FormatJson(r))["duration_s"].get<double>(), 0.05);
}

TEST(FormatJson, ControlCharactersAndQuotesAreEscaped) {
  Report r = SampleReport();
  r.processes[0].meta.comm = "a\"b\\c\nd\x01";
  const std::string s = FormatJson(r);
  EXPECT_NE(s.find(R"("comm":"a\"b\\c\nd\u0001")"), std::string::npos) << s;
  EXPECT_EQ(nlohmann::json::parse(s)["processes"][0]["comm"], "a\"b\\c\nd\x01");
}

// comm and exe are bytes, not necessarily UTF-8: the output stays valid JSON.
TEST(FormatJson, InvalidUtf8BecomesTheReplacementCharacter) {
  Report r = SampleReport();
  r.processes[0].meta.comm = "py\xff\xfethon";
  r.processes[0].meta.exe = "/opt/\xff";
  std::string s;
  ASSERT_NO_THROW(s = FormatJson(r));
  ASSERT_TRUE(nlohmann::json::accept(s)) << s;
  const auto j = nlohmann::json::parse(s);
  EXPECT_EQ(j["processes"][0]["comm"], "py\xEF\xBF\xBD\xEF\xBF\xBDthon");  // U+FFFD twice
  EXPECT_EQ(j["processes"][0]["exe"], "/opt/\xEF\xBF\xBD");
}

}  // namespace
}  // namespace gilstat::cli
