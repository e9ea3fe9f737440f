// pprof profiles of attributed GIL waits: profile.proto (github.com/google/pprof, proto/
// profile.proto) written in the protocol buffers' wire format by hand (a few varints and
// length-delimited fields: no generated code or protobuf runtime needed), gzipped with zlib.
#include <zlib.h>

#include <map>
#include <tuple>

#include "profile/gil_profile.h"

namespace gilstat::profile {
namespace {

// Field numbers of profile.proto.
enum ProfileField {
  kSampleType = 1,
  kSample = 2,
  kLocation = 4,
  kFunction = 5,
  kStringTable = 6,
  kDurationNanos = 10,
  kPeriodType = 11,
  kPeriod = 12,
  kDefaultSampleType = 14,
};
enum ValueTypeField { kVtType = 1, kVtUnit = 2 };
enum SampleField { kSampleLocationId = 1, kSampleValue = 2, kSampleLabel = 3 };
enum LabelField { kLabelKey = 1, kLabelStr = 2, kLabelNum = 3 };
enum LocationField { kLocId = 1, kLocLine = 4 };
enum LineField { kLineFunctionId = 1, kLineLine = 2 };
enum FunctionField { kFnId = 1, kFnName = 2, kFnSystemName = 3, kFnFilename = 4, kFnStartLine = 5 };

// A protocol buffers message being written.
class Message {
 public:
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      bytes_ += static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    bytes_ += static_cast<char>(v);
  }
  void Tag(int field, int wire_type) { Varint((static_cast<uint64_t>(field) << 3) | wire_type); }
  void Int(int field, uint64_t v) {  // int64/uint64 (wire type 0); 0 is the default: left out
    if (v == 0) return;
    Tag(field, 0);
    Varint(v);
  }
  void Bytes(int field, const std::string& b) {  // string, bytes, message (wire type 2)
    Tag(field, 2);
    Varint(b.size());
    bytes_ += b;
  }
  void Packed(int field, const std::vector<uint64_t>& vs) {
    Message m;
    for (uint64_t v : vs) m.Varint(v);
    Bytes(field, m.bytes_);
  }
  const std::string& str() const { return bytes_; }

 private:
  std::string bytes_;
};

// The string table, functions and locations of a profile, each entry once.
class Tables {
 public:
  Tables() { Str(""); }  // string_table[0] is ""
  uint64_t Str(const std::string& s) {
    auto [it, added] = strings_.emplace(s, order_.size());
    if (added) order_.push_back(s);
    return it->second;
  }
  // The location of frame `f`: its function (its code object, starting at its first line) at
  // its current line.
  uint64_t Location(const PyFrameName& f) {
    const auto fkey = std::make_tuple(f.function, f.file, f.first_line);
    auto [fit, fadded] = functions_.emplace(fkey, functions_.size() + 1);
    if (fadded) {
      Message fn;
      fn.Int(kFnId, fit->second);
      fn.Int(kFnName, Str(f.function));
      fn.Int(kFnSystemName, Str(f.function));
      fn.Int(kFnFilename, Str(f.file));
      fn.Int(kFnStartLine, static_cast<uint64_t>(f.first_line));
      function_msgs_.push_back(fn.str());
    }
    auto [lit, ladded] = locations_.emplace(std::pair(fit->second, f.line), locations_.size() + 1);
    if (ladded) {
      Message line;
      line.Int(kLineFunctionId, fit->second);
      line.Int(kLineLine, static_cast<uint64_t>(f.line));
      Message loc;
      loc.Int(kLocId, lit->second);
      loc.Bytes(kLocLine, line.str());
      location_msgs_.push_back(loc.str());
    }
    return lit->second;
  }
  void WriteTo(Message& profile) const {
    for (const std::string& l : location_msgs_) profile.Bytes(kLocation, l);
    for (const std::string& f : function_msgs_) profile.Bytes(kFunction, f);
    for (const std::string& s : order_) profile.Bytes(kStringTable, s);
  }

 private:
  std::map<std::string, uint64_t> strings_;
  std::vector<std::string> order_;
  std::map<std::tuple<std::string, std::string, int>, uint64_t> functions_;
  std::map<std::pair<uint64_t, int>, uint64_t> locations_;  // (function id, line) -> location id
  std::vector<std::string> function_msgs_, location_msgs_;
};

std::string ValueType(Tables& t, const char* type, const char* unit) {
  Message m;
  m.Int(kVtType, t.Str(type));
  m.Int(kVtUnit, t.Str(unit));
  return m.str();
}

std::string Label(Tables& t, const char* key, const std::string* str, uint64_t num) {
  Message m;
  m.Int(kLabelKey, t.Str(key));
  if (str) m.Int(kLabelStr, t.Str(*str));
  m.Int(kLabelNum, num);
  return m.str();
}

std::string Sample(Tables& t, const ProcessGilStacks& p, const StackTotal& s, WaitLock lock) {
  std::vector<uint64_t> locations;
  for (const PyFrameName& f : s.stack.frames) locations.push_back(t.Location(f));
  if (s.stack.truncated) locations.push_back(t.Location({"[truncated]", "", 0}));
  if (locations.empty()) locations.push_back(t.Location({"[no Python frame]", "", 0}));
  Message m;
  m.Packed(kSampleLocationId, locations);
  m.Packed(kSampleValue, {s.wait_ns, s.count});
  m.Bytes(kSampleLabel, Label(t, "pid", nullptr, static_cast<uint64_t>(p.pid)));
  m.Bytes(kSampleLabel, Label(t, "comm", &p.comm, 0));
  const std::string lock_name = WaitLockName(lock);
  m.Bytes(kSampleLabel, Label(t, "lock", &lock_name, 0));
  return m.str();
}

std::string Gzip(const std::string& data) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return {};
  }
  std::string out(deflateBound(&z, data.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return rc == Z_STREAM_END ? out : std::string();
}

}  // namespace

const char* PprofSampleType(WaitLock lock) {
  return lock == WaitLock::kGil ? "gil_wait" : "lock_wait";
}

std::string Pprof(const std::vector<ProcessGilStacks>& procs, View view, uint64_t duration_ns,
                  WaitLock lock) {
  Tables t;
  Message profile;
  const char* type = PprofSampleType(lock);
  profile.Bytes(kSampleType, ValueType(t, type, "nanoseconds"));
  profile.Bytes(kSampleType, ValueType(t, "count", "count"));
  for (const ProcessGilStacks& p : procs) {
    for (const StackTotal& s : StacksBy(p, view, lock)) {
      profile.Bytes(kSample, Sample(t, p, s, lock));
    }
  }
  profile.Int(kDurationNanos, duration_ns);
  profile.Bytes(kPeriodType, ValueType(t, type, "nanoseconds"));
  profile.Int(kPeriod, 1);
  profile.Int(kDefaultSampleType, t.Str(type));
  t.WriteTo(profile);
  return Gzip(profile.str());
}

}  // namespace gilstat::profile
