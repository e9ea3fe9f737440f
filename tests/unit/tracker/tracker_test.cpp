#include "tracker/tracker.h"

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <map>

#include "tests/unit/tracker/fake_proc.h"

namespace gilstat::tracker {
namespace {

using testing::FakeProc;
using testing::FakeProcess;
using Clock = Tracker::Clock;
using std::chrono::milliseconds;

constexpr pid_t kSelf = 1;

// Records every call; answers with the scripted status (default ok).
class FakeAttacher : public Attacher {
 public:
  Status Attach(pid_t pid) override {
    calls.push_back("attach " + std::to_string(pid));
    if (on_attach) on_attach(pid);
    auto it = attach_results.find(pid);
    if (it != attach_results.end() && !it->second.empty()) {
      Status s = it->second.front();
      if (it->second.size() > 1) it->second.pop_front();
      return s;
    }
    return Status::Ok();
  }
  Status Detach(pid_t pid) override {
    calls.push_back("detach " + std::to_string(pid));
    return Status::Ok();
  }
  std::vector<std::string> calls;
  // Per pid, the answers in order; the last one repeats.
  std::map<pid_t, std::deque<Status>> attach_results;
  std::function<void(pid_t)> on_attach;
};

class FakeEvents : public ProcEventSource {
 public:
  int fd() const override { return -1; }
  Result<int> Drain(const std::function<void(const ProcEvent&)>& fn) override {
    int n = 0;
    while (!queue.empty()) {
      fn(queue.front());
      queue.pop_front();
      ++n;
    }
    return n;
  }
  uint64_t LostEvents() override { return lost; }
  bool Watch(pid_t pid) override {
    calls.push_back("watch " + std::to_string(pid));
    return !exited.count(pid);
  }
  void Unwatch(pid_t pid) override { calls.push_back("unwatch " + std::to_string(pid)); }
  std::deque<ProcEvent> queue;
  uint64_t lost = 0;
  std::set<pid_t> exited;  // Watch finds these gone (their exit came before the mark)
  std::vector<std::string> calls;
};

class Recorder : public TrackerObserver {
 public:
  void Attached(const ProcessInfo& info) override { log.push_back("+" + info.comm); }
  void Detaching(const ProcessInfo& info, bool exited) override {
    log.push_back((exited ? "x" : "-") + info.comm);
  }
  void AttachFailed(pid_t pid, AttachError reason, const std::string& message) override {
    failures.push_back(std::to_string(pid) + " " + AttachErrorName(reason) + ": " + message);
  }
  std::vector<std::string> log;
  std::vector<std::string> failures;  // counted attach failures
};

Error NoLibc() { return MakeError(ErrorCode::kNotFound, "no libc mapped"); }

class TrackerTest : public ::testing::Test {
 protected:
  TrackerTest() : fs_(proc_.root()) {
    proc_.Add({.pid = 100, .comm = "python3", .exe = "/usr/bin/python3.11"});
    proc_.Add({.pid = 101, .comm = "bash", .exe = "/usr/bin/bash"});
    proc_.Add({.pid = 102, .comm = "python3", .exe = "/usr/bin/python3.11"});
    proc_.Add({.pid = 2, .comm = "kthreadd", .exe = "", .argv = {}, .kernel_thread = true});
  }

  std::unique_ptr<Tracker> Make(std::vector<MatchSpec> specs, TrackerOptions opts = {}) {
    auto set = TargetSet::Compile(specs, kSelf);
    EXPECT_TRUE(set.ok());
    return std::make_unique<Tracker>(&fs_, std::move(set).value(), &attacher_, opts, &observer_);
  }

  FakeProc proc_;
  ProcFs fs_;
  FakeAttacher attacher_;
  Recorder observer_;
  Clock::time_point t0_ = Clock::now();
};

TEST_F(TrackerTest, ScanAttachesToMatchingProcessesOnly) {
  auto t = Make({{.comm_regex = "^python"}});
  t->Rescan(t0_);
  EXPECT_EQ(attacher_.calls, (std::vector<std::string>{"attach 100", "attach 102"}));
  EXPECT_TRUE(t->IsAttached(100));
  EXPECT_FALSE(t->IsAttached(101));
  EXPECT_EQ(t->stats().attached, 2u);
  EXPECT_EQ(t->stats().attaches, 2u);
  EXPECT_EQ(t->stats().scans, 1u);
  EXPECT_EQ(observer_.log, (std::vector<std::string>{"+python3", "+python3"}));
}

TEST_F(TrackerTest, RescanIsIdempotent) {
  attacher_.attach_results[102] = {NoLibc()};
  auto t = Make({{.comm_regex = "^python"}});
  t->Rescan(t0_);
  auto calls = attacher_.calls;
  TrackerStats before = t->stats();
  t->Rescan(t0_ + milliseconds(1));
  t->Rescan(t0_ + milliseconds(2));
  EXPECT_EQ(attacher_.calls, calls);  // no repeated attach, no detach
  EXPECT_EQ(t->stats().attaches, before.attaches);
  EXPECT_EQ(t->stats().attach_errors_of(AttachError::kNoLibc), 1u);
  EXPECT_EQ(t->stats().attached, 1u);
  EXPECT_EQ(t->stats().scans, 3u);
}

TEST_F(TrackerTest, NewProcessIsPickedUpByTheNextScan) {
  auto t = Make({{.comm_regex = "^python"}});
  t->Rescan(t0_);
  proc_.Add({.pid = 200, .comm = "python3"});
  t->Rescan(t0_ + milliseconds(1));
  EXPECT_TRUE(t->IsAttached(200));
  EXPECT_EQ(t->stats().attached, 3u);
}

TEST_F(TrackerTest, ExitEventDetaches) {
  auto t = Make({{.comm_regex = "^python"}});
  t->Rescan(t0_);
  proc_.Remove(100);
  t->HandleEvent({ProcEvent::Type::kExit, 100}, t0_);
  EXPECT_FALSE(t->IsAttached(100));
  EXPECT_EQ(attacher_.calls.back(), "detach 100");
  EXPECT_EQ(t->stats().exit_events, 1u);
  EXPECT_EQ(t->stats().exited_detaches, 1u);
  EXPECT_EQ(t->stats().attached, 1u);
  // The exit of a process that was never attached changes nothing.
  t->HandleEvent({ProcEvent::Type::kExit, 101}, t0_);
  EXPECT_EQ(t->stats().detaches, 1u);
  EXPECT_EQ(observer_.log.back(), "xpython3");
}

TEST_F(TrackerTest, RescanDetachesProcessesWhoseExitWasMissed) {
  auto t = Make({{.comm_regex = "^python"}});
  t->Rescan(t0_);
  proc_.Remove(102);
  t->Rescan(t0_ + milliseconds(1));
  EXPECT_FALSE(t->IsAttached(102));
  EXPECT_EQ(attacher_.calls.back(), "detach 102");
  EXPECT_EQ(t->stats().exited_detaches, 1u);
}

TEST_F(TrackerTest, ZombieCountsAsExited) {
  auto t = Make({{.comm_regex = "^python"}});
  t->Rescan(t0_);
  proc_.Add({.pid = 102, .comm = "python3", .state = 'Z'});
  t->Rescan(t0_ + milliseconds(1));
  EXPECT_FALSE(t->IsAttached(102));
}

TEST_F(TrackerTest, ProcessVanishingDuringAttachIsCountedNotRetried) {
  attacher_.on_attach = [&](pid_t pid) {
    if (pid == 100) proc_.Remove(100);  // exits between the scan and the attach
  };
  attacher_.attach_results[100] = {MakeError(ErrorCode::kNotFound, "/proc/100/maps: gone")};
  auto t = Make({{.comm_regex = "^python"}});
  t->Rescan(t0_);
  EXPECT_FALSE(t->IsAttached(100));
  EXPECT_TRUE(t->IsAttached(102));
  EXPECT_EQ(t->stats().attach_errors_of(AttachError::kVanished), 1u);
  EXPECT_EQ(t->stats().attach_errors_of(AttachError::kNoLibc), 0u);
  EXPECT_FALSE(t->FailureOf(100).has_value());
  t->Rescan(t0_ + milliseconds(1));
  EXPECT_EQ(t->stats().attach_errors_of(AttachError::kVanished), 1u);
}

TEST_F(TrackerTest, ProcessExitingRightAfterASuccessfulAttachIsCleanedUp) {
  attacher_.on_attach = [&](pid_t pid) {
    if (pid == 100) proc_.Remove(100);
  };
  auto t = Make({{.pids = {100}}});
  t->Rescan(t0_);
  EXPECT_TRUE(t->IsAttached(100));
  t->Rescan(t0_ + milliseconds(1));
  EXPECT_FALSE(t->IsAttached(100));
  EXPECT_EQ(attacher_.calls, (std::vector<std::string>{"attach 100", "detach 100"}));
}

TEST_F(TrackerTest, AttachErrorsCountedByReason) {
  proc_.Add({.pid = 103, .comm = "python3"});
  attacher_.attach_results[100] = {NoLibc()};
  attacher_.attach_results[102] = {MakeError(ErrorCode::kPermissionDenied, "EPERM")};
  attacher_.attach_results[103] = {MakeError(ErrorCode::kInternal, "verifier said no")};
  auto t = Make({{.comm_regex = "^python"}});
  t->Rescan(t0_);
  EXPECT_EQ(t->stats().attach_errors_of(AttachError::kNoLibc), 1u);
  EXPECT_EQ(t->stats().attach_errors_of(AttachError::kPermission), 1u);
  EXPECT_EQ(t->stats().attach_errors_of(AttachError::kOther), 1u);
  EXPECT_EQ(t->stats().attach_errors_of(AttachError::kVanished), 0u);
  EXPECT_EQ(t->stats().attached, 0u);
  auto f = t->FailureOf(102);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->reason, AttachError::kPermission);
  EXPECT_EQ(f->message, "EPERM");
  EXPECT_STREQ(AttachErrorName(f->reason), "permission");
  // A failed process that exits is forgotten.
  proc_.Remove(102);
  t->Rescan(t0_ + milliseconds(1));
  EXPECT_FALSE(t->FailureOf(102).has_value());
}

TEST_F(TrackerTest, ExecEventAttachesNewImageAfterLibcIsMapped) {
  TrackerOptions opts;
  opts.exec_retries = 5;
  opts.exec_retry_delay = milliseconds(10);
  auto t = Make({{.comm_regex = "^python"}}, opts);
  t->Rescan(t0_);
  // pid 101 execs python; its libc is mapped only after two attempts.
  proc_.Add({.pid = 101, .comm = "python3"});
  attacher_.attach_results[101] = {NoLibc(), NoLibc(), Status::Ok()};
  t->HandleEvent({ProcEvent::Type::kExec, 101}, t0_);
  EXPECT_FALSE(t->IsAttached(101));
  EXPECT_EQ(t->stats().pending, 1u);
  EXPECT_EQ(t->NextDeadline(), t0_ + milliseconds(10));
  t->Tick(t0_ + milliseconds(5));  // not due yet
  EXPECT_FALSE(t->IsAttached(101));
  t->Tick(t0_ + milliseconds(10));
  t->Tick(t0_ + milliseconds(20));
  EXPECT_TRUE(t->IsAttached(101));
  EXPECT_EQ(t->stats().attach_retries, 2u);
  EXPECT_EQ(t->stats().attach_errors_of(AttachError::kNoLibc), 0u);
  EXPECT_EQ(t->stats().pending, 0u);
  EXPECT_EQ(t->stats().exec_events, 1u);
}

TEST_F(TrackerTest, ProcessExitingWhileItsAttachIsRetriedCountsAsVanished) {
  auto t = Make({{.comm_regex = "^python"}});
  t->Rescan(t0_);
  proc_.Add({.pid = 101, .comm = "python3"});
  attacher_.attach_results[101] = {NoLibc()};
  t->HandleEvent({ProcEvent::Type::kExec, 101}, t0_);
  EXPECT_EQ(t->stats().pending, 1u);
  proc_.Remove(101);
  t->HandleEvent({ProcEvent::Type::kExit, 101}, t0_ + milliseconds(1));
  EXPECT_EQ(t->stats().pending, 0u);
  EXPECT_EQ(t->stats().attach_errors_of(AttachError::kVanished), 1u);
  // The same when only a rescan notices.
  proc_.Add({.pid = 103, .comm = "python3"});
  attacher_.attach_results[103] = {NoLibc()};
  t->HandleEvent({ProcEvent::Type::kExec, 103}, t0_ + milliseconds(2));
  proc_.Remove(103);
  t->Rescan(t0_ + milliseconds(3));
  EXPECT_EQ(t->stats().attach_errors_of(AttachError::kVanished), 2u);
  EXPECT_EQ(t->stats().attach_errors_of(AttachError::kNoLibc), 0u);
}

TEST_F(TrackerTest, ExecEventOfAProcessThatExitedAlready) {
  auto t = Make({{.comm_regex = "^python"}});
  t->Rescan(t0_);
  proc_.Remove(100);
  t->HandleEvent({ProcEvent::Type::kExec, 100}, t0_);
  EXPECT_FALSE(t->IsAttached(100));
  EXPECT_EQ(t->stats().exited_detaches, 1u);
}

TEST_F(TrackerTest, ExecRetriesEndInNoLibc) {
  TrackerOptions opts;
  opts.exec_retries = 2;
  opts.exec_retry_delay = milliseconds(1);
  auto t = Make({{.comm_regex = "^static"}}, opts);
  t->Rescan(t0_);
  proc_.Add({.pid = 101, .comm = "static-app"});
  attacher_.attach_results[101] = {NoLibc()};
  t->HandleEvent({ProcEvent::Type::kExec, 101}, t0_);
  for (int i = 1; i <= 5; ++i) t->Tick(t0_ + milliseconds(i));
  EXPECT_FALSE(t->IsAttached(101));
  EXPECT_EQ(t->stats().attach_retries, 2u);
  EXPECT_EQ(t->stats().attach_errors_of(AttachError::kNoLibc), 1u);
  EXPECT_EQ(t->stats().pending, 0u);
}

// A dynamically linked program caught after its exec but before its loader mapped libc is not
// a statically linked one: it is retried, also when a scan (not an exec event) found it.
TEST_F(TrackerTest, AProcessStillLoadingIsRetriedNotCountedAsStatic) {
  TrackerOptions opts;
  opts.exec_retries = 3;
  opts.exec_retry_delay = milliseconds(1);
  proc_.Add({.pid = 104, .comm = "python3", .dynamic = true});
  attacher_.attach_results[104] = {NoLibc(), NoLibc(), Status::Ok()};
  auto t = Make({{.comm_regex = "^python"}}, opts);
  t->Rescan(t0_);
  EXPECT_FALSE(t->IsAttached(104));
  EXPECT_EQ(t->stats().pending, 1u);
  for (int i = 1; i <= 5; ++i) t->Tick(t0_ + milliseconds(i));
  EXPECT_TRUE(t->IsAttached(104));
  EXPECT_EQ(t->stats().attach_retries, 2u);
  EXPECT_EQ(t->stats().attach_errors_of(AttachError::kNoLibc), 0u);
  EXPECT_EQ(t->stats().attach_errors_of(AttachError::kLibcNotLoaded), 0u);
  EXPECT_TRUE(observer_.failures.empty());
}

TEST_F(TrackerTest, ALoaderThatNeverMapsLibcIsCountedAsNotLoaded) {
  TrackerOptions opts;
  opts.exec_retries = 2;
  opts.exec_retry_delay = milliseconds(1);
  proc_.Add({.pid = 104, .comm = "python3", .dynamic = true});
  attacher_.attach_results[104] = {NoLibc()};
  auto t = Make({{.pids = {104}}}, opts);
  t->Rescan(t0_);
  for (int i = 1; i <= 5; ++i) t->Tick(t0_ + milliseconds(i));
  EXPECT_EQ(t->stats().attach_retries, 2u);  // retried once per budget, not again and again
  EXPECT_EQ(t->stats().attach_errors_of(AttachError::kLibcNotLoaded), 1u);
  EXPECT_EQ(t->stats().attach_errors_of(AttachError::kNoLibc), 0u);
  EXPECT_STREQ(AttachErrorName(AttachError::kLibcNotLoaded), "libc_not_loaded");
  t->Rescan(t0_ + milliseconds(10));  // failed and unchanged: not tried again
  EXPECT_EQ(t->stats().attach_errors_of(AttachError::kLibcNotLoaded), 1u);
  // Told once, when counted, not at every retry.
  EXPECT_EQ(observer_.failures, std::vector<std::string>{"104 libc_not_loaded: no libc mapped"});
}

TEST_F(TrackerTest, AStaticallyLinkedProgramIsNotRetriedEvenAfterAnExec) {
  auto t = Make({{.comm_regex = "^static"}});
  t->Rescan(t0_);
  proc_.Add({.pid = 101, .comm = "static-app", .dynamic = false});
  attacher_.attach_results[101] = {NoLibc()};
  t->HandleEvent({ProcEvent::Type::kExec, 101}, t0_);
  EXPECT_EQ(t->stats().attach_retries, 0u);
  EXPECT_EQ(t->stats().pending, 0u);
  EXPECT_EQ(t->stats().attach_errors_of(AttachError::kNoLibc), 1u);
}

class MissingRecorder : public TrackerObserver {
 public:
  void AttachFailed(pid_t pid, AttachError reason, const std::string& message) override {
    if (reason == AttachError::kNoSuchProcess && message == "no such process") {
      missing.push_back(pid);
    }
  }
  std::vector<pid_t> missing;
};

// A pid target that does not exist: told once and counted once, however many scans; again
// only after it has existed in between.
TEST_F(TrackerTest, ANonexistentPidTargetIsCountedAndToldOnce) {
  MissingRecorder rec;
  for (bool pids_only : {true, false}) {
    rec.missing.clear();
    std::vector<MatchSpec> specs = {{.pids = {999999}}};
    if (!pids_only) specs.push_back({.comm_regex = "^python"});
    auto set = TargetSet::Compile(specs, kSelf);
    ASSERT_TRUE(set.ok());
    Tracker t(&fs_, std::move(set).value(), &attacher_, {}, &rec);
    t.Rescan(t0_);
    t.Rescan(t0_ + milliseconds(1));
    t.Tick(t0_ + std::chrono::hours(1));
    EXPECT_EQ(rec.missing, std::vector<pid_t>{999999}) << pids_only;
    EXPECT_EQ(t.stats().attach_errors_of(AttachError::kNoSuchProcess), 1u) << pids_only;
    EXPECT_STREQ(AttachErrorName(AttachError::kNoSuchProcess), "no_such_process");
    proc_.Add({.pid = 999999, .comm = "late"});
    t.Rescan(t0_ + std::chrono::hours(2));
    EXPECT_TRUE(t.IsAttached(999999));
    proc_.Remove(999999);
    t.Rescan(t0_ + std::chrono::hours(3));
    EXPECT_EQ(t.stats().attach_errors_of(AttachError::kNoSuchProcess), 2u);
    EXPECT_EQ(rec.missing.size(), 2u);
  }
}

TEST_F(TrackerTest, ForkedProcessIsAttached) {
  auto t = Make({{.comm_regex = "^python"}});
  t->Rescan(t0_);
  attacher_.calls.clear();
  // A worker forked by pid 100: same image, no exec. Looked at after the fork delay.
  proc_.Add({.pid = 150, .ppid = 100, .comm = "python3", .exe = "/usr/bin/python3.11"});
  t->HandleEvent({ProcEvent::Type::kFork, 150}, t0_);
  EXPECT_FALSE(t->IsAttached(150));
  // Not matched yet: not a target (every fork reported waits here a moment).
  EXPECT_EQ(t->stats().pending, 0u);
  t->Tick(t0_ + milliseconds(50));
  EXPECT_TRUE(t->IsAttached(150));
  // Forks of other processes are looked at and left alone.
  proc_.Add({.pid = 151, .ppid = 101, .comm = "bash"});
  t->HandleEvent({ProcEvent::Type::kFork, 151}, t0_ + milliseconds(60));
  t->Tick(t0_ + milliseconds(110));
  EXPECT_FALSE(t->IsAttached(151));
  // A fork that execs at once: attached once, through the exec event.
  proc_.Add({.pid = 152, .comm = "python3"});
  t->HandleEvent({ProcEvent::Type::kFork, 152}, t0_ + milliseconds(120));
  t->HandleEvent({ProcEvent::Type::kExec, 152}, t0_ + milliseconds(120));
  t->Tick(t0_ + milliseconds(200));
  // A fork that exits at once: never looked at, not an attach error.
  t->HandleEvent({ProcEvent::Type::kFork, 153}, t0_ + milliseconds(200));
  t->HandleEvent({ProcEvent::Type::kExit, 153}, t0_ + milliseconds(201));
  t->Tick(t0_ + milliseconds(300));
  EXPECT_EQ(attacher_.calls, (std::vector<std::string>{"attach 150", "attach 152"}));
  EXPECT_EQ(t->stats().fork_events, 4u);
  EXPECT_EQ(t->stats().exec_events, 1u);
  EXPECT_EQ(t->stats().pending, 0u);
  EXPECT_EQ(t->stats().attach_errors_of(AttachError::kVanished), 0u);
}

TEST_F(TrackerTest, ExecOfAnAttachedProcess) {
  auto t = Make({{.comm_regex = "^python"}});
  t->Rescan(t0_);
  attacher_.calls.clear();
  // Still a python: detached from the old image, attached to the new one.
  t->HandleEvent({ProcEvent::Type::kExec, 100}, t0_);
  EXPECT_EQ(attacher_.calls, (std::vector<std::string>{"detach 100", "attach 100"}));
  EXPECT_TRUE(t->IsAttached(100));
  // Now something else: detached only.
  proc_.Add({.pid = 102, .comm = "sleep"});
  t->HandleEvent({ProcEvent::Type::kExec, 102}, t0_);
  EXPECT_FALSE(t->IsAttached(102));
  EXPECT_EQ(attacher_.calls.back(), "detach 102");
  EXPECT_EQ(t->stats().exited_detaches, 0u);
}

TEST_F(TrackerTest, RescanNoticesAnExecThatNoEventReported) {
  auto t = Make({{.comm_regex = "^python"}});
  t->Rescan(t0_);
  attacher_.calls.clear();
  proc_.Add({.pid = 100, .comm = "python3", .exe = "/usr/bin/python3.12"});
  t->Rescan(t0_ + milliseconds(1));
  EXPECT_EQ(attacher_.calls, (std::vector<std::string>{"detach 100", "attach 100"}));
}

TEST_F(TrackerTest, PidReuseIsANewProcess) {
  auto t = Make({{.comm_regex = "^python"}});
  t->Rescan(t0_);
  attacher_.calls.clear();
  proc_.Add({.pid = 100, .comm = "python3", .exe = "/usr/bin/python3.11", .start_time = 9999});
  t->Rescan(t0_ + milliseconds(1));
  EXPECT_EQ(attacher_.calls, (std::vector<std::string>{"detach 100", "attach 100"}));
  EXPECT_EQ(t->stats().exited_detaches, 1u);
}

TEST_F(TrackerTest, KernelThreadsAndSelfAreNotMatchedByRegex) {
  proc_.Add({.pid = kSelf, .comm = "gilstat"});
  auto t = Make({{.comm_regex = "."}});
  t->Rescan(t0_);
  EXPECT_FALSE(t->IsAttached(2));
  EXPECT_FALSE(t->IsAttached(kSelf));
  EXPECT_TRUE(t->IsAttached(101));
}

TEST_F(TrackerTest, PidTargetsDoNotNeedAFullScan) {
  auto t = Make({{.pids = {101, 4242}}});  // 4242 does not exist
  t->Rescan(t0_);
  EXPECT_EQ(attacher_.calls, (std::vector<std::string>{"attach 101"}));
  EXPECT_FALSE(t->FailureOf(4242).has_value());
}

// A process is watched on the event source (its exit reported) before it is attached, and
// unwatched when it is detached; one whose exit came before the mark is not attached at all
// (no exit would ever detach it).
TEST_F(TrackerTest, AProcessIsWatchedBeforeItIsAttached) {
  FakeEvents events;
  events.exited = {102};
  TrackerOptions opts;
  opts.events = &events;
  auto t = Make({{.comm_regex = "^python"}}, opts);
  attacher_.on_attach = [&](pid_t pid) {  // watched by then
    EXPECT_EQ(events.calls.back(), "watch " + std::to_string(pid));
  };
  t->Rescan(t0_);
  EXPECT_EQ(events.calls, (std::vector<std::string>{"watch 100", "watch 102"}));
  EXPECT_TRUE(t->IsAttached(100));
  EXPECT_FALSE(t->IsAttached(102));
  EXPECT_EQ(t->stats().attach_errors[static_cast<size_t>(AttachError::kVanished)], 1u);
  EXPECT_EQ(observer_.failures, (std::vector<std::string>{"102 vanished: the process exited"}));
  proc_.Remove(100);
  events.queue.push_back({ProcEvent::Type::kExit, 100});
  t->Pump(t0_ + milliseconds(10));
  EXPECT_FALSE(t->IsAttached(100));
  EXPECT_EQ(events.calls.back(), "unwatch 100");
}

TEST_F(TrackerTest, PeriodicRescanAndLostEvents) {
  TrackerOptions opts;
  opts.rescan_interval = milliseconds(1000);
  FakeEvents events;
  opts.events = &events;
  auto t = Make({{.comm_regex = "^python"}}, opts);
  t->Rescan(t0_);
  EXPECT_EQ(t->NextDeadline(), t0_ + milliseconds(1000));
  proc_.Add({.pid = 300, .comm = "python3"});
  t->Pump(t0_ + milliseconds(500));
  EXPECT_FALSE(t->IsAttached(300));  // no event, no rescan yet
  t->Pump(t0_ + milliseconds(1000));
  EXPECT_TRUE(t->IsAttached(300));
  EXPECT_EQ(t->stats().scans, 2u);
  // Events are handled as they come.
  proc_.Add({.pid = 301, .comm = "python3"});
  events.queue.push_back({ProcEvent::Type::kExec, 301});
  proc_.Remove(300);
  events.queue.push_back({ProcEvent::Type::kExit, 300});
  t->Pump(t0_ + milliseconds(1100));
  EXPECT_TRUE(t->IsAttached(301));
  EXPECT_FALSE(t->IsAttached(300));
  EXPECT_EQ(t->stats().scans, 2u);
  // A lost event may have been anything: rescan at once.
  proc_.Add({.pid = 302, .comm = "python3"});
  events.lost = 3;
  t->Pump(t0_ + milliseconds(1200));
  EXPECT_TRUE(t->IsAttached(302));
  EXPECT_EQ(t->stats().lost_events, 3u);
  EXPECT_EQ(t->stats().scans, 3u);
}

// A process that renames itself is matched by its new name, when its event comes and once more
// rename_recheck later (renames that follow within the source's window have no event); an
// attached one stays as it is; a failed one is tried again only when its name changed.
TEST_F(TrackerTest, ARenamedProcessIsMatchedByItsNewName) {
  attacher_.attach_results[103] = {MakeError(ErrorCode::kPermissionDenied, "denied")};
  proc_.Add({.pid = 103, .comm = "python3", .exe = "/usr/bin/python3.11"});
  auto t = Make({{.comm_regex = "^python"}});
  t->Rescan(t0_);
  attacher_.calls.clear();
  proc_.Add({.pid = 101, .comm = "python-worker", .exe = "/usr/bin/bash"});
  t->HandleEvent({ProcEvent::Type::kRename, 101}, t0_);
  EXPECT_TRUE(t->IsAttached(101));
  proc_.Add({.pid = 100, .comm = "bash", .exe = "/usr/bin/python3.11"});
  t->HandleEvent({ProcEvent::Type::kRename, 100}, t0_);
  EXPECT_TRUE(t->IsAttached(100)) << "an attached process stays until it execs or exits";
  t->HandleEvent({ProcEvent::Type::kRename, 103}, t0_);  // the same name: not tried again
  proc_.Add({.pid = 103, .comm = "python3-retry", .exe = "/usr/bin/python3.11"});
  t->HandleEvent({ProcEvent::Type::kRename, 103}, t0_);
  proc_.Add({.pid = 104, .comm = "other"});
  t->HandleEvent({ProcEvent::Type::kRename, 104}, t0_);  // matches nothing
  t->HandleEvent({ProcEvent::Type::kRename, 105}, t0_);  // gone already
  EXPECT_EQ(attacher_.calls, (std::vector<std::string>{"attach 101", "attach 103"}));
  // Renamed again within the window, no event: seen at the second look.
  proc_.Add({.pid = 104, .comm = "python-late"});
  t->Tick(t0_ + milliseconds(99));
  EXPECT_FALSE(t->IsAttached(104));
  t->Tick(t0_ + milliseconds(100));
  EXPECT_TRUE(t->IsAttached(104));
  t->Tick(t0_ + milliseconds(300));  // nothing more to look at
  EXPECT_EQ(attacher_.calls, (std::vector<std::string>{"attach 101", "attach 103", "attach 104"}));
  EXPECT_EQ(t->stats().rename_events, 6u);
  EXPECT_EQ(t->stats().attach_errors_of(AttachError::kPermission), 2u);
  EXPECT_EQ(t->stats().attach_errors_of(AttachError::kVanished), 0u);
  EXPECT_EQ(t->stats().pending, 0u);
  EXPECT_EQ(t->NextDeadline(), t0_ + milliseconds(10000)) << "a look still to come";
}

// The event source reports the forks of watched processes only: a process attached from an
// event has the children it forked before it was watched looked at, as forks; a scan does not
// (it considers every process itself).
TEST_F(TrackerTest, ChildrenForkedBeforeTheMarkAreLookedAt) {
  FakeEvents events;
  TrackerOptions opts;
  opts.events = &events;
  auto t = Make({{.comm_regex = "^python"}}, opts);
  t->Rescan(t0_);
  attacher_.calls.clear();
  proc_.Add({.pid = 400, .comm = "python3"});
  proc_.Add({.pid = 401, .ppid = 400, .comm = "python3"});  // a worker
  proc_.Add({.pid = 402, .ppid = 400, .comm = "sh"});       // a child that exec'd
  proc_.Add({.pid = 403, .ppid = 401, .comm = "python3"});  // the worker's worker
  events.queue.push_back({ProcEvent::Type::kExec, 400});
  t->Pump(t0_ + milliseconds(10));
  EXPECT_EQ(attacher_.calls, (std::vector<std::string>{"attach 400", "attach 401"}));
  t->Tick(t0_ + milliseconds(10));  // the worker's own children: at the next turn
  EXPECT_EQ(attacher_.calls, (std::vector<std::string>{"attach 400", "attach 401", "attach 403"}));
  EXPECT_EQ(t->stats().scans, 1u);
  EXPECT_EQ(t->stats().pending, 0u);
  EXPECT_EQ(observer_.failures, std::vector<std::string>{});
  // A worker that exited before its turn is no error.
  proc_.Add({.pid = 410, .comm = "python3"});
  proc_.Add({.pid = 411, .ppid = 410, .comm = "python3"});
  t->HandleEvent({ProcEvent::Type::kExec, 410}, t0_ + milliseconds(20));
  proc_.Remove(411);
  t->Tick(t0_ + milliseconds(20));
  EXPECT_TRUE(t->IsAttached(410));
  EXPECT_FALSE(t->IsAttached(411));
  EXPECT_EQ(t->stats().attach_errors_of(AttachError::kVanished), 0u);
  // Attached by a scan: no look at the children (the scan sees them all).
  proc_.Add({.pid = 420, .comm = "python3"});
  proc_.Add({.pid = 421, .ppid = 420, .comm = "bash"});
  attacher_.calls.clear();
  t->Rescan(t0_ + milliseconds(30));
  proc_.Add({.pid = 421, .ppid = 420, .comm = "python3"});  // renamed, unseen: no event
  t->Tick(t0_ + milliseconds(30));
  EXPECT_EQ(attacher_.calls, (std::vector<std::string>{"attach 420"}));
}

// The same without children lists (a kernel built without CONFIG_PROC_CHILDREN): the children are
// found by the parent pid in every process's stat.
TEST_F(TrackerTest, ChildrenForkedBeforeTheMarkAreFoundWithoutChildrenLists) {
  FakeEvents events;
  TrackerOptions opts;
  opts.events = &events;
  auto t = Make({{.comm_regex = "^python"}}, opts);
  proc_.DropChildrenLists();
  t->Rescan(t0_);
  attacher_.calls.clear();
  proc_.Add({.pid = 400, .comm = "python3"});
  proc_.Add({.pid = 401, .ppid = 400, .comm = "python3"});
  proc_.Add({.pid = 402, .ppid = 400, .comm = "sh"});
  proc_.Add({.pid = 403, .ppid = 401, .comm = "python3"});
  proc_.Add({.pid = 404, .ppid = 1, .comm = "python3"});  // not a child: found by the next scan
  events.queue.push_back({ProcEvent::Type::kExec, 400});
  t->Pump(t0_ + milliseconds(10));
  t->Tick(t0_ + milliseconds(10));
  EXPECT_EQ(attacher_.calls, (std::vector<std::string>{"attach 400", "attach 401", "attach 403"}));
  EXPECT_EQ(t->stats().pending, 0u);
}

TEST_F(TrackerTest, SnapshotFollowsEveryEntryPoint) {
  auto t = Make({{.comm_regex = "^python"}});
  EXPECT_EQ(t->Snapshot().scans, 0u);
  t->Rescan(t0_);
  EXPECT_EQ(t->Snapshot().attached, 2u);
  EXPECT_EQ(t->Snapshot().scans, 1u);
  t->HandleEvent({ProcEvent::Type::kFork, 100}, t0_);  // already attached: nothing else changes
  EXPECT_EQ(t->Snapshot().fork_events, 1u);
  proc_.Remove(100);
  t->HandleEvent({ProcEvent::Type::kExit, 100}, t0_);
  TrackerStats s = t->Snapshot();
  EXPECT_EQ(s.attached, 1u);
  EXPECT_EQ(s.exit_events, 1u);
  t->DetachAll();
  EXPECT_EQ(t->Snapshot().attached, 0u);
}

TEST_F(TrackerTest, DetachAll) {
  auto t = Make({{.comm_regex = "^python"}});
  t->Rescan(t0_);
  t->DetachAll();
  EXPECT_EQ(t->stats().attached, 0u);
  EXPECT_EQ(t->stats().detaches, 2u);
  EXPECT_EQ(t->stats().exited_detaches, 0u);
  EXPECT_EQ(attacher_.calls.size(), 4u);
}

}  // namespace
}  // namespace gilstat::tracker
