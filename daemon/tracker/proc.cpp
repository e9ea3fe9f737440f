#include "tracker/proc.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>
#include <string_view>
#include <system_error>

#include "gilstat/proc_stat.h"

namespace gilstat::tracker {
namespace {

Error ErrnoError(int err, const std::string& what) {
  ErrorCode code = ErrorCode::kUnavailable;
  if (err == ENOENT || err == ESRCH) code = ErrorCode::kNotFound;
  if (err == EACCES || err == EPERM) code = ErrorCode::kPermissionDenied;
  return MakeError(code, what + ": " + std::generic_category().message(err));
}

template <typename T>
bool ParseNumber(std::string_view s, T* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// The entries of directory `path` named by a positive number (pids, thread ids), ascending;
// nullopt when the directory cannot be opened.
std::optional<std::vector<pid_t>> NumberedEntries(const std::string& path) {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(path.c_str()), &::closedir);
  if (!dir) return std::nullopt;
  std::vector<pid_t> ids;
  // NOLINTNEXTLINE(concurrency-mt-unsafe): readdir is safe on a stream no other thread uses
  while (struct dirent* e = ::readdir(dir.get())) {
    pid_t id = 0;
    if (ParseNumber(std::string_view(e->d_name), &id) && id > 0) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

}  // namespace

std::string ProcessInfo::CmdlineString() const {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  return out;
}

Result<std::string> ReadSmallFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, path);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return ErrnoError(err, path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (1u << 20)) break;  // /proc files of interest are far smaller
  }
  ::close(fd);
  return out;
}

Status ParseStat(const std::string& text, ProcessInfo* info) {
  size_t open = text.find('(');
  size_t close = text.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) {
    return MakeError(ErrorCode::kInvalidArgument, "malformed stat line");
  }
  if (!ParseNumber(Trim(std::string_view(text).substr(0, open)), &info->pid)) {
    return MakeError(ErrorCode::kInvalidArgument, "malformed pid in stat line");
  }
  if (info->comm.empty()) info->comm = text.substr(open + 1, close - open - 1);
  // Fields after the comm, numbered as in proc(5): token k is field k + 3.
  const std::vector<std::string_view> tok = StatFieldsAfterName(text, 20);
  unsigned flags = 0;
  if (tok.size() < 20 || tok[0].size() != 1 || !ParseNumber(tok[1], &info->ppid) ||
      !ParseNumber(tok[6], &flags) || !ParseNumber(tok[17], &info->num_threads) ||
      !ParseNumber(tok[19], &info->start_time)) {
    return MakeError(ErrorCode::kInvalidArgument, "malformed fields in stat line");
  }
  info->state = tok[0][0];
  info->kernel_thread = (flags & kPfKthread) != 0;
  return Status::Ok();
}

std::string ParseCgroupFile(const std::string& text) {
  std::string systemd_v1;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line = std::string_view(text).substr(pos, end - pos);
    pos = end + 1;
    size_t c1 = line.find(':');
    if (c1 == std::string_view::npos) continue;
    size_t c2 = line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) continue;
    std::string_view id = line.substr(0, c1);
    std::string_view ctrl = line.substr(c1 + 1, c2 - c1 - 1);
    std::string_view path = line.substr(c2 + 1);
    if (id == "0" && ctrl.empty()) return std::string(path);
    if (ctrl == "name=systemd") systemd_v1 = std::string(path);
  }
  return systemd_v1;
}

ProcFs::ProcFs(std::string root) : root_(std::move(root)) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

std::vector<pid_t> ProcFs::ListPids() const {
  return NumberedEntries(root_).value_or(std::vector<pid_t>{});
}

std::optional<std::vector<pid_t>> ProcFs::ChildrenOf(pid_t pid) const {
  const std::string tasks = root_ + "/" + std::to_string(pid) + "/task";
  const auto tids = NumberedEntries(tasks);
  if (!tids) return std::nullopt;
  std::vector<pid_t> children;
  bool listed = false;
  for (pid_t tid : *tids) {
    auto text = ReadSmallFile(tasks + "/" + std::to_string(tid) + "/children");
    if (!text.ok()) {
      if (text.error().code == ErrorCode::kNotFound) continue;  // the thread exited
      return std::nullopt;
    }
    listed = true;
    std::string_view rest(*text);
    while (!rest.empty()) {
      const size_t start = rest.find_first_not_of(" \n");
      if (start == std::string_view::npos) break;
      rest.remove_prefix(start);
      const size_t end = std::min(rest.find_first_of(" \n"), rest.size());
      pid_t child = 0;
      if (ParseNumber(rest.substr(0, end), &child) && child > 0) children.push_back(child);
      rest.remove_prefix(end);
    }
  }
  // No thread had a list: the kernel keeps none (or every thread went during the read).
  if (!listed) return std::nullopt;
  std::sort(children.begin(), children.end());
  children.erase(std::unique(children.begin(), children.end()), children.end());
  return children;
}

bool ProcFs::Alive(pid_t pid, uint64_t start_time) const {
  auto stat = ReadSmallFile(root_ + "/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return false;
  ProcessInfo info;
  if (!ParseStat(*stat, &info).ok()) return false;
  if (info.Exited()) return false;  // a zombie: exited, not yet reaped
  return start_time == 0 || info.start_time == start_time;
}

Result<ProcessInfo> ProcFs::Read(pid_t pid, unsigned fields) const {
  const std::string dir = root_ + "/" + std::to_string(pid);
  ProcessInfo info;
  auto stat = ReadSmallFile(dir + "/stat");
  if (!stat.ok()) return stat.error();
  if (Status s = ParseStat(*stat, &info); !s.ok()) {
    return MakeError(s.code(), dir + "/stat: " + s.message());
  }
  if (info.pid != pid) return MakeError(ErrorCode::kInternal, dir + "/stat: pid mismatch");
  info.fields = kProcStat;
  if (fields & kProcComm) {
    // The stat line has the comm too, but /proc/PID/comm is the authoritative copy.
    if (auto comm = ReadSmallFile(dir + "/comm"); comm.ok()) {
      info.comm = std::string(Trim(*comm));
      info.fields |= kProcComm;
    }
  }
  if (fields & kProcExe) {
    char buf[4096];
    ssize_t n = ::readlink((dir + "/exe").c_str(), buf, sizeof buf - 1);
    if (n > 0) {
      info.exe.assign(buf, static_cast<size_t>(n));
      constexpr std::string_view kDeleted = " (deleted)";
      if (info.exe.size() > kDeleted.size() && info.exe.ends_with(kDeleted)) {
        info.exe.resize(info.exe.size() - kDeleted.size());
        info.exe_deleted = true;
      }
      info.fields |= kProcExe;
    }
  }
  if (fields & kProcCmdline) {
    if (auto cmd = ReadSmallFile(dir + "/cmdline"); cmd.ok()) {
      std::string_view s = *cmd;
      while (!s.empty()) {
        size_t nul = s.find('\0');
        info.argv.emplace_back(s.substr(0, nul));
        if (nul == std::string_view::npos) break;
        s.remove_prefix(nul + 1);
      }
      info.fields |= kProcCmdline;
    }
  }
  if (fields & kProcCgroup) {
    if (auto cg = ReadSmallFile(dir + "/cgroup"); cg.ok()) {
      info.cgroup = ParseCgroupFile(*cg);
      info.fields |= kProcCgroup;
    }
  }
  if (fields & kProcStatus) {
    if (auto st = ReadSmallFile(dir + "/status"); st.ok()) {
      std::string_view s = *st;
      while (!s.empty()) {
        size_t nl = s.find('\n');
        std::string_view line = s.substr(0, nl);
        s.remove_prefix(nl == std::string_view::npos ? s.size() : nl + 1);
        if (line.starts_with("Tgid:")) {
          (void)ParseNumber(Trim(line.substr(5)), &info.tgid);
        } else if (line.starts_with("Uid:")) {
          std::string_view u = Trim(line.substr(4));
          (void)ParseNumber(u.substr(0, u.find_first_of(" \t")), &info.uid);
        }
      }
      info.fields |= kProcStatus;
    }
  }
  // A process that exited while being read: its stat is gone or it is a zombie now.
  if (info.Exited()) {
    return MakeError(ErrorCode::kNotFound, dir + ": process has exited");
  }
  return info;
}

}  // namespace gilstat::tracker
