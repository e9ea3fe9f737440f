// Where a CPython process keeps its GIL state, and reading it from the process's memory.
//
// 3.x: the main interpreter's `struct _gil_runtime_state` (locked, last_holder, switch_number,
// interval, cond, mutex) sits at a fixed offset from the exported `_PyRuntime` for a given
// minor version and ABI (x86-64 table, generated from each version's internal headers by
// tools/gen_gil_layout.sh; 3.13+ takes it from _Py_DebugOffsets, whose own layout is known per
// minor version: a newer minor is read with the newest known one and checked). 3.6 keeps the same
// fields as static variables (gil_locked, gil_switch_number, ...) found in .symtab.
// 2.x: the GIL is the sem_t that the static `interpreter_lock` pointer points to.
//
// Addresses are in the target's address space (load bias of the interpreter's ELF applied).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "gilstat/result.h"
#include "python/python_info.h"

namespace gilstat::python {

// Offsets inside struct _gil_runtime_state (bytes), and where that struct is relative to
// _PyRuntime. Sizes of the fields read: locked int (4), last_holder pointer (8),
// switch_number unsigned long (8), interval unsigned long (8, microseconds).
struct GilLayout {
  uint64_t gil_from_runtime = 0;  // offsetof(_PyRuntimeState, <path to the main GIL>)
  uint32_t locked = 0;
  uint32_t last_holder = 0;
  uint32_t switch_number = 0;
  uint32_t interval = 0;
  uint32_t cond = 0;   // pthread_cond_t (the condvar take_gil waits on)
  uint32_t mutex = 0;  // pthread_mutex_t
  // 3.12+: offsetof(_PyRuntimeState, _main_interpreter.ceval.gil), the pointer to the main GIL
  // (checked against gil_from_runtime at run time); 0 before 3.12.
  uint64_t main_gil_ptr = 0;
  // sizeof(_PyRuntimeState) of the build the table describes: a _PyRuntime symbol of another
  // size (debug or custom build) is refused rather than read with the wrong offsets.
  uint64_t runtime_size = 0;
  std::string source;  // "table 3.11", "_Py_DebugOffsets", ...
};

// The built-in table for CPython 3.7 .. 3.15 on x86-64 (default, non-debug, GIL-enabled builds).
std::optional<GilLayout> GilLayoutFor(int major, int minor);

// How to walk a 3.12+ process's interpreter list (runtime->interpreters.head, interp->next) and
// find each interpreter's GIL (interp->ceval.gil; its own one is interp->_gil), and where the
// exact mode's take_gil/drop_gil arguments name their GIL. From _Py_DebugOffsets (3.13+) or
// the built-in table (3.12+).
struct InterpreterWalk {
  uint64_t head = 0;  // the address of runtime->interpreters.head in the process
  uint32_t id = 0;    // offsetof(PyInterpreterState, id) (int64_t)
  uint32_t next = 0;
  uint32_t ceval_gil = 0;      // offsetof(PyInterpreterState, ceval.gil)
  uint32_t own_gil = 0;        // offsetof(PyInterpreterState, _gil)
  uint32_t tstate_interp = 0;  // offsetof(PyThreadState, interp)
  uint32_t drop_arg_gil = 0;   // the GIL pointer in drop_gil's first argument
  uint32_t shift = 0;          // kFreeThreadedShift for a free-threaded build's GIL state
};

// The GIL state's addresses in process `pid`.
struct GilAddresses {
  uint64_t state = 0;  // struct _gil_runtime_state (3.7+), 0 for 3.6's separate statics
  uint64_t locked = 0;
  uint64_t last_holder = 0;
  uint64_t switch_number = 0;
  uint64_t interval = 0;
  uint64_t cond = 0;
  uint64_t mutex = 0;
  // Free-threaded builds: the GIL's `int enabled` (0: disabled, INT_MAX: on for good, else the
  // number of transient requests; it can change at run time). 0 for other builds.
  uint64_t enabled = 0;
  std::string how;  // "_PyRuntime + table 3.11", "3.6 statics (.symtab)", ...
  // Read with the layout of an older minor version (a version newer than every known one).
  bool layout_assumed = false;
  // 3.12+: how to find the sub-interpreters' GILs (nullopt: not known for this build).
  std::optional<InterpreterWalk> interpreters;
};

// The GIL state of one interpreter of a process.
struct InterpreterGil {
  int64_t id = 0;  // the interpreter's id (0: the main interpreter)
  GilAddresses gil;
};
// The sub-interpreters of process `pid` that have their own GIL (interp->ceval.gil ==
// &interp->_gil; those sharing the main GIL are left out: their waits are the main GIL's),
// walking at most `max_interpreters` entries of its interpreter list. `truncated` is set when the
// list was longer. A list read while it changes may end early or repeat an entry (repeats are
// left out). Errors as ReadGilState (kInvalidArgument: `walk` not known).
Result<std::vector<InterpreterGil>> ListSubInterpreterGils(pid_t pid, const InterpreterWalk& walk,
                                                           size_t max_interpreters,
                                                           bool* truncated = nullptr);

// Locates the GIL of a 3.x process whose interpreter `info` describes (from InspectProcess).
// 3.13+ with _Py_DebugOffsets: the main interpreter (id 0) is found through the offsets read from
// the target's _PyRuntime (the exported symbol, else the .PyRuntime section) and its GIL through
// interp->ceval.gil; the table is the fallback (e.g. before the interpreter list exists); `how`
// says which was used and why. A minor version newer than the known ones is read with the
// newest known _Py_DebugOffsets layout and GIL struct, accepted only when the cookie, version,
// runtime size, GIL pointer and locked/last_holder offsets agree; `how` then says "NOT KNOWN".
// 3.7 .. 3.15 from the table: refused when the _PyRuntime symbol's size differs from the
// table's; 3.12+ also checks the main interpreter's ceval.gil pointer (once set) against it.
// Free-threaded builds (3.13t+): through _Py_DebugOffsets only, with `enabled` (the state's
// fields after it move by 8); the memory's free_threaded flag must agree with the file.
// Errors: kUnavailable (2.x, free-threaded without debug offsets, unknown version without them,
// neither _PyRuntime nor the 3.6 statics, layout mismatch), kNotFound (the binary is not mapped in
// pid any more, or no such process), kPermissionDenied (its memory cannot be read).
Result<GilAddresses> LocateGil(pid_t pid, const InterpreterInfo& info,
                               const std::string& proc_root = "/proc");

// LocateGil ignoring _Py_DebugOffsets: the built-in table only (to compare both ways).
Result<GilAddresses> LocateGilFromTable(pid_t pid, const InterpreterInfo& info,
                                        const std::string& proc_root = "/proc");

// A snapshot of the GIL state read with process_vm_readv.
struct GilState {
  bool locked = false;
  uint64_t last_holder = 0;  // PyThreadState* of the last thread that took it
  uint64_t switch_number = 0;
  uint64_t interval_us = 0;  // sys.getswitchinterval() in microseconds
  int32_t enabled = 1;       // the free-threaded GIL's `enabled` word (0: off); 1 for other builds
};
// One process_vm_readv call for the four fields (five with `enabled`). Errors: kNotFound (no such
// process), kPermissionDenied, kUnavailable (an address is not mapped, or the values cannot be a
// GIL: locked outside -1..1 or last_holder not a user-space pointer), kInvalidArgument (addresses
// not located).
Result<GilState> ReadGilState(pid_t pid, const GilAddresses& addrs);

// 2.x: the address of the GIL's sem_t in process `pid` (the value of `interpreter_lock`; 0 until
// the program starts its first thread: 2.7 creates the GIL lazily). kUnavailable without the
// interpreter_lock symbol (stripped 2.x).
Result<uint64_t> ReadInterpreterLock(pid_t pid, const InterpreterInfo& info,
                                     const std::string& proc_root = "/proc");

}  // namespace gilstat::python
