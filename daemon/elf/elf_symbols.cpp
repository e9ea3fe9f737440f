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

Error ElfError(const std::string& path, const char* what) {
  const char* detail = elf_errmsg(elf_errno());  // null when libelf saw no error
  return MakeError(ErrorCode::kInvalidArgument,
                   path + ": " + what + (detail ? std::string(": ") + detail : std::string()));
}

struct Segment {
  uint64_t vaddr, filesz, offset;
};

}  // namespace

namespace {

Error Refuse(const MappedFile& f, const std::string& why) {
  return MakeError(ErrorCode::kInvalidArgument, f.name() + ": " + why + ": refused");
}

// The header fields CheckElfBounds needs, from either ELF class.
struct HeaderFacts {
  bool is64 = true;
  uint64_t shoff = 0, phoff = 0, shnum = 0, phnum = 0;
  unsigned shentsize = 0, phentsize = 0;
};

Result<HeaderFacts> ReadHeader(const MappedFile& f) {
  auto ident = f.ReadBytes(0, EI_NIDENT);
  if (!ident || std::memcmp(ident->data(), ELFMAG, SELFMAG) != 0) {
    return Refuse(f, "not an ELF file");
  }
  HeaderFacts h;
  h.is64 = (*ident)[EI_CLASS] == ELFCLASS64;
  if ((!h.is64 && (*ident)[EI_CLASS] != ELFCLASS32) || (*ident)[EI_DATA] != ELFDATA2LSB) {
    return Refuse(f, "not a little-endian ELF file of a known class");
  }
  auto raw = f.ReadBytes(0, h.is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr));
  if (!raw) return Refuse(f, "truncated ELF header");
  if (h.is64) {
    Elf64_Ehdr eh;
    std::memcpy(&eh, raw->data(), sizeof eh);
    h = {true, eh.e_shoff, eh.e_phoff, eh.e_shnum, eh.e_phnum, eh.e_shentsize, eh.e_phentsize};
  } else {
    Elf32_Ehdr eh;
    std::memcpy(&eh, raw->data(), sizeof eh);
    h = {false, eh.e_shoff, eh.e_phoff, eh.e_shnum, eh.e_phnum, eh.e_shentsize, eh.e_phentsize};
  }
  return h;
}

struct SectionFacts {
  uint32_t type = 0;
  uint64_t offset = 0, size = 0, link = 0;
};

SectionFacts SectionAt(const std::vector<uint8_t>& table, size_t i, bool is64) {
  if (is64) {
    Elf64_Shdr sh;
    std::memcpy(&sh, table.data() + i * sizeof sh, sizeof sh);
    return {sh.sh_type, sh.sh_offset, sh.sh_size, sh.sh_link};
  }
  Elf32_Shdr sh;
  std::memcpy(&sh, table.data() + i * sizeof sh, sizeof sh);
  return {sh.sh_type, sh.sh_offset, sh.sh_size, sh.sh_link};
}

// The section header table; extended numbering (e_shnum 0) resolved from section 0.
Result<std::vector<uint8_t>> ReadSectionTable(const MappedFile& f, HeaderFacts& h) {
  if (h.shoff == 0) {
    h.shnum = 0;  // no table, whatever e_shnum claims
    return std::vector<uint8_t>{};
  }
  const unsigned entsize = h.is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
  if (h.shentsize != entsize) return Refuse(f, "unexpected section header size");
  if (h.shnum == 0) {
    auto first = f.ReadBytes(h.shoff, entsize);
    if (!first) return Refuse(f, "section header table outside the file");
    h.shnum = SectionAt(*first, 0, h.is64).size;
  }
  if (h.shnum > ElfLimits::kMaxSections) {
    return Refuse(f, std::to_string(h.shnum) + " sections (at most " +
                         std::to_string(ElfLimits::kMaxSections) + " read)");
  }
  auto table = f.ReadBytes(h.shoff, h.shnum * entsize);
  if (!table) return Refuse(f, "section header table outside the file");
  return table;
}

bool IsReadTable(uint32_t type) {
  return type == SHT_SYMTAB || type == SHT_DYNSYM || type == SHT_STRTAB || type == SHT_DYNAMIC ||
         type == SHT_GNU_versym || type == SHT_GNU_verdef || type == SHT_GNU_verneed;
}

}  // namespace

Status CheckElfBounds(const MappedFile& f) {
  auto h = ReadHeader(f);
  if (!h) return h.error();
  if (h->phnum >= PN_XNUM || h->phnum > ElfLimits::kMaxSegments) {
    return Refuse(f, std::to_string(h->phnum) + " program headers");
  }
  const unsigned phentsize = h->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
  if (h->phnum > 0 && (h->phentsize != phentsize || h->phoff > f.size() ||
                       h->phnum * phentsize > f.size() - h->phoff)) {
    return Refuse(f, "program header table outside the file");
  }
  auto table = ReadSectionTable(f, *h);
  if (!table) return table.error();
  uint64_t total = 0;
  for (size_t i = 0; i < h->shnum; ++i) {
    const SectionFacts s = SectionAt(*table, i, h->is64);
    if (!IsReadTable(s.type)) continue;
    const std::string which = "section " + std::to_string(i) + " (" + std::to_string(s.size) +
                              " bytes at offset " + std::to_string(s.offset) + ")";
    if (s.offset > f.size() || s.size > f.size() - s.offset) {
      return Refuse(f, which + " outside the file (" + std::to_string(f.size()) + " bytes)");
    }
    const bool symbols = s.type == SHT_SYMTAB || s.type == SHT_DYNSYM;
    const uint64_t cap = symbols ? ElfLimits::kMaxSymbolTable : ElfLimits::kMaxOtherTable;
    total += s.size;
    if (s.size > cap || total > ElfLimits::kMaxTablesTotal) {
      return Refuse(f, which + " larger than gilstat reads (" + std::to_string(cap >> 20) +
                           " MiB a table, " + std::to_string(ElfLimits::kMaxTablesTotal >> 20) +
                           " MiB in all)");
    }
  }
  return Status::Ok();
}

Result<OpenedElf> OpenedElf::Open(const MappedFile& file) {
  if (elf_version(EV_CURRENT) == EV_NONE) {
    return MakeError(ErrorCode::kInternal, "libelf initialisation failed");
  }
  if (Status st = CheckElfBounds(file); !st.ok()) return st.error();
  Elf* elf = elf_begin(file.fd(), ELF_C_READ, nullptr);
  if (!elf || elf_kind(elf) != ELF_K_ELF) {
    Error e = ElfError(file.name(), "not an ELF file");
    if (elf) elf_end(elf);
    return e;
  }
  return OpenedElf(elf);
}

OpenedElf::~OpenedElf() {
  if (elf_) elf_end(elf_);
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
      // A version is asked for as "name@version" / "name@@version": one holding '@' could
      // not be told apart from another (no linker makes one), so it counts as absent.
      if (vname && !std::strchr(vname, '@')) out.verdefs[vd.vd_ndx] = vname;
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
    if (!name || !*name || strnlen(name, ElfLimits::kMaxSymbolName) == ElfLimits::kMaxSymbolName) {
      continue;
    }
    if (out.size() >= ElfLimits::kMaxSymbols) return;
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

Result<ElfFile> ElfFile::Open(std::shared_ptr<const MappedFile> file) {
  auto opened = OpenedElf::Open(*file);
  if (!opened.ok()) return opened.error();
  Elf* const e = opened->get();
  auto loads = ExecutableSegments(e, file->name());
  if (!loads.ok()) return loads.error();
  const Versions versions = ReadVersions(e);
  ElfFile out;
  out.file_ = std::move(file);
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(e, scn)) != nullptr) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh)) continue;
    if (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) continue;
    ReadFunctions(e, scn, sh, versions, *loads, out.symbols_);
  }
  if (out.symbols_.size() >= ElfLimits::kMaxSymbols) {
    return MakeError(ErrorCode::kInvalidArgument, out.path() + ": more than " +
                                                      std::to_string(ElfLimits::kMaxSymbols) +
                                                      " function symbols: refused");
  }
  return out;
}

Result<ElfFile> ElfFile::Open(MappedFile file) {
  return Open(std::make_shared<const MappedFile>(std::move(file)));
}

Result<ElfFile> ElfFile::Open(const std::string& path) {
  auto file = OpenLocalFile(path);
  if (!file) return file.error();
  return Open(std::move(file).value());
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
    return MakeError(ErrorCode::kNotFound, path() + ": no function " + std::string(name));
  }
  if (best_rank == 1) {
    // Only non-default versions: unambiguous only if they all are the same code.
    for (const ElfSymbol* c : candidates) {
      if (c->value != best->value) {
        std::string names;
        for (const ElfSymbol* d : candidates) names += " " + d->name + "@" + d->version;
        return MakeError(ErrorCode::kNotFound, path() + ": " + std::string(name) +
                                                   " is ambiguous (no default version):" + names);
      }
    }
  }
  return *best;
}

}  // namespace gilstat::probes
