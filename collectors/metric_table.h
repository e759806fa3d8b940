// The tables server plugins map their sources with: a status field or column
// ("Com_select", "xact_commit", "stot"), the metric it becomes and how the
// CheckRun gets it.
#pragma once

#include "collectors/check_results.h"
#include "collectors/plugin.h"

#include <string>

namespace tracer::collectors {

// Short names for the tables (MetricKind: collectors/check_results.h).
inline constexpr MetricKind kGauge = MetricKind::Gauge;
inline constexpr MetricKind kRate = MetricKind::Rate;
inline constexpr MetricKind kCount = MetricKind::MonotonicCount;

struct MetricColumn {
    const char* source;  // the field or column read
    const char* metric;  // the metric name (or, for haproxy, its suffix)
    MetricKind kind;
    const char* unit = "";
};

// Hands `value` to `out` as `kind` says.
void report_metric(CheckRun& out, MetricKind kind, const std::string& metric, double value,
                   const metrics::Labels& labels = {}, const std::string& unit = "");
inline void report_metric(CheckRun& out, const MetricColumn& column, double value, const metrics::Labels& labels = {}) {
    report_metric(out, column.kind, column.metric, value, labels, column.unit);
}

}  // namespace tracer::collectors
