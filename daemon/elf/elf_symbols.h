// Function symbols of an ELF file (libc, an executable) resolved with libelf to the file offsets
// that uprobes are attached at, with glibc's symbol versions understood.
#pragma once

#include <libelf.h>

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

// `size` bytes of the file at `path` from `file_offset` (kUnavailable when it cannot be read).
Result<std::vector<uint8_t>> ReadFileBytes(const std::string& path, uint64_t file_offset,
                                           uint64_t size);

// An ELF file opened for libelf: the descriptor and the handle, both released on destruction.
// Errors: kNotFound / kPermissionDenied / kUnavailable (open), kInvalidArgument (not ELF).
class OpenedElf {
 public:
  static Result<OpenedElf> Open(const std::string& path);
  OpenedElf(OpenedElf&& o) noexcept : fd_(o.fd_), elf_(o.elf_) {
    o.fd_ = -1;
    o.elf_ = nullptr;
  }
  OpenedElf& operator=(OpenedElf&&) = delete;
  OpenedElf(const OpenedElf&) = delete;
  ~OpenedElf();
  Elf* get() const { return elf_; }

 private:
  OpenedElf(int fd, Elf* elf) : fd_(fd), elf_(elf) {}
  int fd_;
  Elf* elf_;
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
