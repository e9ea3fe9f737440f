#include "app/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace gilstat {
namespace {

// Runs `fn` with stderr redirected to a file and returns what it wrote.
template <typename Fn>
std::string CaptureStderr(Fn fn) {
  std::fflush(stderr);
  char path[] = "/tmp/gilstat-log-XXXXXX";
  int fd = mkstemp(path);
  int saved = dup(2);
  dup2(fd, 2);
  fn();
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(fd);
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  unlink(path);
  return s.str();
}

TEST(Logging, JournalLinesCarryTheSyslogPriority) {
  const std::string out = CaptureStderr([] {
    SetupLogging(spdlog::level::info, true);
    spdlog::error("attach failed");
    spdlog::warn("careful");
    spdlog::info("hello");
    spdlog::debug("hidden");
  });
  EXPECT_EQ(out, "<3>attach failed\n<4>careful\n<6>hello\n");
}

TEST(Logging, TerminalLinesCarryTheLevelName) {
  const std::string out = CaptureStderr([] {
    SetupLogging(spdlog::level::debug, false);
    spdlog::debug("details");
  });
  EXPECT_NE(out.find(" debug details\n"), std::string::npos) << out;
}

TEST(Logging, ParseLogLevel) {
  EXPECT_EQ(ParseLogLevel("warn"), spdlog::level::warn);
  EXPECT_FALSE(ParseLogLevel("verbose").has_value());
}

TEST(LogOnce, OnlyTheFirstTimeUntilForgotten) {
  LogOnce once;
  EXPECT_TRUE(once.First("pid 7: no libc"));
  EXPECT_FALSE(once.First("pid 7: no libc"));
  EXPECT_TRUE(once.First("pid 8: no libc"));
  once.Forget("pid 7: no libc");
  EXPECT_TRUE(once.First("pid 7: no libc"));
}

}  // namespace
}  // namespace gilstat
