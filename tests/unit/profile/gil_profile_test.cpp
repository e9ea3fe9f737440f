#include "profile/gil_profile.h"

#include <zlib.h>

#include <map>
#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

namespace gilstat::profile {
namespace {

// Frame `fn` at `line` of a code object starting at `first` (the same line by default).
PyFrameName F(const char* fn, int line, int first = 0) {
  return {fn, "/srv/app.py", line, first ? first : line};
}

// A process where `waiter` (called from <module> -> serve) waited 3 ms behind `hog` twice and
// 1 ms behind `flush` once, and `other` 0.5 ms behind `hog`.
ProcessGilStacks Sample() {
  ProcessGilStacks p;
  p.pid = 42;
  p.comm = "python3";
  p.version = "3.12.1";
  const PyStackNames waiter{{F("waiter", 20), F("serve", 10), F("<module>", 1)}, false};
  const PyStackNames other{{F("other", 30), F("<module>", 1)}, false};
  const PyStackNames hog{{F("hog", 5), F("<module>", 1)}, false};
  const PyStackNames flush{{F("Buffer.flush", 40)}, true};
  p.pairs = {{waiter, hog, 3000000, 2}, {waiter, flush, 1000000, 1}, {other, hog, 500000, 1}};
  p.total_wait_ns = 5000000;  // 0.5 ms were not attributed
  return p;
}

TEST(StacksBy, WaitersSummedOverTheirHoldersLargestFirst) {
  const auto w = StacksBy(Sample(), View::kWaiters);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].stack.frames.front().function, "waiter");
  EXPECT_EQ(w[0].wait_ns, 4000000u);
  EXPECT_EQ(w[0].count, 3u);
  EXPECT_EQ(w[1].stack.frames.front().function, "other");
}

TEST(StacksBy, HoldersAreBlamedForTheWaitsTheyCaused) {
  const auto h = StacksBy(Sample(), View::kHolders);
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].stack.frames.front().function, "hog");
  EXPECT_EQ(h[0].wait_ns, 3500000u);
  EXPECT_EQ(h[1].stack.frames.front().function, "Buffer.flush");
  EXPECT_TRUE(h[1].stack.truncated);
}

TEST(Folded, OneLinePerStackOutermostFirstInMicroseconds) {
  EXPECT_EQ(Folded({Sample()}, View::kWaiters),
            "python3 (pid 42);<module> (/srv/app.py:1);serve (/srv/app.py:10);waiter "
            "(/srv/app.py:20) 4000\n"
            "python3 (pid 42);<module> (/srv/app.py:1);other (/srv/app.py:30) 500\n");
  EXPECT_EQ(Folded({Sample()}, View::kHolders),
            "python3 (pid 42);<module> (/srv/app.py:1);hog (/srv/app.py:5) 3500\n"
            "python3 (pid 42);[truncated];Buffer.flush (/srv/app.py:40) 1000\n");
}

TEST(Folded, SeparatorsInNamesCannotSplitAStack) {
  ProcessGilStacks p = Sample();
  p.comm = "a;b";
  p.pairs = {{{{{"f;g\nh", "x;y.py", 3}}, false}, {}, 2000, 1}};
  EXPECT_EQ(Folded({p}, View::kWaiters), "a:b (pid 42);f:g h (x:y.py:3) 2\n");
  EXPECT_EQ(Folded({p}, View::kHolders), "a:b (pid 42);[no Python frame] 2\n");
}

TEST(Table, LeafPlaceWaitCountAndShareOfAllGilWait) {
  const std::string t = Table({Sample()}, 10);
  EXPECT_NE(t.find("python3 (pid 42) CPython 3.12.1: GIL wait 5 ms, 90.0% of it attributed"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("waiter"), std::string::npos);
  EXPECT_NE(t.find("/srv/app.py:20"), std::string::npos);
  EXPECT_NE(t.find("80.0%"), std::string::npos) << t;  // waiter: 4 of 5 ms
  EXPECT_NE(t.find("70.0%"), std::string::npos) << t;  // hog blamed for 3.5 of 5 ms
  EXPECT_LT(t.find("waiting stacks"), t.find("blamed holders"));
  EXPECT_EQ(Table({}, 10), "no contended GIL wait seen\n");
}

TEST(Json, ReadBack) {
  const auto doc = nlohmann::json::parse(Json({Sample()}, 2.5));
  EXPECT_EQ(doc["schema"], "gilstat.stacks/1");
  EXPECT_EQ(doc["duration_s"], 2.5);
  const auto& p = doc["processes"][0];
  EXPECT_EQ(p["pid"], 42);
  EXPECT_EQ(p["total_wait_ns"], 5000000);
  EXPECT_EQ(p["pairs"].size(), 3u);
  EXPECT_EQ(p["pairs"][0]["waiter"]["frames"][0]["function"], "waiter");
  EXPECT_EQ(p["pairs"][0]["holder"]["frames"][0]["line"], 5);
  EXPECT_EQ(p["pairs"][1]["holder"]["truncated"], true);
}

// Sample() with `waiter` also waiting 2 ms for a threading lock, of 2.5 ms measured.
ProcessGilStacks WithLockWaits() {
  ProcessGilStacks p = Sample();
  p.pairs.push_back({p.pairs[0].waiter, {}, 2000000, 4, WaitLock::kThreading});
  p.threading_wait_ns = 2500000;
  return p;
}

TEST(LockDimension, EachLockHasItsOwnStacksAndNoThreadingBlame) {
  const ProcessGilStacks p = WithLockWaits();
  const auto gil = StacksBy(p, View::kWaiters);
  ASSERT_EQ(gil.size(), 2u);
  EXPECT_EQ(gil[0].wait_ns, 4000000u);  // the GIL's waits only
  const auto lock = StacksBy(p, View::kWaiters, WaitLock::kThreading);
  ASSERT_EQ(lock.size(), 1u);
  EXPECT_EQ(lock[0].wait_ns, 2000000u);
  EXPECT_EQ(lock[0].count, 4u);
  EXPECT_TRUE(StacksBy(p, View::kHolders, WaitLock::kThreading).empty());
  EXPECT_EQ(Folded({p}, View::kWaiters, WaitLock::kThreading),
            "python3 (pid 42);<module> (/srv/app.py:1);serve (/srv/app.py:10);waiter "
            "(/srv/app.py:20) 2000\n");
  EXPECT_EQ(Folded({p}, View::kWaiters), Folded({Sample()}, View::kWaiters));
}

TEST(LockDimension, TableHasAThreadingSectionOnlyWhenALockWasWaitedFor) {
  const std::string t = Table({WithLockWaits()}, 10);
  const size_t at = t.find("  threading-lock wait 2.5 ms, 80.0% of it attributed to stacks");
  ASSERT_NE(at, std::string::npos) << t;
  EXPECT_GT(at, t.find("blamed holders"));
  EXPECT_NE(t.find("80.0%", at + 50), std::string::npos) << t;  // waiter: 2 of 2.5 ms
  EXPECT_EQ(t.find("threading-lock"), t.rfind("threading-lock"));
  EXPECT_EQ(Table({Sample()}, 10).find("threading-lock"), std::string::npos);
}

TEST(LockDimension, JsonSaysWhichLock) {
  const auto doc = nlohmann::json::parse(Json({WithLockWaits()}, 1.0));
  const auto& p = doc["processes"][0];
  EXPECT_EQ(p["threading_wait_ns"], 2500000);
  EXPECT_EQ(p["pairs"][0]["lock"], "gil");
  EXPECT_EQ(p["pairs"][3]["lock"], "threading");
  EXPECT_EQ(p["pairs"][3]["holder"]["frames"].size(), 0u);
}

TEST(Json, NamesThatAreNotUtf8AreReplacedNotFatal) {
  ProcessGilStacks p = Sample();
  p.comm = "bad\xff\xfe";                                 // a comm is bytes
  p.pairs[0].waiter.frames[0].function = "\xed\xa0\x80";  // a lone surrogate, as read
  const auto doc = nlohmann::json::parse(Json({p}, 1.0));
  EXPECT_EQ(doc["processes"][0]["comm"], "bad\xef\xbf\xbd\xef\xbf\xbd");
}

// --- pprof, read back --------------------------------------------------------------------------

std::string Gunzip(const std::string& gz) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
  std::string out(1 << 20, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  inflateEnd(&z);
  return out;
}

// The fields of one protocol buffers message: number -> values (varints as numbers, length-
// delimited fields as their bytes).
struct Fields {
  std::multimap<int, uint64_t> ints;
  std::multimap<int, std::string> bytes;
};
uint64_t Varint(const std::string& b, size_t& i) {
  uint64_t v = 0;
  for (int shift = 0; i < b.size(); shift += 7) {
    const uint8_t c = static_cast<uint8_t>(b[i++]);
    v |= uint64_t{c & 0x7fu} << shift;
    if (!(c & 0x80)) break;
  }
  return v;
}
Fields Parse(const std::string& b) {
  Fields f;
  for (size_t i = 0; i < b.size();) {
    const uint64_t tag = Varint(b, i);
    if ((tag & 7) == 0) {
      f.ints.emplace(static_cast<int>(tag >> 3), Varint(b, i));
    } else {
      const uint64_t n = Varint(b, i);
      f.bytes.emplace(static_cast<int>(tag >> 3), b.substr(i, n));
      i += n;
    }
  }
  return f;
}
std::vector<uint64_t> Packed(const std::string& b) {
  std::vector<uint64_t> out;
  for (size_t i = 0; i < b.size();) out.push_back(Varint(b, i));
  return out;
}

TEST(Pprof, SamplesLocationsFunctionsAndStrings) {
  const Fields prof = Parse(Gunzip(Pprof({Sample()}, View::kWaiters, 2000000000)));
  std::vector<std::string> strings;
  for (auto [it, end] = prof.bytes.equal_range(6); it != end; ++it) strings.push_back(it->second);
  ASSERT_FALSE(strings.empty());
  EXPECT_EQ(strings[0], "");
  // Sample types: gil_wait/nanoseconds, count/count.
  std::vector<std::string> types;
  for (auto [it, end] = prof.bytes.equal_range(1); it != end; ++it) {
    const Fields vt = Parse(it->second);
    types.push_back(strings[vt.ints.find(1)->second] + "/" + strings[vt.ints.find(2)->second]);
  }
  EXPECT_EQ(types, (std::vector<std::string>{"gil_wait/nanoseconds", "count/count"}));
  EXPECT_EQ(prof.ints.find(10)->second, 2000000000u);  // duration_nanos
  // Functions by id -> name.
  std::map<uint64_t, std::string> fn;
  for (auto [it, end] = prof.bytes.equal_range(5); it != end; ++it) {
    const Fields f = Parse(it->second);
    fn[f.ints.find(1)->second] = strings[f.ints.find(2)->second];
  }
  std::map<uint64_t, uint64_t> loc_fn;  // location id -> function id
  for (auto [it, end] = prof.bytes.equal_range(4); it != end; ++it) {
    const Fields l = Parse(it->second);
    loc_fn[l.ints.find(1)->second] = Parse(l.bytes.find(4)->second).ints.find(1)->second;
  }
  // Samples: the leaf first, values (wait, count).
  std::vector<std::string> got;
  for (auto [it, end] = prof.bytes.equal_range(2); it != end; ++it) {
    const Fields s = Parse(it->second);
    std::string stack;
    for (uint64_t id : Packed(s.bytes.find(1)->second)) stack += fn[loc_fn[id]] + ";";
    const auto v = Packed(s.bytes.find(2)->second);
    got.push_back(stack + std::to_string(v[0]) + "/" + std::to_string(v[1]));
  }
  EXPECT_EQ(got, (std::vector<std::string>{"waiter;serve;<module>;4000000/3",
                                           "other;<module>;500000/1"}));
}

TEST(Pprof, ThreadingLockWaitsAreALockWaitProfileLabelledWithTheirLock) {
  const Fields prof =
      Parse(Gunzip(Pprof({WithLockWaits()}, View::kWaiters, 1000000000, WaitLock::kThreading)));
  std::vector<std::string> strings;
  for (auto [it, end] = prof.bytes.equal_range(6); it != end; ++it) strings.push_back(it->second);
  const Fields first_type = Parse(prof.bytes.find(1)->second);
  EXPECT_EQ(strings[first_type.ints.find(1)->second], "lock_wait");
  EXPECT_EQ(strings[prof.ints.find(14)->second], "lock_wait");  // default_sample_type
  ASSERT_EQ(prof.bytes.count(2), 1u);  // one sample: waiter's threading-lock wait
  const Fields sample = Parse(prof.bytes.find(2)->second);
  EXPECT_EQ(Packed(sample.bytes.find(2)->second), (std::vector<uint64_t>{2000000, 4}));
  std::map<std::string, std::string> labels;
  for (auto [it, end] = sample.bytes.equal_range(3); it != end; ++it) {
    const Fields l = Parse(it->second);
    if (auto v = l.ints.find(2); v != l.ints.end()) {
      labels[strings[l.ints.find(1)->second]] = strings[v->second];
    }
  }
  EXPECT_EQ(labels["lock"], "threading");
  EXPECT_EQ(labels["comm"], "python3");
}

TEST(Pprof, OneFunctionPerCodeObjectOneLocationPerLine) {
  // `waiter` (first line 20) waited at its lines 22 and 25: one function starting at 20, two
  // locations at 22 and 25.
  ProcessGilStacks p;
  p.pid = 42;
  const PyStackNames at22{{F("waiter", 22, 20), F("<module>", 3, 1)}, false};
  const PyStackNames at25{{F("waiter", 25, 20), F("<module>", 3, 1)}, false};
  p.pairs = {{at22, {}, 2000, 1}, {at25, {}, 1000, 1}};
  const Fields prof = Parse(Gunzip(Pprof({p}, View::kWaiters, 1000000000)));
  std::vector<std::string> strings;
  for (auto [it, end] = prof.bytes.equal_range(6); it != end; ++it) strings.push_back(it->second);
  std::map<uint64_t, std::string> fn;  // function id -> "name@start_line"
  for (auto [it, end] = prof.bytes.equal_range(5); it != end; ++it) {
    const Fields f = Parse(it->second);
    fn[f.ints.find(1)->second] =
        strings[f.ints.find(2)->second] + "@" + std::to_string(f.ints.find(5)->second);
  }
  EXPECT_EQ(fn.size(), 2u);
  std::map<uint64_t, std::string> loc;  // location id -> "function:line"
  for (auto [it, end] = prof.bytes.equal_range(4); it != end; ++it) {
    const Fields l = Parse(it->second);
    const Fields line = Parse(l.bytes.find(4)->second);
    loc[l.ints.find(1)->second] =
        fn[line.ints.find(1)->second] + ":" + std::to_string(line.ints.find(2)->second);
  }
  std::vector<std::string> got;
  for (auto [it, end] = prof.bytes.equal_range(2); it != end; ++it) {
    const Fields s = Parse(it->second);
    std::string stack;
    for (uint64_t id : Packed(s.bytes.find(1)->second)) stack += loc[id] + ";";
    got.push_back(stack);
  }
  EXPECT_EQ(got,
            (std::vector<std::string>{"waiter@20:22;<module>@1:3;", "waiter@20:25;<module>@1:3;"}));
}

}  // namespace
}  // namespace gilstat::profile
