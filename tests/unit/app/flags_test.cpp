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
}

TEST(DaemonFlags, HelpAndVersion) {
  EXPECT_TRUE(ParseDaemonFlags({"-h"})->help);
  EXPECT_TRUE(ParseDaemonFlags({"--version"})->version);
  EXPECT_THAT(DaemonUsage(), HasSubstr("--web.listen-address"));
}

}  // namespace
}  // namespace gilstat
