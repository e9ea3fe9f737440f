// Reading a process's memory (process_vm_readv) and where an ELF file of it is loaded: what the
// GIL locator and the Python stack reader share.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gilstat/result.h"
#include "python/python_info.h"

namespace gilstat::python {

// The error of a failed read of process `pid` at `addr` (errno `err`): kNotFound (no such
// process), kPermissionDenied, kUnavailable (not mapped, or another reason).
Error ReadError(pid_t pid, int err, uint64_t addr);

// One process_vm_readv call for several (address, size) pieces into `out` (concatenated).
Status ReadRemote(pid_t pid, const std::vector<std::pair<uint64_t, size_t>>& pieces, void* out);

Result<uint64_t> ReadU64(pid_t pid, uint64_t addr);

// Where the ELF file `info.binary` is loaded in `pid`: address in the process minus address in
// the file. The mapping is the one with the file's device and inode (info.file), and the file's
// program headers are read from that very mapping (probes::OpenMappedFile).
Result<uint64_t> LoadBias(pid_t pid, const InterpreterInfo& info, const std::string& proc_root);

}  // namespace gilstat::python
