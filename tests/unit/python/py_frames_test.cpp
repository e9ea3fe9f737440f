#include "python/py_frames.h"

#include <string>
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
};
constexpr Expected kStack[] = {
    {"inner", 4}, {"middle_λ", 8}, {"grüße", 10}, {"Outer.method", 13}, {"<module>", 1}};

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
    const CodeName n = names.Lookup(f.code);
    got.push_back(n.valid ? n.qualname + ":" + std::to_string(n.first_line) + " " + n.filename
                          : "?");
  }
  std::vector<std::string> want;
  for (const Expected& e : kStack)
    want.push_back(e.qualname + (":" + std::to_string(e.first_line)) + " <string>");
  EXPECT_EQ(got, want) << info->VersionString() << " " << info->binary;

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

TEST(FrameLayoutFor, KnownVersionsOnly) {
  EXPECT_FALSE(FrameLayoutFor(3, 10).has_value());
  EXPECT_FALSE(FrameLayoutFor(2, 7).has_value());
  EXPECT_FALSE(FrameLayoutFor(3, 16).has_value());
  for (int minor = 11; minor <= 15; ++minor) {
    auto l = FrameLayoutFor(3, minor);
    ASSERT_TRUE(l.has_value()) << minor;
    EXPECT_EQ(l->cframe >= 0, minor <= 12) << minor;                // _PyCFrame until 3.12
    EXPECT_EQ(l->first_hidden_owner == 255, minor == 11) << minor;  // entry frames from 3.12
  }
}

}  // namespace
}  // namespace gilstat::python
