// Function symbols of an ELF file (libc, an executable) resolved with libelf to the file offsets
// that uprobes are attached at, with glibc's symbol versions understood.
#pragma once

#include <libelf.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "elf/mapped_file.h"
#include "gilstat/result.h"

namespace gilstat::probes {

struct ElfSymbol {
  std::string name;             // without version
  std::string version;          // e.g. "GLIBC_2.34"; empty for unversioned symbols
  bool default_version = true;  // "name@@version" (or unversioned); false for "name@version"
  bool dynamic = false;         // from .dynsym (else .symtab)
  uint64_t value = 0;           // virtual address in the file's own address space
  uint64_t size = 0;
  uint64_t file_offset = 0;  // where the code is in the file: what uprobes attach at
};

// Bounds on what is read of an ELF file a target maps, so that no file (a sparse one whose
// headers claim gigabytes) makes the daemon allocate more than a few tens of MB. Real files
// are far below them: libpython3.14d's .symtab is 0.6 MB, its .rodata 3 MB.
struct ElfLimits {
  static constexpr uint64_t kMaxSections = 4096;
  static constexpr uint64_t kMaxSegments = 1024;
  static constexpr uint64_t kMaxSymbolTable = 8u << 20;   // .symtab, .dynsym: each
  static constexpr uint64_t kMaxOtherTable = 16u << 20;   // string, version, dynamic tables
  static constexpr uint64_t kMaxTablesTotal = 32u << 20;  // all of those together
  static constexpr uint64_t kMaxSymbols = 200000;         // function symbols kept per file
  static constexpr size_t kMaxSymbolName = 4096;
};

// Checks the ELF header, the section and program header tables and every symbol, string,
// version and dynamic table against the file's size and ElfLimits, by reading the headers
// itself (before libelf allocates anything they claim). kInvalidArgument naming what is wrong.
Status CheckElfBounds(const MappedFile& file);

// An ELF file opened for libelf on a verified file (which must outlive it), bounds checked
// first. Errors: kInvalidArgument (not ELF, or out of bounds).
class OpenedElf {
 public:
  static Result<OpenedElf> Open(const MappedFile& file);
  OpenedElf(OpenedElf&& o) noexcept : elf_(o.elf_) { o.elf_ = nullptr; }
  OpenedElf& operator=(OpenedElf&&) = delete;
  OpenedElf(const OpenedElf&) = delete;
  ~OpenedElf();
  Elf* get() const { return elf_; }

 private:
  explicit OpenedElf(Elf* elf) : elf_(elf) {}
  Elf* elf_;
};

class ElfFile {
 public:
  // Reads the symbol tables (.dynsym with versions, and .symtab when present) of a verified
  // file (OpenMappedFile), which the ElfFile keeps open.
  static Result<ElfFile> Open(std::shared_ptr<const MappedFile> file);
  static Result<ElfFile> Open(MappedFile file);
  // A file named by this host's user (OpenLocalFile): kNotFound when it does not exist.
  static Result<ElfFile> Open(const std::string& path);

  // The path of the file, for people (what the target maps, or the local path).
  const std::string& path() const { return file_->name(); }
  // The open file: its path() is what uprobes attach to.
  const MappedFile& file() const { return *file_; }
  const std::vector<ElfSymbol>& symbols() const { return symbols_; }

  // One function by name. `name` may be plain ("sem_wait"): the default version (@@) wins, then
  // an unversioned symbol; several non-default versions at different addresses are ambiguous
  // (kNotFound with a message naming them). "sem_wait@@GLIBC_2.34" or "sem_wait@GLIBC_2.2.5"
  // select a version explicitly.
  Result<ElfSymbol> FindFunction(std::string_view name) const;

  // `size` bytes of the file at `file_offset` (e.g. a function's code, to check its layout).
  Result<std::vector<uint8_t>> ReadBytes(uint64_t file_offset, uint64_t size) const {
    return file_->ReadBytes(file_offset, size);
  }

 private:
  std::shared_ptr<const MappedFile> file_;
  std::vector<ElfSymbol> symbols_;
};

}  // namespace gilstat::probes
