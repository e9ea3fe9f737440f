#include "python/py_frames.h"

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "python/remote_memory.h"
#include "tests/unit/python/live_python.h"

namespace gilstat::python {
namespace {

using namespace testing_live;  // NOLINT: the live interpreters' helpers

// A known stack: <module> -> Outer.method -> grüße -> middle_λ -> inner, which prints "ready
// <its PyThreadState*> <its native thread id>" and blocks on stdin. Names in Latin-1 and in the
// BMP exercise each compact str kind. Line numbers are the script's (it starts on line 1).
constexpr const char* kScript = R"(import ctypes, sys, threading
get = ctypes.pythonapi.PyThreadState_Get
get.restype = ctypes.c_void_p
def inner():
    sys.stdout.write("ready %d %d\n" % (get(), threading.get_native_id()))
    sys.stdout.flush()
    sys.stdin.readline()
def middle_λ():
    inner()
def grüße():
    middle_λ()
class Outer:
    def method(self):
        grüße()
Outer().method()
)";

struct Expected {
  const char* qualname;
  int first_line;
  int line;  // where the frame is: the call it waits in
};
constexpr Expected kStack[] = {{"inner", 4, 7},
                               {"middle_λ", 8, 9},
                               {"grüße", 10, 11},
                               {"Outer.method", 13, 14},
                               {"<module>", 1, 15}};

// Waits (up to 5 s) until thread `tid` of `pid` sleeps in read(2) (x86-64: syscall 0): the
// script's readline, so that its frames are at the lines kStack says, not still writing "ready".
bool BlockedInRead(pid_t pid, pid_t tid) {
  const std::string path =
      "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/syscall";
  for (int i = 0; i < 500; ++i) {
    std::ifstream f(path);
    std::string nr;
    if (f >> nr && nr == "0") return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

class LiveStack : public ::testing::TestWithParam<std::string> {};

TEST_P(LiveStack, KnownStackReadAndNamed) {
  std::vector<std::string> argv = PythonFor(GetParam());
  if (argv.empty()) GTEST_SKIP() << Absent(GetParam());
  argv.insert(argv.end(), {"-X", "utf8", "-c", kScript});
  Child child(argv);
  ASSERT_GT(child.pid(), 0);
  const std::string ready = ExpectLine(child, "ready");
  ASSERT_FALSE(ready.empty()) << argv.front() << " did not start";
  const uint64_t tstate = std::stoull(ready);
  const pid_t tid = static_cast<pid_t>(std::stol(ready.substr(ready.find(' ') + 1)));
  ASSERT_TRUE(BlockedInRead(child.pid(), tid)) << "the script did not reach its readline";

  auto info = Inspect(child.pid());
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  const auto layout = FrameLayoutFor(info->major, info->minor);
  ASSERT_TRUE(layout.has_value()) << info->VersionString();
  ASSERT_TRUE(info->has("PyCode_Type")) << info->binary;
  auto bias = LoadBias(child.pid(), *info, "/proc");
  ASSERT_TRUE(bias.ok()) << bias.status().ToString();
  const uint64_t code_type = *bias + info->symbols.at("PyCode_Type").value;

  // The thread is found by its native id in its interpreter's thread list.
  auto interp = ReadU64(child.pid(), tstate + layout->tstate_interp);
  ASSERT_TRUE(interp.ok()) << interp.status().ToString();
  auto found = FindThreadState(child.pid(), *interp, tid, *layout, 64);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(*found, tstate);
  EXPECT_FALSE(FindThreadState(child.pid(), *interp, tid + 100000, *layout, 64).ok());

  auto stack = ReadStack(child.pid(), tstate, *layout, 64);
  ASSERT_TRUE(stack.ok()) << stack.status().ToString();
  EXPECT_FALSE(stack->truncated);
  CodeNames names(child.pid(), *layout, code_type);
  std::vector<std::string> got;
  for (const PyFrame& f : stack->frames) {
    const CodeName n = names.Lookup(f.code, static_cast<uint32_t>(f.instr - f.code));
    got.push_back(n.valid ? n.qualname + ":" + std::to_string(n.first_line) + " " + n.filename +
                                ":" + std::to_string(n.line) + (n.line_found ? "" : "?")
                          : "?");
  }
  std::vector<std::string> want;
  for (const Expected& e : kStack) {
    want.push_back(e.qualname + (":" + std::to_string(e.first_line)) +
                   " <string>:" + std::to_string(e.line));
  }
  EXPECT_EQ(got, want) << info->VersionString() << " " << info->binary;
  // Without an instruction pointer (or one outside the bytecode), the first line, said so.
  const CodeName no_instr = names.Lookup(stack->frames[0].code);
  EXPECT_EQ(no_instr.line, 4);
  EXPECT_FALSE(no_instr.line_found);
  EXPECT_FALSE(names.Lookup(stack->frames[0].code, layout->co_code_adaptive - 2).line_found);

  // Cached, and asked again gives the same; a depth of 2 is truncated.
  EXPECT_EQ(names.size(), want.size());
  EXPECT_EQ(names.Lookup(stack->frames[0].code).qualname, "inner");
  auto shallow = ReadStack(child.pid(), tstate, *layout, 2);
  ASSERT_TRUE(shallow.ok());
  EXPECT_EQ(shallow->frames.size(), 2u);
  EXPECT_TRUE(shallow->truncated);

  // What is not a code object has no name, never a wrong one: the thread state. Once the
  // process is gone, a code object named while it ran keeps that name (nothing reuses its
  // addresses any more) and any other address has none.
  EXPECT_FALSE(names.Lookup(tstate).valid);
  const uint64_t inner = stack->frames[0].code;
  child.WriteLine("");
  EXPECT_EQ(child.ReadLine(), "");                           // the script ends
  ASSERT_EQ(waitpid(child.pid(), nullptr, 0), child.pid());  // reaped: its memory is gone
  EXPECT_EQ(names.Lookup(inner).qualname, "inner");
  EXPECT_EQ(names.Lookup(inner, static_cast<uint32_t>(stack->frames[0].instr - inner)).line, 7);
  EXPECT_FALSE(names.Lookup(inner + 64).valid);
}

INSTANTIATE_TEST_SUITE_P(Interpreters, LiveStack,
                         ::testing::Values("debian", "3.11", "3.12", "3.13", "sid-3.14", "sid-3.15",
                                           "sid-3.14-dbg"),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           std::string n = p.param;
                           for (char& c : n) {
                             if (c == '.' || c == '-') c = '_';
                           }
                           return n;
                         });

// co_linetable of the same function compiled by each version (the 3.11+ location table), its
// co_firstlineno, and the line of each code unit as co_positions() gives it (-1: None).
// Made with, for each interpreter:
//   src = '''def f(x):\n    try:\n        with open(x) as fh:\n            y = [i\n'''
//         '''                 for i in fh]\n    except OSError:\n        return None\n'''
//         '''    for k in range(3):\n        x = (k +\n             1)\n\n\n\n'''
//         '''    return g(x,\n             y)\n'''
//   ns = {}; exec(compile(src, "<fixture>", "exec"), ns); co = ns["f"].__code__
//   print(co.co_firstlineno, co.co_linetable.hex(),
//         [-1 if p[0] is None else p[0] for p in co.co_positions()])
struct LinetableFixture {
  const char* version;
  int first_line;
  const char* hex;
  std::vector<int> lines;
};
const LinetableFixture kLinetables[] = {
    {"3.11",
     1,
     "8000f002050514dd0d11902189578c57f00002091e9802f00201111ef00001111ed81a1cf00301111ef1"
     "0001111ef40001111e8841f00302091ef00002091ef00002091ef10002091ef40002091ef00002091ef0"
     "0002091ef00002091ef00002091ef00002091ef00002091ef8f8f8f00002091ef00002091ef00002091e"
     "f00002091ef8f8f506000c13f000010514f000010514f000010514d80f1388748874f003010514f8f8f8"
     "e50d12903189588c58f000020510f0000205108801d80d0ed80d0ef103010e0f88018801f50a000c0d88"
     "51d80d0ef103010c10f400010c10f000010510",
     {1, 2,  3,  3,  3,  3, 3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  4,  4,  5,  4,
      4, 4,  4,  4,  4,  4, 4,  4,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,
      3, 3,  -1, -1, -1, 3, 3,  3,  3,  -1, -1, 6,  6,  6,  6,  6,  6,  6,  6,  6,  7,  7,
      7, 6,  -1, -1, -1, 8, 8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,
      9, 10, 9,  9,  9,  9, 14, 14, 14, 14, 14, 14, 14, 15, 14, 14, 14, 14, 14, 14, 14, 14}},
    {"3.12",
     1,
     "8000f002050514dc0d1190218b57f00002091e9802e01a1cf60301111ed81516f203001213f00001111e"
     "8841f00001111ef70302091ef40a000e1390318b58f2000205108801d80d0ed80d0ef103010e0f8901f0"
     "03020510f40c000c0d8851d80d0ef303010c10f000010510f9f21501111ef70302091ef00002091efbf4"
     "06000c13f200010514d90f13f003010514fa",
     {1,  2, 3, 3, 3, 3, 3,  3,  3,  3,  3,  3,  3,  3,  5,  4,  4,  4,  4,  4,  4, 4,  5,  4, 4, 4,
      4,  4, 4, 3, 3, 3, 3,  3,  3,  3,  3,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8, 8,  8,  8, 8, 9,
      10, 9, 9, 9, 9, 8, 14, 14, 14, 14, 14, 14, 15, 14, 14, 14, 14, 14, -1, -1, 4, 4,  4,  3, 3, 3,
      3,  3, 3, 3, 3, 3, -1, -1, -1, -1, 6,  6,  6,  6,  6,  6,  6,  6,  7,  7,  6, -1, -1, -1}},
    {"3.13",
     1,
     "8000f002050514dc0d1190218c579802e11a1cf30301111ed91a1c9051f303001213d91a1cf003000d0e"
     "f00001111ef703000e15f40a000e1390318e588801d80d0ed80d0ef103010e0f8a01f103000e16f40c00"
     "0c0d8851d80d0ef303010c10f000010510f9f21501111ef703000e158d57fbf406000c13f300010514d9"
     "0f13f003010514fa",
     {1,  2,  3,  3,  3,  3,  3,  3, 3,  3, 3, 3, 3, 3, 5, 5, 4,  4,  4,  4,  5,  5,  5,
      4,  4,  4,  4,  5,  5,  4,  4, 3,  3, 3, 3, 3, 3, 3, 3, 8,  8,  8,  8,  8,  8,  8,
      8,  8,  8,  8,  8,  8,  8,  9, 10, 9, 9, 9, 9, 9, 8, 8, 14, 14, 14, 14, 14, 14, 15,
      14, 14, 14, 14, 14, -1, -1, 4, 4,  4, 3, 3, 3, 3, 3, 3, 3,  3,  3,  3,  3,  3,  3,
      3,  -1, -1, -1, -1, 6,  6,  6, 6,  6, 6, 6, 6, 6, 7, 7, 6,  -1, -1, -1}},
    {"3.14",
     1,
     "8000f002050514dc0d1190218f578c579802e11a1cf30301111ed91a1c9051f303001213d91a1cf00300"
     "0d0ef00001111ef703000e15f40a000e1390318e588801d80d0ed80d0ef503010e0f8a01f103000e16f4"
     "0c000c0d8851d80d0ef303010c10f000010510f9f21501111ef703000e158f57fbf406000c13f4000105"
     "14da0f13f003010514fa",
     {1,  2,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,  5,  5,  4,  4,
      4,  4,  5,  5,  5,  4,  4,  4,  4,  5,  5,  4, 4, 3, 3, 3, 3, 3, 3, 3, 3, 8,  8,  8,  8,  8,
      8,  8,  8,  8,  8,  8,  8,  8,  8,  9,  10, 9, 9, 9, 9, 9, 9, 9, 9, 9, 8, 8,  14, 14, 14, 14,
      14, 14, 15, 14, 14, 14, 14, 14, -1, -1, 4,  4, 4, 3, 3, 3, 3, 3, 3, 3, 3, 3,  3,  3,  3,  3,
      3,  3,  3,  -1, -1, -1, -1, 6,  6,  6,  6,  6, 6, 6, 6, 6, 6, 7, 7, 7, 6, -1, -1, -1}},
    {"3.15",
     1,
     "8100f002050514dc0d1190218f578c579802e01a1cf30301111edb1a1c9051f303001213d91a1cf00300"
     "0d0ef00001111ef703000e15f40a000e1390318f588801d80d0ed80d0ef503010e0f8a01f103000e16f4"
     "0c000c0d8851d80d0ef303010c10f000010510f9f21501111ef703000e158f57fbf406000c13f4000105"
     "14da0f13f003010514fa",
     {1,  1,  2,  3,  3, 3, 3, 3, 3, 3, 3, 3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,
      3,  5,  4,  4,  4, 4, 5, 5, 5, 5, 5, 4,  4,  4,  4,  5,  5,  4,  4,  3,  3,  3,
      3,  3,  3,  3,  3, 8, 8, 8, 8, 8, 8, 8,  8,  8,  8,  8,  8,  8,  8,  8,  9,  10,
      9,  9,  9,  9,  9, 9, 9, 9, 9, 8, 8, 14, 14, 14, 14, 14, 14, 15, 14, 14, 14, 14,
      14, -1, -1, 4,  4, 4, 3, 3, 3, 3, 3, 3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,
      -1, -1, -1, -1, 6, 6, 6, 6, 6, 6, 6, 6,  6,  6,  7,  7,  7,  6,  -1, -1, -1}},
};

std::vector<uint8_t> FromHex(const std::string& hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

TEST(LineOfCodeUnit, EveryCodeUnitOfRealTables) {
  for (const LinetableFixture& f : kLinetables) {
    const std::vector<uint8_t> t = FromHex(f.hex);
    std::vector<int> got;
    for (size_t unit = 0; unit < f.lines.size(); ++unit)
      got.push_back(LineOfCodeUnit(t, f.first_line, static_cast<int64_t>(unit)).value_or(-1));
    EXPECT_EQ(got, f.lines) << f.version;
    // Past the last code unit, and before the first, there is no line.
    EXPECT_FALSE(LineOfCodeUnit(t, f.first_line, static_cast<int64_t>(f.lines.size())));
    EXPECT_FALSE(LineOfCodeUnit(t, f.first_line, -1));
    // Lines follow co_firstlineno.
    EXPECT_EQ(LineOfCodeUnit(t, f.first_line + 100, 1), f.lines[1] + 100) << f.version;
  }
}

TEST(LineOfCodeUnit, MalformedTablesGiveNoLine) {
  EXPECT_FALSE(LineOfCodeUnit({}, 1, 0));
  const std::vector<uint8_t> operand_first = {0x05, 0x80, 0x00};
  EXPECT_FALSE(LineOfCodeUnit(operand_first, 1, 0));
  const std::vector<uint8_t> cut_varint = {0xe8 /* no columns, 1 unit */, 0x41};
  EXPECT_FALSE(LineOfCodeUnit(cut_varint, 1, 0));
  // A long form (14) moving 3 lines back: svarint 7, then end line, columns.
  const std::vector<uint8_t> back = {0xf1, 0x07, 0x00, 0x01, 0x02, 0xd8 /* one line on */,
                                     0x00, 0x01};
  EXPECT_EQ(LineOfCodeUnit(back, 10, 0), 7);
  EXPECT_EQ(LineOfCodeUnit(back, 10, 1), 7);
  EXPECT_EQ(LineOfCodeUnit(back, 10, 2), 8);
}

TEST(FrameLayoutFor, KnownVersionsOnly) {
  EXPECT_FALSE(FrameLayoutFor(3, 10).has_value());
  EXPECT_FALSE(FrameLayoutFor(2, 7).has_value());
  EXPECT_FALSE(FrameLayoutFor(3, 16).has_value());
  for (int minor = 11; minor <= 15; ++minor) {
    auto l = FrameLayoutFor(3, minor);
    ASSERT_TRUE(l.has_value()) << minor;
    EXPECT_EQ(l->cframe >= 0, minor <= 12) << minor;                // _PyCFrame until 3.12
    EXPECT_EQ(l->first_hidden_owner == 255, minor == 11) << minor;  // entry frames from 3.12
    // The probes read the instruction pointer from the frame's first 80 bytes (PYGIL_FRAME_READ).
    EXPECT_EQ(l->instr % 8, 0u) << minor;
    EXPECT_LE(l->instr + 8, 80u) << minor;
    EXPECT_GT(l->co_code_adaptive, l->co_firstlineno) << minor;  // the bytecode ends the object
    EXPECT_EQ(l->bytes_sval, 32u) << minor;
  }
}

}  // namespace
}  // namespace gilstat::python
