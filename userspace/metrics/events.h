// Events and service checks: the non-metric items a source can produce
// (DogStatsD `_e{...}` and `_sc|...` today). Sinks that have a place for them
// (Datadog-style intake) forward them; the others count them as not applicable.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tracer::metrics {

struct Event {
    std::string title;
    std::string text;
    int64_t timestamp = 0;          // unix seconds; 0 = when received
    std::string hostname;
    std::string aggregation_key;
    std::string priority = "normal";  // normal | low
    std::string source_type;
    std::string alert_type = "info";  // error | warning | info | success
    std::vector<std::string> tags;   // "key:value" or "key"
};

struct ServiceCheck {
    std::string name;
    int status = 0;                 // 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
    int64_t timestamp = 0;          // unix seconds; 0 = when received
    std::string hostname;
    std::string message;
    std::vector<std::string> tags;
};

}  // namespace tracer::metrics
