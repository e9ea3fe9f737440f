#include "elf/mapped_file.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace gilstat::probes {
namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
  int release() {
    int f = fd;
    fd = -1;
    return f;
  }
};

FileId IdOf(const struct stat& st) {
  return {major(st.st_dev), minor(st.st_dev), static_cast<uint64_t>(st.st_ino)};
}

const char* TypeName(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFIFO:
      return "a FIFO";
    case S_IFCHR:
      return "a character device";
    case S_IFBLK:
      return "a block device";
    case S_IFDIR:
      return "a directory";
    case S_IFSOCK:
      return "a socket";
    case S_IFLNK:
      return "a symbolic link";
    default:
      return "not a regular file";
  }
}

ErrorCode CodeOfErrno(int err) {
  if (err == ENOENT || err == ESRCH) return ErrorCode::kNotFound;
  return err == EACCES || err == EPERM ? ErrorCode::kPermissionDenied : ErrorCode::kUnavailable;
}

std::string Hex(uint64_t v) {
  char buf[20];
  auto r = std::to_chars(buf, buf + sizeof buf, v, 16);
  return std::string(buf, r.ptr);
}

// `path` below directory `dirfd` as O_PATH, following no symbolic link at all, ".." and
// absolute paths kept inside `dirfd` when `in_root`. -1 with errno on failure.
int OpenNoSymlinks(int dirfd, const std::string& path, bool in_root) {
  open_how how{};
  how.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | (in_root ? RESOLVE_IN_ROOT : 0);
  const int fd = static_cast<int>(syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how));
  if (fd >= 0 || errno != ENOSYS) return fd;
  // Kernels before 5.6: the last component only; the identity check still guards the rest.
  if (in_root) return -1;
  return openat(dirfd, path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
}

// One way of reaching the file failed: remembered, the most telling error wins.
struct Attempts {
  std::optional<Error> refused;  // reached something, and it was not the mapped file
  std::optional<Error> other;
  void Note(Error e) {
    auto& slot = e.code == ErrorCode::kInvalidArgument ? refused : other;
    if (!slot) slot = std::move(e);
  }
  Error Final(const std::string& what) const {
    if (refused) return *refused;
    if (other) return MakeError(other->code, what + ": " + other->message);
    return MakeError(ErrorCode::kUnavailable, what + ": no way to open it");
  }
};

}  // namespace

std::optional<FileId> FileIdOf(const MapsEntry& e) {
  const size_t colon = e.dev.find(':');
  if (colon == std::string::npos) return std::nullopt;
  FileId id;
  const char* s = e.dev.data();
  const char* end = s + e.dev.size();
  auto a = std::from_chars(s, s + colon, id.dev_major, 16);
  auto b = std::from_chars(s + colon + 1, end, id.dev_minor, 16);
  if (a.ec != std::errc() || a.ptr != s + colon || b.ec != std::errc() || b.ptr != end) {
    return std::nullopt;
  }
  id.inode = e.inode;
  return id;
}

std::string FileIdString(const FileId& id) {
  return Hex(id.dev_major) + ":" + Hex(id.dev_minor) + " inode " + std::to_string(id.inode);
}

MappedFile::MappedFile(MappedFile&& o) noexcept
    : fd_(o.fd_), name_(std::move(o.name_)), id_(o.id_), size_(o.size_) {
  o.fd_ = -1;
}

MappedFile::~MappedFile() {
  if (fd_ >= 0) close(fd_);
}

std::string MappedFile::path() const { return "/proc/self/fd/" + std::to_string(fd_); }

Result<std::vector<uint8_t>> MappedFile::ReadBytes(uint64_t offset, uint64_t size,
                                                   uint64_t limit) const {
  if (size > limit || offset > size_ || size > size_ - offset) {
    return MakeError(ErrorCode::kInvalidArgument, name_ + ": " + std::to_string(size) +
                                                      " bytes at offset " + std::to_string(offset) +
                                                      " are not inside the file (" +
                                                      std::to_string(size_) + " bytes)");
  }
  std::vector<uint8_t> out(size);
  const ssize_t n = pread(fd_, out.data(), size, static_cast<off_t>(offset));
  if (n < 0 || static_cast<uint64_t>(n) != size) {
    return MakeError(ErrorCode::kUnavailable,
                     name_ + ": short read at offset " + std::to_string(offset) +
                         (n < 0 ? std::string(": ") + std::strerror(errno) : std::string()));
  }
  return out;
}

Result<MappedFile> MappedFile::Verify(int fd_in, std::string name,
                                      const std::optional<FileId>& want) {
  Fd fd{fd_in};
  struct stat st {};
  if (fstat(fd.fd, &st) != 0) {
    return MakeError(CodeOfErrno(errno), name + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     name + " is " + TypeName(st.st_mode) + ", not a regular file: refused");
  }
  if (want && IdOf(st) != *want) {
    return MakeError(ErrorCode::kInvalidArgument, name + " leads to " + FileIdString(IdOf(st)) +
                                                      ", not the mapped file (" +
                                                      FileIdString(*want) + "): refused");
  }
  // Only now opened for reading, through the verified descriptor itself.
  const std::string self = "/proc/self/fd/" + std::to_string(fd.fd);
  Fd rd{open(self.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)};
  if (rd.fd < 0) return MakeError(CodeOfErrno(errno), name + ": " + std::strerror(errno));
  struct stat st2 {};
  if (fstat(rd.fd, &st2) != 0 || IdOf(st2) != IdOf(st) || !S_ISREG(st2.st_mode)) {
    return MakeError(ErrorCode::kInvalidArgument, name + " changed while opened: refused");
  }
  return MappedFile(rd.release(), std::move(name), IdOf(st2), static_cast<uint64_t>(st2.st_size));
}

Result<MappedFile> OpenMappedFile(pid_t pid, const MapsEntry& e, const MappedFileOptions& options) {
  const std::string what = "process " + std::to_string(pid) + "'s mapped file " + e.path;
  const auto id = FileIdOf(e);
  if (!id || e.path.empty() || e.path[0] != '/') {
    return MakeError(ErrorCode::kInvalidArgument,
                     what + ": not a file mapping (device " + e.dev + ")");
  }
  const std::string dir = options.proc_root + "/" + std::to_string(pid);
  Attempts attempts;
  if (options.map_files) {
    const std::string link = dir + "/map_files/" + Hex(e.start) + "-" + Hex(e.end);
    const int fd = open(link.c_str(), O_PATH | O_CLOEXEC);
    if (fd < 0) {
      attempts.Note(MakeError(CodeOfErrno(errno), link + ": " + std::strerror(errno)));
    } else {
      auto f = MappedFile::Verify(fd, e.path, id);
      if (f.ok()) return f;
      attempts.Note(f.error());
    }
  }
  if (e.path.ends_with(" (deleted)")) return attempts.Final(what);  // no path leads to it
  Fd root{open((dir + "/root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)};
  for (const auto& [dirfd, in_root] : {std::pair{root.fd, true}, std::pair{AT_FDCWD, false}}) {
    if (in_root && dirfd < 0) {
      attempts.Note(MakeError(CodeOfErrno(errno), dir + "/root: " + std::strerror(errno)));
      continue;
    }
    const int fd = OpenNoSymlinks(dirfd, e.path, in_root);
    if (fd < 0) {
      const int err = errno;
      if (err == ELOOP) {
        attempts.Note(MakeError(ErrorCode::kInvalidArgument,
                                e.path + " passes through a symbolic link: refused"));
      } else {
        attempts.Note(MakeError(CodeOfErrno(err), e.path + ": " + std::strerror(err)));
      }
      continue;
    }
    auto f = MappedFile::Verify(fd, e.path, id);
    if (f.ok()) return f;
    attempts.Note(f.error());
  }
  return attempts.Final(what);
}

Result<MappedFile> OpenMappedFileById(pid_t pid, const FileId& id,
                                      const MappedFileOptions& options) {
  auto maps = ReadProcMaps(pid, options.proc_root);
  if (!maps) return maps.error();
  for (const MapsEntry& e : *maps) {
    if (e.path.empty() || e.path[0] != '/' || FileIdOf(e) != id) continue;
    return OpenMappedFile(pid, e, options);
  }
  return MakeError(ErrorCode::kNotFound, "process " + std::to_string(pid) + " maps no file " +
                                             FileIdString(id) + " (did it exit or exec?)");
}

Result<MappedFile> OpenProcessExe(pid_t pid, const std::string& proc_root) {
  const std::string link = proc_root + "/" + std::to_string(pid) + "/exe";
  char buf[4096];
  const ssize_t n = readlink(link.c_str(), buf, sizeof(buf) - 1);
  const int fd = open(link.c_str(), O_PATH | O_CLOEXEC);
  if (fd < 0 || n <= 0) {
    const int err = errno;
    if (fd >= 0) close(fd);
    return MakeError(CodeOfErrno(err), "cannot open " + link + ": " + std::strerror(err));
  }
  return MappedFile::Verify(fd, std::string(buf, static_cast<size_t>(n)), std::nullopt);
}

Result<MappedFile> OpenLocalFile(const std::string& path) {
  const int fd = open(path.c_str(), O_PATH | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return MakeError(err == ENOENT || err == ENOTDIR ? ErrorCode::kNotFound : CodeOfErrno(err),
                     path + ": " + std::strerror(err));
  }
  return MappedFile::Verify(fd, path, std::nullopt);
}

}  // namespace gilstat::probes
