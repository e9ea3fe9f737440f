// Reading what the tracker needs to know about a process from /proc.
//
// Every read goes through a configurable proc root so that tests can build fake /proc trees in
// temporary directories. Only the files a caller asks for are read (see ProcField): a scan of
// every process on the host reads stat + comm for most of them and nothing more.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gilstat/result.h"

namespace gilstat::tracker {

// Which parts of a process to read. kStat is always read (it identifies the process).
enum ProcField : unsigned {
  kProcStat = 1u << 0,     // /proc/PID/stat: ppid, flags, start time
  kProcComm = 1u << 1,     // /proc/PID/comm
  kProcExe = 1u << 2,      // readlink /proc/PID/exe
  kProcCmdline = 1u << 3,  // /proc/PID/cmdline
  kProcCgroup = 1u << 4,   // /proc/PID/cgroup (the unified v2 path)
  kProcStatus = 1u << 5,   // /proc/PID/status: Tgid, Uid
  kProcAll = 0x3fu,
};

struct ProcessInfo {
  pid_t pid = 0;
  pid_t ppid = 0;
  pid_t tgid = 0;              // from status; 0 when not read
  uint64_t start_time = 0;     // clock ticks after boot (stat field 22): tells pid reuse apart
  bool kernel_thread = false;  // PF_KTHREAD in the stat flags
  char state = '?';            // stat field 3
  int64_t num_threads = 0;     // stat field 20
  std::string comm;            // at most 15 bytes, as the kernel keeps it
  std::string exe;             // target of /proc/PID/exe, " (deleted)" removed; empty if
                               // unreadable (kernel threads, another user's process)
  bool exe_deleted = false;
  std::vector<std::string> argv;  // /proc/PID/cmdline split at NULs
  std::string cgroup;             // cgroup v2 path, e.g. /system.slice/foo.service
  int64_t uid = -1;               // real uid from status; -1 when not read
  // Whether the whole process has exited (a zombie awaiting its parent). A zombie thread-group
  // leader whose other threads still run is alive.
  bool Exited() const { return (state == 'Z' || state == 'X') && num_threads <= 1; }
  unsigned fields = 0;  // the ProcField bits that were read successfully

  // argv joined with single spaces (what `ps -o args` shows).
  std::string CmdlineString() const;
};

// Parses the contents of /proc/PID/stat into info (pid, comm, state, ppid, flags, start time).
// The comm in parentheses may itself contain spaces and ')': the last ')' ends it.
Status ParseStat(const std::string& text, ProcessInfo* info);
// The cgroup v2 path ("0::/path" line) of /proc/PID/cgroup; on a v1-only host the path of
// the name=systemd hierarchy; empty when neither is present.
std::string ParseCgroupFile(const std::string& text);

class ProcFs {
 public:
  explicit ProcFs(std::string root = "/proc");

  const std::string& root() const { return root_; }
  // Numeric entries of the proc root (processes; threads are not listed there), ascending.
  std::vector<pid_t> ListPids() const;
  // The pids of the processes whose parent is a thread of PID (/proc/PID/task/*/children; the
  // kernel lists a child under the thread that forked it), ascending. nullopt where PID has no
  // task directory (gone) or the kernel keeps no children lists (CONFIG_PROC_CHILDREN off); a
  // child forked or exiting during the read may be missing from the lists, as from a scan.
  std::optional<std::vector<pid_t>> ChildrenOf(pid_t pid) const;
  // Whether PID exists (and, when start_time != 0, is still the same process).
  bool Alive(pid_t pid, uint64_t start_time = 0) const;
  // Reads the requested fields. kNotFound when the process does not exist (or vanished while
  // it was being read). Fields other than stat that cannot be read (permissions, kernel
  // threads) are left empty and their bit is not set in info.fields.
  Result<ProcessInfo> Read(pid_t pid, unsigned fields = kProcAll) const;

 private:
  std::string root_;
};

// Reads a whole (small) file. kNotFound if it does not exist, kPermissionDenied, or kUnavailable.
Result<std::string> ReadSmallFile(const std::string& path);

}  // namespace gilstat::tracker
