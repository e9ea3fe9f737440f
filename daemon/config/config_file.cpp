#include "config/config_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gilstat::config {
namespace {

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

ErrorCode CodeOf(int err) {
  if (err == ENOENT || err == ENOTDIR) return ErrorCode::kNotFound;
  if (err == EACCES || err == EPERM) return ErrorCode::kPermissionDenied;
  return ErrorCode::kUnavailable;
}

// What a file that is not regular is, for the message.
const char* KindOf(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISSOCK(mode)) return "a socket";
  return "a special file";
}

Error TooLarge(const std::string& path, size_t limit, const std::string& what) {
  return MakeError(
      ErrorCode::kResourceExhausted,
      path + " is larger than " + std::to_string(limit) + " bytes, the limit of " + what);
}

}  // namespace

Result<std::string> ReadRegularFile(const std::string& path, size_t limit,
                                    const std::string& what) {
  Fd f{open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)};
  if (f.fd < 0) {
    const int err = errno;
    return MakeError(CodeOf(err), "cannot open " + path + ": " + std::strerror(err));
  }
  struct stat st {};
  if (fstat(f.fd, &st) != 0) {
    const int err = errno;
    return MakeError(CodeOf(err), "cannot stat " + path + ": " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     path + " is " + KindOf(st.st_mode) + ", not a regular file");
  }
  if (st.st_size < 0 || static_cast<uint64_t>(st.st_size) > limit) {
    return TooLarge(path, limit, what);
  }
  // Read up to one byte past the limit: a file that grew since fstat is caught here.
  std::string out(limit + 1, '\0');
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = read(f.fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      return MakeError(CodeOf(err), "cannot read " + path + ": " + std::strerror(err));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got > limit) return TooLarge(path, limit, what);
  out.resize(got);
  return out;
}

}  // namespace gilstat::config
