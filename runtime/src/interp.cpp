// The hosted interpreter: program builder, validation and the eval loop.
#include "gilstat/rt/interp.h"

#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <optional>
#include <utility>

#include "gilstat/rt/primitives.h"

namespace gilstat::rt {
namespace {

// What an instruction's operands mean; drives validation, environment needs and disassembly.
enum class Env_ : uint8_t { kNone, kFd, kLock, kRLock, kCond, kSem, kEvent, kCall, kCell };

struct OpInfo {
  const char* name;
  bool a_reg;   // field a is a register
  bool b_reg;   // field b is a register
  Env_ b_env;   // field b indexes this environment table
  bool target;  // has a jump target
  bool imm;     // imm is shown
};

constexpr OpInfo kOps[] = {
    {"NOP", false, false, Env_::kNone, false, false},
    {"LOADI", true, false, Env_::kNone, false, true},
    {"MOV", true, true, Env_::kNone, false, false},
    {"JMPF", false, false, Env_::kNone, true, false},
    {"RAISE", true, false, Env_::kNone, false, false},
    {"HALT", false, false, Env_::kNone, false, false},
    {"ADD", true, true, Env_::kNone, false, false},
    {"SUB", true, true, Env_::kNone, false, false},
    {"ADDI", true, false, Env_::kNone, false, true},
    {"MIX", true, true, Env_::kNone, false, false},
    {"JMP", false, false, Env_::kNone, true, false},
    {"JZ", true, false, Env_::kNone, true, false},
    {"JNZ", true, false, Env_::kNone, true, false},
    {"JLT", true, true, Env_::kNone, true, false},
    {"DJNZ", true, false, Env_::kNone, true, false},
    {"SETUP", true, false, Env_::kNone, true, false},
    {"POPH", false, false, Env_::kNone, false, false},
    {"READ", true, false, Env_::kFd, false, true},
    {"WRITE", true, false, Env_::kFd, false, true},
    {"SLEEP", false, false, Env_::kNone, false, true},
    {"LOCK_ACQ", true, false, Env_::kLock, false, true},
    {"LOCK_REL", false, false, Env_::kLock, false, false},
    {"RLOCK_ACQ", true, false, Env_::kRLock, false, true},
    {"RLOCK_REL", false, false, Env_::kRLock, false, false},
    {"COND_ACQ", true, false, Env_::kCond, false, true},
    {"COND_REL", false, false, Env_::kCond, false, false},
    {"COND_WAIT", true, false, Env_::kCond, false, true},
    {"COND_NOTIFY", false, false, Env_::kCond, false, true},
    {"SEM_ACQ", true, false, Env_::kSem, false, true},
    {"SEM_REL", false, false, Env_::kSem, false, true},
    {"EVT_SET", false, false, Env_::kEvent, false, false},
    {"EVT_CLEAR", false, false, Env_::kEvent, false, false},
    {"EVT_WAIT", true, false, Env_::kEvent, false, true},
    {"EVT_ISSET", true, false, Env_::kEvent, false, false},
    {"PENDING", true, false, Env_::kCall, false, false},
    {"ADDC", true, false, Env_::kCell, false, false},
    {"LOADC", true, false, Env_::kCell, false, false},
    {"STOPPED", true, false, Env_::kNone, false, false},
    {"CLOCK", true, false, Env_::kNone, false, false},
};
static_assert(sizeof(kOps) / sizeof(kOps[0]) == static_cast<size_t>(Op::kNumOps));

const OpInfo& Info(Op op) { return kOps[static_cast<size_t>(op)]; }

const char* EnvPrefix(Env_ e) {
  switch (e) {
    case Env_::kFd:
      return "fd";
    case Env_::kLock:
      return "lock";
    case Env_::kRLock:
      return "rlock";
    case Env_::kCond:
      return "cond";
    case Env_::kSem:
      return "sem";
    case Env_::kEvent:
      return "event";
    case Env_::kCall:
      return "call";
    case Env_::kCell:
      return "cell";
    case Env_::kNone:
      break;
  }
  return "";
}

// Arithmetic modulo 2^64 (signed overflow would be undefined).
inline int64_t WAdd(int64_t x, int64_t y) {
  return static_cast<int64_t>(static_cast<uint64_t>(x) + static_cast<uint64_t>(y));
}
inline int64_t WSub(int64_t x, int64_t y) {
  return static_cast<int64_t>(static_cast<uint64_t>(x) - static_cast<uint64_t>(y));
}
inline int64_t WMix(int64_t x, int64_t y) {
  return static_cast<int64_t>(static_cast<uint64_t>(x) * 6364136223846793005ULL +
                              static_cast<uint64_t>(y));
}

// write() that reports EPIPE instead of raising SIGPIPE on a socket whose peer has gone.
ssize_t WriteNoSignal(int fd, const void* buf, size_t n) {
  ssize_t w = ::send(fd, buf, n, MSG_NOSIGNAL);
  if (w < 0 && errno == ENOTSOCK) w = ::write(fd, buf, n);
  return w;
}

inline Timeout ToTimeout(int64_t imm) {
  if (imm < 0) return std::nullopt;
  return std::chrono::nanoseconds(imm);
}

inline int ToExceptionCode(int64_t v) {
  if (v == 0) return 0;
  if (v > INT_MAX || v < INT_MIN) return INT_MIN;  // still non-zero
  return static_cast<int>(v);
}

Error RunError(ErrorCode code, const Program& p, int pc, const std::string& what) {
  return MakeError(
      code, p.name() + " @" + std::to_string(pc) + " " + Info(p.code()[pc].op).name + ": " + what);
}

}  // namespace

const char* OpName(Op op) {
  if (op >= Op::kNumOps) return "?";
  return Info(op).name;
}

std::string Program::Disassemble() const {
  std::string out;
  for (size_t i = 0; i < code_.size(); ++i) {
    const Instr& in = code_[i];
    const OpInfo& info = Info(in.op);
    std::string line = std::to_string(i) + ": " + info.name;
    std::vector<std::string> args;
    if (info.a_reg) args.push_back("r" + std::to_string(in.a));
    if (info.b_reg) args.push_back("r" + std::to_string(in.b));
    if (info.b_env != Env_::kNone) {
      args.push_back(std::string(EnvPrefix(info.b_env)) + std::to_string(in.b));
    }
    if (info.target) args.push_back("@" + std::to_string(in.target));
    if (info.imm) args.push_back(std::to_string(in.imm));
    if (in.op == Op::kAddC) std::swap(args[0], args[1]);  // written "ADDC cell, ra"
    for (size_t k = 0; k < args.size(); ++k) line += (k ? ", " : " ") + args[k];
    out += line + "\n";
  }
  return out;
}

Status Env::Check(const EnvNeeds& n) const {
  auto missing = [](const char* what, size_t index) {
    return Status(MakeError(ErrorCode::kNotFound, std::string("environment has no ") + what + " " +
                                                      std::to_string(index)));
  };
  if (fds.size() < static_cast<size_t>(n.fds)) return missing("fd", fds.size());
  for (int i = 0; i < n.fds; ++i) {
    if (fds[i] < 0) return missing("fd", i);
  }
  auto check_ptrs = [&](const auto& v, int need, const char* what) -> Status {
    if (v.size() < static_cast<size_t>(need)) return missing(what, v.size());
    for (int i = 0; i < need; ++i) {
      if (!v[i]) return missing(what, i);
    }
    return Status::Ok();
  };
  if (Status s = check_ptrs(locks, n.locks, "lock"); !s) return s;
  if (Status s = check_ptrs(rlocks, n.rlocks, "rlock"); !s) return s;
  if (Status s = check_ptrs(conditions, n.conditions, "condition"); !s) return s;
  if (Status s = check_ptrs(semaphores, n.semaphores, "semaphore"); !s) return s;
  if (Status s = check_ptrs(events, n.events, "event"); !s) return s;
  if (Status s = check_ptrs(pending_calls, n.pending_calls, "pending call"); !s) return s;
  if (cells.size() < static_cast<size_t>(n.cells)) return missing("cell", cells.size());
  if (n.stop_flag && !stop) {
    return Status(MakeError(ErrorCode::kNotFound, "environment has no stop flag (STOPPED)"));
  }
  return Status::Ok();
}

ProgramBuilder::Label ProgramBuilder::NewLabel() {
  labels_.push_back(-1);
  return Label{static_cast<int>(labels_.size()) - 1};
}

ProgramBuilder& ProgramBuilder::Bind(Label label) {
  if (label.id < 0 || static_cast<size_t>(label.id) >= labels_.size()) {
    double_bound_.push_back(label.id);  // reported by Build()
    return *this;
  }
  if (labels_[label.id] >= 0) double_bound_.push_back(label.id);
  labels_[label.id] = static_cast<int64_t>(code_.size());
  return *this;
}

namespace {

// The environment count an instruction's operand b raises (nullptr: b is no environment index).
int* NeedOf(EnvNeeds& n, Env_ kind) {
  switch (kind) {
    case Env_::kFd:
      return &n.fds;
    case Env_::kLock:
      return &n.locks;
    case Env_::kRLock:
      return &n.rlocks;
    case Env_::kCond:
      return &n.conditions;
    case Env_::kSem:
      return &n.semaphores;
    case Env_::kEvent:
      return &n.events;
    case Env_::kCall:
      return &n.pending_calls;
    case Env_::kCell:
      return &n.cells;
    case Env_::kNone:
      break;
  }
  return nullptr;
}

// What is wrong with an instruction's immediate, or "" when it is fine.
std::string ImmediateError(Op op, int64_t imm) {
  switch (op) {
    case Op::kRead:
    case Op::kWrite:
      if (imm < 1 || imm > kIoBufferSize) {
        return "size " + std::to_string(imm) + " outside 1.." + std::to_string(kIoBufferSize);
      }
      break;
    case Op::kSemRel:
      if (imm < 1 || imm > INT_MAX) return "release count must be >= 1";
      break;
    case Op::kCondNotify:
      if (imm > INT_MAX) return "notify count too large";
      break;
    case Op::kSleep:
      if (imm < 0) return "negative sleep";
      break;
    default:
      break;
  }
  return {};
}

// What is wrong with an instruction's registers and environment index, or "".
std::string OperandError(const OpInfo& info, int64_t a, int64_t b) {
  if (info.a_reg && (a < 0 || a >= kNumRegs)) return "bad register r" + std::to_string(a);
  if (info.b_reg && (b < 0 || b >= kNumRegs)) return "bad register r" + std::to_string(b);
  if (info.b_env != Env_::kNone && (b < 0 || b > UINT8_MAX)) {
    return std::string("bad ") + EnvPrefix(info.b_env) + " index " + std::to_string(b) +
           " (0..255)";
  }
  return {};
}

}  // namespace

Result<Program> ProgramBuilder::Build() const {
  auto fail = [&](size_t i, const std::string& what) -> Error {
    std::string where = i < code_.size()
                            ? std::string(" @") + std::to_string(i) + " " + Info(code_[i].op).name
                            : std::string();
    return MakeError(ErrorCode::kInvalidArgument, name_ + where + ": " + what);
  };
  if (!double_bound_.empty()) {
    return fail(code_.size(),
                "label " + std::to_string(double_bound_.front()) + " bound twice or unknown");
  }
  Program p;
  p.name_ = name_;
  p.code_.reserve(code_.size() + 1);
  const int64_t size = static_cast<int64_t>(code_.size());  // the appended HALT is at `size`
  for (size_t i = 0; i < code_.size(); ++i) {
    const Draft& d = code_[i];
    if (d.op >= Op::kNumOps) return fail(i, "unknown opcode");
    const OpInfo& info = Info(d.op);
    if (std::string e = OperandError(info, d.a, d.b); !e.empty()) return fail(i, e);
    Instr in;
    in.op = d.op;
    if (info.a_reg) in.a = static_cast<uint8_t>(d.a);
    if (info.b_reg || info.b_env != Env_::kNone) in.b = static_cast<uint8_t>(d.b);
    if (int* need = NeedOf(p.needs_, info.b_env); need && *need < d.b + 1) {
      *need = static_cast<int>(d.b) + 1;
    }
    if (info.target) {
      if (d.label < 0 || static_cast<size_t>(d.label) >= labels_.size()) {
        return fail(i, "unknown label " + std::to_string(d.label));
      }
      int64_t t = labels_[d.label];
      if (t < 0) return fail(i, "label " + std::to_string(d.label) + " never bound");
      if (t > size) return fail(i, "jump target " + std::to_string(t) + " out of range");
      if (d.op == Op::kJmpF && t <= static_cast<int64_t>(i)) {
        return fail(i, "JMPF must jump forward");
      }
      in.target = static_cast<int32_t>(t);
    }
    in.imm = d.imm;
    if (std::string e = ImmediateError(d.op, d.imm); !e.empty()) return fail(i, e);
    if (d.op == Op::kStopped) p.needs_.stop_flag = true;
    p.code_.push_back(in);
  }
  if (size > INT32_MAX - 1) return fail(code_.size(), "program too long");
  Instr halt;
  halt.op = Op::kHalt;
  p.code_.push_back(halt);
  return p;
}

// READ / WRITE without the GIL: the byte count, or -errno.
int64_t ReadOrWrite(ThreadState& ts, Op op, int fd, char* buf, size_t n) {
  ssize_t got;
  int err;
  {
    AllowThreads allow(ts);
    do {
      got = op == Op::kRead ? ::read(fd, buf, n) : WriteNoSignal(fd, buf, n);
    } while (got < 0 && errno == EINTR);
    err = errno;
  }
  return got >= 0 ? static_cast<int64_t>(got) : -static_cast<int64_t>(err);
}

void SleepWithoutGil(ThreadState& ts, int64_t ns) {
  struct timespec req;
  req.tv_sec = static_cast<time_t>(ns / 1000000000);
  req.tv_nsec = static_cast<long>(ns % 1000000000);
  AllowThreads allow(ts);
  struct timespec rem;
  while (::nanosleep(&req, &rem) != 0 && errno == EINTR) req = rem;
}

// The instructions that leave the interpreter: blocking I/O and sleeps (without the GIL), the
// synchronisation primitives, pending calls and shared cells. Kept out of RunProgram's loop,
// whose hot cases are the ticking compute and jump instructions.
Status RunCallingOp(ThreadState& ts, const Instr& in, const Env& env, int64_t* r, char* buf) {
  switch (in.op) {
    // ---- blocking I/O ----
    case Op::kRead:
    case Op::kWrite:
      r[in.a] = ReadOrWrite(ts, in.op, env.fds[in.b], buf, static_cast<size_t>(in.imm));
      return Status::Ok();
    case Op::kSleep:
      SleepWithoutGil(ts, in.imm);
      return Status::Ok();
    // ---- synchronisation ----
    case Op::kLockAcq:
      r[in.a] = env.locks[in.b]->Acquire(ts, ToTimeout(in.imm)) ? 1 : 0;
      return Status::Ok();
    case Op::kLockRel:
      return env.locks[in.b]->Release(ts);
    case Op::kRLockAcq:
      r[in.a] = env.rlocks[in.b]->Acquire(ts, ToTimeout(in.imm)) ? 1 : 0;
      return Status::Ok();
    case Op::kRLockRel:
      return env.rlocks[in.b]->Release(ts);
    case Op::kCondAcq:
      r[in.a] = env.conditions[in.b]->Acquire(ts, ToTimeout(in.imm)) ? 1 : 0;
      return Status::Ok();
    case Op::kCondRel:
      return env.conditions[in.b]->Release(ts);
    case Op::kCondWait: {
      Result<bool> w = env.conditions[in.b]->Wait(ts, ToTimeout(in.imm));
      if (!w) return Status(w.error());
      r[in.a] = *w ? 1 : 0;
      return Status::Ok();
    }
    case Op::kCondNotify:
      return in.imm <= 0 ? env.conditions[in.b]->NotifyAll(ts)
                         : env.conditions[in.b]->Notify(ts, static_cast<int>(in.imm));
    case Op::kSemAcq:
      r[in.a] = env.semaphores[in.b]->Acquire(ts, ToTimeout(in.imm)) ? 1 : 0;
      return Status::Ok();
    case Op::kSemRel:
      return env.semaphores[in.b]->Release(ts, static_cast<int>(in.imm));
    case Op::kEvtSet:
      env.events[in.b]->Set(ts);
      return Status::Ok();
    case Op::kEvtClear:
      env.events[in.b]->Clear(ts);
      return Status::Ok();
    case Op::kEvtWait:
      r[in.a] = env.events[in.b]->Wait(ts, ToTimeout(in.imm)) ? 1 : 0;
      return Status::Ok();
    case Op::kEvtIsSet:
      r[in.a] = env.events[in.b]->IsSet() ? 1 : 0;
      return Status::Ok();
    // ---- environment ----
    case Op::kPending:
      r[in.a] = ts.runtime().AddPendingCall(env.pending_calls[in.b]).ok() ? 1 : 0;
      return Status::Ok();
    case Op::kAddC:
      env.cells[in.b].fetch_add(r[in.a], std::memory_order_relaxed);
      return Status::Ok();
    case Op::kLoadC:
      r[in.a] = env.cells[in.b].load(std::memory_order_relaxed);
      return Status::Ok();
    case Op::kStopped:
      r[in.a] = env.stop->load(std::memory_order_relaxed) ? 1 : 0;
      return Status::Ok();
    case Op::kClock: {
      struct timespec now;
      ::clock_gettime(CLOCK_MONOTONIC, &now);
      r[in.a] = int64_t{now.tv_sec} * 1000000000 + now.tv_nsec;
      return Status::Ok();
    }
    default:
      break;
  }
  GILSTAT_CHECK(false && "invalid opcode in a built program");
  return Status::Ok();
}

// long-function: the eval loop. Its switch dispatches the hot instructions (compute, jumps,
// protected regions) on pc, the registers and the handler stack held in locals, and jumps to the
// shared tick / raise tail; split into functions, that state would go through a call on every
// instruction. The instructions that leave the interpreter are in RunCallingOp.
Result<RunResult> RunProgram(ThreadState& ts, const Program& program, const Env& env, Regs init) {
  if (Status s = env.Check(program.needs()); !s) {
    return MakeError(s.code(), program.name() + ": " + s.message());
  }
  Runtime& rt = ts.runtime();
  const Instr* const code = program.code().data();
  int64_t r[kNumRegs];
  for (int i = 0; i < kNumRegs; ++i) r[i] = init[i];
  struct Handler {
    int32_t target;
    uint8_t reg;
  };
  Handler handlers[kMaxHandlers];
  int depth = 0;
  char buf[kIoBufferSize] = {};
  RunResult res;
  uint64_t ticks = 0, executed = 0;
  int32_t pc = 0;
  int exc = 0;

  for (;;) {
    const Instr& in = code[pc];
    ++executed;
    switch (in.op) {
      // ---- fast: no tick ----
      case Op::kNop:
        ++pc;
        continue;
      case Op::kLoadI:
        r[in.a] = in.imm;
        ++pc;
        continue;
      case Op::kMov:
        r[in.a] = r[in.b];
        ++pc;
        continue;
      case Op::kJmpF:
        pc = in.target;
        continue;
      case Op::kRaise:
        exc = ToExceptionCode(r[in.a]);
        if (exc == 0) {
          ++pc;
          continue;
        }
        goto raise;
      case Op::kHalt:
        goto done;
      // ---- compute ----
      case Op::kAdd:
        r[in.a] = WAdd(r[in.a], r[in.b]);
        ++pc;
        break;
      case Op::kSub:
        r[in.a] = WSub(r[in.a], r[in.b]);
        ++pc;
        break;
      case Op::kAddI:
        r[in.a] = WAdd(r[in.a], in.imm);
        ++pc;
        break;
      case Op::kMix:
        r[in.a] = WMix(r[in.a], r[in.b]);
        ++pc;
        break;
      // ---- control ----
      case Op::kJmp:
        pc = in.target;
        break;
      case Op::kJz:
        pc = r[in.a] == 0 ? in.target : pc + 1;
        break;
      case Op::kJnz:
        pc = r[in.a] != 0 ? in.target : pc + 1;
        break;
      case Op::kJlt:
        pc = r[in.a] < r[in.b] ? in.target : pc + 1;
        break;
      case Op::kDjnz:
        r[in.a] = WSub(r[in.a], 1);
        pc = r[in.a] != 0 ? in.target : pc + 1;
        break;
      // ---- protected regions ----
      case Op::kSetup:
        if (depth == kMaxHandlers) {
          return RunError(ErrorCode::kResourceExhausted, program, pc,
                          "more than " + std::to_string(kMaxHandlers) + " nested handlers");
        }
        handlers[depth++] = Handler{in.target, in.a};
        ++pc;
        break;
      case Op::kPopH:
        if (depth == 0) return RunError(ErrorCode::kFailedPrecondition, program, pc, "no handler");
        --depth;
        ++pc;
        break;
      // ---- blocking I/O, synchronisation, environment: calls into the runtime or the kernel ----
      default:
        if (Status s = RunCallingOp(ts, in, env, r, buf); !s) {
          return RunError(s.code(), program, pc, s.message());
        }
        ++pc;
        break;
    }
    // A ticking instruction has executed; `pc` is the instruction that runs next.
    ++ticks;
    exc = rt.Tick(ts, code[pc].op == Op::kSetup);
    if (__builtin_expect(exc == 0, 1)) continue;
  raise:
    if (depth == 0) goto done;
    --depth;
    r[handlers[depth].reg] = exc;
    pc = handlers[depth].target;
    exc = 0;
    ++res.handled;
  }
done:
  res.exception = exc;
  for (int i = 0; i < kNumRegs; ++i) res.regs[i] = r[i];
  res.ticks = ticks;
  res.executed = executed;
  return res;
}

}  // namespace gilstat::rt
