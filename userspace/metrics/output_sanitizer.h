// The one place where whatever came in (DogStatsD names and tags, container
// labels, image names, cgroup paths, plugin and scrape input) is made valid for
// every output: /metrics (Prometheus text), remote write, Datadog JSON and
// Influx line protocol. The flush loop runs it once on each snapshot before
// publishing; renderers then only map characters to their own convention.
//
// After sanitize_snapshot() a snapshot holds:
//  - text (family names, help, label names and values) that is valid UTF-8
//    with no control characters (each invalid byte and control character
//    becomes U+FFFD), within the byte limits below (cut on a character boundary);
//  - per sample, no label without a name, no two labels whose Prometheus names
//    are equal (a.b and a_b), no label name starting with "__" (reserved by
//    Prometheus: "__x" becomes "_x"), no `le` on a histogram or `quantile` on a
//    summary, at most max_labels labels;
//  - per family, no two samples that are one Prometheus series (equal labels
//    once the names are mapped and empty values left out);
//  - no two families whose Prometheus names overlap: a counter `x` claims
//    x_total, a gauge `x` claims x, a histogram x, x_bucket, x_sum, x_count, a
//    summary x, x_sum, x_count. The first family (in snapshot order) keeps it.
// Everything changed or left out is counted by what was done (Rewrite).
#pragma once

#include "metrics/events.h"
#include "metrics/series.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace tracer::metrics {

struct SanitizeLimits {
    size_t max_name_bytes = 256;          // family names
    size_t max_label_name_bytes = 128;
    size_t max_label_value_bytes = 1024;  // VictoriaMetrics' default cut, too
    size_t max_help_bytes = 1024;
    size_t max_labels = 64;               // per sample
};

enum class Rewrite : uint8_t {
    InvalidUtf8,        // text with bytes that are not UTF-8 (replaced)
    ControlCharacter,   // text with control characters (replaced)
    Truncated,          // text over its byte limit (cut)
    LabelRenamed,       // a label name starting with "__"
    LabelDropped,       // no name, a duplicate or reserved name, over max_labels
    SeriesDropped,      // a sample that is the same series as an earlier one
    FamilyDropped,      // no name, or a Prometheus name an earlier family has
    Count
};
const char* rewrite_name(Rewrite r);  // "invalid_utf8", "control_character", ...

struct SanitizeReport {
    std::array<uint64_t, static_cast<size_t>(Rewrite::Count)> counts{};
    // The family (or event/check) name where each rewrite was first seen.
    std::array<std::string, static_cast<size_t>(Rewrite::Count)> example;
    uint64_t count(Rewrite r) const { return counts[static_cast<size_t>(r)]; }
    void add(Rewrite r, std::string_view where);
};

// Makes `s` valid UTF-8 (each invalid byte -> U+FFFD), replaces control
// characters unless `keep_controls`, and cuts it to `max_bytes` on a
// character boundary. Returns true when `s` changed; counts into `report`.
bool sanitize_text(std::string& s, size_t max_bytes, bool keep_controls, SanitizeReport& report,
                   std::string_view where);

SanitizeReport sanitize_snapshot(Snapshot& snapshot, const SanitizeLimits& limits = {});

// Events and service checks go to Datadog-style JSON only: their text is made
// valid UTF-8 (newlines and tabs in an event's text are kept: JSON escapes them).
void sanitize_event(Event& e, SanitizeReport& report);
void sanitize_service_check(ServiceCheck& c, SanitizeReport& report);

// The flush loop's instance: sanitizes each snapshot, appends the gauge
// tracer.output.rewrites{rewrite} (what the last snapshot needed) and logs a
// warning naming an example whenever a kind of rewrite starts to be needed.
class OutputSanitizer {
public:
    explicit OutputSanitizer(SanitizeLimits limits = {}) : limits_(limits) {}
    void apply(Snapshot& snapshot);

private:
    SanitizeLimits limits_;
    std::array<uint64_t, static_cast<size_t>(Rewrite::Count)> last_{};
};

}  // namespace tracer::metrics
