// The hosted interpreter: instruction semantics, ticking, protected regions, validation, real
// I/O and synchronisation through the environment.
#include "gilstat/rt/interp.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <thread>

#include "gilstat/rt/primitives.h"
#include "gilstat/rt/runtime.h"

namespace gilstat::rt {
namespace {

using Clock = std::chrono::steady_clock;

// A runtime with the calling thread attached as its main thread.
struct Attached {
  explicit Attached(Policy policy = Policy::kClassic, int check_interval = 100) {
    RuntimeOptions o;
    o.policy = policy;
    o.check_interval = check_interval;
    auto r = Runtime::Create(o);
    GILSTAT_CHECK(r.ok());
    rt = std::move(r).value();
    auto t = rt->AttachThread("main");
    GILSTAT_CHECK(t.ok());
    ts = *t;
  }
  ~Attached() { rt->DetachThread(ts); }
  std::unique_ptr<Runtime> rt;
  ThreadState* ts = nullptr;
};

Program MustBuild(const ProgramBuilder& b) {
  Result<Program> p = b.Build();
  if (!p) ADD_FAILURE() << p.error().message;
  GILSTAT_CHECK(p.ok());
  return std::move(p).value();
}

RunResult MustRun(ThreadState& ts, const Program& p, const Env& env = {}, Regs regs = {}) {
  Result<RunResult> r = RunProgram(ts, p, env, regs);
  if (!r) ADD_FAILURE() << r.error().message;
  GILSTAT_CHECK(r.ok());
  return std::move(r).value();
}

TEST(InterpTest, ArithmeticAndMoves) {
  Attached a;
  ProgramBuilder b("arith");
  b.LoadI(0, 40).LoadI(1, 2).Add(0, 1).Mov(2, 0).Sub(2, 1).AddI(3, -7).LoadI(4, 3).Mix(4, 1);
  b.LoadI(5, std::numeric_limits<int64_t>::max()).AddI(5, 1);  // wraps, no UB
  RunResult r = MustRun(*a.ts, MustBuild(b));
  EXPECT_EQ(r.exception, 0);
  EXPECT_EQ(r.regs[0], 42);
  EXPECT_EQ(r.regs[1], 2);
  EXPECT_EQ(r.regs[2], 40);
  EXPECT_EQ(r.regs[3], -7);
  EXPECT_EQ(r.regs[4], static_cast<int64_t>(3 * 6364136223846793005ULL + 2));
  EXPECT_EQ(r.regs[5], std::numeric_limits<int64_t>::min());
}

TEST(InterpTest, InitialRegistersAndBranches) {
  Attached a;
  ProgramBuilder b("branches");
  auto loop = b.NewLabel(), skip = b.NewLabel(), less = b.NewLabel(), end = b.NewLabel();
  // r1 = r0 * 3 by a DJNZ loop; r0 starts at 5.
  b.Bind(loop).AddI(1, 3).Djnz(0, loop);
  b.Jz(0, skip).LoadI(2, 111);  // r0 is 0: skipped
  b.Bind(skip).Jnz(1, less).LoadI(3, 222);
  b.Bind(less).Jlt(0, 1, end).LoadI(4, 333);  // 0 < 15: jumps
  b.Bind(end).JmpF(b.NewLabel());             // a label never bound
  Result<Program> bad = b.Build();
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("never bound"), std::string::npos) << bad.error().message;

  ProgramBuilder g("branches");
  auto l2 = g.NewLabel(), s2 = g.NewLabel(), le2 = g.NewLabel(), e2 = g.NewLabel();
  g.Bind(l2).AddI(1, 3).Djnz(0, l2);
  g.Jz(0, s2).LoadI(2, 111);
  g.Bind(s2).Jnz(1, le2).LoadI(3, 222);
  g.Bind(le2).Jlt(0, 1, e2).LoadI(4, 333);
  g.Bind(e2).Halt().LoadI(5, 444);  // after HALT: not executed
  Regs init{};
  init[0] = 5;
  RunResult r = MustRun(*a.ts, MustBuild(g), {}, init);
  EXPECT_EQ(r.regs[0], 0);
  EXPECT_EQ(r.regs[1], 15);
  EXPECT_EQ(r.regs[2], 0);
  EXPECT_EQ(r.regs[3], 0);
  EXPECT_EQ(r.regs[4], 0);
  EXPECT_EQ(r.regs[5], 0);
}

// Fast instructions never call Tick; every other instruction calls it exactly once. Checked
// against the runtime's own counters (global and per thread), not just the interpreter's.
TEST(InterpTest, FastInstructionsDoNotTickOthersTickOnce) {
  Attached a;
  ProgramBuilder fast("fast");
  auto fwd = fast.NewLabel();
  for (int i = 0; i < 50; ++i) fast.Nop().LoadI(0, i).Mov(1, 0);
  fast.JmpF(fwd).Nop();
  fast.Bind(fwd).LoadI(2, 0).Raise(2).Halt();  // RAISE of 0 is a no-op
  const uint64_t before = a.rt->TakeSnapshot().ticks;
  const uint64_t before_ts = a.ts->stats().ticks.Load();
  RunResult r = MustRun(*a.ts, MustBuild(fast));
  EXPECT_EQ(r.ticks, 0u);
  EXPECT_EQ(r.executed, 50u * 3 + 4);  // the NOP after JMPF is skipped
  EXPECT_EQ(a.rt->TakeSnapshot().ticks, before);
  EXPECT_EQ(a.ts->stats().ticks.Load(), before_ts);

  // LOADI (fast), 1000 × (MIX + DJNZ), ADD, SUB, ADDI, SETUP, POPH, JMP, STOPPED, ADDC, LOADC,
  // CLOCK.
  std::atomic<bool> stop{false};
  std::array<std::atomic<int64_t>, 1> cells{};
  Env env;
  env.stop = &stop;
  env.cells = cells;
  ProgramBuilder slow("slow");
  auto loop = slow.NewLabel(), h = slow.NewLabel(), next = slow.NewLabel();
  slow.LoadI(0, 1000).Bind(loop).Mix(1, 0).Djnz(0, loop);
  slow.Add(1, 1).Sub(1, 1).AddI(1, 1).Setup(h, 6).PopH().Jmp(next);
  slow.Bind(h).Halt();
  slow.Bind(next).Stopped(2).AddC(0, 2).LoadC(3, 0).Clock(4);
  const uint64_t before2 = a.rt->TakeSnapshot().ticks;
  const uint64_t before2_ts = a.ts->stats().ticks.Load();
  timespec t0{}, t1{};
  clock_gettime(CLOCK_MONOTONIC, &t0);
  RunResult s = MustRun(*a.ts, MustBuild(slow), env);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  const uint64_t expect = 2000 + 6 + 4;
  EXPECT_EQ(s.ticks, expect);
  // CLOCK reads CLOCK_MONOTONIC in ns: between the readings taken around the run.
  EXPECT_GE(s.regs[4], int64_t{t0.tv_sec} * 1000000000 + t0.tv_nsec);
  EXPECT_LE(s.regs[4], int64_t{t1.tv_sec} * 1000000000 + t1.tv_nsec);
  EXPECT_EQ(a.rt->TakeSnapshot().ticks - before2, expect);
  EXPECT_EQ(a.ts->stats().ticks.Load() - before2_ts, expect);
}

// An asynchronous exception set by another thread while the program spins in an endless loop
// unwinds to the innermost handler with its code in the handler's register; the handler's RAISE
// re-raises it to the outer handler.
TEST(InterpTest, AsyncExceptionUnwindsToInnermostHandler) {
  for (Policy policy : {Policy::kClassic, Policy::kSwitching, Policy::kFair}) {
    SCOPED_TRACE(PolicyName(policy));
    Attached a(policy, /*check_interval=*/10);
    std::array<std::atomic<int64_t>, 1> cells{};
    Env env;
    env.cells = cells;
    ProgramBuilder b("nested");
    auto outer = b.NewLabel(), inner = b.NewLabel(), spin = b.NewLabel(), done = b.NewLabel();
    b.LoadI(7, 1).Setup(outer, 6).Setup(inner, 5);
    b.Bind(spin).AddC(0, 7).Jmp(spin);   // endless: only the exception gets out
    b.LoadI(4, 99).JmpF(done);           // never reached
    b.Bind(inner).LoadI(3, 1).Raise(5);  // "finally" work, then re-raise
    b.Bind(outer).LoadI(2, 1);
    b.Bind(done).Halt();
    Program p = MustBuild(b);
    const uint64_t delivered = a.rt->TakeSnapshot().async_exc_delivered;
    const uint32_t id = a.ts->id();
    std::thread raiser([&] {
      while (cells[0].load() < 1000) std::this_thread::yield();
      EXPECT_TRUE(a.rt->SetAsyncExc(id, 42).ok());
    });
    RunResult r = MustRun(*a.ts, p, env);
    raiser.join();
    EXPECT_EQ(r.exception, 0);
    EXPECT_EQ(r.handled, 2u);
    EXPECT_EQ(r.regs[5], 42);
    EXPECT_EQ(r.regs[6], 42);
    EXPECT_EQ(r.regs[3], 1);
    EXPECT_EQ(r.regs[2], 1);
    EXPECT_EQ(r.regs[4], 0);
    EXPECT_GE(cells[0].load(), 1000);
    EXPECT_EQ(a.rt->TakeSnapshot().async_exc_delivered, delivered + 1);
  }
}

// An exception pending before the program starts is delivered at the first check. SETUP right
// before SETUP passes next_enters_protected, so the first check is at the inner SETUP.
TEST(InterpTest, PendingExceptionAtFirstCheck) {
  Attached a(Policy::kClassic, 1);
  ProgramBuilder b("first");
  auto outer = b.NewLabel(), inner = b.NewLabel();
  b.Setup(outer, 6).Setup(inner, 5).LoadI(0, 1).Halt();
  b.Bind(inner).Halt();
  b.Bind(outer).Halt();
  ASSERT_TRUE(a.rt->SetAsyncExc(a.ts->id(), 8).ok());
  RunResult r = MustRun(*a.ts, MustBuild(b));
  EXPECT_EQ(r.handled, 1u);
  EXPECT_EQ(r.regs[5], 8);
  EXPECT_EQ(r.regs[6], 0);
  EXPECT_EQ(r.regs[0], 0);
  EXPECT_EQ(r.ticks, 2u);
}

TEST(InterpTest, UnhandledAsyncExceptionEndsTheProgram) {
  Attached a(Policy::kClassic, 1);
  ProgramBuilder b("unhandled");
  auto spin = b.NewLabel();
  b.LoadI(0, 1'000'000).Bind(spin).Djnz(0, spin).LoadI(1, 7);
  ASSERT_TRUE(a.rt->SetAsyncExc(a.ts->id(), 9).ok());
  RunResult r = MustRun(*a.ts, MustBuild(b));
  EXPECT_EQ(r.exception, 9);
  EXPECT_EQ(r.ticks, 1u);  // delivered at the first check
  EXPECT_EQ(r.regs[1], 0);

  // RAISE with no handler ends the program too.
  ProgramBuilder c("raise");
  c.LoadI(0, 5).Raise(0).LoadI(1, 1);
  RunResult rc = MustRun(*a.ts, MustBuild(c));
  EXPECT_EQ(rc.exception, 5);
  EXPECT_EQ(rc.regs[1], 0);
}

// The instruction right before SETUP passes next_enters_protected: no check there, so an
// exception pending before the region cannot slip in between (e.g. between a lock acquire and
// the region that releases it); it is delivered at SETUP itself, inside the region.
TEST(InterpTest, NoCheckRightBeforeAProtectedRegion) {
  Attached a(Policy::kClassic, 1);
  ProgramBuilder b("guarded");
  auto h = b.NewLabel(), done = b.NewLabel();
  b.AddI(0, 1).Setup(h, 6).AddI(0, 100).PopH().JmpF(done);
  b.Bind(h).LoadI(1, 1);
  b.Bind(done).Halt();
  ASSERT_TRUE(a.rt->SetAsyncExc(a.ts->id(), 3).ok());
  RunResult r = MustRun(*a.ts, MustBuild(b));
  EXPECT_EQ(r.exception, 0);
  EXPECT_EQ(r.handled, 1u);
  EXPECT_EQ(r.regs[6], 3);
  EXPECT_EQ(r.regs[0], 1);  // ADDI ran, and the exception came at SETUP
  EXPECT_EQ(r.regs[1], 1);

  // Control: with one more instruction before SETUP the exception hits outside the region.
  ProgramBuilder c("unguarded");
  auto hc = c.NewLabel();
  c.AddI(0, 1).AddI(0, 1).Setup(hc, 6).Halt();
  c.Bind(hc).LoadI(1, 1);
  ASSERT_TRUE(a.rt->SetAsyncExc(a.ts->id(), 3).ok());
  RunResult rc = MustRun(*a.ts, MustBuild(c));
  EXPECT_EQ(rc.exception, 3);
  EXPECT_EQ(rc.regs[0], 1);
}

TEST(InterpTest, HandlerStackErrors) {
  Attached a;
  ProgramBuilder b("poph");
  b.PopH();
  Result<RunResult> r = RunProgram(*a.ts, MustBuild(b), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(r.error().message.find("POPH"), std::string::npos) << r.error().message;

  ProgramBuilder c("deep");
  auto h = c.NewLabel();
  for (int i = 0; i <= kMaxHandlers; ++i) c.Setup(h, 0);
  c.Bind(h).Halt();
  Result<RunResult> rc = RunProgram(*a.ts, MustBuild(c), {});
  ASSERT_FALSE(rc.ok());
  EXPECT_EQ(rc.error().code, ErrorCode::kResourceExhausted);
}

TEST(InterpTest, BuildRejectsInvalidPrograms) {
  auto err = [](const ProgramBuilder& b) {
    Result<Program> p = b.Build();
    EXPECT_FALSE(p.ok());
    return p.ok() ? std::string() : p.error().message;
  };
  {
    ProgramBuilder b("p");
    b.LoadI(kNumRegs, 1);
    EXPECT_NE(err(b).find("bad register r8"), std::string::npos);
  }
  {
    ProgramBuilder b("p");
    b.Mov(0, -1);
    EXPECT_NE(err(b).find("bad register"), std::string::npos);
  }
  {
    ProgramBuilder b("p");
    b.LockAcq(0, 256);
    EXPECT_NE(err(b).find("bad lock index"), std::string::npos);
  }
  {
    ProgramBuilder b("p");
    b.Jmp(ProgramBuilder::Label{});
    EXPECT_NE(err(b).find("unknown label"), std::string::npos);
  }
  {
    ProgramBuilder b("p");
    b.Jmp(ProgramBuilder::Label{7});
    EXPECT_NE(err(b).find("unknown label"), std::string::npos);
  }
  {
    ProgramBuilder b("p");
    auto l = b.NewLabel();
    b.Bind(l).Nop().Bind(l).Jmp(l);
    EXPECT_NE(err(b).find("bound twice"), std::string::npos);
  }
  {
    ProgramBuilder b("p");
    auto l = b.NewLabel();
    b.Bind(l).Nop().JmpF(l);
    EXPECT_NE(err(b).find("forward"), std::string::npos);
  }
  {
    ProgramBuilder b("p");
    b.Read(0, 0, 0);
    EXPECT_NE(err(b).find("size 0"), std::string::npos);
  }
  {
    ProgramBuilder b("p");
    b.Write(0, 0, kIoBufferSize + 1);
    EXPECT_NE(err(b).find("size"), std::string::npos);
  }
  {
    ProgramBuilder b("p");
    b.SemRel(0, 0);
    EXPECT_NE(err(b).find("release count"), std::string::npos);
  }
  {
    ProgramBuilder b("p");
    b.Sleep(-1);
    EXPECT_NE(err(b).find("negative sleep"), std::string::npos);
  }
  // A label bound at the very end targets the implicit HALT: valid.
  ProgramBuilder ok("end");
  auto end = ok.NewLabel();
  ok.JmpF(end).Nop().Bind(end);
  Result<Program> p = ok.Build();
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->size(), 3u);
  EXPECT_EQ(p->code().back().op, Op::kHalt);
  EXPECT_NE(p->Disassemble().find("0: JMPF @2"), std::string::npos) << p->Disassemble();
}

TEST(InterpTest, RunRejectsAMissingEnvironment) {
  Attached a;
  auto expect_missing = [&](const ProgramBuilder& b, const Env& env, const char* what) {
    Result<RunResult> r = RunProgram(*a.ts, MustBuild(b), env);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
    EXPECT_NE(r.error().message.find(what), std::string::npos) << r.error().message;
  };
  ProgramBuilder rd("rd");
  rd.Read(0, 1, 1);
  Env env;
  env.fds = {0};
  expect_missing(rd, env, "no fd 1");
  env.fds = {0, -1};
  expect_missing(rd, env, "no fd 1");

  ProgramBuilder lk("lk");
  lk.LockRel(0);
  Env nul;
  nul.locks = {nullptr};
  expect_missing(lk, Env{}, "no lock 0");
  expect_missing(lk, nul, "no lock 0");

  ProgramBuilder st("st");
  st.Stopped(0);
  expect_missing(st, Env{}, "stop flag");

  ProgramBuilder ce("ce");
  ce.LoadC(0, 2);
  expect_missing(ce, Env{}, "no cell");

  ProgramBuilder pc("pc");
  pc.Pending(0, 0);
  expect_missing(pc, Env{}, "no pending call 0");
  ProgramBuilder ev("ev");
  ev.EvtSet(0);
  expect_missing(ev, Env{}, "no event 0");
  ProgramBuilder se("se");
  se.SemAcq(0, 0);
  expect_missing(se, Env{}, "no semaphore 0");
  ProgramBuilder co("co");
  co.CondNotify(0);
  expect_missing(co, Env{}, "no condition 0");
  ProgramBuilder rl("rl");
  rl.RLockRel(0);
  expect_missing(rl, Env{}, "no rlock 0");
}

// READ/WRITE are real system calls on a real socketpair, made without the GIL.
TEST(InterpTest, IoThroughASocketpairReleasesTheGil) {
  Attached a;
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  // Serve one-byte requests until end of file, echoing each; r2 counts requests.
  ProgramBuilder b("echo");
  auto loop = b.NewLabel(), done = b.NewLabel();
  b.LoadI(7, 1);
  b.Bind(loop).Read(0, 0, 1).Jlt(0, 7, done).Write(1, 0, 1).AddI(2, 1).Jmp(loop);
  b.Bind(done).Halt();
  Program p = MustBuild(b);
  Env env;
  env.fds = {sv[0]};

  std::thread client([&] {
    for (char c : std::string("abc")) {
      ASSERT_EQ(::write(sv[1], &c, 1), 1);
      char back = 0;
      ASSERT_EQ(::read(sv[1], &back, 1), 1);
      EXPECT_EQ(back, c);
    }
    ::shutdown(sv[1], SHUT_WR);
  });
  const LockSnapshot before = a.rt->TakeSnapshot().gil;
  RunResult r = MustRun(*a.ts, p, env);
  client.join();
  const LockSnapshot after = a.rt->TakeSnapshot().gil;
  EXPECT_EQ(r.regs[2], 3);
  EXPECT_EQ(r.regs[0], 0);  // end of file
  // 4 READs + 3 WRITEs, each a voluntary release.
  EXPECT_EQ(after.voluntary_releases - before.voluntary_releases, 7u);
  EXPECT_TRUE(a.ts->holds_gil());

  // WRITE to a socket whose peer is gone: -EPIPE, no SIGPIPE.
  ::close(sv[1]);
  ProgramBuilder w("w");
  w.Write(0, 0, 1);
  RunResult rw = MustRun(*a.ts, MustBuild(w), env);
  EXPECT_EQ(rw.regs[0], -EPIPE);
  ::close(sv[0]);

  // READ on a bad descriptor: -EBADF.
  Env bad;
  bad.fds = {1 << 20};
  ProgramBuilder rb("rb");
  rb.Read(0, 0, 1);
  EXPECT_EQ(MustRun(*a.ts, MustBuild(rb), bad).regs[0], -EBADF);
}

// While one thread sleeps in SLEEP (without the GIL), another attached thread runs.
TEST(InterpTest, SleepLetsOtherThreadsRun) {
  Attached a;
  std::atomic<bool> other_ran{false};
  std::thread other;
  {
    AllowThreads allow(*a.ts);
    other = std::thread([&] {
      auto t = a.rt->AttachThread("other");
      ASSERT_TRUE(t.ok());
      other_ran = true;
      a.rt->DetachThread(*t);
    });
  }
  // The other thread is blocked attaching (we hold the GIL) until SLEEP releases it.
  ProgramBuilder b("sleep");
  b.Sleep(20'000'000);
  const auto t0 = Clock::now();
  RunResult r = MustRun(*a.ts, MustBuild(b));
  EXPECT_GE(Clock::now() - t0, std::chrono::milliseconds(20));
  EXPECT_EQ(r.ticks, 1u);
  {
    AllowThreads allow(*a.ts);
    other.join();
  }
  EXPECT_TRUE(other_ran.load());
}

TEST(InterpTest, LockRLockSemaphoreEvent) {
  Attached a;
  Lock lock(*a.rt, "interp.lock");
  RLock rlock(*a.rt, "interp.rlock");
  Semaphore sem(*a.rt, 1, "interp.sem");
  Event ev(*a.rt, "interp.event");
  Env env;
  env.locks = {&lock};
  env.rlocks = {&rlock};
  env.semaphores = {&sem};
  env.events = {&ev};
  ProgramBuilder b("sync");
  b.LockAcq(0, 0).LockAcq(1, 0, 0).LockAcq(2, 0, 1'000'000).LockRel(0);  // 1, 0 (try), 0 (1 ms)
  b.RLockAcq(3, 0).RLockAcq(3, 0).RLockRel(0).RLockRel(0);               // recursion
  b.SemAcq(4, 0, 0).SemAcq(5, 0, 0).SemRel(0, 2);                        // 1, 0; value 2
  b.EvtIsSet(6, 0).EvtSet(0).EvtWait(7, 0, 0);
  RunResult r = MustRun(*a.ts, MustBuild(b), env);
  EXPECT_EQ(r.regs[0], 1);
  EXPECT_EQ(r.regs[1], 0);
  EXPECT_EQ(r.regs[2], 0);
  EXPECT_EQ(r.regs[3], 1);
  EXPECT_EQ(r.regs[4], 1);
  EXPECT_EQ(r.regs[5], 0);
  EXPECT_EQ(r.regs[6], 0);
  EXPECT_EQ(r.regs[7], 1);
  EXPECT_FALSE(lock.locked());
  EXPECT_FALSE(rlock.owned_by(*a.ts));
  EXPECT_EQ(sem.value(), 2);
  EXPECT_TRUE(ev.IsSet());

  ProgramBuilder c("clear");
  c.EvtClear(0).EvtIsSet(0, 0).EvtWait(1, 0, 0);
  RunResult rc = MustRun(*a.ts, MustBuild(c), env);
  EXPECT_EQ(rc.regs[0], 0);
  EXPECT_EQ(rc.regs[1], 0);

  // Misuse is an error of the run naming the instruction, not undefined behaviour.
  ProgramBuilder m("misuse");
  m.LockRel(0);
  Result<RunResult> rm = RunProgram(*a.ts, MustBuild(m), env);
  ASSERT_FALSE(rm.ok());
  EXPECT_EQ(rm.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(rm.error().message.find("misuse @0 LOCK_REL"), std::string::npos) << rm.error().message;
  ProgramBuilder m2("misuse2");
  m2.RLockRel(0);
  EXPECT_FALSE(RunProgram(*a.ts, MustBuild(m2), env).ok());
}

TEST(InterpTest, ConditionWaitNotify) {
  Attached a;
  Condition cond(*a.rt, "interp.cond");
  std::array<std::atomic<int64_t>, 1> cells{};
  Env env;
  env.conditions = {&cond};
  env.cells = cells;
  // Waiting without the lock is misuse.
  ProgramBuilder m("nolock");
  m.CondWait(0, 0, 0);
  Result<RunResult> rm = RunProgram(*a.ts, MustBuild(m), env);
  ASSERT_FALSE(rm.ok());
  EXPECT_EQ(rm.error().code, ErrorCode::kFailedPrecondition);

  // A timed wait nobody notifies: 0.
  ProgramBuilder t("timeout");
  t.CondAcq(0, 0).CondWait(1, 0, 2'000'000).CondRel(0);
  RunResult rt = MustRun(*a.ts, MustBuild(t), env);
  EXPECT_EQ(rt.regs[0], 1);
  EXPECT_EQ(rt.regs[1], 0);

  // A consumer program waits for cell 0 to become non-zero; another thread sets it and
  // notifies through a second program.
  ProgramBuilder cons("consumer");
  auto check = cons.NewLabel(), got = cons.NewLabel();
  cons.CondAcq(0, 0);
  cons.Bind(check).LoadC(1, 0).Jnz(1, got).CondWait(2, 0).Jmp(check);
  cons.Bind(got).CondRel(0);
  ProgramBuilder prod("producer");
  prod.LoadI(7, 1).CondAcq(0, 0).AddC(0, 7).CondNotify(0).CondRel(0);
  Program pp = MustBuild(prod);
  std::thread producer;
  {
    AllowThreads allow(*a.ts);
    producer = std::thread([&] {
      auto ts = a.rt->AttachThread("producer");
      ASSERT_TRUE(ts.ok());
      {
        AllowThreads idle(**ts);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      Result<RunResult> r = RunProgram(**ts, pp, env);
      EXPECT_TRUE(r.ok());
      a.rt->DetachThread(*ts);
    });
  }
  RunResult rc = MustRun(*a.ts, MustBuild(cons), env);
  {
    AllowThreads allow(*a.ts);
    producer.join();
  }
  EXPECT_EQ(rc.regs[1], 1);
  EXPECT_EQ(cells[0].load(), 1);
}

// PENDING queues a call that the main thread runs at a check; a non-zero return becomes an
// asynchronous exception of the main thread.
TEST(InterpTest, PendingCalls) {
  Attached a(Policy::kClassic, 1);
  std::atomic<int> ran{0};
  Env env;
  env.pending_calls = {[&] {
                         ++ran;
                         return 0;
                       },
                       [] { return 17; }};
  const uint64_t before = a.rt->TakeSnapshot().pending_calls_run;
  ProgramBuilder b("pending");
  b.Pending(0, 0).AddI(1, 1).AddI(1, 1);
  RunResult r = MustRun(*a.ts, MustBuild(b), env);
  EXPECT_EQ(r.regs[0], 1);
  EXPECT_EQ(ran.load(), 1);
  EXPECT_EQ(a.rt->TakeSnapshot().pending_calls_run, before + 1);

  ProgramBuilder c("raising");
  auto h = c.NewLabel(), spin = c.NewLabel();
  c.Setup(h, 6).Pending(0, 1).LoadI(0, 1000).Bind(spin).Djnz(0, spin).Halt();
  c.Bind(h).Halt();
  RunResult rc = MustRun(*a.ts, MustBuild(c), env);
  EXPECT_EQ(rc.handled, 1u);
  EXPECT_EQ(rc.regs[6], 17);
}

TEST(InterpTest, CellsAndStopFlag) {
  Attached a;
  std::array<std::atomic<int64_t>, 2> cells{};
  std::atomic<bool> stop{false};
  Env env;
  env.cells = cells;
  env.stop = &stop;
  // Loop until stopped, counting iterations in cell 1.
  ProgramBuilder b("stoppable");
  auto loop = b.NewLabel();
  b.LoadI(7, 1).Bind(loop).AddC(1, 7).Stopped(0).Jz(0, loop).LoadC(2, 1);
  std::thread stopper([&] {
    while (cells[1].load() < 1000) std::this_thread::yield();
    stop = true;
  });
  RunResult r = MustRun(*a.ts, MustBuild(b), env);
  stopper.join();
  EXPECT_EQ(r.regs[0], 1);
  EXPECT_GE(r.regs[2], 1000);
  EXPECT_EQ(r.regs[2], cells[1].load());
}

}  // namespace
}  // namespace gilstat::rt
