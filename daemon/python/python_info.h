// Which Python interpreter a file holds or a process runs: CPython version, build (stripped,
// free-threaded, _Py_DebugOffsets) and the symbols the GIL probes need, from the ELF file alone
// (nothing is read from the target's memory here).
//
// Version, in this order of trust:
//   1. `Py_Version` (3.11+): an exported const holding PY_VERSION_HEX; read from the file.
//   2. `_Py_DebugOffsets.version` (3.13+): PY_VERSION_HEX right after the "xdebugpy" cookie at
//      the start of `_PyRuntime` (initialised data, so it is in the file).
//   3. Older versions: major.minor from the ABI name (DT_SONAME "libpython2.7.so.1.0", else the
//      file name "python3.10"), the micro version from PY_VERSION found as a NUL-terminated
//      "X.Y.Z" string in .rodata with the same major.minor. The linker may merge that literal into
//      the tail of a longer one (pyenv builds: "/root/.pyenv/versions/3.10.13"), so the string
//      only has to end there. Without the ABI name, major.minor is taken only when .rodata holds
//      a single candidate of the major version implied by the symbols (PyString_* = 2.x).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "elf/mapped_file.h"
#include "gilstat/gil_method.h"
#include "gilstat/result.h"

namespace gilstat::python {

// One symbol the GIL probes may need.
struct SymbolInfo {
  std::string name;       // as in the file: "take_gil", or a compiler clone "take_gil.isra.0"
  bool function = false;  // STT_FUNC (else a data object)
  bool dynamic = false;   // in .dynsym (exported); else .symtab only
  uint64_t value = 0;     // st_value: address in the file's own address space (add the load bias)
  uint64_t size = 0;
  // Where the symbol's bytes are in the file: the uprobe offset for functions; 0 for data the
  // file does not hold (.bss, e.g. 2.7's interpreter_lock).
  uint64_t file_offset = 0;
};

// Where the version of an interpreter came from (the order of trust in the comment above).
enum class VersionSource {
  kUnknown,           // not a Python interpreter
  kPyVersion,         // the Py_Version constant (3.11+)
  kDebugOffsets,      // _Py_DebugOffsets.version (3.13+)
  kRodataAndAbiName,  // major.minor from the ABI name, the micro version from .rodata
  kAbiName,           // major.minor from the ABI name only (micro 0)
  kRodata,            // the single version string of the right major in .rodata
  kMajorOnly,         // the major version implied by the symbols only (minor, micro unknown)
};
// For people: "Py_Version", "_Py_DebugOffsets", ".rodata version string + ABI name", ...
const char* VersionSourceName(VersionSource s);

struct InterpreterInfo {
  enum class Kind { kNotPython, kCPython };
  Kind kind = Kind::kNotPython;
  int major = 0, minor = 0, micro = 0;  // 0.0.0 when unknown
  VersionSource version_source = VersionSource::kUnknown;
  // The ELF file that holds the interpreter: the executable or the libpython it maps. For a
  // process, the path its maps print (for people: it is never opened by that path again).
  std::string binary;
  // Its device and inode: how it is found in a process's maps and opened again
  // (probes::OpenMappedFileById), so that a process cannot swap the file behind a path.
  probes::FileId file;
  bool stripped = false;             // no .symtab: static functions such as take_gil are invisible
  bool free_threaded = false;        // PEP 703 build (3.13t): the GIL may be disabled at run time
  std::string free_threaded_marker;  // what showed it: a symbol or the 't' ABI flag
  bool has_debug_offsets = false;    // "xdebugpy" cookie at the start of _PyRuntime (3.13+)
  // Present entries among: take_gil, drop_gil, interpreter_lock, _PyRuntime, Py_Version,
  // PyCode_Type, and the static GIL state of 3.2 .. 3.6 (.symtab only): gil_locked,
  // gil_last_holder, gil_switch_number, gil_interval, gil_cond, gil_mutex. Keyed by the plain name;
  // `name` is the symbol as found (a compiler may suffix a static: "gil_locked.lto_priv.0"; a
  // _PyRuntime that is not in any symbol table is the .PyRuntime section of 3.13+, named
  // "_PyRuntime (the .PyRuntime section)", its size the section's). Further compiler
  // copies of take_gil/drop_gil are entries under their own names ("take_gil.constprop.0" on
  // 3.8 serves PyEval_RestoreThread): every copy must be probed.
  std::map<std::string, SymbolInfo> symbols;
  // What the file allows: kTakeGil, kGilCondvar (the GIL state reachable from _PyRuntime),
  // kInterpreterLock or kNone; whether the process runs without the GIL is decided later.
  GilMethod gil_method = GilMethod::kNone;
  std::string method;  // for people, e.g. "take_gil/drop_gil uprobes", "none: stripped, ..."

  bool has(std::string_view symbol) const { return symbols.count(std::string(symbol)) != 0; }
  std::string VersionString() const;  // "3.11.2"; "3" or "" when less is known
};

// What the ELF file at `path` holds. A dynamically linked launcher that only needs libpython
// (pyenv's bin/python3.12) is followed to that library through its RUNPATH/RPATH ($ORIGIN
// understood) and /usr/local/lib, /usr/lib/x86_64-linux-gnu, /usr/lib, /lib; `binary` then
// names the library. Errors: kNotFound (no file, or the needed libpython is not found),
// kPermissionDenied, kInvalidArgument (not ELF). A readable non-Python ELF is kNotPython.
Result<InterpreterInfo> InspectBinary(const std::string& path);

// The interpreter of process `pid`: a mapped executable libpython*.so that defines the
// interpreter, else the executable itself, each opened as the exact file the process maps
// (probes::OpenMappedFile, probes::OpenProcessExe), so processes in chroots and other mount
// namespaces (containers) work and a file the process swapped behind a path is refused. Errors as
// ReadProcMaps (kNotFound for no such process, kPermissionDenied without access to its maps) and
// InspectBinary; a mapped libpython that cannot be read is reported as its error, not as
// kNotPython. Right after exec a launcher may not have mapped its libpython yet (kNotPython):
// callers watching new processes retry.
Result<InterpreterInfo> InspectProcess(pid_t pid, const std::string& proc_root = "/proc");

// The address a function starting with `mov disp32(%rip), %rdi` (optionally after endbr64)
// loads from, given the function's address `vaddr`: how a stripped CPython 2's exported
// PyEval_ReleaseLock gives away the static interpreter_lock. nullopt for other code.
std::optional<uint64_t> RipRelativeLoadTarget(std::span<const uint8_t> code, uint64_t vaddr);

// `name` is `base` or a compiler clone of it: "take_gil", "take_gil.constprop.0".
bool IsSymbolOrClone(std::string_view name, std::string_view base);

// ABI name parsing: "libpython3.13t.so.1.0" or "python3.6m" -> major 3, minor 13/6, flags "t"/"m".
// False for other names ("python3", "libpython3.so", "libc.so.6").
bool ParsePythonAbiName(std::string_view file_name, int& major, int& minor, std::string& flags);

}  // namespace gilstat::python
