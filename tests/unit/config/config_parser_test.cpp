// The first step: YAML into the intermediate representation, the file's shape only.
#include "config/config_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gilstat::config {
namespace {

using ::testing::HasSubstr;

std::string ErrorOf(const std::string& yaml) {
  auto t = ParseTree(yaml, "g.yml");
  return t.ok() ? "(parsed)" : t.error().message;
}

TEST(ParseTree, EveryNodeKeepsItsPlace) {
  auto t =
      ParseTree("targets:\n  - comm: python3\n  - pid: 7\nprobes:\n  max_locks: 64\n", "g.yml");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->source, "g.yml");
  ASSERT_EQ(t->targets.size(), 2u);
  EXPECT_EQ(t->targets[0].kind, "comm");
  EXPECT_EQ(t->targets[0].kind_at.line, 2);
  EXPECT_EQ(t->targets[0].kind_at.column, 5);
  EXPECT_EQ(t->targets[0].value.text, "python3");
  EXPECT_EQ(t->targets[0].value.at.column, 11);
  EXPECT_EQ(t->targets[1].value.text, "7");
  EXPECT_EQ(t->targets[1].value.at.line, 3);
  ASSERT_TRUE(t->probes.has_value());
  EXPECT_EQ(t->probes->at.line, 5);
  ASSERT_TRUE(t->probes->max_locks.has_value());
  EXPECT_EQ(t->probes->max_locks->text, "64");
  EXPECT_FALSE(t->probes->mode.has_value());
  EXPECT_FALSE(t->probes->python.has_value());
}

TEST(ParseTree, ProbesPythonKeepsItsPlace) {
  auto t = ParseTree("probes:\n  python: exact\n", "g.yml");
  ASSERT_TRUE(t.ok()) << t.error().message;
  ASSERT_TRUE(t->probes && t->probes->python);
  EXPECT_EQ(t->probes->python->text, "exact");
  EXPECT_EQ(t->probes->python->at.line, 2);
  EXPECT_EQ(t->probes->python->at.column, 11);
}

TEST(ParseTree, ValuesStayTextUntilCompiled) {
  // Nothing is interpreted here: a bad policy or a negative pid are the compiler's to refuse.
  auto t = ParseTree("runtime:\n  policy: fifo\ntargets:\n  - pid: -3\n", "g.yml");
  ASSERT_TRUE(t.ok()) << t.error().message;
  ASSERT_TRUE(t->runtime.has_value());
  EXPECT_EQ(t->runtime->policy->text, "fifo");
  EXPECT_EQ(t->targets[0].value.text, "-3");
}

TEST(ParseTree, AbsentSectionsAreAbsent) {
  auto t = ParseTree("", "g.yml");
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->targets.empty());
  EXPECT_FALSE(t->runtime.has_value());
  EXPECT_FALSE(t->web.has_value());
  EXPECT_FALSE(t->rescan_interval.has_value());
}

TEST(ParseTree, WorkloadParamsKeepTheirOrderAndPlaces) {
  auto t = ParseTree("runtime:\n  params:\n    threads: 4\n    duration: 1s\n", "g.yml");
  ASSERT_TRUE(t.ok()) << t.error().message;
  ASSERT_EQ(t->runtime->params.size(), 2u);
  EXPECT_EQ(t->runtime->params[0].first.text, "threads");
  EXPECT_EQ(t->runtime->params[0].second.text, "4");
  EXPECT_EQ(t->runtime->params[1].first.text, "duration");
  EXPECT_EQ(t->runtime->params[1].second.at.line, 4);
}

TEST(ParseTree, ShapeErrorsNameThePlace) {
  EXPECT_THAT(ErrorOf("web:\n  basic_auth:\n    user: x\n"),
              HasSubstr("g.yml:3:5: unknown key 'user' in 'basic_auth'"));
  EXPECT_THAT(ErrorOf("labels:\n  pid: [1]\n"),
              HasSubstr("g.yml:2:8: 'pid' must be a single value"));
  EXPECT_THAT(ErrorOf("runtime:\n  params: [1]\n"), HasSubstr("'params' must be a mapping"));
  EXPECT_THAT(ErrorOf("targets:\n  - {}\n"), HasSubstr("g.yml:2:5: each target has exactly one"));
  EXPECT_THAT(ErrorOf("[1, 2]\n"), HasSubstr("g.yml:1:1: 'top level' must be a mapping"));
}

TEST(ParseTree, DuplicateKeysAreRefusedWithBothLines) {
  EXPECT_EQ(ErrorOf("targets: []\nrescan_interval: 1s\ntargets:\n  - comm: x\n"),
            "g.yml:3:1: duplicate key 'targets' (first at line 1)");
  EXPECT_EQ(ErrorOf("web:\n  basic_auth:\n    username: a\n    password: p\n    username: b\n"),
            "g.yml:5:5: duplicate key 'username' (first at line 3)");
  EXPECT_EQ(ErrorOf("targets:\n  - {pid: 1, pid: 2}\n"),
            "g.yml:2:14: duplicate key 'pid' (first at line 2)");
  EXPECT_EQ(ErrorOf("runtime:\n  params:\n    threads: 1\n    threads: 2\n"),
            "g.yml:4:5: duplicate key 'threads' (first at line 3)");
  // The same key in different mappings, or list entries alike, are no duplicates.
  EXPECT_EQ(ErrorOf("targets:\n  - pid: 1\n  - pid: 1\nprobes: {mode: default}\n"), "(parsed)");
  EXPECT_EQ(ErrorOf("runtime: {params: {a: 1}}\nlabels: {pid: true}\n"), "(parsed)");
}

TEST(ParseTree, ASecondDocumentIsRefusedWithItsLine) {
  EXPECT_EQ(ErrorOf("targets: []\n---\nrescan_interval: 1s\n"),
            "g.yml:2:1: a second YAML document: a configuration file holds one (remove the '---')");
  EXPECT_THAT(ErrorOf("---\ntargets: []\n---\n"), HasSubstr("g.yml:3:1: a second YAML document"));
  EXPECT_THAT(ErrorOf("targets: []\n...\n---\ntargets: [{pid: 1}]\n"),
              HasSubstr("g.yml:3:1: a second YAML document"));
  // One document, with or without its markers, is fine.
  EXPECT_EQ(ErrorOf("---\ntargets: []\n...\n"), "(parsed)");
  EXPECT_EQ(ErrorOf("# nothing but a comment\n"), "(parsed)");
}

TEST(ParseTree, SyntaxErrorNamesThePlace) {
  EXPECT_THAT(ErrorOf("targets: [\n"), HasSubstr("g.yml:2:1: YAML syntax error"));
}

}  // namespace
}  // namespace gilstat::config
