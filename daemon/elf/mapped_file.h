// The one way gilstat opens a file that a target process maps (its libc, its libpython, its
// executable): the exact file of the mapping, never a path the target could steer.
//
// A mapping names its file by device and inode (the maps line) and by a path printed relative
// to the reader's root, which may be the target's own mount namespace or, for a chroot, already
// the host path. Paths alone are not trusted: the target may have replaced them (a symbolic link
// to a host file, a FIFO, a device mounted over them) since it mapped the file. So a file is
// opened, in this order, through
//   1. /proc/PID/map_files/START-END: the kernel's own link to the mapped file (needs
//      CAP_SYS_ADMIN, which the daemon has);
//   2. the path below /proc/PID/root, resolved inside that root without following any
//      symbolic link (openat2 RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS);
//   3. the path from this process's own root, the same way (a chroot sharing our mounts);
// each first as O_PATH (nothing is opened for reading yet: a FIFO cannot block, a device sees no
// open), checked with fstat to be a regular file with the device and inode of the maps line,
// and only then reopened read-only and non-blocking through /proc/self/fd. Anything else is
// refused with kInvalidArgument, which the tracker counts as attach error "refused_file".
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "elf/proc_maps.h"
#include "gilstat/result.h"

namespace gilstat::probes {

// What a maps line says its file is: device (major:minor) and inode.
struct FileId {
  uint32_t dev_major = 0, dev_minor = 0;
  uint64_t inode = 0;
  bool operator==(const FileId&) const = default;
};

// The identity of a maps line; nullopt when its device field is not "hex:hex".
std::optional<FileId> FileIdOf(const MapsEntry& e);
// "fd:01 inode 1234", for messages.
std::string FileIdString(const FileId& id);

// An open, verified, regular file: read with pread only, size known. Move-only.
class MappedFile {
 public:
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&&) = delete;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  int fd() const { return fd_; }
  // The path the target maps (or the local path given): for people, never opened again.
  const std::string& name() const { return name_; }
  const FileId& id() const { return id_; }
  uint64_t size() const { return size_; }
  // A path naming exactly this open file, for interfaces that only take a path (uprobe attach
  // resolves it to this inode): "/proc/self/fd/N". Valid while this object lives.
  std::string path() const;

  // `size` bytes at `offset`: kInvalidArgument when they are not inside the file or `size`
  // exceeds `limit`, kUnavailable on a failed or short read.
  Result<std::vector<uint8_t>> ReadBytes(uint64_t offset, uint64_t size,
                                         uint64_t limit = 1 << 20) const;

  // Takes `fd` (an O_PATH or readable descriptor) and makes a verified MappedFile of it: a
  // regular file, with identity `want` when given, reopened read-only and non-blocking.
  // Closes `fd` in every case.
  static Result<MappedFile> Verify(int fd, std::string name, const std::optional<FileId>& want);

 private:
  MappedFile(int fd, std::string name, FileId id, uint64_t size)
      : fd_(fd), name_(std::move(name)), id_(id), size_(size) {}
  int fd_;
  std::string name_;
  FileId id_;
  uint64_t size_;
};

struct MappedFileOptions {
  std::string proc_root = "/proc";  // tests pass a fake tree
  bool map_files = true;            // step 1 above (tests of the path fallback turn it off)
};

// The file of mapping `e` of process `pid` (see the top of this file). Errors: kInvalidArgument
// when what the path leads to is not that regular file (refused); kPermissionDenied; kNotFound
// when no way reaches it (e.g. the process exited); kUnavailable for other failures. The message
// names the pid, the path and why.
Result<MappedFile> OpenMappedFile(pid_t pid, const MapsEntry& e,
                                  const MappedFileOptions& options = {});

// The file with identity `id` that `pid` maps (its first mapping of it), opened as above.
// kNotFound when `pid` maps no such file (any more).
Result<MappedFile> OpenMappedFileById(pid_t pid, const FileId& id,
                                      const MappedFileOptions& options = {});

// The executable of `pid` (/proc/PID/exe, the kernel's link to it), opened and verified as
// above; `name` is what the link reads.
Result<MappedFile> OpenProcessExe(pid_t pid, const std::string& proc_root = "/proc");

// A file named by this host's user (a command-line argument, a library search path): symbolic
// links followed as the user meant, but opened without blocking and only if it is a regular file.
Result<MappedFile> OpenLocalFile(const std::string& path);

}  // namespace gilstat::probes
