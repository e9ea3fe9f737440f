// The second step, one section at a time: the intermediate representation into a Config, and
// the Config into what the daemon runs.
#include "config/config_compiler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace gilstat::config {
namespace {

using ::testing::HasSubstr;

ir::Scalar At(std::string text, int line, int column = 3) {
  return {std::move(text), {line, column}};
}

ir::Target Target(std::string kind, std::string value, int line = 4) {
  return {std::move(kind), {line, 5}, At(std::move(value), line, 11)};
}

TEST(CompileTarget, KindValueAndLine) {
  auto t = CompileTarget("f.yml", Target("comm", "^python3$", 7));
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->kind, TargetConfig::Kind::kComm);
  EXPECT_EQ(t->value, "^python3$");
  EXPECT_EQ(t->line, 7);
}

TEST(CompileTarget, PidIsNormalisedAndRanged) {
  auto t = CompileTarget("f.yml", Target("pid", "0042"));
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->value, "42");
  auto bad = CompileTarget("f.yml", Target("pid", "0"));
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message, HasSubstr("f.yml:4:11: 'pid' must be a whole number from 1"));
}

TEST(CompileTarget, ValuesAreCheckedForTheirKind) {
  EXPECT_THAT(CompileTarget("f.yml", Target("self", "false")).error().message,
              HasSubstr("f.yml:4:11: 'self: false' matches nothing"));
  EXPECT_THAT(CompileTarget("f.yml", Target("exe", "(")).error().message,
              HasSubstr("invalid regular expression '('"));
  EXPECT_THAT(CompileTarget("f.yml", Target("unit", "")).error().message,
              HasSubstr("'unit' must not be empty"));
  // cgroup and unit values are not regular expressions to check here.
  EXPECT_TRUE(CompileTarget("f.yml", Target("cgroup", "(")).ok());
}

TEST(CompileRuntime, DefaultsWhereTheSectionIsSilent) {
  auto r = CompileRuntime("f.yml", ir::Runtime{});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, RuntimeConfig{});
}

TEST(CompileRuntime, EveryKey) {
  ir::Runtime in;
  in.enabled = At("false", 2);
  in.policy = At("switching", 3);
  in.workload = At("none", 4);
  in.params = {{At("threads", 6), At("3", 6)}};
  in.check_interval = At("50", 7);
  in.switch_interval = At("2ms", 8);
  auto r = CompileRuntime("f.yml", in);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->enabled);
  EXPECT_EQ(r->policy, rt::Policy::kSwitching);
  EXPECT_EQ(r->workload, "");  // "none": the runtime idles
  EXPECT_EQ(r->params.at("threads"), "3");
  EXPECT_EQ(r->check_interval, 50);
  EXPECT_EQ(r->switch_interval, std::chrono::milliseconds(2));
}

TEST(CompileRuntime, BadValueNamesItsPlace) {
  ir::Runtime in;
  in.switch_interval = At("5", 9, 20);
  EXPECT_THAT(CompileRuntime("f.yml", in).error().message,
              HasSubstr("f.yml:9:20: 'switch_interval' must be a positive duration with a unit"));
}

TEST(CompileProbes, ModeAndMaxLocks) {
  ir::Probes in;
  in.mode = At("counting", 2);
  in.max_locks = At("64", 3);
  auto p = CompileProbes("f.yml", in);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->mode, ProbeMode::kCounting);
  EXPECT_EQ(p->max_locks, 64u);
  in.max_locks = At("8", 3);
  EXPECT_THAT(CompileProbes("f.yml", in).error().message,
              HasSubstr("f.yml:3:3: 'max_locks' must be a whole number from 16"));
  // At most SEMLOCK_MAX_LOCKS_LIMIT: each slot costs 848 bytes per CPU (bpf/semlock.h).
  in.max_locks = At("262144", 3);
  EXPECT_EQ(CompileProbes("f.yml", in).value().max_locks, 262144u);
  in.max_locks = At("262145", 3);
  EXPECT_THAT(CompileProbes("f.yml", in).error().message, HasSubstr("262144"));
}

TEST(CompileProbes, MaxLocksDefaultsToTheProbesOwnSize) {
  auto p = CompileProbes("f.yml", ir::Probes{});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->max_locks, uint32_t{SEMLOCK_MAX_LOCKS});
  EXPECT_EQ(p->mode, ProbeMode::kDefault);
  EXPECT_FALSE(p->python_exact);
}

TEST(CompileProbes, PythonModeIsDefaultOrExact) {
  ir::Probes in;
  in.python = At("exact", 4, 11);
  auto p = CompileProbes("f.yml", in);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_TRUE(p->python_exact);
  in.python = At("default", 4, 11);
  p = CompileProbes("f.yml", in);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_FALSE(p->python_exact);
  in.python = At("counting", 4, 11);
  EXPECT_THAT(CompileProbes("f.yml", in).error().message,
              HasSubstr("f.yml:4:11: 'python' must be default or exact, not 'counting'"));
}

TEST(CompileLabels, PlaceholdersAndFlags) {
  ir::Labels in;
  in.process = At("{unit}-{comm}", 2);
  in.pid = At("true", 3);
  in.lock_address = At("yes", 4);
  auto l = CompileLabels("f.yml", in);
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(l->process, "{unit}-{comm}");
  EXPECT_TRUE(l->pid);
  in.process = At("{cmdline}", 2);
  EXPECT_THAT(CompileLabels("f.yml", in).error().message,
              HasSubstr("f.yml:2:3: unknown placeholder '{cmdline}' in 'process' (known: {comm}, "
                        "{exe}, {unit}, {pid})"));
}

TEST(CompileWeb, InlinePasswordOrNone) {
  auto none = CompileWeb("f.yml", ir::Web{});
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->basic_auth.has_value());
  ir::Web in;
  in.basic_auth = ir::BasicAuth{{2, 3}, At("prom", 3), At("pw", 4), std::nullopt};
  auto w = CompileWeb("f.yml", in);
  ASSERT_TRUE(w.ok()) << w.error().message;
  EXPECT_EQ(w->basic_auth->username, "prom");
  EXPECT_EQ(w->basic_auth->password, "pw");
}

TEST(CompileWeb, ErrorsPointAtTheBasicAuthSection) {
  ir::Web in;
  in.basic_auth = ir::BasicAuth{{2, 3}, std::nullopt, At("pw", 4), std::nullopt};
  EXPECT_THAT(CompileWeb("f.yml", in).error().message,
              HasSubstr("f.yml:2:3: 'basic_auth' needs a 'username'"));
  in.basic_auth->username = At("prom", 3);
  in.basic_auth->password_file = At("/x", 5);
  EXPECT_THAT(CompileWeb("f.yml", in).error().message, HasSubstr("not both"));
  in.basic_auth->password.reset();
  in.basic_auth->password_file = At("/nonexistent/pw", 5, 20);
  EXPECT_THAT(CompileWeb("f.yml", in).error().message,
              HasSubstr("f.yml:5:20: password_file: cannot open /nonexistent/pw: No such file or "
                        "directory"));
}

TEST(Compile, AbsentRuntimeSectionMeansNoRuntime) {
  ir::File file;
  file.source = "f.yml";
  file.targets.push_back(Target("comm", "x"));
  auto c = Compile(file);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->source, "f.yml");
  EXPECT_FALSE(c->runtime.enabled);
  EXPECT_EQ(c->rescan_interval, std::chrono::seconds(10));
  file.runtime = ir::Runtime{};
  EXPECT_TRUE(Compile(file)->runtime.enabled);
}

TEST(MatchSpecOf, CgroupPathIsAPrefixElseARegex) {
  TargetConfig t{TargetConfig::Kind::kCgroup, "/system.slice", 3};
  EXPECT_EQ(MatchSpecOf(t).cgroup_prefix, "/system.slice");
  EXPECT_FALSE(MatchSpecOf(t).cgroup_regex.has_value());
  t.value = "docker-.*";
  EXPECT_EQ(MatchSpecOf(t).cgroup_regex, "docker-.*");
  EXPECT_EQ(MatchSpecOf({TargetConfig::Kind::kPid, "12", 1}).pids, std::vector<pid_t>{12});
  EXPECT_TRUE(MatchSpecOf({TargetConfig::Kind::kSelf, "", 1}).self);
  EXPECT_EQ(MatchSpecOf({TargetConfig::Kind::kUnit, "web", 1}).systemd_unit, "web");
}

TEST(CompileMatchers, AMatcherErrorNamesTheTargetsLine) {
  Config c;
  c.source = "f.yml";
  c.targets = {{TargetConfig::Kind::kSelf, "", 2}, {TargetConfig::Kind::kUnit, "a/b", 5}};
  auto set = CompileMatchers(c, getpid());
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(set.error().message, HasSubstr("f.yml:5: bad systemd unit name 'a/b'"));
  c.targets.pop_back();
  set = CompileMatchers(c, getpid());
  ASSERT_TRUE(set.ok()) << set.error().message;
  EXPECT_EQ(set->ExplicitPids(), std::vector<pid_t>{getpid()});
}

TEST(CompileWorkload, ContinuousOrNone) {
  Config c;
  c.source = "f.yml";
  auto w = CompileWorkload(c);
  ASSERT_TRUE(w.ok()) << w.error().message;
  ASSERT_TRUE(w->has_value());
  EXPECT_TRUE((*w)->continuous);
  c.runtime.workload = "";
  EXPECT_FALSE(CompileWorkload(c)->has_value());
  c.runtime.workload = "nonsense";
  EXPECT_THAT(CompileWorkload(c).error().message, HasSubstr("f.yml: runtime: "));
  c.runtime.enabled = false;
  EXPECT_FALSE(CompileWorkload(c)->has_value());
}

TEST(RuntimeOptionsOf, IntervalsOnlyWhenGiven) {
  RuntimeConfig rc;
  rc.policy = rt::Policy::kFair;
  const rt::RuntimeOptions defaults;
  rt::RuntimeOptions o = RuntimeOptionsOf(rc);
  EXPECT_EQ(o.policy, rt::Policy::kFair);
  EXPECT_EQ(o.switch_interval, defaults.switch_interval);
  rc.switch_interval = std::chrono::milliseconds(3);
  EXPECT_EQ(RuntimeOptionsOf(rc).switch_interval, std::chrono::milliseconds(3));
}

}  // namespace
}  // namespace gilstat::config
