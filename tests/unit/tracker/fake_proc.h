// A fake /proc tree in a temporary directory, for tests of the code that reads /proc.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace gilstat::tracker::testing {

struct FakeProcess {
  pid_t pid = 0;
  pid_t ppid = 1;
  std::string comm = "proc";
  std::string exe = "/usr/bin/proc";  // empty: no exe link (like a kernel thread)
  std::vector<std::string> argv = {"/usr/bin/proc"};
  std::string cgroup = "/system.slice/proc.service";
  uint64_t start_time = 1000;
  bool kernel_thread = false;
  char state = 'S';
  int num_threads = 1;
  int uid = 1000;
  // The auxiliary vector: AT_BASE set (a dynamic loader) or 0 (statically linked); none when
  // unset (the tracker cannot tell then).
  std::optional<bool> dynamic;
};

class FakeProc {
 public:
  FakeProc() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "gilstat-proc-XXXXXX").string();
    char* dir = ::mkdtemp(tmpl.data());
    if (dir == nullptr) std::abort();
    root_ = dir;
  }
  ~FakeProc() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  FakeProc(const FakeProc&) = delete;
  FakeProc& operator=(const FakeProc&) = delete;

  const std::string& root() const { return root_; }

  void Add(const FakeProcess& p) {
    auto dir = std::filesystem::path(root_) / std::to_string(p.pid);
    std::filesystem::create_directories(dir);
    unsigned flags = p.kernel_thread ? 0x00200000u : 0x00400000u;
    Write(dir / "stat", std::to_string(p.pid) + " (" + p.comm + ") " + p.state + " " +
                            std::to_string(p.ppid) + " 1 1 0 -1 " + std::to_string(flags) +
                            " 0 0 0 0 0 0 0 0 20 0 " + std::to_string(p.num_threads) + " 0 " +
                            std::to_string(p.start_time) + " 1000 100 0\n");
    Write(dir / "comm", p.comm + "\n");
    std::string cmdline;
    for (const auto& a : p.argv) cmdline += a + std::string(1, '\0');
    Write(dir / "cmdline", cmdline);
    Write(dir / "cgroup", "0::" + p.cgroup + "\n");
    Write(dir / "status", "Name:\t" + p.comm + "\nTgid:\t" + std::to_string(p.pid) + "\nUid:\t" +
                              std::to_string(p.uid) + "\t" + std::to_string(p.uid) + "\t0\t0\n");
    if (p.dynamic) {
      // (AT_PHDR, x) (AT_BASE, loader or 0) (AT_NULL, 0), 64-bit words as the kernel writes them.
      const uint64_t auxv[] = {3, 0x400040, 7, *p.dynamic ? 0x7f0000001000u : 0u, 0, 0};
      Write(dir / "auxv", std::string(reinterpret_cast<const char*>(auxv), sizeof(auxv)));
    }
    std::error_code ec;
    std::filesystem::remove(dir / "exe", ec);
    if (!p.exe.empty()) std::filesystem::create_symlink(p.exe, dir / "exe");
    // Its parent's children list (and its own), as the kernel keeps them.
    if (auto old = parent_.find(p.pid); old != parent_.end() && old->second != p.ppid) {
      children_[old->second].erase(p.pid);
      WriteChildren(old->second);
    }
    parent_[p.pid] = p.ppid;
    children_[p.ppid].insert(p.pid);
    WriteChildren(p.ppid);
    WriteChildren(p.pid);
  }
  void Remove(pid_t pid) {
    std::filesystem::remove_all(std::filesystem::path(root_) / std::to_string(pid));
    if (auto it = parent_.find(pid); it != parent_.end()) {
      children_[it->second].erase(pid);
      WriteChildren(it->second);
      parent_.erase(it);
    }
  }
  // A kernel without children lists (CONFIG_PROC_CHILDREN off): no task/TID/children files.
  void DropChildrenLists() {
    children_lists_ = false;
    for (const auto& [parent, kids] : children_) {
      std::error_code ec;
      std::filesystem::remove_all(std::filesystem::path(root_) / std::to_string(parent) / "task",
                                  ec);
    }
  }
  void WriteFile(pid_t pid, const std::string& name, const std::string& text) {
    Write(std::filesystem::path(root_) / std::to_string(pid) / name, text);
  }

 private:
  static void Write(const std::filesystem::path& path, const std::string& text) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  }
  // /proc/PID/task/PID/children of a fake process (one thread), if it exists.
  void WriteChildren(pid_t pid) {
    const auto dir = std::filesystem::path(root_) / std::to_string(pid);
    if (!children_lists_ || !std::filesystem::exists(dir / "stat")) return;
    const auto task = dir / "task" / std::to_string(pid);
    std::filesystem::create_directories(task);
    std::string list;
    for (pid_t c : children_[pid]) list += std::to_string(c) + " ";
    Write(task / "children", list);
  }
  std::string root_;
  std::map<pid_t, std::set<pid_t>> children_;
  std::map<pid_t, pid_t> parent_;
  bool children_lists_ = true;
};

}  // namespace gilstat::tracker::testing
