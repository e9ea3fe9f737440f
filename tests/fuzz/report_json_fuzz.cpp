// The report of `gilstat locks` (daemon/cli/report.*): the JSON of --json, which scripts parse,
// and the text tables, over process names and executables chosen by whoever starts them.
//
// Input: NUL-separated fields, taken in pairs: a process's comm and exe (up to 8 processes);
// their bytes also fill each process's lock histogram. The JSON must parse back, with every
// process in it.
#include <cstdint>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "cli/report.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using gilstat::cli::ProcessMeta;

gilstat::SemLockStats LockOf(pid_t pid, const std::string& bytes) {
  gilstat::SemLockStats lock;
  lock.pid = pid;
  lock.addr = 0x7f0000001000 + 0x40 * static_cast<uint64_t>(pid);
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto b = static_cast<uint8_t>(bytes[i]);
    lock.wait_hist.slots[b % gilstat::kHistSlots] += b;
    lock.wait_hist.count += b;
    lock.wait_hist.sum_ns += uint64_t{b} << (b % 40);
  }
  lock.acquisitions = lock.wait_hist.count;
  lock.wait_ns = lock.wait_hist.sum_ns;
  return lock;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto fields =
      gilstat::fuzz::SplitFields(std::string_view(reinterpret_cast<const char*>(data), size), 0);
  if (fields.size() % 2) fields.emplace_back();  // comm, exe pairs
  std::map<pid_t, ProcessMeta> meta;
  std::vector<gilstat::SemLockStats> locks;
  for (size_t i = 0; i + 1 < fields.size(); i += 2) {
    const pid_t pid = static_cast<pid_t>(100 + i);
    meta[pid] = ProcessMeta{pid, fields[i], fields[i + 1], i % 4 == 2};
    locks.push_back(LockOf(pid, fields[i] + fields[i + 1]));
  }
  gilstat::cli::Report report;
  report.duration_s = static_cast<double>(size) / 7;
  report.processes = gilstat::cli::BuildProcessReports(locks, meta, 0);
  (void)gilstat::cli::FormatText(report);

  const std::string json = gilstat::cli::FormatJson(report);
  // Throws (a crash here) when the output is not JSON, e.g. a raw byte that is not UTF-8.
  const auto doc = nlohmann::json::parse(json);
  if (doc.at("schema") != "gilstat.locks/2" || doc.at("processes").size() != meta.size()) {
    std::abort();
  }
  return 0;
}
