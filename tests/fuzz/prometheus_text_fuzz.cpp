// libFuzzer target: any bytes as a Prometheus (or OpenMetrics) text page, as
// the prometheus plugin scrapes it. Malformed lines are skipped and reported;
// never a crash. What parses is checked for the parser's own promises: every
// sample sits in a family, every error names its line.
#include "collectors/prometheus/prometheus_text_parser.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto parsed = tracer::collectors::parse_prometheus_text(text);
    for (const auto& family : parsed.families) {
        if (family.name.empty() && !family.samples.empty()) __builtin_trap();
        for (const auto& sample : family.samples)
            if (sample.name.empty()) __builtin_trap();
    }
    for (const auto& error : parsed.errors)
        if (error.rfind("line ", 0) != 0) __builtin_trap();
    return 0;
}
