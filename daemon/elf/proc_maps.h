// /proc/PID/maps: what a process maps, and which libc it actually uses (so probes attach to that
// file, opened by OpenMappedFile: elf/mapped_file.h).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gilstat/result.h"

namespace gilstat::probes {

struct MapsEntry {
  uint64_t start = 0, end = 0, offset = 0;
  std::string perms;  // "r-xp"
  std::string dev;    // "fd:01"
  uint64_t inode = 0;
  std::string path;  // as the process sees it; may be empty, "[heap]", "… (deleted)"
};

// Parses the text of a maps file. Malformed lines are an error naming the line.
Result<std::vector<MapsEntry>> ParseMaps(std::string_view text);

// Reads /proc/PID/maps below `proc_root` (tests pass a fake tree).
Result<std::vector<MapsEntry>> ReadProcMaps(pid_t pid, const std::string& proc_root = "/proc");

// True for a C library file name: libc.so.6, libc-2.31.so, libc.so, ld-musl-*.so.1.
bool IsLibcPath(std::string_view path);

struct LibcLocation {
  std::string path;  // as the maps line prints it, e.g. /lib/x86_64-linux-gnu/libc.so.6
  uint64_t inode = 0;
  MapsEntry entry;  // the mapping: what OpenMappedFile opens (never the path alone)
};

// The libc mapped (executable) by `pid`. Errors: kNotFound for no such process, or no libc
// mapped: a statically linked program, or a dynamically linked one caught just after exec,
// before its loader mapped libc (HasInterpreter, gilstat/auxv.h, tells them apart; the messages
// differ); kPermissionDenied when its maps cannot be read.
Result<LibcLocation> FindLibc(pid_t pid, const std::string& proc_root = "/proc");

}  // namespace gilstat::probes
