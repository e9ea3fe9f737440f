// Whether a process was started through a dynamic loader, from its auxiliary vector: the kernel
// puts the loader's (the ELF PT_INTERP's) load address in AT_BASE, and 0 for a statically linked
// program. It is there from the exec on, before the loader has mapped anything else, so it tells
// a program caught just after exec (libc not mapped yet) from one that will never map libc.
// Nothing the program maps is opened; /proc/PID/auxv needs the same access as /proc/PID/maps.
#pragma once

#include <elf.h>
#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "gilstat/result.h"

namespace gilstat {

// Errors: kNotFound (no such process), kPermissionDenied, kUnavailable (unreadable, or no AT_BASE
// in the vector).
inline Result<bool> HasInterpreter(pid_t pid, const std::string& proc_root = "/proc") {
  const std::string path = proc_root + "/" + std::to_string(pid) + "/auxv";
  const int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT || err == ESRCH) {
      return MakeError(ErrorCode::kNotFound, "no process with pid " + std::to_string(pid));
    }
    return MakeError(
        err == EACCES || err == EPERM ? ErrorCode::kPermissionDenied : ErrorCode::kUnavailable,
        "cannot read " + path + ": " + std::strerror(err));
  }
  // A few dozen (type, value) pairs of the kernel's word size (also for a 32-bit process),
  // ending in AT_NULL.
  uint64_t words[512];
  size_t got = 0;
  while (got < sizeof(words)) {
    const ssize_t n = read(fd, reinterpret_cast<char*>(words) + got, sizeof(words) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  for (size_t i = 0; i + 1 < got / sizeof(uint64_t); i += 2) {
    if (words[i] == AT_NULL) break;
    if (words[i] == AT_BASE) return words[i + 1] != 0;
  }
  return MakeError(ErrorCode::kUnavailable, path + ": no AT_BASE entry");
}

}  // namespace gilstat
