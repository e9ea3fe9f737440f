#include "python/gil_state.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <string_view>
#include <vector>

#include "elf/elf_symbols.h"
#include "gilstat/format.h"
#include "python/remote_memory.h"

namespace gilstat::python {
namespace {

// Produced by tools/gen_gil_layout.sh from the internal headers of CPython 3.7.16, 3.8.18,
// 3.9.18, 3.10.13, 3.11.7 (pyenv), 3.11.2 (Debian libpython3.11-dev, identical to 3.11.7),
// 3.12.1 and 3.13.0 (pyenv), 3.14.10 and 3.15.2 (Debian sid libpython3.14-dev/3.15-dev, built
// with -D_Py_JIT -D_Py_TIER2=3: scripts/sid_root.sh); x86-64, default (non-debug, GIL-enabled)
// builds. The layout of struct _gil_runtime_state is the same in every one of them; where it
// sits in _PyRuntime is not.
struct TableRow {
  int minor;
  uint64_t gil_from_runtime;
  uint64_t main_gil_ptr;  // 3.12+: _PyRuntime._main_interpreter.ceval.gil; 0 = none
  uint64_t runtime_size;  // sizeof(_PyRuntimeState): checked against the symbol's size
};
// 3.12+ ("interpreters row" of tools/gen_gil_layout.sh): offsetof(_PyRuntimeState,
// interpreters.head), and in PyInterpreterState: id, next, ceval.gil, _gil; then
// offsetof(PyThreadState, interp) and offsetof(PyInterpreterState, ceval) (drop_gil's first
// argument is &interp->ceval on 3.12, interp on 3.13+: ceval is at 0 there).
struct InterpretersRow {
  int minor;
  uint32_t interpreters_head, id, next, ceval_gil, own_gil, tstate_interp, ceval;
};
constexpr InterpretersRow kInterpretersTable[] = {
    {12, 40, 8, 0, 384, 1040, 16, 368},
    {13, 632, 7272, 7264, 16, 7752, 16, 0},
    {14, 808, 7280, 7272, 16, 7784, 16, 0},
    {15, 936, 7272, 7264, 16, 7736, 16, 0},
};
// The most interpreters of one process walked (a list that long is a program's own business).
constexpr size_t kMaxWalk = 4096;
constexpr TableRow kTable[] = {
    {7, 1264, 0, 1520},            // _PyRuntime.ceval.gil
    {8, 1152, 0, 1464},            // _PyRuntime.ceval.gil
    {9, 352, 0, 656},              // _PyRuntime.ceval.gil
    {10, 352, 0, 672},             // _PyRuntime.ceval.gil
    {11, 360, 0, 166688},          // _PyRuntime.ceval.gil
    {12, 77432, 76776, 459944},    // _PyRuntime._main_interpreter._gil
    {13, 96104, 88368, 283320},    // _PyRuntime._main_interpreter._gil
    {14, 98536, 90768, 316616},    // _PyRuntime._main_interpreter._gil
    {15, 128064, 120344, 346568},  // _PyRuntime._main_interpreter._gil
};
// Inside struct _gil_runtime_state (3.7 .. 3.15): interval, last_holder, locked, switch_number,
// cond, mutex (then switch_cond, switch_mutex).
constexpr uint32_t kInterval = 0, kLastHolder = 8, kLocked = 16, kSwitchNumber = 24, kCond = 32,
                   kMutex = 80;
// Free-threaded builds (Py_GIL_DISABLED) put `int enabled` first: every other field moves by 8.
constexpr uint32_t kFreeThreadedShift = 8;

// _Py_DebugOffsets (3.13: Include/internal/pycore_runtime.h, 3.14+: pycore_debug_offsets.h):
// where the fields used here sit inside that struct ("debug_offsets row" of
// tools/gen_gil_layout.sh). Its own layout changes between minor versions (3.14 inserted
// interpreter_state.threads_main), so it is known per version; a newer minor version is read
// with the newest row and accepted only when what it reads is consistent (FromDebugOffsets).
struct DebugOffsetsLayout {
  int minor;
  uint32_t interpreters_head;  // runtime_state.interpreters_head
  uint32_t interp_id;          // interpreter_state.id
  uint32_t interp_next;        // interpreter_state.next
  uint32_t ceval_gil;          // interpreter_state.ceval_gil
  uint32_t gil_runtime_state;  // interpreter_state.gil_runtime_state
  uint32_t gil_enabled;        // interpreter_state.gil_runtime_state_enabled
  uint32_t gil_locked;         // interpreter_state.gil_runtime_state_locked
  uint32_t gil_holder;         // interpreter_state.gil_runtime_state_holder
  uint32_t tstate_interp;      // thread_state.interp
};
constexpr DebugOffsetsLayout kDebugOffsetsLayouts[] = {
    {13, 40, 56, 64, 112, 120, 128, 136, 144, 176},
    {14, 40, 56, 64, 120, 128, 136, 144, 152, 200},
    {15, 40, 56, 64, 120, 128, 136, 144, 152, 200},
};
// The same in every version: cookie[8], version, free_threaded, then runtime_state.size.
constexpr uint32_t kDebugVersion = 8, kDebugFreeThreaded = 16, kDebugRuntimeSize = 24;
constexpr char kDebugCookie[] = "xdebugpy";

// 3.2 .. 3.6: the static variables of Python/ceval_gil.h, in GilAddresses order.
constexpr const char* kStatics[] = {"gil_locked",   "gil_last_holder", "gil_switch_number",
                                    "gil_interval", "gil_cond",        "gil_mutex"};

std::string VersionName(const InterpreterInfo& info) {
  return "CPython " + std::to_string(info.major) + "." + std::to_string(info.minor);
}

// `shift`: kFreeThreadedShift for a free-threaded build's state (`enabled` first), else 0.
GilAddresses FromState(uint64_t state, uint32_t locked, uint32_t last_holder, uint32_t shift = 0) {
  GilAddresses a;
  a.state = state;
  a.locked = state + locked;
  a.last_holder = state + last_holder;
  a.switch_number = state + shift + kSwitchNumber;
  a.interval = state + shift + kInterval;
  a.cond = state + shift + kCond;
  a.mutex = state + shift + kMutex;
  if (shift != 0) a.enabled = state;
  return a;
}

// The first bytes of the target's _Py_DebugOffsets (every field read here is in them).
struct DebugHead {
  uint8_t bytes[216] = {};
  uint64_t Field(uint32_t at) const {
    uint64_t v = 0;
    if (at + sizeof(v) <= sizeof(bytes)) std::memcpy(&v, bytes + at, sizeof(v));
    return v;
  }
};

// Reads the _Py_DebugOffsets at `runtime` and checks its cookie, its version (the interpreter's
// major.minor) and runtime_state.size (non-zero, within the `runtime_size` bytes of _PyRuntime
// when known).
Result<DebugHead> ReadDebugHead(pid_t pid, const InterpreterInfo& info, uint64_t runtime,
                                uint64_t runtime_size) {
  DebugHead h;
  if (Status s = ReadRemote(pid, {{runtime, sizeof(h.bytes)}}, h.bytes); !s) return s.error();
  if (std::memcmp(h.bytes, kDebugCookie, 8) != 0) {
    return MakeError(ErrorCode::kUnavailable, "no _Py_DebugOffsets cookie in the memory of " +
                                                  std::to_string(pid) + "'s _PyRuntime");
  }
  const uint64_t version = h.Field(kDebugVersion);
  if (((version >> 24) & 0xff) != static_cast<uint64_t>(info.major) ||
      ((version >> 16) & 0xff) != static_cast<uint64_t>(info.minor)) {
    return MakeError(ErrorCode::kUnavailable, "_Py_DebugOffsets version " + HexAddress(version) +
                                                  " is not " + VersionName(info));
  }
  const uint64_t size = h.Field(kDebugRuntimeSize);
  if (size == 0 || (runtime_size != 0 && size > runtime_size)) {
    return MakeError(ErrorCode::kUnavailable, "_Py_DebugOffsets runtime_state.size is " +
                                                  std::to_string(size) + ", _PyRuntime is " +
                                                  std::to_string(runtime_size) + " bytes");
  }
  return h;
}

// The main interpreter (id 0) in the target's interpreter list.
Result<uint64_t> FindMainInterpreter(pid_t pid, uint64_t runtime, const DebugHead& h,
                                     const DebugOffsetsLayout& d) {
  auto interp = ReadU64(pid, runtime + h.Field(d.interpreters_head));
  if (!interp) return interp.error();
  uint64_t at = *interp;
  for (int hops = 0; at != 0 && hops < 1000; ++hops) {
    uint64_t id_next[2] = {};
    if (Status s = ReadRemote(
            pid, {{at + h.Field(d.interp_id), 8}, {at + h.Field(d.interp_next), 8}}, id_next);
        !s) {
      return s.error();
    }
    if (id_next[0] == 0) return at;
    at = id_next[1];
  }
  return MakeError(ErrorCode::kUnavailable,
                   "no main interpreter in the interpreter list yet (not initialised)");
}

// 3.13+: the main interpreter (id 0) found through _Py_DebugOffsets in the target's _PyRuntime,
// its GIL through interp->ceval.gil (else the embedded interp->_gil). `assumed`: `d` is the row
// of an older minor version (the target's is not known): then the GIL pointer must be set and
// point at the embedded _gil the offsets name, else nothing is trusted.
Result<GilAddresses> FromDebugOffsets(pid_t pid, const InterpreterInfo& info, uint64_t runtime,
                                      uint64_t runtime_size, const DebugOffsetsLayout& d,
                                      bool assumed) {
  auto head = ReadDebugHead(pid, info, runtime, runtime_size);
  if (!head) return head.error();
  const bool ft = head->Field(kDebugFreeThreaded) != 0;
  if (ft != info.free_threaded) {
    return MakeError(ErrorCode::kUnavailable, std::string("_Py_DebugOffsets say the build is ") +
                                                  (ft ? "free-threaded" : "not free-threaded") +
                                                  ", its file says not");
  }
  const uint32_t shift = ft ? kFreeThreadedShift : 0;
  const uint64_t gil_off = head->Field(d.gil_runtime_state);
  const uint64_t locked_off = head->Field(d.gil_locked);
  const uint64_t holder_off = head->Field(d.gil_holder);
  // The rest of the state (interval, switch_number, cond, mutex) is not published: it comes from
  // the struct layout, which must agree with the fields that are.
  if (locked_off != gil_off + shift + kLocked || holder_off != gil_off + shift + kLastHolder ||
      (ft && head->Field(d.gil_enabled) != gil_off)) {
    return MakeError(ErrorCode::kUnavailable,
                     "_Py_DebugOffsets place the GIL's locked/last_holder at +" +
                         std::to_string(locked_off - gil_off) + "/+" +
                         std::to_string(holder_off - gil_off) +
                         ", not where the known struct layout has them");
  }
  auto at = FindMainInterpreter(pid, runtime, *head, d);
  if (!at) return at.error();
  auto gil_ptr = ReadU64(pid, *at + head->Field(d.ceval_gil));
  if (!gil_ptr) return gil_ptr.error();
  // The main interpreter always has its own GIL: ceval.gil is 0 (not created yet) or &interp->_gil.
  if ((*gil_ptr != 0 || assumed) && *gil_ptr != *at + gil_off) {
    return MakeError(ErrorCode::kUnavailable, "the main interpreter's ceval.gil is " +
                                                  HexAddress(*gil_ptr) + ", the _Py_DebugOffsets" +
                                                  (assumed ? " read with an assumed layout" : "") +
                                                  " say " + HexAddress(*at + gil_off) +
                                                  " (layout mismatch)");
  }
  GilAddresses a = FromState(*at + gil_off, shift + kLocked, shift + kLastHolder, shift);
  InterpreterWalk w;
  w.head = runtime + head->Field(d.interpreters_head);
  w.id = static_cast<uint32_t>(head->Field(d.interp_id));
  w.next = static_cast<uint32_t>(head->Field(d.interp_next));
  w.ceval_gil = static_cast<uint32_t>(head->Field(d.ceval_gil));
  w.own_gil = static_cast<uint32_t>(gil_off);
  w.tstate_interp = static_cast<uint32_t>(head->Field(d.tstate_interp));
  w.drop_arg_gil = w.ceval_gil;  // 3.13+: drop_gil(PyInterpreterState *interp, ...)
  w.shift = shift;
  a.interpreters = w;
  a.how = "_Py_DebugOffsets (" + VersionName(info) + "): main interpreter " + HexAddress(*at) +
          ", " + (*gil_ptr != 0 ? "interp->ceval.gil" : "interp->_gil") +
          "; interval/switch_number/cond/mutex from the struct layout";
  if (ft) a.how += " (free-threaded: `enabled` first)";
  if (assumed) {
    a.layout_assumed = true;
    a.how += "; NOT KNOWN: the layout of " + VersionName(info) +
             "'s _Py_DebugOffsets and GIL state, those of 3." + std::to_string(d.minor) +
             " assumed (checked: cookie, version, runtime size, GIL pointer, locked/last_holder)";
  }
  return a;
}

// The reasons a process's GIL cannot be located whatever its memory holds.
Status CheckLocatable(const InterpreterInfo& info) {
  if (info.kind != InterpreterInfo::Kind::kCPython) {
    return MakeError(ErrorCode::kUnavailable, info.binary + " is not a CPython interpreter");
  }
  if (info.major == 2) {
    return MakeError(ErrorCode::kUnavailable,
                     VersionName(info) +
                         " has the old GIL (a semaphore behind interpreter_lock): "
                         "use ReadInterpreterLock");
  }
  if (info.major != 3 || (info.minor == 0 && info.version_source == VersionSource::kMajorOnly)) {
    return MakeError(ErrorCode::kUnavailable,
                     "the Python version of " + info.binary + " is unknown: GIL layout unknown");
  }
  if (info.free_threaded && !info.has_debug_offsets) {
    return MakeError(ErrorCode::kUnavailable,
                     VersionName(info) + " free-threaded build (" + info.free_threaded_marker +
                         "): its GIL state has another layout, found only through "
                         "_Py_DebugOffsets (3.13+), which it lacks");
  }
  if (info.minor < 2) {
    return MakeError(ErrorCode::kUnavailable,
                     VersionName(info) + " has the old GIL (before 3.2): not supported");
  }
  return Status::Ok();
}

// 3.2 .. 3.6: the static variables of ceval_gil.h, from .symtab.
Result<GilAddresses> LocateStatics(pid_t pid, const InterpreterInfo& info,
                                   const std::string& proc_root) {
  std::vector<std::string> missing;
  for (const char* s : kStatics) {
    if (!info.has(s)) missing.emplace_back(s);
  }
  if (!missing.empty()) {
    std::string list;
    for (const std::string& m : missing) list += (list.empty() ? "" : ", ") + m;
    return MakeError(
        ErrorCode::kUnavailable,
        VersionName(info) + ": the GIL is in static variables found only in .symtab, " + "and " +
            info.binary + (info.stripped ? " is stripped" : " lacks them") + " (" + list + ")");
  }
  auto bias = LoadBias(pid, info, proc_root);
  if (!bias) return bias.error();
  auto addr = [&](const char* name) { return *bias + info.symbols.at(name).value; };
  GilAddresses a;
  a.locked = addr("gil_locked");
  a.last_holder = addr("gil_last_holder");
  a.switch_number = addr("gil_switch_number");
  a.interval = addr("gil_interval");
  a.cond = addr("gil_cond");
  a.mutex = addr("gil_mutex");
  a.how = VersionName(info) + " statics (.symtab gil_locked, gil_last_holder, ...)";
  return a;
}

// 3.7 .. 3.13 from the built-in table, at `runtime` (the target's _PyRuntime); 3.12+ checked
// against the main interpreter's ceval.gil. `debug_failure`: why _Py_DebugOffsets were not used.
Result<GilAddresses> FromTable(pid_t pid, const InterpreterInfo& info, uint64_t runtime,
                               const GilLayout& layout, const std::string& debug_failure) {
  GilAddresses a = FromState(runtime + layout.gil_from_runtime, layout.locked, layout.last_holder);
  if (layout.main_gil_ptr != 0) {
    // 3.12+: the main interpreter's ceval.gil points at its _gil once the GIL exists.
    auto ptr = ReadU64(pid, runtime + layout.main_gil_ptr);
    if (!ptr) return ptr.error();
    if (*ptr != 0 && *ptr != a.state) {
      return MakeError(ErrorCode::kUnavailable,
                       VersionName(info) + ": the main interpreter's ceval.gil is " +
                           HexAddress(*ptr) + ", " + layout.source + " expects " +
                           HexAddress(a.state) + " (layout mismatch)");
    }
  }
  a.how = "_PyRuntime + " + layout.source;
  if (layout.main_gil_ptr != 0) a.how += " (checked against interp->ceval.gil)";
  for (const InterpretersRow& r : kInterpretersTable) {
    if (r.minor != info.minor) continue;
    InterpreterWalk w;
    w.head = runtime + r.interpreters_head;
    w.id = r.id;
    w.next = r.next;
    w.ceval_gil = r.ceval_gil;
    w.own_gil = r.own_gil;
    w.tstate_interp = r.tstate_interp;
    w.drop_arg_gil = r.ceval_gil - r.ceval;
    a.interpreters = w;
  }
  if (!debug_failure.empty()) a.how += "; _Py_DebugOffsets not used: " + debug_failure;
  return a;
}

// The _Py_DebugOffsets row to read an interpreter's offsets with: its own minor version's, else
// for a minor version newer than every known one the newest row (`assumed`); nullptr without
// _Py_DebugOffsets or for an older unknown version.
const DebugOffsetsLayout* DebugLayoutFor(const InterpreterInfo& info, bool& assumed) {
  assumed = false;
  if (!info.has_debug_offsets || info.major != 3) return nullptr;
  for (const DebugOffsetsLayout& d : kDebugOffsetsLayouts) {
    if (d.minor == info.minor) return &d;
  }
  const DebugOffsetsLayout& newest = kDebugOffsetsLayouts[std::size(kDebugOffsetsLayouts) - 1];
  if (info.minor < newest.minor) return nullptr;
  assumed = true;
  return &newest;
}

// Why the built-in table cannot serve a _PyRuntime of `runtime_sym.size` bytes ("" when it can):
// the table holds facts of default builds; a debug or otherwise configured build has another
// _PyRuntimeState, which its size shows. The .PyRuntime section may be padded: at least as large.
std::string SizeMismatch(const SymbolInfo& runtime_sym, const GilLayout& layout) {
  const bool section = runtime_sym.name != "_PyRuntime";
  if (runtime_sym.size == 0 || runtime_sym.size == layout.runtime_size ||
      (section && runtime_sym.size > layout.runtime_size)) {
    return "";
  }
  return runtime_sym.name + " is " + std::to_string(runtime_sym.size) + " bytes, " + layout.source +
         " expects " + std::to_string(layout.runtime_size) + " (a debug or custom build?)";
}

// 3.7+: the GIL state reached from _PyRuntime (the symbol, else the .PyRuntime section), through
// _Py_DebugOffsets (3.13+, when `use_debug_offsets`) or the built-in table.
Result<GilAddresses> LocateFromRuntime(pid_t pid, const InterpreterInfo& info,
                                       const std::string& proc_root, bool use_debug_offsets) {
  auto runtime_it = info.symbols.find("_PyRuntime");
  if (runtime_it == info.symbols.end()) {
    return MakeError(ErrorCode::kUnavailable, VersionName(info) + ": " + info.binary +
                                                  " has no _PyRuntime symbol" +
                                                  (info.stripped ? " (stripped)" : ""));
  }
  const SymbolInfo& runtime_sym = runtime_it->second;
  // The table describes default builds; a free-threaded one is found through _Py_DebugOffsets.
  const std::optional<GilLayout> layout =
      info.free_threaded ? std::nullopt : GilLayoutFor(info.major, info.minor);
  bool assumed = false;
  const DebugOffsetsLayout* debug = DebugLayoutFor(info, assumed);
  if (!layout && !debug) {
    return MakeError(ErrorCode::kUnavailable,
                     VersionName(info) + ": GIL layout unknown and " +
                         (info.has_debug_offsets ? "the layout of its _Py_DebugOffsets unknown too"
                                                 : std::string("no _Py_DebugOffsets")) +
                         " (known: 3.6 with symbols, 3.7 .. 3.15, _Py_DebugOffsets of 3.13+)");
  }
  const std::string size_mismatch = layout ? SizeMismatch(runtime_sym, *layout) : "";
  const bool try_debug = debug != nullptr && use_debug_offsets;
  if (!size_mismatch.empty() && !try_debug) {
    return MakeError(ErrorCode::kUnavailable, VersionName(info) + ": " + size_mismatch);
  }
  auto bias = LoadBias(pid, info, proc_root);
  if (!bias) return bias.error();
  const uint64_t runtime = *bias + runtime_sym.value;
  std::string debug_failure;
  if (try_debug) {
    auto a = FromDebugOffsets(pid, info, runtime, runtime_sym.size, *debug, assumed);
    if (a) return a;
    if (a.error().code == ErrorCode::kNotFound || a.error().code == ErrorCode::kPermissionDenied) {
      return a.error();
    }
    debug_failure = a.error().message;
  }
  if (!layout) {
    return MakeError(ErrorCode::kUnavailable,
                     VersionName(info) + (info.free_threaded ? " free-threaded build" : "") +
                         ": GIL layout unknown and _Py_DebugOffsets unusable: " + debug_failure);
  }
  if (!size_mismatch.empty()) {
    return MakeError(ErrorCode::kUnavailable, VersionName(info) + ": " + size_mismatch +
                                                  "; _Py_DebugOffsets unusable: " + debug_failure);
  }
  return FromTable(pid, info, runtime, *layout, debug_failure);
}

Result<GilAddresses> Locate(pid_t pid, const InterpreterInfo& info, const std::string& proc_root,
                            bool use_debug_offsets) {
  if (Status s = CheckLocatable(info); !s) return s.error();
  if (info.minor < 7) return LocateStatics(pid, info, proc_root);
  return LocateFromRuntime(pid, info, proc_root, use_debug_offsets);
}

}  // namespace

std::optional<GilLayout> GilLayoutFor(int major, int minor) {
  if (major != 3) return std::nullopt;
  for (const TableRow& r : kTable) {
    if (r.minor != minor) continue;
    GilLayout l;
    l.gil_from_runtime = r.gil_from_runtime;
    l.locked = kLocked;
    l.last_holder = kLastHolder;
    l.switch_number = kSwitchNumber;
    l.interval = kInterval;
    l.cond = kCond;
    l.mutex = kMutex;
    l.main_gil_ptr = r.main_gil_ptr;
    l.runtime_size = r.runtime_size;
    l.source = "table 3." + std::to_string(minor);
    return l;
  }
  return std::nullopt;
}

Result<GilAddresses> LocateGil(pid_t pid, const InterpreterInfo& info,
                               const std::string& proc_root) {
  return Locate(pid, info, proc_root, /*use_debug_offsets=*/true);
}

Result<GilAddresses> LocateGilFromTable(pid_t pid, const InterpreterInfo& info,
                                        const std::string& proc_root) {
  return Locate(pid, info, proc_root, /*use_debug_offsets=*/false);
}

Result<GilState> ReadGilState(pid_t pid, const GilAddresses& addrs) {
  if (addrs.locked == 0 || addrs.last_holder == 0 || addrs.switch_number == 0 ||
      addrs.interval == 0) {
    return MakeError(ErrorCode::kInvalidArgument, "GIL addresses not located");
  }
  uint8_t buf[4 + 8 + 8 + 8 + 4] = {};
  std::vector<std::pair<uint64_t, size_t>> pieces = {
      {addrs.locked, 4}, {addrs.last_holder, 8}, {addrs.switch_number, 8}, {addrs.interval, 8}};
  if (addrs.enabled != 0) pieces.emplace_back(addrs.enabled, 4);
  if (Status s = ReadRemote(pid, pieces, buf); !s) return s.error();
  int32_t locked;
  uint64_t last_holder, switch_number, interval;
  std::memcpy(&locked, buf, 4);
  std::memcpy(&last_holder, buf + 4, 8);
  std::memcpy(&switch_number, buf + 12, 8);
  std::memcpy(&interval, buf + 20, 8);
  int32_t enabled = 1;
  if (addrs.enabled != 0) std::memcpy(&enabled, buf + 28, 4);
  // locked is -1 before the GIL is created, then 0 or 1; a pointer is a user-space address.
  if (locked < -1 || locked > 1 || last_holder >= (uint64_t{1} << 47)) {
    return MakeError(ErrorCode::kUnavailable,
                     "process " + std::to_string(pid) + ": locked=" + std::to_string(locked) +
                         " last_holder=" + HexAddress(last_holder) + " at " +
                         HexAddress(addrs.locked) + " do not look like a GIL (layout mismatch)");
  }
  GilState g;
  g.locked = locked == 1;
  g.last_holder = last_holder;
  g.switch_number = switch_number;
  g.interval_us = interval;
  g.enabled = enabled;
  return g;
}

Result<std::vector<InterpreterGil>> ListSubInterpreterGils(pid_t pid, const InterpreterWalk& walk,
                                                           size_t max_interpreters,
                                                           bool* truncated) {
  if (truncated) *truncated = false;
  if (walk.head == 0) {
    return MakeError(ErrorCode::kInvalidArgument, "the interpreter list is not located");
  }
  auto at = ReadU64(pid, walk.head);
  if (!at) return at.error();
  std::vector<InterpreterGil> out;
  std::vector<uint64_t> seen;
  const size_t limit = std::min(max_interpreters, kMaxWalk);
  for (uint64_t interp = *at; interp != 0;) {
    if (seen.size() >= limit) {
      if (truncated) *truncated = true;
      break;
    }
    if (std::find(seen.begin(), seen.end(), interp) != seen.end()) break;  // changed under us
    seen.push_back(interp);
    uint64_t v[3] = {};  // id, next, ceval.gil
    if (Status s = ReadRemote(
            pid, {{interp + walk.id, 8}, {interp + walk.next, 8}, {interp + walk.ceval_gil, 8}}, v);
        !s) {
      return s.error();
    }
    const int64_t id = static_cast<int64_t>(v[0]);
    // Its own GIL (not the main one it may share): ceval.gil is its embedded _gil.
    if (id > 0 && v[2] != 0 && v[2] == interp + walk.own_gil) {
      InterpreterGil g;
      g.id = id;
      g.gil = FromState(v[2], walk.shift + kLocked, walk.shift + kLastHolder, walk.shift);
      g.gil.how = "interpreter " + std::to_string(id) + "'s own GIL";
      out.push_back(std::move(g));
    }
    interp = v[1];
  }
  return out;
}

Result<uint64_t> ReadInterpreterLock(pid_t pid, const InterpreterInfo& info,
                                     const std::string& proc_root) {
  if (info.kind != InterpreterInfo::Kind::kCPython || info.major != 2) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        "interpreter_lock is the GIL of CPython 2.x only, not of " +
            (info.kind == InterpreterInfo::Kind::kCPython ? VersionName(info) : info.binary));
  }
  auto it = info.symbols.find("interpreter_lock");
  if (it == info.symbols.end()) {
    return MakeError(ErrorCode::kUnavailable,
                     VersionName(info) + ": " + info.binary +
                         (info.stripped ? " is stripped: " : ": ") +
                         "no interpreter_lock symbol, the GIL's semaphore cannot be found");
  }
  auto bias = LoadBias(pid, info, proc_root);
  if (!bias) return bias.error();
  return ReadU64(pid, *bias + it->second.value);
}

}  // namespace gilstat::python
