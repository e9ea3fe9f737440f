#include "python/py_frames.h"

#include <algorithm>
#include <cstring>
#include <iterator>

#include "python/remote_memory.h"

namespace gilstat::python {
namespace {

// Produced by tools/gen_frame_layout.sh from the internal headers of CPython 3.11.7, 3.12.1,
// 3.13.0 (pyenv), 3.11.2 (Debian libpython3.11-dev, identical to 3.11.7), 3.14.10 and 3.15.2
// (Debian sid libpython3.14-dev/3.15-dev, -D_Py_JIT -D_Py_TIER2=3; 3.14's debug build has the
// same offsets): x86-64, default builds. From 3.13 on, the interpreter's own _Py_DebugOffsets
// (interpreter_frame.instr_ptr, code_object.co_code_adaptive, code_object.linetable, ...) are
// the same offsetof values.
constexpr FrameLayout kTable[] = {
    {11, 16, 8, 160, 16, 56, 8, 48, 32, 69, 255, 56, 112, 128, 72, 48, 72, 184, 136, 32},
    {12, 72, 8, 144, 16, 56, 0, 8, 0, 70, 3, 56, 112, 128, 68, 40, 56, 192, 136, 32},
    {13, 7344, 8, 160, 16, -1, 72, 8, 0, 70, 3, 56, 112, 128, 68, 40, 56, 200, 136, 32},
    {14, 7344, 8, 160, 16, -1, 72, 8, 0, 74, 3, 56, 112, 128, 68, 40, 56, 208, 136, 32},
    {15, 7336, 8, 184, 16, -1, 72, 8, 0, 74, 3, 56, 112, 128, 68, 40, 56, 208, 136, 32},
};

// PyObject: ob_refcnt, ob_type. PyASCIIObject (3.11 .. 3.15, default builds): then length, hash,
// state (interned:2, kind:3, compact:1, ascii:1, ...).
constexpr uint32_t kObType = 8, kStrLength = 16, kStrState = 32;
// 3.14+: f_executable is a _PyStackRef whose low bit tags a deferred reference; objects are
// 8-byte aligned, so clearing the low 3 bits gives the object in every version.
constexpr uint64_t kRefTagMask = 7;
// PyVarObject.ob_size: a bytes object's length.
constexpr uint32_t kVarSize = 16;
// Frames are walked at most this far beyond the depth asked for (hidden entry frames are
// skipped; a chain torn by a concurrent change could loop).
constexpr size_t kHiddenFrameSlack = 64;

template <typename T>
T At(const uint8_t* bytes, uint32_t off) {
  T v;
  std::memcpy(&v, bytes + off, sizeof(v));
  return v;
}

// Appends code point `cp` to `out` as UTF-8.
void AppendUtf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

// The innermost frame of thread state `tstate` (0: none).
Result<uint64_t> InnermostFrame(pid_t pid, uint64_t tstate, const FrameLayout& l) {
  uint64_t holder = tstate;
  if (l.cframe >= 0) {
    auto cframe = ReadU64(pid, tstate + static_cast<uint32_t>(l.cframe));
    if (!cframe) return cframe.error();
    if (*cframe == 0) return uint64_t{0};
    holder = *cframe;
  }
  return ReadU64(pid, holder + l.current_frame);
}

// A location table's unsigned varint at `t[i]` (6 bits a byte, low first; 0x40: more follow).
std::optional<uint32_t> Varint(std::span<const uint8_t> t, size_t& i) {
  uint32_t v = 0;
  for (int shift = 0; i < t.size() && shift < 32; shift += 6) {
    const uint8_t b = t[i++];
    v |= static_cast<uint32_t>(b & 0x3f) << shift;
    if (!(b & 0x40)) return v;
  }
  return std::nullopt;
}

// The change of line an entry of code `code` makes, its operand bytes from `t[i]` on.
std::optional<int> LineDelta(std::span<const uint8_t> t, size_t i, int code) {
  if (code == 13 || code == 14) {  // no columns / long form: a signed varint first
    auto u = Varint(t, i);
    if (!u) return std::nullopt;
    return (*u & 1) ? -static_cast<int>(*u >> 1) : static_cast<int>(*u >> 1);
  }
  if (code >= 10 && code <= 12) return code - 10;  // one-line forms: the next line or two
  return 0;  // short forms (0 .. 9): the same line; 15: no location, the line is kept
}

}  // namespace

// Each entry: a first byte 1CCCCLLL (code C, L + 1 code units) and operands whose bytes all have
// the high bit clear (codeobject.c's location table, Objects/locations.md).
std::optional<int> LineOfCodeUnit(std::span<const uint8_t> t, int first_line, int64_t unit) {
  if (unit < 0) return std::nullopt;
  int line = first_line;
  int64_t start = 0;
  size_t i = 0;
  while (i < t.size()) {
    const uint8_t head = t[i++];
    if (!(head & 0x80)) return std::nullopt;  // not the start of an entry
    const int code = (head >> 3) & 15;
    const int64_t units = (head & 7) + 1;
    auto delta = LineDelta(t, i, code);
    if (!delta) return std::nullopt;
    line += *delta;
    if (unit < start + units) {
      if (code == 15) return std::nullopt;
      return line;
    }
    start += units;
    while (i < t.size() && !(t[i] & 0x80)) ++i;  // the operands
  }
  return std::nullopt;
}

std::optional<FrameLayout> FrameLayoutFor(int major, int minor) {
  if (major != 3) return std::nullopt;
  for (const FrameLayout& l : kTable) {
    if (l.minor == minor) return l;
  }
  return std::nullopt;
}

Result<PyStack> ReadStack(pid_t pid, uint64_t tstate, const FrameLayout& l, size_t max_depth) {
  auto frame = InnermostFrame(pid, tstate, l);
  if (!frame) return frame.error();
  PyStack stack;
  // One read per frame covers every field used.
  const uint32_t span = std::max({l.code, l.previous, l.instr}) + 8;
  std::vector<uint8_t> bytes(std::max<uint32_t>(span, l.owner + 1));
  size_t walked = 0;
  for (uint64_t f = *frame; f != 0; ++walked) {
    if (stack.frames.size() == max_depth || walked == max_depth + kHiddenFrameSlack) {
      stack.truncated = true;
      break;
    }
    if (Status s = ReadRemote(pid, {{f, bytes.size()}}, bytes.data()); !s) return s.error();
    if (bytes[l.owner] < l.first_hidden_owner) {
      stack.frames.push_back(
          {At<uint64_t>(bytes.data(), l.code) & ~kRefTagMask, At<uint64_t>(bytes.data(), l.instr)});
    }
    f = At<uint64_t>(bytes.data(), l.previous);
  }
  return stack;
}

Result<uint64_t> FindThreadState(pid_t pid, uint64_t interp, pid_t tid, const FrameLayout& l,
                                 size_t max_threads) {
  auto t = ReadU64(pid, interp + l.threads_head);
  if (!t) return t.error();
  for (size_t i = 0; i < max_threads && *t != 0; ++i) {
    auto id = ReadU64(pid, *t + l.native_thread_id);
    if (!id) return id.error();
    if (*id == static_cast<uint64_t>(tid)) return *t;
    t = ReadU64(pid, *t + l.tstate_next);
    if (!t) return t.error();
  }
  return MakeError(ErrorCode::kNotFound,
                   "thread " + std::to_string(tid) + " is not among the first " +
                       std::to_string(max_threads) + " threads of its interpreter");
}

Result<std::string> ReadPyString(pid_t pid, uint64_t obj, const FrameLayout& l, size_t max_bytes) {
  uint8_t head[kStrState + 4];
  if (Status s = ReadRemote(pid, {{obj, sizeof(head)}}, head); !s) return s.error();
  const int64_t length = At<int64_t>(head, kStrLength);
  const uint32_t state = At<uint32_t>(head, kStrState);
  const uint32_t kind = (state >> 2) & 7, compact = (state >> 5) & 1, ascii = (state >> 6) & 1;
  if (!compact || length < 0 || (kind != 1 && kind != 2 && kind != 4)) {
    return MakeError(ErrorCode::kUnavailable, "not a compact str object");
  }
  const size_t chars = std::min<size_t>(static_cast<size_t>(length), max_bytes);
  std::vector<uint8_t> data(chars * kind);
  if (!data.empty()) {
    const uint64_t text = obj + (ascii ? l.ascii_size : l.compact_size);
    if (Status s = ReadRemote(pid, {{text, data.size()}}, data.data()); !s) return s.error();
  }
  std::string out;
  for (size_t i = 0; i < chars && out.size() < max_bytes; ++i) {
    const uint32_t cp = kind == 1   ? data[i]
                        : kind == 2 ? At<uint16_t>(data.data(), static_cast<uint32_t>(2 * i))
                                    : At<uint32_t>(data.data(), static_cast<uint32_t>(4 * i));
    AppendUtf8(cp, out);
  }
  return out;
}

CodeNames::CodeNames(pid_t pid, const FrameLayout& layout, uint64_t code_type, size_t capacity)
    : pid_(pid), layout_(layout), code_type_(code_type), capacity_(std::max<size_t>(capacity, 1)) {}

Result<CodeNames::Identity> CodeNames::ReadIdentity(uint64_t code) const {
  Identity id;
  uint8_t buf[36];
  if (Status s = ReadRemote(pid_,
                            {{code + kObType, 8},
                             {code + layout_.co_filename, 8},
                             {code + layout_.co_qualname, 8},
                             {code + layout_.co_linetable, 8},
                             {code + layout_.co_firstlineno, 4}},
                            buf);
      !s) {
    return s.error();
  }
  id.type = At<uint64_t>(buf, 0);
  id.filename = At<uint64_t>(buf, 8);
  id.qualname = At<uint64_t>(buf, 16);
  id.linetable = At<uint64_t>(buf, 24);
  id.first_line = At<int32_t>(buf, 32);
  return id;
}

std::vector<uint8_t> CodeNames::ReadLinetable(uint64_t bytes) const {
  auto size = ReadU64(pid_, bytes + kVarSize);
  if (!size || *size == 0 || *size > kMaxLinetable) return {};
  std::vector<uint8_t> t(*size);
  if (!ReadRemote(pid_, {{bytes + layout_.bytes_sval, t.size()}}, t.data())) return {};
  return t;
}

CodeName CodeNames::WithLine(Entry& e, uint32_t instr) {
  CodeName n = e.name;
  n.line = n.first_line;
  // The instruction pointer is in the bytecode, at the start of a code unit; 3.11 and 3.12 point
  // one unit before the first while a frame has not started (no line yet).
  if (instr == kNoInstr || instr < layout_.co_code_adaptive ||
      (instr - layout_.co_code_adaptive) % 2 != 0 || e.linetable.empty()) {
    return n;
  }
  auto it = e.lines.find(instr);
  if (it == e.lines.end()) {
    if (e.lines.size() >= kMaxLinesPerCode) e.lines.clear();
    const auto line =
        LineOfCodeUnit(e.linetable, n.first_line, (instr - layout_.co_code_adaptive) / 2);
    it = e.lines.emplace(instr, line.value_or(-1)).first;
  }
  if (it->second >= 0) {
    n.line = it->second;
    n.line_found = true;
  }
  return n;
}

CodeName CodeNames::Lookup(uint64_t code, uint32_t instr) {
  auto it = cache_.find(code);
  if (code == 0) return {};
  const Result<Identity> id = ReadIdentity(code);
  if (!id.ok() && id.error().code == ErrorCode::kNotFound && it != cache_.end()) {
    return WithLine(it->second, instr);  // the process is gone: the name it had last
  }
  if (!id.ok() || id->type != code_type_) {
    if (it != cache_.end()) {
      lru_.erase(it->second.lru);
      cache_.erase(it);
    }
    return {};
  }
  if (it != cache_.end() && it->second.id == *id) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return WithLine(it->second, instr);
  }
  CodeName name;
  auto qualname = ReadPyString(pid_, id->qualname, layout_);
  auto filename = ReadPyString(pid_, id->filename, layout_);
  if (!qualname || !filename) return {};
  name = {true, std::move(*qualname), std::move(*filename), id->first_line};
  if (it != cache_.end()) {
    lru_.erase(it->second.lru);
    cache_.erase(it);
  }
  if (cache_.size() >= capacity_) {
    cache_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(code);
  auto added = cache_.emplace(
      code, Entry{*id, std::move(name), lru_.begin(), ReadLinetable(id->linetable), {}});
  return WithLine(added.first->second, instr);
}

}  // namespace gilstat::python
