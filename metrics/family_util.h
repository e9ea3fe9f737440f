// Small builders of metric families shared by the collectors.
#pragma once

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>

#include <string>
#include <utility>
#include <vector>

namespace gilstat::metrics {

using Labels = std::vector<prometheus::ClientMetric::Label>;

inline prometheus::MetricFamily EmptyFamily(std::string name, std::string help,
                                            prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

// A counter or gauge sample with `labels`.
inline prometheus::ClientMetric Sample(prometheus::MetricType type, Labels labels, double value) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  return m;
}

// A family with one counter or gauge sample.
inline prometheus::MetricFamily SingleValue(std::string name, std::string help,
                                            prometheus::MetricType type, Labels labels,
                                            double value) {
  auto f = EmptyFamily(std::move(name), std::move(help), type);
  f.metric.push_back(Sample(type, std::move(labels), value));
  return f;
}
inline prometheus::MetricFamily SingleValue(std::string name, std::string help,
                                            prometheus::MetricType type, double value) {
  return SingleValue(std::move(name), std::move(help), type, {}, value);
}

}  // namespace gilstat::metrics
