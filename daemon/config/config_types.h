// The intermediate representation of a gilstatd configuration file: the YAML tree checked for
// its shape only (known keys, mappings where mappings belong, single values where values
// belong), every node with its place in the file. Nothing here is interpreted yet: the values
// are the text as written. config_compiler.h turns it, one section at a time, into a Config.
//
//   YAML text --ParseTree (config_parser.h)--> ir::File --Compile (config_compiler.h)--> Config
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gilstat/result.h"

namespace gilstat::config {

// A place in the configuration file, 1-based; 0 where unknown (the embedded default).
struct Location {
  int line = 0;
  int column = 0;
};

// A configuration error: "file:line:col: reason" (only the parts that are known).
Error ConfigErrorAt(const std::string& source, Location at, const std::string& reason);

namespace ir {

// A single value as written.
struct Scalar {
  std::string text;
  Location at;
};

// One entry of `targets:`: its one key (self, pid, comm, exe, cmdline, cgroup, unit) and value.
struct Target {
  std::string kind;
  Location kind_at;
  Scalar value;
};

struct Runtime {
  Location at;
  std::optional<Scalar> enabled, policy, workload, check_interval, switch_interval;
  std::vector<std::pair<Scalar, Scalar>> params;  // name, value; in the file's order
};

struct Probes {
  Location at;
  std::optional<Scalar> mode, max_locks, python, python_stacks;
};

struct Labels {
  Location at;
  std::optional<Scalar> process, pid, lock_address, max_lock_series;
};

struct BasicAuth {
  Location at;
  std::optional<Scalar> username, password, password_file;
};

struct Web {
  Location at;
  std::optional<BasicAuth> basic_auth;
};

// The whole file. An absent section is nullopt; an empty file has every section absent.
struct File {
  std::string source;  // the file name, as messages give it
  std::vector<Target> targets;
  std::optional<Runtime> runtime;
  std::optional<Probes> probes;
  std::optional<Labels> labels;
  std::optional<Web> web;
  std::optional<Scalar> rescan_interval;
};

}  // namespace ir
}  // namespace gilstat::config
