// gilstatd: the composition of the hosted runtime, the probes and the process tracker, the
// collectors and the HTTP server, driven by one loop over signals and process events.
//
// Start-up order: configuration compiled (errors: exit 2) → probes loaded and the tracker's
// first scan (errors: exit 1) → runtime and workload started → HTTP listening (exit 1) →
// READY=1. SIGHUP reloads on a thread of its own while the loop goes on (a bad file is logged
// and counted, the old configuration stays; a SIGHUP during a reload queues one more);
// SIGTERM/SIGINT wait for a reload under way, detach everything and return 0.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "app/flags.h"
#include "config/config.h"
#include "gilstat/result.h"

#include "web/http_server.h"

namespace gilstat {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntimeError = 1;
inline constexpr int kExitConfigError = 2;

struct DaemonEnv {
  std::string proc_root = "/proc";
  std::string btf_path = "/sys/kernel/btf/vmlinux";
  std::string self_status_path = "/proc/self/status";
  std::string version = "0.0.0";
};

// The exit status for an error returned by Daemon::Create: configuration errors are 2.
int ExitStatusOf(const Error& e);

class Daemon {
 public:
  // The caller must have blocked SIGTERM, SIGINT and SIGHUP in every thread (BlockSignals)
  // before calling this: threads started here inherit the mask, and Run() takes them from a
  // signalfd.
  static Result<std::unique_ptr<Daemon>> Create(const DaemonFlags& flags, config::Config cfg,
                                                DaemonEnv env = {});
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // The loop, until SIGTERM or SIGINT. Returns the exit status.
  int Run();
  int port() const;
  // The exposition, as a scrape sees it.
  std::string Render() const;
  // What a profile endpoint serves: /debug/pprof/gil_wait (the GIL waits by waiting stack),
  // /debug/pprof/gil_blame (by the holder's stack), /debug/pprof/lock_wait (the threading-lock
  // waits by waiting stack).
  enum class Profile { kGilWait, kGilBlame, kLockWait };
  // The pprof profile of `kind` for `query` ("seconds=N"): the waits of the next N seconds by
  // Python stack (probes.python_stacks).
  web::HttpResponse GilProfile(Profile kind, const std::string& query) const;

  struct Impl;

 private:
  explicit Daemon(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (and the threads it starts later).
void BlockSignals();

}  // namespace gilstat
