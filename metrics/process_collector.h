// The standard process_* metrics of the exporter's own process (as other exporters publish
// them), read from /proc/self at scrape time, and gilstat_build_info.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <string>

namespace gilstat::metrics {

class ProcessCollector : public prometheus::Collectable {
 public:
  // `proc_self` is the /proc/<pid> directory to read (tests pass a fake tree).
  explicit ProcessCollector(std::string proc_self = "/proc/self", std::string proc_root = "/proc");
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::string proc_self_;
  std::string proc_root_;
};

class BuildInfoCollector : public prometheus::Collectable {
 public:
  BuildInfoCollector(std::string version, std::string revision);
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::string version_;
  std::string revision_;
};

}  // namespace gilstat::metrics
