// Runs the echo / convoy / countdown workloads under each GIL policy, side by side in one run,
// and prints the table of REFERENCE §3 (echo round trips/s alone and with 1 and 2 CPU-bound
// threads; countdown split over 1/2/4 threads) plus the GIL counters that explain it and the
// expected-shape checks. Markdown on stdout; see bench/run.sh for the report.
//
//   gilstat_bench_runtime [--duration=SECONDS] [--steps=N] [--repeat=N] [--request-steps=N]
//                         [--policies=classic,switching,fair] [--extra-rows=FILE]
//
// Each cell is measured --repeat times (default 3) on a fresh runtime; the table shows the run
// with the median result, and the counters of that run.
// --extra-rows appends the lines of FILE (e.g. CPython rows from bench/cpython_table.py) to the
// main table.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "gilstat/rt/runtime.h"
#include "gilstat/rt/workloads.h"

namespace {

using gilstat::rt::Policy;
using gilstat::rt::Runtime;
using gilstat::rt::RuntimeOptions;
using gilstat::rt::Snapshot;
using gilstat::rt::WorkloadReport;
using gilstat::rt::WorkloadSpec;

struct Options {
  double duration_s = 0.5;
  int64_t steps = 50'000'000;
  int repeat = 3;
  int request_steps = 0;
  std::vector<Policy> policies = {Policy::kClassic, Policy::kSwitching, Policy::kFair};
  std::string extra_rows;
};

struct Counters {
  uint64_t switches = 0, handoffs = 0, forced = 0, same_thread = 0, voluntary = 0, drops = 0;
  uint64_t contended = 0;
  double mean_wait_us = 0;
};

struct Cell {
  WorkloadReport report;
  Counters gil;
};

struct PolicyRow {
  Policy policy;
  Cell echo[3];       // 0, 1, 2 CPU threads
  Cell countdown[3];  // 1, 2, 4 threads
};

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "gilstat_bench_runtime: %s\n", msg.c_str());
  std::exit(2);
}

Counters CountersOf(const Snapshot& s) {
  Counters c;
  c.switches = s.switch_number;
  c.handoffs = s.gil.handoffs;
  c.forced = s.gil.forced_releases;
  c.same_thread = s.gil.same_thread_reacquisitions;
  c.voluntary = s.gil.voluntary_releases;
  c.drops = s.drop_requests;
  c.contended = s.gil.contended;
  c.mean_wait_us = s.gil.acquisitions ? static_cast<double>(s.gil.wait_ns) / 1e3 /
                                            static_cast<double>(s.gil.acquisitions)
                                      : 0.0;
  return c;
}

// One measurement on a fresh runtime, so that its counters belong to this measurement alone.
Cell MeasureOnce(Policy policy, const WorkloadSpec& spec) {
  RuntimeOptions o;
  o.policy = policy;
  auto rt = Runtime::Create(o);
  if (!rt) Die(rt.error().message);
  auto r = gilstat::rt::RunWorkload(**rt, spec);
  if (!r) Die(r.error().message);
  return Cell{*r, CountersOf((*rt)->TakeSnapshot())};
}

// `repeat` measurements; the one with the median result (round trips/s or elapsed time).
Cell Measure(Policy policy, const WorkloadSpec& spec, int repeat) {
  std::vector<Cell> runs;
  for (int i = 0; i < repeat; ++i) runs.push_back(MeasureOnce(policy, spec));
  auto key = [&](const Cell& c) {
    return spec.kind == gilstat::rt::WorkloadKind::kCountdown ? c.report.elapsed_s
                                                              : c.report.round_trips_per_s;
  };
  std::sort(runs.begin(), runs.end(),
            [&](const Cell& a, const Cell& b) { return key(a) < key(b); });
  return runs[runs.size() / 2];
}

// The median over `rounds` of elapsed(a) / elapsed(b), a and b measured one after the other in
// each round (in an order that alternates): a drift of the machine's speed between the two
// policies' rows of the table does not enter the ratio.
double PairedElapsedRatio(Policy a, Policy b, const WorkloadSpec& spec, int rounds) {
  std::vector<double> q;
  for (int i = 0; i < rounds; ++i) {
    const bool a_first = i % 2 == 0;
    const double first = MeasureOnce(a_first ? a : b, spec).report.elapsed_s;
    const double second = MeasureOnce(a_first ? b : a, spec).report.elapsed_s;
    const double ea = a_first ? first : second, eb = a_first ? second : first;
    if (eb > 0) q.push_back(ea / eb);
  }
  if (q.empty()) return 0;
  std::sort(q.begin(), q.end());
  return q[q.size() / 2];
}

std::string Thousands(double v) {
  const long long n = static_cast<long long>(v + 0.5);
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string PolicyLabel(Policy p) {
  switch (p) {
    case Policy::kClassic:
      return "gilstat classic (CPython 2 GIL)";
    case Policy::kSwitching:
      return "gilstat switching (CPython 3 GIL)";
    case Policy::kFair:
      return "gilstat fair";
  }
  return "?";
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* key) -> const char* {
      const size_t n = std::strlen(key);
      return a.compare(0, n, key) == 0 ? a.c_str() + n : nullptr;
    };
    if (const char* v = value("--duration=")) {
      o.duration_s = std::atof(v);
      if (o.duration_s <= 0) Die("--duration must be > 0");
    } else if (const char* v2 = value("--steps=")) {
      o.steps = std::atoll(v2);
      if (o.steps < 4) Die("--steps must be >= 4");
    } else if (const char* v3 = value("--policies=")) {
      o.policies.clear();
      std::stringstream ss(v3);
      std::string name;
      while (std::getline(ss, name, ',')) {
        auto p = gilstat::rt::ParsePolicy(name);
        if (!p) Die(p.error().message);
        o.policies.push_back(*p);
      }
    } else if (const char* v6 = value("--repeat=")) {
      o.repeat = std::atoi(v6);
      if (o.repeat < 1) Die("--repeat must be >= 1");
    } else if (const char* v5 = value("--request-steps=")) {
      o.request_steps = std::atoi(v5);
    } else if (const char* v4 = value("--extra-rows=")) {
      o.extra_rows = v4;
    } else {
      Die("unknown argument " + a + " (--duration=S --steps=N --policies=a,b --extra-rows=FILE)");
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = ParseArgs(argc, argv);
  const auto dur = std::chrono::nanoseconds(static_cast<int64_t>(opt.duration_s * 1e9));
  std::vector<PolicyRow> rows;
  for (Policy p : opt.policies) {
    PolicyRow row{p, {}, {}};
    for (int k = 0; k < 3; ++k) {
      WorkloadSpec s = gilstat::rt::DefaultWorkload(k == 0 ? gilstat::rt::WorkloadKind::kEcho
                                                           : gilstat::rt::WorkloadKind::kConvoy);
      s.cpu_threads = k;
      s.duration = dur;
      s.request_steps = opt.request_steps;
      std::fprintf(stderr, "%s: echo with %d CPU threads …\n", gilstat::rt::PolicyName(p), k);
      row.echo[k] = Measure(p, s, opt.repeat);
    }
    const int threads[3] = {1, 2, 4};
    for (int k = 0; k < 3; ++k) {
      WorkloadSpec s = gilstat::rt::DefaultWorkload(gilstat::rt::WorkloadKind::kCountdown);
      s.threads = threads[k];
      s.steps = opt.steps;
      std::fprintf(stderr, "%s: countdown with %d threads …\n", gilstat::rt::PolicyName(p),
                   threads[k]);
      row.countdown[k] = Measure(p, s, opt.repeat);
    }
    rows.push_back(row);
  }

  std::printf("### Echo and countdown\n\n");
  std::printf(
      "Echo: 1-byte round trips/s over a socketpair, served by an interpreter thread, driven by a "
      "client outside the GIL for %s s. Countdown: %s steps split over 1 / 2 / 4 threads "
      "(seconds). Each cell: the median of %d runs.\n\n",
      Fixed(opt.duration_s, 2).c_str(), Thousands(static_cast<double>(opt.steps)).c_str(),
      opt.repeat);
  std::printf(
      "| runtime | echo alone | +1 CPU thread | +2 CPU threads | countdown 1 / 2 / 4 "
      "threads |\n|---|---:|---:|---:|---:|\n");
  for (const PolicyRow& r : rows) {
    std::printf("| %s | %s | %s | %s | %s / %s / %s s |\n", PolicyLabel(r.policy).c_str(),
                Thousands(r.echo[0].report.round_trips_per_s).c_str(),
                Thousands(r.echo[1].report.round_trips_per_s).c_str(),
                Thousands(r.echo[2].report.round_trips_per_s).c_str(),
                Fixed(r.countdown[0].report.elapsed_s, 2).c_str(),
                Fixed(r.countdown[1].report.elapsed_s, 2).c_str(),
                Fixed(r.countdown[2].report.elapsed_s, 2).c_str());
  }
  if (!opt.extra_rows.empty()) {
    std::ifstream in(opt.extra_rows);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty()) std::printf("%s\n", line.c_str());
    }
  }

  std::printf("\n### GIL counters behind the table\n\n");
  std::printf(
      "Per measurement, from the runtime's snapshot. switches: the GIL changed holder; "
      "forced: interval releases / honoured drop requests; handoffs: the GIL went to another "
      "thread than the releaser; same-thread: re-acquired by the thread that was forced to "
      "release (the GIL battle); voluntary: releases around blocking calls; drops: drop "
      "requests set by waiters; wait: mean GIL wait per acquisition.\n\n");
  std::printf(
      "| policy | measurement | switches | forced | handoffs | same-thread | voluntary | "
      "drops | wait (µs) |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
  auto counter_row = [](Policy p, const char* what, const Counters& c) {
    std::printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", gilstat::rt::PolicyName(p),
                what, Thousands(static_cast<double>(c.switches)).c_str(),
                Thousands(static_cast<double>(c.forced)).c_str(),
                Thousands(static_cast<double>(c.handoffs)).c_str(),
                Thousands(static_cast<double>(c.same_thread)).c_str(),
                Thousands(static_cast<double>(c.voluntary)).c_str(),
                Thousands(static_cast<double>(c.drops)).c_str(), Fixed(c.mean_wait_us, 1).c_str());
  };
  for (const PolicyRow& r : rows) {
    counter_row(r.policy, "echo + 1 CPU", r.echo[1].gil);
    counter_row(r.policy, "echo + 2 CPU", r.echo[2].gil);
    counter_row(r.policy, "countdown, 2 threads", r.countdown[1].gil);
    counter_row(r.policy, "countdown, 4 threads", r.countdown[2].gil);
  }

  // The expected shape (issue: first reproduction of the published table).
  std::printf("\n### Expected shape\n\n");
  const PolicyRow* classic = nullptr;
  const PolicyRow* switching = nullptr;
  const PolicyRow* fair = nullptr;
  for (const PolicyRow& r : rows) {
    if (r.policy == Policy::kClassic) classic = &r;
    if (r.policy == Policy::kSwitching) switching = &r;
    if (r.policy == Policy::kFair) fair = &r;
  }
  int failed = 0;
  auto check = [&](bool ok, const std::string& what) {
    std::printf("- %s %s\n", ok ? "PASS" : "FAIL", what.c_str());
    if (!ok) ++failed;
  };
  auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  if (switching) {
    const double q = ratio(switching->echo[1].report.round_trips_per_s,
                           switching->echo[0].report.round_trips_per_s);
    check(q <= 0.10, "switching collapses on convoy: echo with 1 CPU thread = " +
                         Fixed(100 * q, 1) + "% of alone (<= 10%)");
  }
  if (classic) {
    const double q =
        ratio(classic->countdown[1].report.elapsed_s, classic->countdown[0].report.elapsed_s);
    check(q > 1.0, "classic GIL battle: countdown with 2 threads takes " + Fixed(q, 2) +
                       "x the time of 1 thread (> 1)");
  }
  if (fair) {
    const double q =
        ratio(fair->echo[1].report.round_trips_per_s, fair->echo[0].report.round_trips_per_s);
    check(q >= 0.5, "fair keeps the echo rate with 1 CPU thread: " + Fixed(100 * q, 1) +
                        "% of alone (>= 50%)");
  }
  if (fair && switching) {
    // Measured apart from the table, in interleaved pairs (the table's rows are minutes apart).
    WorkloadSpec s = gilstat::rt::DefaultWorkload(gilstat::rt::WorkloadKind::kCountdown);
    s.threads = 2;
    s.steps = opt.steps;
    const int pairs = std::max(5, opt.repeat);
    std::fprintf(stderr, "fair vs switching: countdown with 2 threads, %d pairs …\n", pairs);
    const double q = PairedElapsedRatio(Policy::kFair, Policy::kSwitching, s, pairs);
    check(q <= 1.10, "fair countdown with 2 threads = " + Fixed(q, 2) + "x switching (median of " +
                         std::to_string(pairs) + " interleaved pairs; within 10%)");
  }
  return failed ? 1 : 0;
}
