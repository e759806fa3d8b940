#include "collectors/metric_table.h"

namespace tracer::collectors {

void report_metric(CheckRun& out, MetricKind kind, const std::string& metric, double value,
                   const metrics::Labels& labels, const std::string& unit) {
    switch (kind) {
        case MetricKind::Gauge: out.gauge(metric, value, labels, unit); break;
        case MetricKind::Rate: out.rate(metric, value, labels, unit); break;
        case MetricKind::MonotonicCount: out.monotonic_count(metric, value, labels, unit); break;
    }
}

}  // namespace tracer::collectors
