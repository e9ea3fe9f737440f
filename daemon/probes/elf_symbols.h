// Function symbols of an ELF file (libc, an executable) resolved with libelf to the file offsets
// that uprobes are attached at, with glibc's symbol versions understood.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

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

class ElfFile {
 public:
  // Reads the symbol tables (.dynsym with versions, and .symtab when present).
  static Result<ElfFile> Open(const std::string& path);

  const std::string& path() const { return path_; }
  const std::vector<ElfSymbol>& symbols() const { return symbols_; }

  // One function by name. `name` may be plain ("sem_wait"): the default version (@@) wins, then
  // an unversioned symbol; several non-default versions at different addresses are ambiguous
  // (kNotFound with a message naming them). "sem_wait@@GLIBC_2.34" or "sem_wait@GLIBC_2.2.5"
  // select a version explicitly.
  Result<ElfSymbol> FindFunction(std::string_view name) const;

  // `size` bytes of the file at `file_offset` (e.g. a function's code, to check its layout).
  Result<std::vector<uint8_t>> ReadBytes(uint64_t file_offset, uint64_t size) const;

 private:
  std::string path_;
  std::vector<ElfSymbol> symbols_;
};

}  // namespace gilstat::probes
