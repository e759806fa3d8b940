// Turns every interval's snapshots (BPF collectors now; plugin results and
// statsd aggregates as more sources) into one Batch: host and global tags
// from config, a timestamp, and per-series deltas against the previous
// interval when a sink needs them. Runs on the flush loop; pure computation.
#pragma once

#include "forwarder/batch.h"

#include <string>
#include <unordered_map>

namespace tracer::forwarder {

struct AggregatorOptions {
    std::string host;
    std::vector<std::string> tags;  // "key:value" or "key" (value "")
    double interval_seconds = 10;
    bool deltas = true;             // compute SampleDelta (Datadog- and Influx-style sinks use them)
};

class Aggregator {
public:
    explicit Aggregator(AggregatorOptions options);

    // `sources`: this interval's snapshots, any number (null ones are skipped).
    std::shared_ptr<const Batch> aggregate(int64_t timestamp_ms,
                                           std::vector<std::shared_ptr<const metrics::Snapshot>> sources,
                                           std::vector<metrics::Event> events = {},
                                           std::vector<metrics::ServiceCheck> service_checks = {});

    // Series whose previous values are kept (for deltas).
    size_t tracked_series() const { return previous_.size(); }

private:
    SampleDelta delta(const metrics::Family& f, const metrics::Sample& s,
                                        std::unordered_map<uint64_t, SampleDelta>& next);

    AggregatorOptions opt_;
    metrics::Labels tags_;
    // Series -> its last cumulative values. Keyed by a 64-bit hash of name, unit
    // and labels rather than the text: a third of the memory at 100k series, and
    // a collision (odds ~1e-9 at 100k series) would only skew one delta.
    std::unordered_map<uint64_t, SampleDelta> previous_;
};

}  // namespace tracer::forwarder
