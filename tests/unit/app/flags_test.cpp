#include "app/flags.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gilstat {
namespace {

using ::testing::HasSubstr;

TEST(DaemonFlags, DefaultsAreLoopbackAndMetrics) {
  auto f = ParseDaemonFlags({});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->listen_address, "127.0.0.1:9877");
  EXPECT_EQ(f->telemetry_path, "/metrics");
  EXPECT_FALSE(f->config_file.has_value());
  EXPECT_EQ(f->log_level, spdlog::level::info);
}

TEST(DaemonFlags, BothSpellingsOfValues) {
  auto f = ParseDaemonFlags({"--web.listen-address=:9999", "--config.file", "/etc/g.yml",
                             "--log.level=debug", "--web.telemetry-path", "/m"});
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->listen_address, ":9999");
  EXPECT_EQ(*f->config_file, "/etc/g.yml");
  EXPECT_EQ(f->log_level, spdlog::level::debug);
  EXPECT_EQ(f->telemetry_path, "/m");
}

TEST(DaemonFlags, ErrorsNameTheFlag) {
  EXPECT_THAT(ParseDaemonFlags({"--web.listen"}).error().message,
              HasSubstr("unknown flag '--web.listen'"));
  EXPECT_THAT(ParseDaemonFlags({"--config.file"}).error().message,
              HasSubstr("'--config.file' needs a value"));
  EXPECT_THAT(ParseDaemonFlags({"--log.level=loud"}).error().message, HasSubstr("not 'loud'"));
  EXPECT_THAT(ParseDaemonFlags({"stray"}).error().message, HasSubstr("unexpected argument"));
  EXPECT_EQ(ParseDaemonFlags({"--web.listen=:1"}).error().message,
            "unknown flag '--web.listen' (see --help)");
  EXPECT_EQ(ParseDaemonFlags({"--log.level", "loud"}).error().message,
            "--log.level must be debug, info, warn or error, not 'loud' (see --help)");
  EXPECT_EQ(ParseDaemonFlags({"--config.file", ""}).error().message,
            "flag '--config.file' needs a file name (see --help)");
  EXPECT_EQ(ParseDaemonFlags({"--version=yes"}).error().message,
            "flag '--version' takes no value (see --help)");
  EXPECT_THAT(ParseDaemonFlags({"--bogus", "--help"}).error().message,
              HasSubstr("unknown flag '--bogus'"));
}

TEST(DaemonFlags, LaterValuesWin) {
  auto f = ParseDaemonFlags({"--log.level=debug", "--log.level=error"});
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->log_level, spdlog::level::err);
}

TEST(DaemonFlags, HelpAndVersion) {
  EXPECT_TRUE(ParseDaemonFlags({"-h"})->help);
  EXPECT_TRUE(ParseDaemonFlags({"--version"})->version);
  const std::string usage = DaemonUsage();
  for (const char* text :
       {"Usage: gilstatd [flags]", "--web.listen-address=ADDR",
        "address to serve metrics on: host:port, [ipv6]:port or :port", "(default 127.0.0.1:9877)",
        "--web.telemetry-path=PATH", "(default /metrics)", "--config.file=FILE",
        "YAML configuration (default: the embedded default", "--log.level=LEVEL",
        "debug, info, warn or error (default info)", "--version", "print the version and exit",
        "-h,--help", "print this help and exit", "Signals: SIGHUP reloads the configuration",
        "Exit status: 0 stopped by a signal"}) {
    EXPECT_THAT(usage, HasSubstr(text));
  }
}

}  // namespace
}  // namespace gilstat
