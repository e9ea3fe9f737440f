#include "host/python_host.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

namespace gilstat::host {
namespace {

using namespace std::string_literals;

TEST(GilForcedOn, EnvironmentOrXOption) {
  EXPECT_TRUE(GilForcedOn("HOME=/root\0PYTHON_GIL=1\0"s, "python3.13t\0app.py\0"s));
  EXPECT_TRUE(GilForcedOn(""s, "python3.13t\0-X\0gil=1\0app.py\0"s));
  EXPECT_TRUE(GilForcedOn(""s, "python3.13t\0-Xgil=1\0"s));
  EXPECT_FALSE(GilForcedOn("PYTHON_GIL=0\0"s, "python3.13t\0-X\0gil=0\0"s));
  EXPECT_FALSE(GilForcedOn("XPYTHON_GIL=1\0"s, "python3.13t\0app.py\0-X\0"s));
  EXPECT_FALSE(GilForcedOn(""s, ""s));
}

// A free-threaded build's GIL is reported from its `enabled` word at every scrape: it can be
// switched on at run time, whatever the environment said at start.
TEST(GilNow, FreeThreadedFollowsTheEnabledWord) {
  PythonPlan plan;
  plan.info.free_threaded = true;
  plan.method = GilMethod::kGilCondvar;
  plan.gil_enabled = false;  // started without PYTHON_GIL=1
  python::GilState st;
  st.enabled = 0;
  EXPECT_EQ(GilNow(plan, &st).method, GilMethod::kGilDisabled);
  EXPECT_FALSE(GilNow(plan, &st).enabled);
  st.enabled = 1;  // an extension switched it on
  EXPECT_EQ(GilNow(plan, &st).method, GilMethod::kGilCondvar);
  EXPECT_TRUE(GilNow(plan, &st).enabled);
  // Not read this time: how the process was started.
  EXPECT_EQ(GilNow(plan, nullptr).method, GilMethod::kGilDisabled);
  plan.gil_enabled = true;
  EXPECT_EQ(GilNow(plan, nullptr).method, GilMethod::kGilCondvar);
  // Exact mode's take_gil likewise; a GIL that could not be located stays as planned.
  plan.method = GilMethod::kTakeGil;
  st.enabled = 0;
  EXPECT_EQ(GilNow(plan, &st).method, GilMethod::kGilDisabled);
  plan.method = GilMethod::kGilDisabled;
  st.enabled = 1;
  EXPECT_EQ(GilNow(plan, &st).method, GilMethod::kGilDisabled);
  EXPECT_TRUE(GilNow(plan, &st).enabled);
}

// Other builds: the plan's method and an enabled GIL, whatever the (unused) word holds.
TEST(GilNow, DefaultBuildsKeepThePlan) {
  PythonPlan plan;
  plan.method = GilMethod::kGilCondvar;
  python::GilState st;
  st.enabled = 0;
  EXPECT_EQ(GilNow(plan, &st).method, GilMethod::kGilCondvar);
  EXPECT_TRUE(GilNow(plan, &st).enabled);
}

TEST(PlanPython, NotPythonIsNoPlan) {
  auto plan = PlanPython(getpid());
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_FALSE(plan->has_value());
}

TEST(PlanPython, VanishedProcessIsAnError) {
  pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  EXPECT_FALSE(PlanPython(child).ok());
}

// Plans a running `python` (idle, reading stdin) in the given mode; nullopt when not planned.
std::optional<PythonPlan> PlanRunning(const char* python, bool exact) {
  int in[2];
  if (pipe(in) != 0) return std::nullopt;
  pid_t child = fork();
  if (child == 0) {
    dup2(in[0], 0);
    close(in[1]);
    execl(python, python, "-c", "import sys; sys.stdin.read()", nullptr);
    _exit(127);
  }
  close(in[0]);
  // The interpreter is mapped once exec is done; retry briefly.
  Result<std::optional<PythonPlan>> plan = std::optional<PythonPlan>();
  for (int i = 0; i < 100; ++i) {
    plan = PlanPython(child, "/proc", exact);
    if (plan.ok() && plan->has_value()) break;
    usleep(20'000);
  }
  close(in[1]);
  waitpid(child, nullptr, 0);
  if (!plan.ok() || !plan->has_value()) return std::nullopt;
  return **plan;
}

// Debian's stripped python3: the GIL through its condvar, located from _PyRuntime, in either mode.
TEST(PlanPython, DebianPython3UsesTheGilCondvar) {
  const char* python = "/usr/bin/python3";
  if (access(python, X_OK) != 0) GTEST_SKIP() << python << " not installed";
  for (bool exact : {false, true}) {
    auto p = PlanRunning(python, exact);
    ASSERT_TRUE(p.has_value());
    if (!p->info.stripped) GTEST_SKIP() << python << " is not stripped here";
    EXPECT_EQ(p->method, GilMethod::kGilCondvar) << p->why;
    EXPECT_EQ(p->build, "stripped");
    EXPECT_TRUE(p->gil.has_value());
    EXPECT_FALSE(p->probe.take_drop());
    EXPECT_NE(p->probe.cond_addr, 0u);
    EXPECT_EQ(p->probe.cond_addr, p->gil->cond);
  }
}

// An interpreter with symbols: the condvar by default (no probe on take_gil/drop_gil), the
// take_gil method when exact mode asks for it.
TEST(PlanPython, WithSymbolsTheModeChoosesTheMethod) {
  const char* python = "/root/.pyenv/versions/3.12.1/bin/python3.12";
  if (access(python, X_OK) != 0) GTEST_SKIP() << python << " not installed";
  auto def = PlanRunning(python, false);
  ASSERT_TRUE(def.has_value());
  EXPECT_EQ(def->method, GilMethod::kGilCondvar) << def->why;
  EXPECT_FALSE(def->probe.take_drop());
  EXPECT_TRUE(def->probe.take_gil_offsets.empty());
  EXPECT_NE(def->probe.cond_addr, 0u);
  auto exact = PlanRunning(python, true);
  ASSERT_TRUE(exact.has_value());
  EXPECT_EQ(exact->method, GilMethod::kTakeGil) << exact->why;
  EXPECT_TRUE(exact->probe.take_drop());
  EXPECT_EQ(exact->probe.cond_addr, def->probe.cond_addr == 0 ? 0 : exact->gil->cond);
  EXPECT_NE(exact->why.find("exact mode"), std::string::npos) << exact->why;
}

}  // namespace
}  // namespace gilstat::host
