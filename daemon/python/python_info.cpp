#include "python/python_info.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "elf/elf_symbols.h"
#include "elf/proc_maps.h"

namespace gilstat::python {
namespace {

// Data objects the probes may need (PyCode_Type: what tells a code object, for the names on a
// Python stack). Functions come from probes::ElfFile. The gil_* names are
// the static GIL state of 3.2 .. 3.6 (Python/ceval_gil.h), visible in .symtab of unstripped
// builds; a compiler may rename such a static ("gil_locked.lto_priv.0"): see DataSymbolKey.
const std::set<std::string, std::less<>> kDataSymbols = {
    "_PyRuntime",        "Py_Version",   "interpreter_lock", "gil_locked", "gil_last_holder",
    "gil_switch_number", "gil_interval", "gil_cond",         "gil_mutex",  "PyCode_Type"};

// The kDataSymbols entry that symbol `name` stands for: the name itself, or for a static GIL
// variable a compiler-suffixed copy of it ("gil_locked.lto_priv.0" -> "gil_locked"). Empty when
// the symbol is not wanted.
std::string_view DataSymbolKey(std::string_view name) {
  if (kDataSymbols.count(name) != 0) return name;
  const size_t dot = name.find('.');
  if (dot == std::string_view::npos || !name.starts_with("gil_")) return {};
  auto it = kDataSymbols.find(name.substr(0, dot));
  return it == kDataSymbols.end() ? std::string_view{} : std::string_view(*it);
}

// Functions that only free-threaded builds define: the inline Py_DECREF of those builds calls
// them, so every free-threaded libpython exports them (Include/object.h, Py_GIL_DISABLED).
constexpr const char* kFreeThreadedFunctions[] = {"_Py_MergeZeroLocalRefcount", "_Py_DecRefShared"};
// Any one defined in a file marks it as holding the interpreter (not just linking to it).
constexpr const char* kInterpreterFunctions[] = {"Py_GetVersion", "Py_Initialize",
                                                 "PyEval_SaveThread"};
constexpr char kDebugCookie[] = "xdebugpy";
constexpr char kRuntimeSectionName[] = "_PyRuntime (the .PyRuntime section)";

std::string BaseName(std::string_view path) {
  size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// What probes::ElfFile does not cover: data objects, file-backed data of any segment, the
// dynamic section's names, whether .symtab exists, and .rodata.
struct ElfFacts {
  bool has_symtab = false;
  std::string soname;
  std::vector<std::string> needed;
  std::vector<std::string> search_paths;   // DT_RUNPATH, else DT_RPATH, split at ':'
  std::map<std::string, SymbolInfo> data;  // kDataSymbols present
  std::vector<uint8_t> rodata;
  std::optional<SymbolInfo> runtime_section;  // the .PyRuntime section (3.13+), when present
  struct Load {
    uint64_t vaddr, filesz, offset;
  };
  std::vector<Load> loads;

  // File offset of `size` bytes at address `vaddr`, when the file holds them.
  std::optional<uint64_t> FileOffset(uint64_t vaddr, uint64_t size) const {
    for (const Load& l : loads) {
      if (vaddr >= l.vaddr && vaddr + size <= l.vaddr + l.filesz) return vaddr - l.vaddr + l.offset;
    }
    return std::nullopt;
  }
};

void ReadLoads(Elf* e, ElfFacts& f) {
  size_t nphdr = 0;
  if (elf_getphdrnum(e, &nphdr) != 0) return;
  for (size_t i = 0; i < nphdr; ++i) {
    GElf_Phdr ph;
    if (gelf_getphdr(e, static_cast<int>(i), &ph) && ph.p_type == PT_LOAD) {
      f.loads.push_back({ph.p_vaddr, ph.p_filesz, ph.p_offset});
    }
  }
}

// DT_SONAME, DT_NEEDED, DT_RPATH and DT_RUNPATH of a SHT_DYNAMIC section.
void ReadDynamic(Elf* e, Elf_Scn* scn, const GElf_Shdr& sh, ElfFacts& f, std::string& rpath,
                 std::string& runpath) {
  Elf_Data* d = elf_getdata(scn, nullptr);
  if (!d || sh.sh_entsize == 0) return;
  for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; ++i) {
    GElf_Dyn dyn;
    if (!gelf_getdyn(d, static_cast<int>(i), &dyn)) continue;
    if (dyn.d_tag != DT_SONAME && dyn.d_tag != DT_NEEDED && dyn.d_tag != DT_RPATH &&
        dyn.d_tag != DT_RUNPATH) {
      continue;
    }
    const char* s = elf_strptr(e, sh.sh_link, dyn.d_un.d_val);
    if (!s) continue;
    if (dyn.d_tag == DT_SONAME) f.soname = s;
    if (dyn.d_tag == DT_NEEDED) f.needed.emplace_back(s);
    if (dyn.d_tag == DT_RPATH) rpath = s;
    if (dyn.d_tag == DT_RUNPATH) runpath = s;
  }
}

// The kDataSymbols objects of a .symtab or .dynsym section.
void ReadDataSymbols(Elf* e, Elf_Scn* scn, const GElf_Shdr& sh, ElfFacts& f) {
  const bool dynamic = sh.sh_type == SHT_DYNSYM;
  if (!dynamic) f.has_symtab = true;
  Elf_Data* d = elf_getdata(scn, nullptr);
  if (!d || sh.sh_entsize == 0) return;
  for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; ++i) {
    GElf_Sym sym;
    if (!gelf_getsym(d, static_cast<int>(i), &sym)) continue;
    if (GELF_ST_TYPE(sym.st_info) != STT_OBJECT || sym.st_shndx == SHN_UNDEF) continue;
    const char* name = elf_strptr(e, sh.sh_link, sym.st_name);
    if (!name) continue;
    const std::string_view key = DataSymbolKey(name);
    if (key.empty()) continue;
    auto [it, inserted] = f.data.try_emplace(std::string(key));
    if (!inserted) {  // in both tables: remember that it is exported
      it->second.dynamic = it->second.dynamic || dynamic;
      continue;
    }
    it->second.name = name;
    it->second.dynamic = dynamic;
    it->second.value = sym.st_value;
    it->second.size = sym.st_size;
  }
}

// The library search path of file `path`: DT_RUNPATH, else DT_RPATH, split at ':', with
// $ORIGIN replaced by the directory of the file itself (symbolic links resolved).
std::vector<std::string> SearchPaths(const std::string& path, const std::string& rpath,
                                     const std::string& runpath) {
  std::vector<std::string> out;
  // The dynamic loader ignores DT_RPATH when DT_RUNPATH is present.
  std::string_view paths = runpath.empty() ? rpath : runpath;
  std::error_code ec;
  std::filesystem::path real = std::filesystem::canonical(path, ec);
  const std::string origin_dir = DirName(ec ? path : real.string());
  while (!paths.empty()) {
    size_t colon = paths.find(':');
    std::string p(paths.substr(0, colon));
    paths = colon == std::string_view::npos ? std::string_view{} : paths.substr(colon + 1);
    for (const char* origin : {"$ORIGIN", "${ORIGIN}"}) {
      for (size_t at; (at = p.find(origin)) != std::string::npos;) {
        p.replace(at, std::strlen(origin), origin_dir);
      }
    }
    if (!p.empty()) out.push_back(p);
  }
  return out;
}

// .rodata is read whole (the version string search): bounded like the tables of ElfLimits.
constexpr uint64_t kMaxRodata = 16u << 20;

Result<ElfFacts> ReadElfFacts(const probes::MappedFile& file) {
  const std::string& path = file.name();
  auto opened = probes::OpenedElf::Open(file);
  if (!opened.ok()) return opened.error();
  Elf* const e = opened->get();
  ElfFacts f;
  ReadLoads(e, f);
  size_t shstrndx = 0;
  if (elf_getshdrstrndx(e, &shstrndx) != 0) shstrndx = 0;
  std::string rpath, runpath;
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(e, scn)) != nullptr) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh)) continue;
    const char* sname = shstrndx ? elf_strptr(e, shstrndx, sh.sh_name) : nullptr;
    if (sh.sh_type == SHT_PROGBITS && sname && std::strcmp(sname, ".rodata") == 0) {
      if (sh.sh_size > kMaxRodata || sh.sh_offset > file.size() ||
          sh.sh_size > file.size() - sh.sh_offset) {
        return MakeError(ErrorCode::kInvalidArgument,
                         path + ": .rodata of " + std::to_string(sh.sh_size) +
                             " bytes is outside the file or larger than gilstat reads (" +
                             std::to_string(kMaxRodata >> 20) + " MiB): refused");
      }
      Elf_Data* d = elf_rawdata(scn, nullptr);
      if (d && d->d_buf) {
        const auto* p = static_cast<const uint8_t*>(d->d_buf);
        f.rodata.assign(p, p + d->d_size);
      }
    } else if (sh.sh_type == SHT_PROGBITS && sname && std::strcmp(sname, ".PyRuntime") == 0) {
      SymbolInfo s;
      s.name = kRuntimeSectionName;
      s.value = sh.sh_addr;
      s.size = sh.sh_size;
      f.runtime_section = s;
    } else if (sh.sh_type == SHT_DYNAMIC) {
      ReadDynamic(e, scn, sh, f, rpath, runpath);
    } else if (sh.sh_type == SHT_SYMTAB || sh.sh_type == SHT_DYNSYM) {
      ReadDataSymbols(e, scn, sh, f);
    }
  }
  // _PyRuntime not exported (a build with hidden symbols, stripped): CPython 3.13+ places it
  // alone in the section .PyRuntime, which stripping keeps.
  if (f.data.count("_PyRuntime") == 0 && f.runtime_section)
    f.data["_PyRuntime"] = *f.runtime_section;
  for (auto& [name, s] : f.data) {
    if (auto off = f.FileOffset(s.value, s.size ? s.size : 1)) s.file_offset = *off;
  }
  f.search_paths = SearchPaths(path, rpath, runpath);
  return f;
}

uint64_t LittleEndian(const std::vector<uint8_t>& b, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n && i < b.size(); ++i) v |= uint64_t{b[i]} << (8 * i);
  return v;
}

// PY_VERSION_HEX 0xMMmmuuRS -> major/minor/micro, when plausible.
bool FromHexVersion(uint64_t hex, InterpreterInfo& info) {
  const int major = static_cast<int>((hex >> 24) & 0xff);
  if (hex > 0xffffffffu || (major != 2 && major != 3)) return false;
  info.major = major;
  info.minor = static_cast<int>((hex >> 16) & 0xff);
  info.micro = static_cast<int>((hex >> 8) & 0xff);
  return true;
}

bool IsDigit(uint8_t c) { return c >= '0' && c <= '9'; }

struct Version3 {
  int major, minor, micro;
};

// NUL-terminated "X.Y.Z" (optionally "a1", "b2", "rc1", "+") not preceded by a digit or '.'.
std::vector<Version3> RodataVersions(const std::vector<uint8_t>& ro) {
  std::vector<Version3> out;
  const char* base = reinterpret_cast<const char*>(ro.data());
  for (size_t i = 0; i < ro.size(); ++i) {
    if ((ro[i] != '2' && ro[i] != '3') || (i > 0 && (IsDigit(ro[i - 1]) || ro[i - 1] == '.'))) {
      continue;
    }
    int v[3] = {0, 0, 0};
    const char* p = base + i;
    const char* end = base + ro.size();
    bool ok = true;
    for (int k = 0; k < 3 && ok; ++k) {
      auto r = std::from_chars(p, end, v[k]);
      ok = r.ec == std::errc() && r.ptr - p <= 3;
      p = r.ptr;
      if (ok && k < 2) ok = p < end && *p++ == '.';
    }
    if (!ok) continue;
    if (p < end && (*p == 'a' || *p == 'b' || *p == 'r')) {  // release level and serial
      if (*p == 'r') ok = ++p < end && *p == 'c';
      ++p;
      const char* serial = p;
      while (p < end && IsDigit(static_cast<uint8_t>(*p))) ++p;
      ok = ok && p > serial;
    }
    if (ok && p < end && *p == '+') ++p;
    if (ok && p < end && *p == '\0') out.push_back({v[0], v[1], v[2]});
  }
  return out;
}

SymbolInfo FunctionInfo(const probes::ElfSymbol& s) {
  SymbolInfo info;
  info.name = s.name;
  info.function = true;
  info.dynamic = s.dynamic;
  info.value = s.value;
  info.size = s.size;
  info.file_offset = s.file_offset;
  return info;
}

// The first .symtab/.dynsym function named `want` or a compiler clone of it ("want.isra.0"),
// the plain name preferred.
std::optional<SymbolInfo> FindFunction(const probes::ElfFile& elf, std::string_view want) {
  std::optional<SymbolInfo> best;
  for (const probes::ElfSymbol& s : elf.symbols()) {
    if (!IsSymbolOrClone(s.name, want)) continue;
    if (best && !(s.name == want && best->name != want)) continue;
    best = FunctionInfo(s);
  }
  return best;
}

bool Defines(const probes::ElfFile& elf, std::string_view name) {
  for (const probes::ElfSymbol& s : elf.symbols()) {
    if (s.name == name) return true;
  }
  return false;
}

}  // namespace

bool IsSymbolOrClone(std::string_view name, std::string_view base) {
  return name == base ||
         (name.size() > base.size() && name.starts_with(base) && name[base.size()] == '.');
}

std::optional<uint64_t> RipRelativeLoadTarget(std::span<const uint8_t> code, uint64_t vaddr) {
  // mov disp32(%rip),%rdi: REX.W 8B /r with ModRM 0x3d (reg=rdi, rm=RIP-relative), 7 bytes;
  // optionally behind an endbr64 (f3 0f 1e fa).
  size_t i = 0;
  if (code.size() >= 4 && code[0] == 0xf3 && code[1] == 0x0f && code[2] == 0x1e &&
      code[3] == 0xfa) {
    i = 4;
  }
  if (code.size() < i + 7 || code[i] != 0x48 || code[i + 1] != 0x8b || code[i + 2] != 0x3d) {
    return std::nullopt;
  }
  const int32_t disp = static_cast<int32_t>(
      static_cast<uint32_t>(code[i + 3]) | static_cast<uint32_t>(code[i + 4]) << 8 |
      static_cast<uint32_t>(code[i + 5]) << 16 | static_cast<uint32_t>(code[i + 6]) << 24);
  return vaddr + i + 7 + static_cast<int64_t>(disp);
}

namespace {

void ChooseMethod(InterpreterInfo& info) {
  const bool take_drop = info.has("take_gil") && info.has("drop_gil");
  if (info.major == 2) {
    if (info.has("interpreter_lock")) {
      info.gil_method = GilMethod::kInterpreterLock;
      info.method = "2.x interpreter_lock semaphore (sem_wait/sem_post on the lock it points to)";
    } else {
      info.gil_method = GilMethod::kNone;
      info.method = std::string("none: ") + (info.stripped ? "stripped, " : "") +
                    "no interpreter_lock symbol (GIL semaphore not identifiable)";
    }
  } else if (take_drop) {
    info.gil_method = GilMethod::kTakeGil;
    info.method = "take_gil/drop_gil uprobes";
  } else if (info.has_debug_offsets && info.has("_PyRuntime")) {
    info.gil_method = GilMethod::kGilCondvar;
    info.method = "GIL state via _Py_DebugOffsets in _PyRuntime (condvar waits)";
  } else if (info.has("_PyRuntime")) {
    info.gil_method = GilMethod::kGilCondvar;
    info.method = info.major == 3 && info.minor < 12
                      ? "GIL condvar in _PyRuntime.ceval.gil (offset from the internal headers)"
                      : "GIL condvar via _PyRuntime -> interpreter state (offsets from the "
                        "internal headers)";
  } else {
    info.gil_method = GilMethod::kNone;
    info.method = std::string("none: ") + (info.stripped ? "stripped, " : "") +
                  "no take_gil/drop_gil, no _PyRuntime";
  }
  if (info.free_threaded) info.method += "; free-threaded build: the GIL may be disabled";
}

// take_gil and drop_gil, and every other copy of them the compiler made (3.8:
// take_gil.constprop.0 serves PyEval_RestoreThread while take_gil serves the eval loop): each
// must be probed too, under its own name.
void AddGilFunctions(const probes::ElfFile& elf, InterpreterInfo& info) {
  for (const char* f : {"take_gil", "drop_gil"}) {
    auto best = FindFunction(elf, f);
    if (!best) continue;
    info.symbols[f] = *best;
    for (const probes::ElfSymbol& s : elf.symbols()) {
      if (!IsSymbolOrClone(s.name, f) || s.file_offset == best->file_offset || s.file_offset == 0) {
        continue;
      }
      info.symbols[s.name] = FunctionInfo(s);
    }
  }
}

// Versions 1 and 2 of the order of trust: Py_Version (3.11+), then _Py_DebugOffsets (cookie,
// then uint64 version; 3.13+), which also sets has_debug_offsets.
void VersionFromSymbols(const probes::MappedFile& file, InterpreterInfo& info) {
  if (auto it = info.symbols.find("Py_Version");
      it != info.symbols.end() && it->second.file_offset != 0 && it->second.size >= 4) {
    auto b = file.ReadBytes(it->second.file_offset, it->second.size >= 8 ? 8 : 4);
    if (b && FromHexVersion(LittleEndian(*b, b->size()), info)) {
      info.version_source = VersionSource::kPyVersion;
    }
  }
  if (auto it = info.symbols.find("_PyRuntime");
      it != info.symbols.end() && it->second.file_offset != 0 && it->second.size >= 16) {
    auto b = file.ReadBytes(it->second.file_offset, 16);
    if (b && std::memcmp(b->data(), kDebugCookie, 8) == 0) {
      info.has_debug_offsets = true;
      InterpreterInfo v;
      if (FromHexVersion(LittleEndian({b->begin() + 8, b->end()}, 8), v) &&
          info.version_source == VersionSource::kUnknown) {
        info.major = v.major;
        info.minor = v.minor;
        info.micro = v.micro;
        info.version_source = VersionSource::kDebugOffsets;
      }
    }
  }
}

// The name that carries the ABI: major.minor and its flags ('t' = free-threaded).
struct AbiName {
  std::string name;  // the DT_SONAME, else the file name
  bool parsed = false;
  int major = 0, minor = 0;
  std::string flags;
};

AbiName ReadAbiName(const std::string& path, const ElfFacts& facts) {
  AbiName abi;
  abi.name = facts.soname.empty() ? BaseName(path) : facts.soname;
  abi.parsed = ParsePythonAbiName(abi.name, abi.major, abi.minor, abi.flags) ||
               ParsePythonAbiName(BaseName(path), abi.major, abi.minor, abi.flags);
  return abi;
}

// Version 3 of the order of trust: the ABI name and .rodata, else the symbols and .rodata.
void VersionFromNames(const probes::ElfFile& elf, const ElfFacts& facts, const AbiName& abi,
                      InterpreterInfo& info) {
  const std::vector<Version3> found = RodataVersions(facts.rodata);
  if (abi.parsed) {
    info.major = abi.major;
    info.minor = abi.minor;
    info.version_source = VersionSource::kAbiName;
    for (const Version3& v : found) {
      if (v.major == abi.major && v.minor == abi.minor) {
        info.micro = v.micro;
        info.version_source = VersionSource::kRodataAndAbiName;
        break;
      }
    }
    return;
  }
  const int major = Defines(elf, "PyString_FromString") ? 2 : 3;
  std::optional<Version3> only;
  bool unique = true;
  for (const Version3& v : found) {
    if (v.major != major) continue;
    if (only && (only->minor != v.minor || only->micro != v.micro)) unique = false;
    only = v;
  }
  info.major = major;
  info.version_source = VersionSource::kMajorOnly;
  if (only && unique) {
    info.minor = only->minor;
    info.micro = only->micro;
    info.version_source = VersionSource::kRodata;
  }
}

void DetectFreeThreaded(const probes::ElfFile& elf, const AbiName& abi, InterpreterInfo& info) {
  for (const char* f : kFreeThreadedFunctions) {
    if (Defines(elf, f)) {
      info.free_threaded = true;
      info.free_threaded_marker = f;
      return;
    }
  }
  if (abi.parsed && abi.flags.find('t') != std::string::npos) {
    info.free_threaded = true;
    info.free_threaded_marker = "'t' ABI flag in " + abi.name;
  }
}

// Stripped 2.x: the exported PyEval_ReleaseLock loads the interpreter_lock pointer first.
void RecoverInterpreterLock(const probes::ElfFile& elf, InterpreterInfo& info) {
  auto fn = FindFunction(elf, "PyEval_ReleaseLock");
  if (!fn || fn->file_offset == 0) return;
  auto code = elf.ReadBytes(fn->file_offset, 16);
  if (!code) return;
  if (auto addr = RipRelativeLoadTarget(*code, fn->value)) {
    SymbolInfo lock;
    lock.name = "interpreter_lock (from PyEval_ReleaseLock)";
    lock.value = *addr;
    lock.size = 8;
    info.symbols["interpreter_lock"] = lock;
  }
}

// InspectBinary without following DT_NEEDED.
Result<InterpreterInfo> InspectFile(const ElfFacts& facts, const probes::ElfFile& elf) {
  const std::string& path = elf.path();
  InterpreterInfo info;
  info.binary = path;
  info.file = elf.file().id();
  info.stripped = !facts.has_symtab;
  bool defines = false;
  for (const char* f : kInterpreterFunctions) defines = defines || Defines(elf, f);
  if (!defines) {
    info.method = "none: not a Python interpreter";
    return info;  // kNotPython
  }
  info.kind = InterpreterInfo::Kind::kCPython;
  for (const auto& [name, s] : facts.data) info.symbols[name] = s;
  AddGilFunctions(elf, info);
  VersionFromSymbols(elf.file(), info);
  const AbiName abi = ReadAbiName(path, facts);
  if (info.version_source == VersionSource::kUnknown) VersionFromNames(elf, facts, abi, info);
  DetectFreeThreaded(elf, abi, info);
  if (info.major == 2 && !info.has("interpreter_lock")) RecoverInterpreterLock(elf, info);
  ChooseMethod(info);
  return info;
}

Result<InterpreterInfo> InspectOne(Result<probes::MappedFile> opened, ElfFacts* facts_out) {
  if (!opened) return opened.error();
  auto file = std::make_shared<const probes::MappedFile>(std::move(opened).value());
  auto facts = ReadElfFacts(*file);
  if (!facts) return facts.error();
  auto elf = probes::ElfFile::Open(file);
  if (!elf) return elf.error();
  auto info = InspectFile(*facts, *elf);
  if (facts_out) *facts_out = std::move(*facts);
  return info;
}

bool IsLibpythonName(std::string_view base) {
  int major = 0, minor = 0;
  std::string flags;
  return base.starts_with("lib") && ParsePythonAbiName(base, major, minor, flags);
}

}  // namespace

const char* VersionSourceName(VersionSource s) {
  switch (s) {
    case VersionSource::kUnknown:
      return "unknown";
    case VersionSource::kPyVersion:
      return "Py_Version";
    case VersionSource::kDebugOffsets:
      return "_Py_DebugOffsets";
    case VersionSource::kRodataAndAbiName:
      return ".rodata version string + ABI name";
    case VersionSource::kAbiName:
      return "ABI name";
    case VersionSource::kRodata:
      return ".rodata version string";
    case VersionSource::kMajorOnly:
      return "symbols (major only)";
  }
  return "unknown";
}

std::string InterpreterInfo::VersionString() const {
  if (major == 0) return "";
  if (version_source == VersionSource::kMajorOnly) return std::to_string(major);
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(micro);
}

bool ParsePythonAbiName(std::string_view name, int& major, int& minor, std::string& flags) {
  if (name.starts_with("lib")) name.remove_prefix(3);
  if (!name.starts_with("python")) return false;
  name.remove_prefix(6);
  const char* p = name.data();
  const char* end = p + name.size();
  auto r1 = std::from_chars(p, end, major);
  if (r1.ec != std::errc() || r1.ptr == end || *r1.ptr != '.') return false;
  auto r2 = std::from_chars(r1.ptr + 1, end, minor);
  if (r2.ec != std::errc()) return false;
  p = r2.ptr;
  flags.clear();
  while (p < end && *p >= 'a' && *p <= 'z') flags += *p++;  // ABI flags: 'm', 'd', 'u', 't'
  // Either the end ("python3.13t") or a shared object suffix ("libpython3.13t.so.1.0").
  const std::string_view rest(p, static_cast<size_t>(end - p));
  return (major == 2 || major == 3) && (rest.empty() || rest.starts_with(".so"));
}

Result<InterpreterInfo> InspectBinary(const std::string& path) {
  ElfFacts facts;
  auto info = InspectOne(probes::OpenLocalFile(path), &facts);
  if (!info || info->kind == InterpreterInfo::Kind::kCPython) return info;
  // A launcher: follow the libpython it needs.
  for (const std::string& needed : facts.needed) {
    if (!IsLibpythonName(BaseName(needed))) continue;
    std::vector<std::string> dirs = facts.search_paths;
    for (const char* d : {"/usr/local/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib", "/lib"}) {
      dirs.emplace_back(d);
    }
    for (const std::string& dir : dirs) {
      const std::string candidate = dir + "/" + needed;
      if (access(candidate.c_str(), R_OK) != 0) continue;
      auto lib = InspectOne(probes::OpenLocalFile(candidate), nullptr);
      if (lib && lib->kind == InterpreterInfo::Kind::kCPython) return lib;
    }
    return MakeError(ErrorCode::kNotFound, path + " needs " + needed +
                                               ", not found in its RUNPATH/RPATH or the system "
                                               "library directories");
  }
  return info;
}

Result<InterpreterInfo> InspectProcess(pid_t pid, const std::string& proc_root) {
  auto maps = probes::ReadProcMaps(pid, proc_root);
  if (!maps) return maps.error();
  std::set<std::string> tried;
  std::optional<Error> lib_error;  // a mapped libpython that could not be read
  for (const probes::MapsEntry& e : *maps) {
    if (e.perms.size() < 3 || e.perms[2] != 'x' || e.path.empty() || e.path[0] != '/') continue;
    if (e.path.ends_with(" (deleted)") || !IsLibpythonName(BaseName(e.path))) continue;
    if (!tried.insert(e.path).second) continue;
    // libpython3.so (the stable ABI forwarder) defines nothing: keep looking.
    probes::MappedFileOptions options;
    options.proc_root = proc_root;
    auto info = InspectOne(probes::OpenMappedFile(pid, e, options), nullptr);
    if (info && info->kind == InterpreterInfo::Kind::kCPython) return info;
    if (!info && !lib_error) lib_error = info.error();
  }
  // The executable: the kernel's own link to it.
  auto exe = probes::OpenProcessExe(pid, proc_root);
  if (!exe && exe.status().code() == ErrorCode::kNotFound && maps->empty()) {
    return MakeError(ErrorCode::kNotFound, "process " + std::to_string(pid) +
                                               " has no executable (kernel thread or exiting)");
  }
  auto info = InspectOne(std::move(exe), nullptr);
  // A launcher whose libpython could not be read: report why rather than "not Python".
  if (lib_error && (!info || info->kind == InterpreterInfo::Kind::kNotPython)) return *lib_error;
  return info;
}

}  // namespace gilstat::python
