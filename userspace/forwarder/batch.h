// One interval's worth of series, as the aggregator hands it to every sink:
// the families of every source (BPF collectors, plugins, statsd), the host
// and global tags, the interval's timestamp, and per-interval deltas for the
// sinks whose convention is deltas (Datadog counts, quantiles of histograms).
// Immutable once built; shared by every sink's queue.
#pragma once

#include "metrics/events.h"
#include "metrics/series.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tracer::forwarder {

// What changed since the previous interval, for one counter / histogram /
// summary sample. A series seen for the first time counts from zero (every
// source's counters start at zero when tracer starts); a counter that went
// down restarted, and its delta is its new value.
struct SampleDelta {
    double value = 0;               // counters
    double sum = 0;                 // histograms, summaries
    uint64_t count = 0;             // histograms, summaries
    std::vector<uint64_t> buckets;  // histograms: per bucket, like Histogram::counts
};

struct BatchFamily {
    const metrics::Family* family = nullptr;  // owned by Batch::sources
    std::vector<SampleDelta> deltas;          // parallel to family->samples; empty without deltas or for gauges
};

struct Batch {
    int64_t timestamp_ms = 0;      // when the interval was collected (unix ms)
    double interval_seconds = 0;   // the collection interval
    std::string host;              // the host tag
    metrics::Labels tags;          // global tags from config, as labels (host not included)
    std::vector<std::shared_ptr<const metrics::Snapshot>> sources;
    std::vector<BatchFamily> families;
    std::vector<metrics::Event> events;
    std::vector<metrics::ServiceCheck> service_checks;
    bool has_deltas = false;

    // Samples of every family (a histogram sample counts once).
    size_t series() const;
};

// The value below which a fraction `q` of the observations in `buckets` fall
// (buckets like Histogram::counts, bounds ascending), interpolating linearly
// inside the bucket as Prometheus' histogram_quantile() does. NaN without
// observations; the highest finite bound for the overflow bucket.
double estimate_quantile(const std::vector<double>& bounds, const std::vector<uint64_t>& buckets, double q);

}  // namespace tracer::forwarder
