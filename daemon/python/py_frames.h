// The Python stack of a thread of a CPython 3.11+ process, read from its memory, and the names of
// the code objects on it: what attributes a GIL wait to the code that waits and to the code that
// holds the GIL (docs/PYTHON.md, "Stacks").
//
// A thread's innermost frame hangs off its PyThreadState (through _PyCFrame in 3.11 and 3.12);
// frames chain through `previous` to the thread's first; each runs a code object (f_code,
// f_executable from 3.13, a tagged _PyStackRef from 3.14). From 3.12 on, frames whose owner is 3
// or more are the interpreter's own entry frames, not Python code, and are skipped. The offsets
// come from a table generated from each version's internal headers (tools/gen_frame_layout.sh),
// x86-64, default (GIL) builds.
//
// Reading another process's memory races with it: a stack read while the thread runs may be
// torn. Every pointer is bounded (depth) and every code object is checked to be one (its type is
// PyCode_Type) before its names are read; a name is never taken from an object that is not a
// code object any more.
//
// A frame's current line comes from its instruction pointer (prev_instr in 3.11 and 3.12: the
// instruction running or last run; instr_ptr from 3.13: the one running), which points into its
// code object's bytecode (co_code_adaptive, 2-byte code units), and from the code object's
// location table (co_linetable, the 3.11+ format: one entry per run of code units, each giving
// its line as a change from the entry before, the first from co_firstlineno).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "gilstat/result.h"

namespace gilstat::python {

struct FrameLayout {
  int minor = 0;
  uint32_t threads_head = 0;          // PyInterpreterState.threads.head
  uint32_t tstate_next = 0;           // PyThreadState.next
  uint32_t native_thread_id = 0;      // PyThreadState.native_thread_id (unsigned long)
  uint32_t tstate_interp = 0;         // PyThreadState.interp
  int32_t cframe = -1;                // PyThreadState.cframe (3.11, 3.12); -1: none (3.13+)
  uint32_t current_frame = 0;         // in _PyCFrame (3.11, 3.12) or in PyThreadState (3.13+)
  uint32_t previous = 0;              // _PyInterpreterFrame.previous
  uint32_t code = 0;                  // _PyInterpreterFrame.f_code / f_executable
  uint32_t owner = 0;                 // _PyInterpreterFrame.owner (char)
  uint32_t first_hidden_owner = 255;  // owners from this one on are not Python code (255: none)
  uint32_t instr = 0;                 // prev_instr (3.11, 3.12) / instr_ptr (3.13+)
  uint32_t co_filename = 0, co_qualname = 0, co_firstlineno = 0;  // in PyCodeObject
  uint32_t ascii_size = 0;    // sizeof(PyASCIIObject): a compact ASCII str's text follows
  uint32_t compact_size = 0;  // sizeof(PyCompactUnicodeObject): other compact strs' text follows
  uint32_t co_code_adaptive = 0;  // in PyCodeObject: its bytecode
  uint32_t co_linetable = 0;      // in PyCodeObject: its location table (a bytes object)
  uint32_t bytes_sval = 0;        // PyBytesObject.ob_sval: a bytes object's data
};

// The table's layout for CPython `major`.`minor` (3.11 .. 3.15); nullopt for others.
std::optional<FrameLayout> FrameLayoutFor(int major, int minor);

struct PyFrame {
  uint64_t code = 0;   // the code object's address
  uint64_t instr = 0;  // the frame's instruction pointer (its current line; 0 when not read)
};
struct PyStack {
  std::vector<PyFrame> frames;  // innermost first
  bool truncated = false;       // deeper than the depth asked for
};

// The Python frames of the thread whose PyThreadState is at `tstate` in process `pid`, at most
// `max_depth` of them. A thread running no Python code has none. Errors: kNotFound (no such
// process), kPermissionDenied, kUnavailable (an address is not mapped: the thread state is gone
// or the layout is wrong).
Result<PyStack> ReadStack(pid_t pid, uint64_t tstate, const FrameLayout& layout, size_t max_depth);

// The PyThreadState of native thread `tid` in interpreter `interp` (walking its thread list, at
// most `max_threads` entries); kNotFound when the thread is not in it.
Result<uint64_t> FindThreadState(pid_t pid, uint64_t interp, pid_t tid, const FrameLayout& layout,
                                 size_t max_threads);

// The line of code unit `unit` (0-based) of a code object whose location table (co_linetable,
// CPython 3.11+) is `linetable` and whose first line (co_firstlineno) is `first_line`; nullopt
// when the table has no such unit, gives it no line, or is malformed.
std::optional<int> LineOfCodeUnit(std::span<const uint8_t> linetable, int first_line, int64_t unit);

// A frame's instruction pointer as the probes keep it: its byte offset from its code object's
// address. kNoInstr: not known.
inline constexpr uint32_t kNoInstr = UINT32_MAX;

// A code object's names as the interpreter shows them in tracebacks, and a frame's line in it.
struct CodeName {
  bool valid = false;       // false: not a code object (gone, or never was): show it as such
  std::string qualname;     // "Outer.method", "<module>"
  std::string filename;     // as compiled: "/srv/app/views.py", "<string>"
  int first_line = 0;       // co_firstlineno
  int line = 0;             // the frame's current line; first_line when it was not found
  bool line_found = false;  // `line` is the current line (false: it is first_line)
};

// The str object at `obj` as UTF-8 (compact strings only: what code objects hold), at most
// `max_bytes` of it. kUnavailable when it is not a compact str of a known kind.
Result<std::string> ReadPyString(pid_t pid, uint64_t obj, const FrameLayout& layout,
                                 size_t max_bytes = 512);

// Names of the code objects of one process, cached (at most `capacity` entries, least recently
// used dropped). A cached name is used again only when the object still is a code object with
// the same name and first-line fields (one small read): an address freed and reused by another
// code object is read again, one that is not a code object any more is invalid. Once the process
// is gone, the cached names stay what they were last (nothing can reuse its addresses since).
// A code object's location table is read with its names (at most kMaxLinetable bytes: a larger
// one gives no lines) and the lines found in it are kept with them.
class CodeNames {
 public:
  // `code_type`: the address of PyCode_Type in the process.
  CodeNames(pid_t pid, const FrameLayout& layout, uint64_t code_type, size_t capacity = 4096);

  // Code object `code`, and the line of a frame of it whose instruction pointer is `instr` bytes
  // past the object's address (kNoInstr: none; `line` is then first_line).
  CodeName Lookup(uint64_t code, uint32_t instr = kNoInstr);
  size_t size() const { return cache_.size(); }

  static constexpr size_t kMaxLinetable = 64 * 1024;
  static constexpr size_t kMaxLinesPerCode = 256;  // lines kept per code object

 private:
  struct Identity {
    uint64_t type = 0, filename = 0, qualname = 0, linetable = 0;
    int32_t first_line = 0;
    bool operator==(const Identity&) const = default;
  };
  struct Entry {
    Identity id;
    CodeName name;
    std::list<uint64_t>::iterator lru;
    std::vector<uint8_t> linetable;           // empty: not read (no lines)
    std::unordered_map<uint32_t, int> lines;  // instr -> line (-1: not found)
  };
  Result<Identity> ReadIdentity(uint64_t code) const;
  std::vector<uint8_t> ReadLinetable(uint64_t bytes) const;
  CodeName WithLine(Entry& e, uint32_t instr);

  pid_t pid_;
  FrameLayout layout_;
  uint64_t code_type_;
  size_t capacity_;
  std::unordered_map<uint64_t, Entry> cache_;
  std::list<uint64_t> lru_;  // most recently used first
};

}  // namespace gilstat::python
