// Reading a file an operator names in the configuration (the configuration file itself, a
// basic-auth password_file): a regular file only, of bounded size, never blocking.
//
// The file is opened O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC (opening a FIFO does not wait
// for a writer), checked with fstat to be a regular file (a FIFO, a device such as /dev/zero, a
// directory or a socket is refused by name), refused when larger than the limit, and read with
// the limit enforced while reading (a file that grows after the check is refused too).
#pragma once

#include <cstddef>
#include <string>

#include "gilstat/result.h"

namespace gilstat::config {

// The limits (docs/SECURITY.md): a configuration file, a password_file.
inline constexpr size_t kMaxConfigFileBytes = size_t{1} << 20;  // 1 MiB
inline constexpr size_t kMaxPasswordFileBytes = 4096;

// The whole content of `path`. Errors name the file and the reason:
//   kNotFound / kPermissionDenied / kUnavailable "cannot open PATH: <strerror>" (also reads),
//   kInvalidArgument "PATH is a FIFO, not a regular file" (character device, directory, ...),
//   kResourceExhausted "PATH is larger than LIMIT bytes, the limit of <what>".
// `what` names the kind of file in the size message ("a configuration file").
Result<std::string> ReadRegularFile(const std::string& path, size_t limit, const std::string& what);

}  // namespace gilstat::config
