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

// Debian's stripped python3: the GIL through its condvar, located from _PyRuntime.
TEST(PlanPython, DebianPython3UsesTheGilCondvar) {
  const char* python = "/usr/bin/python3";
  if (access(python, X_OK) != 0) GTEST_SKIP() << python << " not installed";
  int in[2];
  ASSERT_EQ(pipe(in), 0);
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
    plan = PlanPython(child);
    if (plan.ok() && plan->has_value()) break;
    usleep(20'000);
  }
  close(in[1]);
  waitpid(child, nullptr, 0);
  ASSERT_TRUE(plan.ok() && plan->has_value());
  const PythonPlan& p = **plan;
  if (!p.info.stripped) GTEST_SKIP() << python << " is not stripped here";
  EXPECT_EQ(p.method, GilMethod::kGilCondvar) << p.why;
  EXPECT_EQ(p.build, "stripped");
  EXPECT_TRUE(p.gil.has_value());
  EXPECT_FALSE(p.probe.take_drop());
  EXPECT_NE(p.probe.cond_addr, 0u);
  EXPECT_EQ(p.probe.cond_addr, p.gil->cond);
}

}  // namespace
}  // namespace gilstat::host
