// What one run of a check reported (the runner's CheckRun), and how runs turn
// into metric families: rates derived between consecutive runs, the
// instance's tags added to every sample.
#pragma once

#include "collectors/plugin.h"
#include "metrics/events.h"
#include "metrics/series.h"

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace tracer::collectors {

enum class MetricKind { Gauge, MonotonicCount, Rate };
const char* kind_name(MetricKind kind);  // "gauge", "monotonic_count", "rate"

struct ReportedMetric {
    std::string name;
    MetricKind kind = MetricKind::Gauge;
    double value = 0;  // for Rate: the cumulative value as read
    metrics::Labels labels;
    std::string unit;
};

struct ReportedServiceCheck {
    std::string name;
    CheckStatus status = CheckStatus::Ok;
    std::string message;
    metrics::Labels labels;  // its own, without the instance's tags
};

// The CheckRun a check writes into on a worker thread.
class CollectedRun : public CheckRun {
public:
    explicit CollectedRun(std::chrono::steady_clock::time_point deadline) : deadline_(deadline) {}
    void gauge(const std::string& name, double value, metrics::Labels labels = {},
               const std::string& unit = "") override;
    void monotonic_count(const std::string& name, double value, metrics::Labels labels = {},
                         const std::string& unit = "") override;
    void rate(const std::string& name, double cumulative, metrics::Labels labels = {},
              const std::string& unit = "") override;
    void service_check(const std::string& name, CheckStatus status, const std::string& message = "",
                       metrics::Labels labels = {}) override;
    std::chrono::steady_clock::time_point deadline() const override { return deadline_; }

    std::vector<ReportedMetric> metrics;
    std::vector<ReportedServiceCheck> service_checks;

private:
    void add(const std::string& name, MetricKind kind, double value, metrics::Labels labels, const std::string& unit);
    std::chrono::steady_clock::time_point deadline_;
};

// Turns the cumulative values of `rate` metrics into per-second gauges: the
// difference to the same series (name + labels) in the previous run, over the
// time between the runs. A series' first run, a counter that went backwards
// (a server restart) or no time passed give no value for that run.
class RateDeriver {
public:
    // Replaces every Rate metric of `run` by a Gauge of its rate, or drops it.
    void derive(std::vector<ReportedMetric>& run, std::chrono::steady_clock::time_point at);

private:
    struct Previous {
        double value;
        std::chrono::steady_clock::time_point at;
        bool seen = false;
    };
    std::map<std::pair<std::string, metrics::Labels>, Previous> previous_;
};

// "key:value" tags -> labels ("key" alone -> value ""), sorted by name.
metrics::Labels labels_from_tags(const std::vector<std::string>& tags);
// The metric's own labels plus every tag label it does not already have, sorted by name.
metrics::Labels merged_labels(const metrics::Labels& own, const metrics::Labels& tags);
// Labels -> "key:value" tags (value-less labels as "key").
std::vector<std::string> tags_from_labels(const metrics::Labels& labels);

// Appends `run` to `out` as families (one per name; samples of a name that is
// already in `out` join that family), with `tags` merged into every sample.
void append_families(const std::vector<ReportedMetric>& run, const metrics::Labels& tags, metrics::Snapshot& out);

}  // namespace tracer::collectors
