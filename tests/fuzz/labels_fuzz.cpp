// The label encoders: what turns a process's name, executable and cgroup into the `process`
// label (daemon/app/naming.*: the group template, the systemd unit of a cgroup), and the series
// into Prometheus's text format (metrics/lock_families.*, prometheus-cpp's serializer). Every
// byte of these names is chosen by whoever starts the process.
//
// Input: NUL-separated fields: the group template, comm, exe, cgroup, then lock names (one
// series each). A label value must never break out of its quotes: every line of the exposition
// is a comment or a sample of a gilstat_ family.
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/text_serializer.h>

#include "app/naming.h"
#include "metrics/lock_families.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

void CheckExposition(const std::string& text) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (!line.starts_with("gilstat_")) std::abort();  // a label value injected a line
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto fields =
      gilstat::fuzz::SplitFields(std::string_view(reinterpret_cast<const char*>(data), size), 5);
  gilstat::config::LabelsConfig labels;
  labels.process = fields[0];
  gilstat::Naming naming(labels, "/nonexistent-proc");  // nothing more to read: the input only
  gilstat::tracker::ProcessInfo info;
  info.pid = 4242;
  info.comm = fields[1];
  info.exe = fields[2];
  info.cgroup = fields[3];
  info.fields =
      gilstat::tracker::kProcComm | gilstat::tracker::kProcExe | gilstat::tracker::kProcCgroup;
  naming.Attached(info);
  const auto group = naming.GroupOf(info.pid);
  if (!group) std::abort();  // an attached process always has a group

  gilstat::metrics::LockFamilyBuilder builder;
  for (size_t i = 4; i < fields.size(); ++i) {
    gilstat::metrics::LockSeries s;
    s.labels = {*group, fields[i], "ebpf", std::to_string(info.pid)};
    s.acquisitions = s.contended = i;
    s.wait.count = 1;
    s.wait.sum_ns = 1000;
    s.wait.slots[10] = 1;
    builder.Add(s);
  }
  CheckExposition(prometheus::TextSerializer().Serialize(builder.Build()));
  return 0;
}
