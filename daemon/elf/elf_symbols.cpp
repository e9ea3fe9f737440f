#include "elf/elf_symbols.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>

namespace gilstat::probes {
namespace {

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) close(fd);
  }
};

Error ElfError(const std::string& path, const char* what) {
  const char* detail = elf_errmsg(elf_errno());  // null when libelf saw no error
  return MakeError(ErrorCode::kInvalidArgument,
                   path + ": " + what + (detail ? std::string(": ") + detail : std::string()));
}

struct Segment {
  uint64_t vaddr, filesz, offset;
};

}  // namespace

Result<OpenedElf> OpenedElf::Open(const std::string& path) {
  if (elf_version(EV_CURRENT) == EV_NONE) {
    return MakeError(ErrorCode::kInternal, "libelf initialisation failed");
  }
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return MakeError(err == ENOENT   ? ErrorCode::kNotFound
                     : err == EACCES ? ErrorCode::kPermissionDenied
                                     : ErrorCode::kUnavailable,
                     path + ": " + std::strerror(err));
  }
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  if (!elf || elf_kind(elf) != ELF_K_ELF) {
    Error e = ElfError(path, "not an ELF file");
    if (elf) elf_end(elf);
    close(fd);
    return e;
  }
  return OpenedElf(fd, elf);
}

OpenedElf::~OpenedElf() {
  if (elf_) elf_end(elf_);
  if (fd_ >= 0) close(fd_);
}

namespace {

// The executable PT_LOAD segments: where a symbol's address is in the file.
Result<std::vector<Segment>> ExecutableSegments(Elf* e, const std::string& path) {
  std::vector<Segment> loads;
  size_t nphdr = 0;
  if (elf_getphdrnum(e, &nphdr) != 0) return ElfError(path, "no program headers");
  for (size_t i = 0; i < nphdr; ++i) {
    GElf_Phdr ph;
    if (gelf_getphdr(e, static_cast<int>(i), &ph) && ph.p_type == PT_LOAD && (ph.p_flags & PF_X)) {
      loads.push_back({ph.p_vaddr, ph.p_filesz, ph.p_offset});
    }
  }
  return loads;
}

// Version definitions (index -> name, from .gnu.version_d) and the versym array of .dynsym.
struct Versions {
  std::map<unsigned, std::string> verdefs;
  Elf_Data* versym = nullptr;
};

void ReadVerdefs(Elf* e, Elf_Scn* scn, const GElf_Shdr& sh, Versions& out) {
  Elf_Data* d = elf_getdata(scn, nullptr);
  if (!d) return;
  size_t off = 0;
  for (unsigned n = 0; n < sh.sh_info; ++n) {
    GElf_Verdef vd;
    if (!gelf_getverdef(d, static_cast<int>(off), &vd)) break;
    GElf_Verdaux aux;
    if (vd.vd_cnt > 0 && gelf_getverdaux(d, static_cast<int>(off + vd.vd_aux), &aux)) {
      const char* vname = elf_strptr(e, sh.sh_link, aux.vda_name);
      if (vname) out.verdefs[vd.vd_ndx] = vname;
    }
    // The next entry lies after this one, inside the section: a wrapping offset (libelf takes
    // an int) would visit entries again, up to sh_info (any number) times.
    if (vd.vd_next == 0 || vd.vd_next >= d->d_size - off) break;
    off += vd.vd_next;
  }
}

Versions ReadVersions(Elf* e) {
  Versions out;
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(e, scn)) != nullptr) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh)) continue;
    if (sh.sh_type == SHT_GNU_versym) {
      out.versym = elf_getdata(scn, nullptr);
    } else if (sh.sh_type == SHT_GNU_verdef) {
      ReadVerdefs(e, scn, sh, out);
    }
  }
  return out;
}

// The version of symbol `index` of .dynsym or, in .symtab, from its name ("f@@V", "f@V").
void SetVersion(ElfSymbol& s, size_t index, const Versions& versions) {
  if (auto at = s.name.find('@'); at != std::string::npos) {
    const bool dflt = s.name.compare(at, 2, "@@") == 0;
    s.version = s.name.substr(at + (dflt ? 2 : 1));
    s.default_version = dflt;
    s.name.resize(at);
    return;
  }
  GElf_Versym vs;
  if (!s.dynamic || !versions.versym ||
      !gelf_getversym(versions.versym, static_cast<int>(index), &vs)) {
    return;
  }
  const unsigned idx = vs & 0x7fff;
  if (idx <= 1) return;  // 0: local, 1: global unversioned
  if (auto it = versions.verdefs.find(idx); it != versions.verdefs.end()) s.version = it->second;
  s.default_version = (vs & 0x8000) == 0;
}

// Where the symbol's code is in the file; false when no executable segment holds it.
bool SetFileOffset(ElfSymbol& s, const std::vector<Segment>& loads) {
  for (const Segment& seg : loads) {
    if (s.value >= seg.vaddr && s.value < seg.vaddr + seg.filesz) {
      s.file_offset = s.value - seg.vaddr + seg.offset;
      return true;
    }
  }
  return false;
}

// The defined functions of one symbol table section.
void ReadFunctions(Elf* e, Elf_Scn* scn, const GElf_Shdr& sh, const Versions& versions,
                   const std::vector<Segment>& loads, std::vector<ElfSymbol>& out) {
  const bool dynamic = sh.sh_type == SHT_DYNSYM;
  Elf_Data* data = elf_getdata(scn, nullptr);
  if (!data || sh.sh_entsize == 0) return;
  const size_t count = sh.sh_size / sh.sh_entsize;
  for (size_t i = 0; i < count; ++i) {
    GElf_Sym sym;
    if (!gelf_getsym(data, static_cast<int>(i), &sym)) continue;
    if (GELF_ST_TYPE(sym.st_info) != STT_FUNC && GELF_ST_TYPE(sym.st_info) != STT_GNU_IFUNC) {
      continue;
    }
    if (sym.st_shndx == SHN_UNDEF || sym.st_value == 0) continue;
    const char* name = elf_strptr(e, sh.sh_link, sym.st_name);
    if (!name || !*name) continue;
    ElfSymbol s;
    s.name = name;
    s.dynamic = dynamic;
    s.value = sym.st_value;
    s.size = sym.st_size;
    SetVersion(s, i, versions);
    if (SetFileOffset(s, loads)) out.push_back(std::move(s));
  }
}

}  // namespace

Result<ElfFile> ElfFile::Open(const std::string& path) {
  auto opened = OpenedElf::Open(path);
  if (!opened.ok()) return opened.error();
  Elf* const e = opened->get();
  auto loads = ExecutableSegments(e, path);
  if (!loads.ok()) return loads.error();
  const Versions versions = ReadVersions(e);
  ElfFile file;
  file.path_ = path;
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(e, scn)) != nullptr) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh)) continue;
    if (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) continue;
    ReadFunctions(e, scn, sh, versions, *loads, file.symbols_);
  }
  return file;
}

Result<ElfSymbol> ElfFile::FindFunction(std::string_view name) const {
  std::string_view base = name;
  std::string_view want_version;
  int want_default = -1;  // -1: any
  if (auto at = name.find('@'); at != std::string_view::npos) {
    base = name.substr(0, at);
    want_default = name.substr(at).starts_with("@@") ? 1 : 0;
    want_version = name.substr(at + (want_default ? 2 : 1));
  }
  const ElfSymbol* best = nullptr;
  int best_rank = -1;
  std::vector<const ElfSymbol*> candidates;
  for (const ElfSymbol& s : symbols_) {
    if (s.name != base) continue;
    if (want_default >= 0) {
      if (s.version != want_version || s.default_version != (want_default == 1)) continue;
      return s;
    }
    candidates.push_back(&s);
    // Rank: default version > unversioned .symtab/.dynsym > non-default version.
    int rank = !s.version.empty() && s.default_version ? 3 : s.version.empty() ? 2 : 1;
    if (rank > best_rank) {
      best = &s;
      best_rank = rank;
    }
  }
  if (!best) {
    return MakeError(ErrorCode::kNotFound, path_ + ": no function " + std::string(name));
  }
  if (best_rank == 1) {
    // Only non-default versions: unambiguous only if they all are the same code.
    for (const ElfSymbol* c : candidates) {
      if (c->value != best->value) {
        std::string names;
        for (const ElfSymbol* d : candidates) names += " " + d->name + "@" + d->version;
        return MakeError(ErrorCode::kNotFound, path_ + ": " + std::string(name) +
                                                   " is ambiguous (no default version):" + names);
      }
    }
  }
  return *best;
}

Result<std::vector<uint8_t>> ReadFileBytes(const std::string& path, uint64_t file_offset,
                                           uint64_t size) {
  FdCloser fd{open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.fd < 0) {
    return MakeError(ErrorCode::kUnavailable, path + ": " + std::strerror(errno));
  }
  std::vector<uint8_t> out(size);
  ssize_t n = pread(fd.fd, out.data(), size, static_cast<off_t>(file_offset));
  if (n < 0 || static_cast<uint64_t>(n) != size) {
    return MakeError(ErrorCode::kUnavailable,
                     path + ": short read at offset " + std::to_string(file_offset));
  }
  return out;
}

Result<std::vector<uint8_t>> ElfFile::ReadBytes(uint64_t file_offset, uint64_t size) const {
  return ReadFileBytes(path_, file_offset, size);
}

}  // namespace gilstat::probes
