// The shared metric model: every source (BPF probes, later plugins and statsd)
// produces Families of Samples; every output (/metrics now, sinks later)
// renders them in its own convention. Depends on nothing else in tracer.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace tracer::metrics {

enum class MetricType { Counter, Gauge, Histogram, Summary };

struct Label {
    std::string name;
    std::string value;
    bool operator==(const Label&) const = default;
    auto operator<=>(const Label&) const = default;
};
using Labels = std::vector<Label>;

// Cumulative-since-start histogram. `counts[i]` is the number of observations
// in (bounds[i-1], bounds[i]] (NOT cumulative); counts has bounds.size() + 1
// entries, the last one being the overflow bucket (> bounds.back(), +Inf).
struct Histogram {
    std::vector<double> bounds;  // ascending upper bounds, in the family's unit
    std::vector<uint64_t> counts;
    double sum = 0;
    uint64_t count = 0;
};

// Client-side quantiles over one flush interval (statsd timers/histograms):
// `quantiles` holds (q, value) pairs, q in [0, 1], ascending q. count and sum
// are cumulative since start, like a Prometheus summary's _count and _sum.
struct Summary {
    std::vector<std::pair<double, double>> quantiles;
    double sum = 0;
    uint64_t count = 0;
};

struct Sample {
    Labels labels;
    double value = 0;     // counters (cumulative, monotonic) and gauges
    Histogram histogram;  // histograms only
    Summary summary;      // summaries only
};

// One metric. `name` is canonical: dotted lowercase ("tracer.syscalls").
// `unit` is the base unit ("seconds", "bytes") or empty. Renderers derive their
// own names from both: Prometheus "tracer.syscall.duration" + "seconds" ->
// "tracer_syscall_duration_seconds", a counter "tracer.syscalls" -> "tracer_syscalls_total".
struct Family {
    std::string name;
    std::string unit;
    std::string help;
    MetricType type = MetricType::Gauge;
    std::vector<Sample> samples;
};

using Snapshot = std::vector<Family>;

// The latest published snapshot: written once per interval by the flush loop,
// read by any number of readers (HTTP scrapes) without copying.
class LatestSnapshot {
public:
    void publish(std::shared_ptr<const Snapshot> s) {
        std::lock_guard lock(mu_);
        latest_ = std::move(s);
    }
    std::shared_ptr<const Snapshot> get() const {
        std::lock_guard lock(mu_);
        return latest_;
    }

private:
    mutable std::mutex mu_;
    std::shared_ptr<const Snapshot> latest_ = std::make_shared<const Snapshot>();
};

}  // namespace tracer::metrics
