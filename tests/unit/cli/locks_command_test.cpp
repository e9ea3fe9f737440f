// `gilstat locks` end to end against a fake probe, a fake event source and a fake /proc.
#include "cli/locks_command.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <deque>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "tests/unit/tracker/fake_proc.h"

namespace gilstat::cli {
namespace {

using tracker::testing::FakeProc;

struct ProbeState {
  std::set<pid_t> attached, no_libc;
  std::vector<SemLockStats> locks;
};

// Keeps per-pid lock entries like the real probe: a detach deletes the pid's entries. Its state
// lives in the test (the command destroys the probe when it ends).
class FakeProbe : public LockProbe {
 public:
  explicit FakeProbe(ProbeState* state) : s_(state) {}
  Status Attach(pid_t pid) override {
    if (s_->no_libc.count(pid)) return MakeError(ErrorCode::kNotFound, "no libc in /proc/pid/maps");
    s_->attached.insert(pid);
    return Status::Ok();
  }
  Status Detach(pid_t pid) override {
    s_->attached.erase(pid);
    std::erase_if(s_->locks, [&](const SemLockStats& l) { return l.pid == pid; });
    return Status::Ok();
  }
  Result<std::vector<SemLockStats>> ReadLocks() override { return s_->locks; }
  ProbeHealth ReadHealth() override { return {}; }

 private:
  ProbeState* s_;
};

class FakeEvents : public ProcEventSource {
 public:
  explicit FakeEvents(std::deque<ProcEvent> q) : queue_(std::move(q)) {}
  int fd() const override { return -1; }
  Result<int> Drain(const std::function<void(const ProcEvent&)>& fn) override {
    int n = 0;
    for (; !queue_.empty(); queue_.pop_front(), ++n) {
      if (before_event) before_event(queue_.front());
      fn(queue_.front());
    }
    return n;
  }
  uint64_t LostEvents() override { return 0; }
  std::function<void(const ProcEvent&)> before_event;

 private:
  std::deque<ProcEvent> queue_;
};

SemLockStats Lock(pid_t pid, uint64_t addr, uint64_t acq, uint64_t wait_ns) {
  SemLockStats l;
  l.pid = pid;
  l.addr = addr;
  l.acquisitions = acq;
  l.wait_ns = wait_ns;
  return l;
}

class LocksCommandTest : public ::testing::Test {
 protected:
  LocksCommandTest() {
    proc_.Add({.pid = 100, .comm = "python3", .exe = "/usr/bin/python3.11"});
    proc_.Add({.pid = 101, .comm = "static", .exe = "/opt/static"});
    env_.proc_root = proc_.root();
    env_.check_privileges = false;
    env_.self_pid = 1;
    env_.open_probe = [this](ProbeMode mode) -> Result<std::unique_ptr<LockProbe>> {
      opened_mode_ = mode;
      if (!owned_) return MakeError(ErrorCode::kInternal, "opened twice");
      return std::move(owned_);
    };
    env_.open_events = nullptr;
    owned_ = std::make_unique<FakeProbe>(&state_);
  }

  int Run(std::vector<std::string> args) {
    auto parsed = ParseArgs(args);
    EXPECT_TRUE(parsed.ok()) << parsed.error().message;
    out_.str("");
    err_.str("");
    return RunLocks(parsed->locks, env_, out_, err_);
  }

  FakeProc proc_;
  ProbeState state_;
  ProbeState* probe_ = &state_;
  std::unique_ptr<LockProbe> owned_;
  std::optional<ProbeMode> opened_mode_;
  LocksEnv env_;
  std::ostringstream out_, err_;
};

TEST_F(LocksCommandTest, TracesAPidAndPrintsJson) {
  probe_->locks = {Lock(100, 0x10, 5, 500), Lock(100, 0x20, 1, 100)};
  EXPECT_EQ(Run({"locks", "--pid", "100", "--duration", "0.05", "--json", "--mode", "exact"}),
            kExitOk)
      << err_.str();
  ASSERT_TRUE(nlohmann::json::accept(out_.str())) << out_.str();
  auto j = nlohmann::json::parse(out_.str());
  ASSERT_EQ(j["processes"].size(), 1u) << j;
  const auto& p = j["processes"][0];
  EXPECT_EQ(p["pid"], 100);
  EXPECT_EQ(p["comm"], "python3");
  EXPECT_EQ(p["exe"], "/usr/bin/python3.11");
  ASSERT_EQ(p["locks"].size(), 2u) << j;
  EXPECT_EQ(p["locks"][0]["addr"], "0x10");
  EXPECT_EQ(j["mode"], "exact");
  EXPECT_EQ(opened_mode_, ProbeMode::kExact);
  EXPECT_NE(err_.str().find("tracing 1 process matching (pid 100) for 0.05 s"), std::string::npos)
      << err_.str();
  EXPECT_TRUE(probe_->attached.empty()) << "detached at the end";
}

TEST_F(LocksCommandTest, MinAcquisitionsHidesLocks) {
  probe_->locks = {Lock(100, 0x10, 5, 500), Lock(100, 0x20, 1, 100)};
  EXPECT_EQ(Run({"locks", "-p", "100", "-d", "0.01", "--min-acquisitions", "2"}), kExitOk);
  EXPECT_NE(out_.str().find("0x10"), std::string::npos) << out_.str();
  EXPECT_EQ(out_.str().find("0x20"), std::string::npos) << out_.str();
}

TEST_F(LocksCommandTest, MissingPidIsARuntimeError) {
  EXPECT_EQ(Run({"locks", "--pid", "100", "--pid", "4242", "-d", "1"}), kExitRuntime);
  EXPECT_EQ(err_.str(), "gilstat: error: no process with pid 4242\n");
  EXPECT_TRUE(out_.str().empty());
}

TEST_F(LocksCommandTest, ProcessWithoutLibcIsARuntimeError) {
  probe_->no_libc.insert(101);
  EXPECT_EQ(Run({"locks", "--pid", "100", "--pid", "101", "-d", "1"}), kExitRuntime);
  EXPECT_NE(err_.str().find("gilstat: error: cannot trace pid 101 (static): it maps no libc"),
            std::string::npos)
      << err_.str();
  const std::string err = err_.str();
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << "one line";
  EXPECT_TRUE(probe_->attached.empty()) << "what was attached is detached again";
}

TEST_F(LocksCommandTest, ProbeThatCannotLoad) {
  env_.open_probe = [](ProbeMode) -> Result<std::unique_ptr<LockProbe>> {
    return MakeError(ErrorCode::kPermissionDenied, "bpf(BPF_PROG_LOAD): Operation not permitted");
  };
  EXPECT_EQ(Run({"locks", "--pid", "100"}), kExitRuntime);
  EXPECT_EQ(err_.str(),
            "gilstat: error: cannot load the probes: bpf(BPF_PROG_LOAD): Operation not "
            "permitted\n");
}

TEST_F(LocksCommandTest, MissingPrivilegesAndBtf) {
  env_.check_privileges = true;
  std::string status = proc_.root() + "/status-nocaps";
  std::ofstream(status) << "Name:\tx\nCapInh:\t0\nCapPrm:\t0\nCapEff:\t0000000000000000\n";
  env_.self_status_path = status;
  EXPECT_EQ(Run({"locks", "--pid", "100"}), kExitRuntime);
  EXPECT_NE(err_.str().find("gilstat: error: missing privileges"), std::string::npos);

  std::string caps = proc_.root() + "/status-caps";
  std::ofstream(caps) << "Name:\tx\nCapEff:\t000000c000000000\n";  // CAP_PERFMON + CAP_BPF
  env_.self_status_path = caps;
  env_.btf_path = proc_.root() + "/no-btf";
  EXPECT_EQ(Run({"locks", "--pid", "100"}), kExitRuntime);
  EXPECT_NE(err_.str().find("gilstat: error: the kernel has no BTF"), std::string::npos)
      << err_.str();
}

TEST(Capabilities, WhatSuffices) {
  EXPECT_FALSE(host::CapabilitiesSuffice(0));
  EXPECT_TRUE(host::CapabilitiesSuffice(uint64_t{1} << 21));  // CAP_SYS_ADMIN
  EXPECT_TRUE(host::CapabilitiesSuffice((uint64_t{1} << 38) | (uint64_t{1} << 39)));  // PERFMON+BPF
  EXPECT_FALSE(host::CapabilitiesSuffice(uint64_t{1} << 39));
  EXPECT_FALSE(host::CapabilitiesSuffice(uint64_t{1} << 38));
}

TEST_F(LocksCommandTest, StopSignalEndsTheRunAndStillPrints) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  ASSERT_EQ(::write(p[1], "x", 1), 1);  // as if SIGINT had arrived
  env_.stop_fd = p[0];
  probe_->locks = {Lock(100, 0x10, 5, 500)};
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(Run({"locks", "--pid", "100", "--json"}), kExitOk);  // no duration: until stopped
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  auto j = nlohmann::json::parse(out_.str());
  EXPECT_EQ(j["interrupted"], true);
  EXPECT_EQ(j["processes"][0]["locks"][0]["addr"], "0x10");
  ::close(p[0]);
  ::close(p[1]);
}

TEST_F(LocksCommandTest, NewAndExitingProcessesThroughEvents) {
  probe_->locks = {Lock(100, 0x10, 5, 500)};
  FakeEvents* events = nullptr;
  env_.open_events = [&]() -> Result<std::unique_ptr<ProcEventSource>> {
    auto e = std::make_unique<FakeEvents>(
        std::deque<ProcEvent>{{ProcEvent::Type::kExec, 102}, {ProcEvent::Type::kExit, 100}});
    events = e.get();
    // pid 102 starts (exec); pid 100 exits, its numbers must survive the detach.
    e->before_event = [&](const ProcEvent& ev) {
      if (ev.type == ProcEvent::Type::kExec) {
        proc_.Add({.pid = 102, .comm = "python3", .exe = "/usr/bin/python3.11"});
        probe_->locks.push_back(Lock(102, 0x30, 9, 9000));
      } else {
        proc_.Remove(100);
      }
    };
    return std::unique_ptr<ProcEventSource>(std::move(e));
  };
  EXPECT_EQ(Run({"locks", "--comm", "^python", "--duration", "0.05", "--json"}), kExitOk)
      << err_.str();
  ASSERT_NE(events, nullptr);
  auto j = nlohmann::json::parse(out_.str());
  const auto& procs = j["processes"];
  ASSERT_EQ(procs.size(), 2u) << j;
  EXPECT_EQ(procs[0]["pid"], 102) << "sorted by total wait";
  EXPECT_EQ(procs[0]["total_wait_ns"], 9000);
  EXPECT_EQ(procs[1]["pid"], 100);
  EXPECT_EQ(procs[1]["exited"], true);
  EXPECT_EQ(procs[1]["total_wait_ns"], 500);
  EXPECT_EQ(j["tracker"]["exec_events"], 1);
  EXPECT_EQ(j["tracker"]["exit_events"], 1);
}

TEST_F(LocksCommandTest, NoEventSourceFallsBackToRescans) {
  env_.open_events = []() -> Result<std::unique_ptr<ProcEventSource>> {
    return MakeError(ErrorCode::kUnavailable, "no BTF");
  };
  env_.rescan_without_events = std::chrono::milliseconds(10);
  EXPECT_EQ(Run({"locks", "--comm", "^python", "--duration", "0.05"}), kExitOk);
  EXPECT_NE(err_.str().find("warning: no process events (no BTF)"), std::string::npos);
  EXPECT_NE(out_.str().find("PID 100  python3"), std::string::npos) << out_.str();
}

}  // namespace
}  // namespace gilstat::cli
