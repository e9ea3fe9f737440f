// The ELF reader and symbol lookup (daemon/elf/elf_symbols.*) on arbitrary files, as a target's
// libc or executable could be: ElfFile::Open, FindFunction by plain and versioned name,
// ReadBytes, and the semaphore functions the probe reads (ReadSemFunctions).
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "elf/elf_symbols.h"
#include "probes/semlock_sites.h"

namespace {

using gilstat::probes::ElfFile;
using gilstat::probes::ElfSymbol;

// One in-memory file for every input, reached by path like a file on disk.
int InputFd() {
  static const int fd = memfd_create("fuzz-elf", MFD_CLOEXEC);
  if (fd < 0) std::abort();
  return fd;
}

void CheckLookup(const ElfFile& file, const ElfSymbol& s) {
  auto plain = file.FindFunction(s.name);
  if (plain.ok() && plain->name != s.name) std::abort();  // found another function
  if (!s.version.empty()) {
    const std::string versioned = s.name + (s.default_version ? "@@" : "@") + s.version;
    auto exact = file.FindFunction(versioned);
    // The symbol itself is there: an explicit version finds it (or an equal one).
    if (!exact.ok() || exact->name != s.name || exact->version != s.version) std::abort();
  }
  (void)file.ReadBytes(s.file_offset, std::min<uint64_t>(s.size, 160));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = InputFd();
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) {
    std::abort();
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  auto file = ElfFile::Open(path);
  if (!file.ok()) return 0;
  size_t checked = 0;
  for (const ElfSymbol& s : file->symbols()) {
    if (++checked > 64) break;  // each lookup scans every symbol: keep an input's cost linear
    CheckLookup(*file, s);
  }
  (void)file->FindFunction("sem_wait@@GLIBC_2.34");
  (void)file->FindFunction("sem_wait@");
  (void)file->FindFunction("@@");
  (void)gilstat::probes::ReadSemFunctions(*file);
  return 0;
}
