// The three wire conventions (docs/metrics.md, "Forwarded series"):
//  - Prometheus remote write 1.0: a WriteRequest protobuf, snappy-compressed;
//    exactly /metrics' names and labels plus host and global tags.
//  - Datadog-style series JSON (POST <url>/api/v1/series), gzip: canonical
//    dotted names, counters as per-interval `count`s, histograms and summaries
//    as .count/.sum/.avg and quantile gauges; events and service checks too.
//  - InfluxDB line protocol, gzip: measurement = canonical name, fields
//    value / count, sum, p50, p95, p99.
#pragma once

#include "forwarder/payload.h"

#include <memory>

namespace tracer::forwarder {

std::unique_ptr<SinkEncoder> make_remote_write_encoder();
std::unique_ptr<SinkEncoder> make_datadog_encoder();
std::unique_ptr<SinkEncoder> make_influx_encoder();

// The quantiles estimated from a histogram's per-interval buckets for the
// sinks without native histograms, and their Datadog / Influx suffixes.
struct HistogramQuantile {
    double q;
    const char* datadog_suffix;  // ".median"
    const char* influx_field;    // "p50"
};
inline constexpr HistogramQuantile kHistogramQuantiles[] = {
    {0.5, ".median", "p50"}, {0.95, ".95percentile", "p95"}, {0.99, ".99percentile", "p99"}};

}  // namespace tracer::forwarder
