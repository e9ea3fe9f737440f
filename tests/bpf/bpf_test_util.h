// Helpers of the BPF tests: privilege checks, target processes driven over pipes, the kernel's
// BPF link list.
#pragma once

#include <bpf/bpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace gilstat::testing {

// Why BPF tests cannot run here, or empty when they can.
inline std::string BpfUnavailableReason() {
  if (geteuid() != 0) return "BPF tests need root (CAP_SYS_ADMIN)";
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) return "kernel has no BTF";
  return {};
}

#define GILSTAT_SKIP_UNLESS_BPF()                                            \
  do {                                                                       \
    std::string why_ = ::gilstat::testing::BpfUnavailableReason();           \
    if (!why_.empty()) {                                                     \
      std::fprintf(stderr, "SKIPPED (BPF unavailable): %s\n", why_.c_str()); \
      GTEST_SKIP() << why_;                                                  \
    }                                                                        \
  } while (0)

// A child process with stdin/stdout pipes, speaking the testprogs protocol: prints "ready",
// waits for a line on stdin, works, prints lines, "done".
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    to_ = in[1];
    from_ = fdopen(out[0], "r");
  }
  ~Child() {
    if (to_ >= 0) close(to_);
    if (from_) fclose(from_);
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  // Next line of output without the newline; empty at EOF.
  std::string ReadLine() {
    char buf[256];
    if (!from_ || !fgets(buf, sizeof buf, from_)) return {};
    std::string s(buf);
    if (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }
  bool WaitReady() { return ReadLine() == "ready"; }
  void Go() {
    if (write(to_, "go\n", 3) != 3) ADD_FAILURE() << "write to child failed";
  }
  // Reads to "done": the "sem NAME ADDR" lines into sems(), others into lines().
  bool ReadResults() {
    for (std::string l = ReadLine(); !l.empty(); l = ReadLine()) {
      if (l == "done") return true;
      char name[32];
      unsigned long long addr;
      if (std::sscanf(l.c_str(), "sem %31s %llx", name, &addr) == 2) {
        sems_[name] = addr;
      } else {
        lines_.push_back(l);
      }
    }
    return false;
  }
  // Closes the child's stdin (scripts that stay until then exit) and waits for its exit.
  int Wait() {
    if (to_ >= 0) {
      close(to_);
      to_ = -1;
    }
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  uint64_t sem(const std::string& name) const {
    auto it = sems_.find(name);
    return it == sems_.end() ? 0 : it->second;
  }
  const std::vector<std::string>& lines() const { return lines_; }

 private:
  pid_t pid_ = -1;
  int to_ = -1;
  FILE* from_ = nullptr;
  bool reaped_ = false;
  std::map<std::string, uint64_t> sems_;
  std::vector<std::string> lines_;
};

// IDs of the BPF links that exist now, with the name of the program each runs.
inline std::map<uint32_t, std::string> BpfLinks() {
  std::map<uint32_t, std::string> out;
  uint32_t id = 0;
  while (bpf_link_get_next_id(id, &id) == 0) {
    int fd = bpf_link_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_link_info info{};
    uint32_t len = sizeof info;
    std::string name;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
      int pfd = bpf_prog_get_fd_by_id(info.prog_id);
      if (pfd >= 0) {
        bpf_prog_info pinfo{};
        uint32_t plen = sizeof pinfo;
        if (bpf_obj_get_info_by_fd(pfd, &pinfo, &plen) == 0) name = pinfo.name;
        close(pfd);
      }
    }
    close(fd);
    out[id] = name;
  }
  return out;
}

// IDs of the BPF links whose file descriptors process `pid` holds (from /proc/PID/fdinfo):
// exactly the links a probe object in that process owns, whatever else runs on the machine.
inline std::set<uint32_t> LinkIdsHeldBy(pid_t pid) {
  std::set<uint32_t> out;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fdinfo";
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    FILE* f = fopen((dir + "/" + e->d_name).c_str(), "r");
    if (!f) continue;
    char line[256];
    while (fgets(line, sizeof line, f)) {
      unsigned id;
      if (std::sscanf(line, "link_id: %u", &id) == 1) out.insert(id);
    }
    fclose(f);
  }
  closedir(d);
  return out;
}

// Links in `after` that are not in `before`.
inline std::set<uint32_t> NewLinks(const std::map<uint32_t, std::string>& before,
                                   const std::map<uint32_t, std::string>& after) {
  std::set<uint32_t> out;
  for (const auto& [id, name] : after) {
    if (!before.count(id)) out.insert(id);
  }
  return out;
}

// Of `ids`, those that still exist.
inline std::set<uint32_t> StillThere(const std::set<uint32_t>& ids) {
  auto now = BpfLinks();
  std::set<uint32_t> out;
  for (uint32_t id : ids) {
    if (now.count(id)) out.insert(id);
  }
  return out;
}

}  // namespace gilstat::testing
