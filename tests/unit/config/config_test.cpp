#include "config/config.h"

#include "config/config_compiler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace gilstat::config {
namespace {

using ::testing::HasSubstr;

std::string ErrorOf(const std::string& yaml) {
  auto c = ParseConfig(yaml, "/etc/gilstat/gilstatd.yml");
  if (c.ok()) return "(parsed)";
  return c.error().message;
}

TEST(Config, TheIssueExampleParses) {
  auto c = ParseConfig(R"(
targets:
  - self: true
  - pid: 1234
  - comm: "^python[0-9.]*$"
  - unit: web.service
runtime:
  enabled: true
  policy: fair
  workload: convoy
  params: {cpu_threads: 2, duration: 1s}
  switch_interval: 2ms
probes:
  mode: exact
  python: exact
labels:
  process: "{comm}"
  pid: false
  lock_address: true
  max_lock_series: 50
)",
                       "x.yml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  ASSERT_EQ(c->targets.size(), 4u);
  EXPECT_EQ(c->targets[0].kind, TargetConfig::Kind::kSelf);
  EXPECT_EQ(c->targets[1].value, "1234");
  EXPECT_EQ(c->targets[1].line, 4);
  EXPECT_EQ(c->targets[2].value, "^python[0-9.]*$");
  EXPECT_EQ(c->targets[3].kind, TargetConfig::Kind::kUnit);
  EXPECT_EQ(c->runtime.policy, rt::Policy::kFair);
  EXPECT_EQ(c->runtime.params.at("cpu_threads"), "2");
  EXPECT_EQ(c->runtime.switch_interval, std::chrono::milliseconds(2));
  EXPECT_EQ(c->probes.mode, ProbeMode::kExact);
  EXPECT_TRUE(c->probes.python_exact);
  EXPECT_FALSE(c->labels.pid);
  EXPECT_TRUE(c->labels.lock_address);
  EXPECT_EQ(c->labels.max_lock_series, 50);
}

TEST(Config, EmptyFileMeansDefaultsWithoutRuntime) {
  auto c = ParseConfig("", "empty.yml");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->targets.empty());
  auto d = ParseConfig("targets: [{comm: python3}]\n", "t.yml");
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->runtime.enabled);
}

// With a configuration file the hosted runtime runs only when the file enables it: an empty
// file, one of comments only, or one without targets starts no workload.
TEST(Config, AFileWithoutARuntimeSectionHostsNoRuntime) {
  for (const char* text : {"", "# only a comment\n\n# and another\n", "targets: []\n", "---\n",
                           "targets: [{pid: 1}]\nlabels: {pid: true}\n"}) {
    auto c = ParseConfig(text, "f.yml");
    ASSERT_TRUE(c.ok()) << text << ": " << c.error().message;
    EXPECT_FALSE(c->runtime.enabled) << text;
    auto w = CompileWorkload(*c);
    ASSERT_TRUE(w.ok()) << text;
    EXPECT_FALSE(w->has_value()) << text;
  }
  auto on = ParseConfig("runtime: {enabled: true}\n", "f.yml");
  ASSERT_TRUE(on.ok());
  EXPECT_TRUE(on->runtime.enabled);
}

TEST(Config, EmbeddedDefaultHostsTheConvoyUnderClassicAndWatchesItself) {
  const Config c = EmbeddedDefault();
  EXPECT_TRUE(c.runtime.enabled);
  EXPECT_EQ(c.runtime.policy, rt::Policy::kClassic);
  EXPECT_EQ(c.runtime.workload, "convoy");
  auto spec = CompileWorkload(c);  // paced: the demo leaves most of a CPU idle
  ASSERT_TRUE(spec.ok() && spec->has_value());
  EXPECT_GT((*spec)->cpu_burst.count(), 0);
  EXPECT_GT((*spec)->client_period.count(), 0);
  ASSERT_EQ(c.targets.size(), 1u);
  EXPECT_EQ(c.targets[0].kind, TargetConfig::Kind::kSelf);
}

TEST(Config, SyntaxErrorNamesFileAndLine) {
  EXPECT_THAT(ErrorOf("targets:\n  - self: true\n  bad: [\n"),
              HasSubstr("/etc/gilstat/gilstatd.yml:"));
  EXPECT_THAT(ErrorOf("targets:\n  - self: true\n  bad: [\n"), HasSubstr("YAML syntax error"));
}

TEST(Config, UnknownKeysAreErrorsWithLineAndAllowedKeys) {
  EXPECT_THAT(ErrorOf("runtime:\n  enabled: true\n  polcy: fair\n"),
              HasSubstr("gilstatd.yml:3:3: unknown key 'polcy' in 'runtime'"));
  EXPECT_THAT(ErrorOf("runtime:\n  polcy: fair\n"), HasSubstr("allowed: check_interval"));
  EXPECT_THAT(ErrorOf("targest: []\n"), HasSubstr(":1:1: unknown key 'targest' in 'top level'"));
  EXPECT_THAT(ErrorOf("targets:\n  - name: x\n"), HasSubstr(":2:5: unknown key 'name'"));
}

TEST(Config, BadValuesAreErrorsWithLineAndReason) {
  EXPECT_THAT(ErrorOf("runtime:\n  policy: fifo\n"),
              HasSubstr(":2:11: 'policy' must be classic, switching or fair, not 'fifo'"));
  EXPECT_THAT(ErrorOf("targets:\n  - pid: -3\n"), HasSubstr(":2:10: 'pid' must be a whole number"));
  EXPECT_THAT(ErrorOf("targets:\n  - pid: abc\n"), HasSubstr("not 'abc'"));
  EXPECT_THAT(ErrorOf("targets:\n  - comm: \"([\"\n"), HasSubstr("invalid regular expression"));
  EXPECT_THAT(ErrorOf("targets:\n  - comm: a\n    pid: 3\n"), HasSubstr("exactly one matcher"));
  EXPECT_THAT(ErrorOf("targets:\n  - self: false\n"), HasSubstr("matches nothing"));
  EXPECT_THAT(ErrorOf("runtime:\n  switch_interval: 0ms\n"), HasSubstr("positive duration"));
  EXPECT_THAT(ErrorOf("runtime:\n  switch_interval: 5\n"), HasSubstr("with a unit"));
  EXPECT_THAT(ErrorOf("runtime:\n  check_interval: 0\n"), HasSubstr("from 1 to"));
  EXPECT_THAT(ErrorOf("probes:\n  mode: fast\n"), HasSubstr("default, counting or exact"));
  EXPECT_THAT(ErrorOf("probes:\n  python: fast\n"), HasSubstr("'python' must be default or exact"));
  EXPECT_THAT(ErrorOf("labels:\n  process: \"{name}\"\n"), HasSubstr("unknown placeholder"));
  EXPECT_THAT(ErrorOf("labels:\n  lock_address: maybe\n"), HasSubstr("lock_address"));
  EXPECT_THAT(ErrorOf("labels:\n  max_lock_series: 0\n"),
              HasSubstr("'max_lock_series' must be a whole number from 1 to 10000"));
  EXPECT_THAT(ErrorOf("targets: {self: true}\n"), HasSubstr("must be a list"));
  EXPECT_THAT(ErrorOf("runtime: fair\n"), HasSubstr("'runtime' must be a mapping"));
  EXPECT_THAT(ErrorOf("runtime:\n  enabled: maybe\n"), HasSubstr("true or false"));
}

TEST(Config, BasicAuthFromFileOrInline) {
  char path[] = "/tmp/gilstat-pw-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "s3cret\n", 7), 7);
  close(fd);
  auto c = ParseConfig(
      std::string("web:\n  basic_auth:\n    username: prom\n    password_file: ") + path + "\n",
      "w.yml");
  unlink(path);
  ASSERT_TRUE(c.ok()) << c.error().message;
  ASSERT_TRUE(c->web.basic_auth.has_value());
  EXPECT_EQ(c->web.basic_auth->password, "s3cret");
  EXPECT_THAT(ErrorOf("web:\n  basic_auth:\n    username: prom\n"),
              HasSubstr("needs 'password' or 'password_file'"));
  EXPECT_THAT(ErrorOf("web:\n  basic_auth:\n    username: p\n    password_file: /nonexistent\n"),
              HasSubstr("gilstatd.yml:4:20: password_file: cannot open /nonexistent: No such file "
                        "or directory"));
}

TEST(Config, TheShippedConfigWatchesPythonWithTheWorkloadOff) {
  auto c = LoadConfigFile(GILSTAT_SHIPPED_CONFIG);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_FALSE(c->runtime.enabled);
  ASSERT_EQ(c->targets.size(), 1u);
  EXPECT_EQ(c->targets[0].kind, TargetConfig::Kind::kComm);
  EXPECT_EQ(c->probes.mode, ProbeMode::kDefault);
}

TEST(Config, LoadConfigFileReportsMissingFile) {
  auto c = LoadConfigFile("/nonexistent/gilstatd.yml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message, "cannot open /nonexistent/gilstatd.yml: No such file or directory");
}

}  // namespace
}  // namespace gilstat::config
