// A parser of the Prometheus text exposition format (0.0.4, and the
// OpenMetrics text it shares): families with their TYPE and HELP, samples
// with labels. A bad line is skipped and reported ("line N: ..."); the rest parses.
#pragma once

#include "metrics/series.h"

#include <string>
#include <string_view>
#include <vector>

namespace tracer::collectors {

struct ParsedSample {
    std::string name;        // as written: "http_requests_total", "rpc_seconds_bucket"
    metrics::Labels labels;  // in the order written
    double value = 0;
};

struct ParsedFamily {
    std::string name;            // the TYPE/HELP name, or the sample name when untyped
    std::string type = "untyped";  // counter | gauge | histogram | summary | untyped
    std::string help;
    std::vector<ParsedSample> samples;
};

struct ParsedExposition {
    std::vector<ParsedFamily> families;
    std::vector<std::string> errors;  // "line 12: ..."
};

ParsedExposition parse_prometheus_text(std::string_view text);

}  // namespace tracer::collectors
