// Live CPython interpreters for the tests of daemon/python: where they are on this machine
// (Debian's, pyenv's, the sid root's run with chroot) and a child process to talk to.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "python/python_info.h"

namespace gilstat::python::testing_live {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* kDebianPython = "/usr/bin/python3";
constexpr const char* kPyenv = "/root/.pyenv/versions";

inline bool Exists(const std::string& path) { return access(path.c_str(), X_OK) == 0; }

// /root/.pyenv/versions/X.Y.*/bin/pythonX.Y, "" when absent.
inline std::string PyenvPython(const std::string& major_minor) {
  std::error_code ec;
  for (const auto& dir : fs::directory_iterator(kPyenv, ec)) {
    const std::string v = dir.path().filename();
    if (v.rfind('.') == std::string::npos || v.substr(0, v.rfind('.')) != major_minor) continue;
    const std::string exe = dir.path() / "bin" / ("python" + major_minor);
    if (Exists(exe)) return exe;
  }
  return "";
}

// A child process whose stdin and stdout are pipes to the test: it prints lines ("ready ...")
// when it reaches a state and waits for a line from the test to go on.
class Child {
 public:
  explicit Child(std::vector<std::string> argv) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      std::vector<char*> args;
      for (std::string& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    to_child_ = in[1];
    from_child_ = out[0];
  }
  ~Child() {
    if (to_child_ >= 0) close(to_child_);
    if (from_child_ >= 0) close(from_child_);
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }

  // The next line the child prints (without '\n'); "" on EOF or after `timeout`.
  std::string ReadLine(milliseconds timeout = milliseconds(20000)) {
    const auto deadline = Clock::now() + timeout;
    while (true) {
      if (size_t nl = buf_.find('\n'); nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return "";
      pollfd p{from_child_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return "";
      char chunk[256];
      const ssize_t n = read(from_child_, chunk, sizeof(chunk));
      if (n <= 0) return "";
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }
  void WriteLine(const std::string& line) {
    const std::string s = line + "\n";
    ASSERT_EQ(write(to_child_, s.data(), s.size()), static_cast<ssize_t>(s.size()));
  }

 private:
  pid_t pid_ = -1;
  int to_child_ = -1, from_child_ = -1;
  std::string buf_;
};

// The child's first line must start with `want`; returns the rest of it.
inline std::string ExpectLine(Child& child, const std::string& want) {
  const std::string line = child.ReadLine();
  EXPECT_TRUE(line.starts_with(want))
      << "child " << child.pid() << " said '" << line << "', expected '" << want << "'";
  return line.size() > want.size() ? line.substr(want.size() + 1) : "";
}

inline Result<InterpreterInfo> Inspect(pid_t pid) {
  auto info = InspectProcess(pid);
  if (info && info->kind != InterpreterInfo::Kind::kCPython) {
    return MakeError(ErrorCode::kInternal, "process " + std::to_string(pid) + " is not CPython");
  }
  return info;
}

// The Debian sid root of scripts/sid_root.sh (CPython 3.14 and 3.15 as distributions ship them).
constexpr const char* kSidRoot = "/var/cache/gilstat/sid-root";
constexpr const char* kChroot = "/usr/sbin/chroot";

// How to start "debian", "3.X" (pyenv) or "sid-3.14", "sid-3.15", "sid-3.14-dbg" (the sid root's,
// run with chroot): empty when absent.
inline std::vector<std::string> PythonFor(const std::string& which) {
  if (which == "debian") {
    return Exists(kDebianPython) ? std::vector<std::string>{kDebianPython}
                                 : std::vector<std::string>{};
  }
  if (which.starts_with("sid-")) {
    const std::string exe = "/usr/bin/python" + which.substr(4);
    if (!Exists(kChroot) || !Exists(std::string(kSidRoot) + exe)) return {};
    return {kChroot, kSidRoot, exe};
  }
  const std::string exe = PyenvPython(which);
  return exe.empty() ? std::vector<std::string>{} : std::vector<std::string>{exe};
}

inline std::string Absent(const std::string& which) {
  return which.starts_with("sid-")
             ? std::string(kSidRoot) + " absent (scripts/sid_root.sh provisions it)"
             : "no " + which + " interpreter installed";
}

}  // namespace gilstat::python::testing_live
