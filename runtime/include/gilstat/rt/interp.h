// The hosted interpreter: a small register machine whose eval loop calls Runtime::Tick once per
// ticking instruction, so that the runtime's ticks are real instructions. Programs are built with
// ProgramBuilder (labels, validation) and run against an Env that supplies the objects they use
// (file descriptors, locks, conditions, events, semaphores, pending calls, shared cells).
//
// The instruction set is documented in docs/RUNTIME.md ("Instruction set"). In short:
//
//   fast (never tick)  NOP  LOADI ra,imm  MOV ra,rb  JMPF label (forward only)  RAISE ra  HALT
//   compute            ADD ra,rb  SUB ra,rb  ADDI ra,imm  MIX ra,rb
//   control            JMP label  JZ ra,label  JNZ ra,label  JLT ra,rb,label  DJNZ ra,label
//   protected regions  SETUP label,ra  POPH
//   blocking I/O       READ ra,fd,n  WRITE ra,fd,n  SLEEP ns
//   synchronisation    LOCK_ACQ/REL  RLOCK_ACQ/REL  COND_ACQ/REL/WAIT/NOTIFY  SEM_ACQ/REL
//                      EVT_SET/CLEAR/WAIT/ISSET
//   environment        PENDING ra,call  ADDC cell,ra  LOADC ra,cell  STOPPED ra
//
// Every instruction that is not fast calls Tick exactly once, after it has executed, passing
// next_enters_protected = true when the instruction that runs next is SETUP. A non-zero return
// of Tick is an asynchronous exception: it unwinds to the innermost handler (SETUP) or, with
// none, ends the program with that exception code.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gilstat/result.h"
#include "gilstat/rt/runtime.h"

namespace gilstat::rt {

class Lock;
class RLock;
class Condition;
class Semaphore;
class Event;

inline constexpr int kNumRegs = 8;        // r0 … r7, int64 each
inline constexpr int kMaxHandlers = 16;   // nesting depth of protected regions
inline constexpr int kIoBufferSize = 64;  // bytes of the per-run I/O buffer (READ/WRITE)

enum class Op : uint8_t {
  // Fast: never tick.
  kNop,
  kLoadI,  // ra = imm
  kMov,    // ra = rb
  kJmpF,   // jump forward to target
  kRaise,  // raise exception code ra (no-op when ra == 0)
  kHalt,   // end the program
  // Compute (tick). Arithmetic wraps modulo 2^64.
  kAdd,   // ra += rb
  kSub,   // ra -= rb
  kAddI,  // ra += imm
  kMix,   // ra = ra * 6364136223846793005 + rb  (one compute step)
  // Control (tick).
  kJmp,   // jump to target
  kJz,    // if ra == 0 jump
  kJnz,   // if ra != 0 jump
  kJlt,   // if ra < rb jump (signed)
  kDjnz,  // ra -= 1; if ra != 0 jump
  // Protected regions (tick).
  kSetup,  // push handler (target, code register ra)
  kPopH,   // pop the innermost handler
  // Blocking I/O under AllowThreads (tick).
  kRead,   // ra = read(fd[b], buf, imm): bytes read, 0 at end of file, -errno
  kWrite,  // ra = write(fd[b], buf, imm): bytes written, -errno
  kSleep,  // nanosleep(imm ns)
  // Synchronisation on environment objects (tick). Timeouts in imm: < 0 block, 0 try, > 0 ns.
  kLockAcq,     // ra = lock[b].Acquire(timeout imm)
  kLockRel,     // lock[b].Release()
  kRLockAcq,    // ra = rlock[b].Acquire(timeout imm)
  kRLockRel,    // rlock[b].Release()
  kCondAcq,     // ra = cond[b].Acquire(timeout imm)
  kCondRel,     // cond[b].Release()
  kCondWait,    // ra = cond[b].Wait(timeout imm): 1 notified, 0 timed out
  kCondNotify,  // cond[b].Notify(imm), imm <= 0: NotifyAll
  kSemAcq,      // ra = sem[b].Acquire(timeout imm)
  kSemRel,      // sem[b].Release(imm)
  kEvtSet,      // event[b].Set()
  kEvtClear,    // event[b].Clear()
  kEvtWait,     // ra = event[b].Wait(timeout imm)
  kEvtIsSet,    // ra = event[b].IsSet()
  // Environment (tick).
  kPending,  // ra = 1 if pending call[b] was queued, 0 if the runtime's queue was full
  kAddC,     // cell[b] += ra (atomic)
  kLoadC,    // ra = cell[b]
  kStopped,  // ra = 1 if the environment's stop flag is set, else 0
  kClock,    // ra = CLOCK_MONOTONIC in ns (paces work by time whatever the build's speed)
  kNumOps,
};

const char* OpName(Op op);
// True for the instructions that never call Tick.
constexpr bool IsFast(Op op) { return op <= Op::kHalt; }

// One instruction: 16 bytes.
struct Instr {
  Op op = Op::kNop;
  uint8_t a = 0;  // register
  uint8_t b = 0;  // register or environment index
  uint8_t pad = 0;
  int32_t target = 0;  // jump target (instruction index)
  int64_t imm = 0;
};
static_assert(sizeof(Instr) == 16);

// How many objects of each kind a program needs from its environment (highest index used + 1).
struct EnvNeeds {
  int fds = 0, locks = 0, rlocks = 0, conditions = 0, semaphores = 0, events = 0;
  int pending_calls = 0, cells = 0;
  bool stop_flag = false;
};

// An immutable, validated program. The code always ends with HALT (appended by the builder), so
// running off the end halts.
class Program {
 public:
  const std::vector<Instr>& code() const { return code_; }
  const EnvNeeds& needs() const { return needs_; }
  const std::string& name() const { return name_; }
  size_t size() const { return code_.size(); }
  // One line per instruction, e.g. "3: DJNZ r0, @2".
  std::string Disassemble() const;

 private:
  friend class ProgramBuilder;
  std::string name_;
  std::vector<Instr> code_;
  EnvNeeds needs_;
};

// What a program runs against. Pointers are not owned; they must outlive the run.
struct Env {
  std::vector<int> fds;
  std::vector<Lock*> locks;
  std::vector<RLock*> rlocks;
  std::vector<Condition*> conditions;
  std::vector<Semaphore*> semaphores;
  std::vector<Event*> events;
  std::vector<std::function<int()>> pending_calls;  // queued by PENDING via AddPendingCall
  std::span<std::atomic<int64_t>> cells;            // shared counters (ADDC, LOADC)
  const std::atomic<bool>* stop = nullptr;          // read by STOPPED

  // kNotFound naming the first object `needs` asks for that is absent (or null / negative).
  Status Check(const EnvNeeds& needs) const;
};

using Regs = std::array<int64_t, kNumRegs>;

struct RunResult {
  int exception = 0;      // code of the exception that ended the program, 0 when it halted
  Regs regs{};            // registers at the end
  uint64_t ticks = 0;     // Tick calls made (= ticking instructions executed)
  uint64_t executed = 0;  // instructions executed, fast ones included
  uint64_t handled = 0;   // exceptions caught by a handler
};

// Runs `program` on the calling thread, which must be attached as `ts` and hold the GIL (it
// holds it again on return). Errors: the environment lacks an object the program uses, a
// primitive reports misuse (e.g. releasing an unheld lock), handler stack overflow/underflow.
Result<RunResult> RunProgram(ThreadState& ts, const Program& program, const Env& env,
                             Regs regs = {});

// Builds a program. Registers and environment indices are checked at Build(), not at each call,
// so calls chain: b.LoadI(0, 10).Bind(loop).Mix(1, 0).Djnz(0, loop).Halt();
class ProgramBuilder {
 public:
  struct Label {
    int id = -1;
  };
  static constexpr int64_t kBlock = -1;  // timeout: block until done

  explicit ProgramBuilder(std::string name = "program") : name_(std::move(name)) {}

  Label NewLabel();
  ProgramBuilder& Bind(Label label);  // the next instruction emitted is the label's target

  ProgramBuilder& Nop() { return Emit(Op::kNop); }
  ProgramBuilder& LoadI(int ra, int64_t imm) { return Emit(Op::kLoadI, ra, 0, imm); }
  ProgramBuilder& Mov(int ra, int rb) { return Emit(Op::kMov, ra, rb); }
  ProgramBuilder& JmpF(Label target) { return EmitJump(Op::kJmpF, target); }
  ProgramBuilder& Raise(int ra) { return Emit(Op::kRaise, ra); }
  ProgramBuilder& Halt() { return Emit(Op::kHalt); }

  ProgramBuilder& Add(int ra, int rb) { return Emit(Op::kAdd, ra, rb); }
  ProgramBuilder& Sub(int ra, int rb) { return Emit(Op::kSub, ra, rb); }
  ProgramBuilder& AddI(int ra, int64_t imm) { return Emit(Op::kAddI, ra, 0, imm); }
  ProgramBuilder& Mix(int ra, int rb) { return Emit(Op::kMix, ra, rb); }

  ProgramBuilder& Jmp(Label target) { return EmitJump(Op::kJmp, target); }
  ProgramBuilder& Jz(int ra, Label target) { return EmitJump(Op::kJz, target, ra); }
  ProgramBuilder& Jnz(int ra, Label target) { return EmitJump(Op::kJnz, target, ra); }
  ProgramBuilder& Jlt(int ra, int rb, Label target) { return EmitJump(Op::kJlt, target, ra, rb); }
  ProgramBuilder& Djnz(int ra, Label target) { return EmitJump(Op::kDjnz, target, ra); }

  ProgramBuilder& Setup(Label handler, int code_reg) {
    return EmitJump(Op::kSetup, handler, code_reg);
  }
  ProgramBuilder& PopH() { return Emit(Op::kPopH); }

  ProgramBuilder& Read(int ra, int fd, int n) { return Emit(Op::kRead, ra, fd, n); }
  ProgramBuilder& Write(int ra, int fd, int n) { return Emit(Op::kWrite, ra, fd, n); }
  ProgramBuilder& Sleep(int64_t ns) { return Emit(Op::kSleep, 0, 0, ns); }

  ProgramBuilder& LockAcq(int ra, int lock, int64_t timeout_ns = kBlock) {
    return Emit(Op::kLockAcq, ra, lock, timeout_ns);
  }
  ProgramBuilder& LockRel(int lock) { return Emit(Op::kLockRel, 0, lock); }
  ProgramBuilder& RLockAcq(int ra, int rlock, int64_t timeout_ns = kBlock) {
    return Emit(Op::kRLockAcq, ra, rlock, timeout_ns);
  }
  ProgramBuilder& RLockRel(int rlock) { return Emit(Op::kRLockRel, 0, rlock); }
  ProgramBuilder& CondAcq(int ra, int cond, int64_t timeout_ns = kBlock) {
    return Emit(Op::kCondAcq, ra, cond, timeout_ns);
  }
  ProgramBuilder& CondRel(int cond) { return Emit(Op::kCondRel, 0, cond); }
  ProgramBuilder& CondWait(int ra, int cond, int64_t timeout_ns = kBlock) {
    return Emit(Op::kCondWait, ra, cond, timeout_ns);
  }
  ProgramBuilder& CondNotify(int cond, int n = 1) { return Emit(Op::kCondNotify, 0, cond, n); }
  ProgramBuilder& CondNotifyAll(int cond) { return Emit(Op::kCondNotify, 0, cond, 0); }
  ProgramBuilder& SemAcq(int ra, int sem, int64_t timeout_ns = kBlock) {
    return Emit(Op::kSemAcq, ra, sem, timeout_ns);
  }
  ProgramBuilder& SemRel(int sem, int n = 1) { return Emit(Op::kSemRel, 0, sem, n); }
  ProgramBuilder& EvtSet(int event) { return Emit(Op::kEvtSet, 0, event); }
  ProgramBuilder& EvtClear(int event) { return Emit(Op::kEvtClear, 0, event); }
  ProgramBuilder& EvtWait(int ra, int event, int64_t timeout_ns = kBlock) {
    return Emit(Op::kEvtWait, ra, event, timeout_ns);
  }
  ProgramBuilder& EvtIsSet(int ra, int event) { return Emit(Op::kEvtIsSet, ra, event); }

  ProgramBuilder& Pending(int ra, int call) { return Emit(Op::kPending, ra, call); }
  ProgramBuilder& AddC(int cell, int ra) { return Emit(Op::kAddC, ra, cell); }
  ProgramBuilder& LoadC(int ra, int cell) { return Emit(Op::kLoadC, ra, cell); }
  ProgramBuilder& Stopped(int ra) { return Emit(Op::kStopped, ra); }
  ProgramBuilder& Clock(int ra) { return Emit(Op::kClock, ra); }

  // Validates and returns the program (kInvalidArgument naming the instruction on error): bad
  // register, negative environment index, unbound or unknown label, a jump outside the program,
  // JMPF not forward, READ/WRITE size outside 1..kIoBufferSize, SEM_REL count < 1.
  Result<Program> Build() const;

 private:
  struct Draft {
    Op op;
    int64_t a, b;
    int64_t imm;
    int label;  // -1: none
  };
  ProgramBuilder& Emit(Op op, int64_t a = 0, int64_t b = 0, int64_t imm = 0) {
    code_.push_back(Draft{op, a, b, imm, -1});
    return *this;
  }
  ProgramBuilder& EmitJump(Op op, Label target, int64_t a = 0, int64_t b = 0) {
    code_.push_back(Draft{op, a, b, 0, target.id});
    return *this;
  }

  std::string name_;
  std::vector<Draft> code_;
  std::vector<int64_t> labels_;  // label id -> instruction index, -1 while unbound
  std::vector<int> double_bound_;
};

}  // namespace gilstat::rt
