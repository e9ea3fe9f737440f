#include "python/remote_memory.h"

#include <gelf.h>
#include <libelf.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>

#include "elf/elf_symbols.h"
#include "elf/proc_maps.h"
#include "gilstat/format.h"

namespace gilstat::python {

Error ReadError(pid_t pid, int err, uint64_t addr) {
  const std::string what =
      "reading process " + std::to_string(pid) + " at " + HexAddress(addr) + ": ";
  switch (err) {
    case ESRCH:
      return MakeError(ErrorCode::kNotFound, what + "no such process");
    case EPERM:
    case EACCES:
      return MakeError(ErrorCode::kPermissionDenied,
                       what + std::strerror(err) + " (needs CAP_SYS_PTRACE or the same user)");
    case EFAULT:
      return MakeError(ErrorCode::kUnavailable,
                       what + "address not mapped (wrong layout, or the interpreter is gone)");
    default:
      return MakeError(ErrorCode::kUnavailable, what + std::strerror(err));
  }
}

// One process_vm_readv call for several (address, size) pieces into `out` (concatenated).
Status ReadRemote(pid_t pid, const std::vector<std::pair<uint64_t, size_t>>& pieces, void* out) {
  std::vector<iovec> local, remote;
  size_t total = 0;
  auto* dst = static_cast<uint8_t*>(out);
  for (const auto& [addr, size] : pieces) {
    local.push_back({dst + total, size});
    remote.push_back({reinterpret_cast<void*>(static_cast<uintptr_t>(addr)), size});
    total += size;
  }
  const ssize_t n =
      process_vm_readv(pid, local.data(), local.size(), remote.data(), remote.size(), 0);
  if (n < 0) return ReadError(pid, errno, pieces.front().first);
  if (static_cast<size_t>(n) != total) {
    // A short read stops at the first piece that is not mapped.
    size_t done = 0;
    for (const auto& [addr, size] : pieces) {
      if (done + size > static_cast<size_t>(n)) return ReadError(pid, EFAULT, addr);
      done += size;
    }
    return ReadError(pid, EFAULT, pieces.front().first);
  }
  return Status::Ok();
}

Result<uint64_t> ReadU64(pid_t pid, uint64_t addr) {
  uint64_t v = 0;
  if (Status s = ReadRemote(pid, {{addr, sizeof(v)}}, &v); !s) return s.error();
  return v;
}

// Where the ELF file `info.binary` is loaded in `pid`: address in the process minus address in
// the file. The mapping is the one with the file's device and inode (info.file), and the file's
// program headers are read from that very mapping (probes::OpenMappedFile).
Result<uint64_t> LoadBias(pid_t pid, const InterpreterInfo& info, const std::string& proc_root) {
  auto maps = probes::ReadProcMaps(pid, proc_root);
  if (!maps) return maps.error();
  const std::string& binary = info.binary;
  const probes::MapsEntry* first = nullptr;
  for (const probes::MapsEntry& e : *maps) {
    if (!first && !e.path.empty() && e.path[0] == '/' && probes::FileIdOf(e) == info.file) {
      first = &e;
    }
  }
  if (!first) {
    return MakeError(ErrorCode::kNotFound, binary + " is not mapped in process " +
                                               std::to_string(pid) + " (did it exit or exec?)");
  }
  probes::MappedFileOptions options;
  options.proc_root = proc_root;
  auto file = probes::OpenMappedFile(pid, *first, options);
  if (!file) return file.error();
  auto opened = probes::OpenedElf::Open(*file);
  if (!opened) return opened.error();
  struct Load {
    uint64_t vaddr, offset, filesz;
  };
  std::vector<Load> loads;
  size_t nphdr = 0;
  if (elf_getphdrnum(opened->get(), &nphdr) == 0) {
    for (size_t i = 0; i < nphdr; ++i) {
      GElf_Phdr ph;
      if (gelf_getphdr(opened->get(), static_cast<int>(i), &ph) && ph.p_type == PT_LOAD) {
        loads.push_back({ph.p_vaddr, ph.p_offset, ph.p_filesz});
      }
    }
  }
  if (loads.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, binary + " has no loadable segment");
  }

  for (const probes::MapsEntry& e : *maps) {
    if (e.path.empty() || e.path[0] != '/' || probes::FileIdOf(e) != info.file) continue;
    // The loader maps each segment from the page holding its p_offset; a mapping that starts
    // further in (split by mprotect, e.g. RELRO) belongs to the last segment starting at or
    // before it. Its first byte is at offset + (p_vaddr - p_offset) in the file's address space.
    const Load* seg = nullptr;
    for (const Load& l : loads) {
      const uint64_t page_start = l.offset & ~uint64_t{0xfff};
      if (page_start <= e.offset && (!seg || page_start >= (seg->offset & ~uint64_t{0xfff}))) {
        seg = &l;
      }
    }
    if (seg) return e.start - (e.offset + seg->vaddr - seg->offset);
  }
  return MakeError(ErrorCode::kNotFound, binary + " is not mapped in process " +
                                             std::to_string(pid) + " (did it exit or exec?)");
}

}  // namespace gilstat::python
