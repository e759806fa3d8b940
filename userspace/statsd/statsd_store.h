// The flush side of the statsd server: merges what every reader aggregated in
// one interval, keeps the running totals /metrics needs, and produces one
// StatsdFlush per interval carrying both views of the same data:
//   - families: the shared, cumulative metric model (/metrics, remote write):
//       counter      -> Counter, the running total of value/rate since the context appeared
//       gauge        -> Gauge, the last value (deltas +n/-n applied to it)
//       set          -> Gauge, the number of distinct members in the last interval
//       timer (ms), histogram (h), distribution (d)
//                    -> Summary: the configured quantiles over the last interval,
//                       _count/_sum cumulative (weighted by 1/sample rate)
//   - points: this interval's values, statsd style, for push sinks (Datadog,
//     Influx, Graphite-like): counter count + rate (per second), gauge value,
//     set count (cardinality), timer/histogram/distribution count, sum, min,
//     max, avg, median, p95 and every configured percentile ("p99").
//   - distributions: this interval's sketch of every `d` context, for sinks
//     that ship mergeable sketches or render their own histogram.
// Contexts idle for `expiry` are forgotten (their counters start again at 0).
#pragma once

#include "metrics/series.h"
#include "statsd/statsd_aggregator.h"

#include <chrono>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace tracer::statsd {

// One interval's DogStatsD output: counters and gauges as cumulative
// families, timers, histograms and distributions as summaries (quantiles of
// the interval, count and sum since start). Every sink renders these.
struct StatsdFlush {
    std::vector<metrics::Family> families;
};

class StatsdStore {
public:
    // `percentiles`: quantiles in (0, 1) for summaries and points.
    StatsdStore(size_t max_contexts, std::vector<double> percentiles,
                std::chrono::seconds expiry = std::chrono::minutes(5));

    // Merges one reader's interval values (call once per reader per flush).
    void merge(std::vector<TakenContext>&& taken);
    // Appends this interval's output to `out` and starts the next interval.
    void flush(StatsdFlush& out);

    size_t contexts() const { return contexts_.size(); }
    uint64_t refused() const { return refused_; }  // samples of contexts over max_contexts, cumulative

private:
    struct Context {
        std::string name;
        MetricKind kind = MetricKind::Counter;
        metrics::Labels labels;
        IntervalValues interval;
        bool fresh = false;  // received something this interval
        double counter_total = 0;
        double summary_count = 0, summary_sum = 0;
        bool gauge_known = false;
        double gauge = 0;
        std::chrono::steady_clock::time_point last_seen;
    };
    size_t max_contexts_;
    std::vector<double> percentiles_;
    std::chrono::seconds expiry_;
    std::unordered_map<std::string, Context> contexts_;
    uint64_t refused_ = 0;
};

}  // namespace tracer::statsd
