// One concept for everything that feeds the flush loop: the kernel areas, the
// DogStatsD server and the integration plugins are each a Source. Once per
// interval the flush loop asks every source, in registration order, to append
// what it has to one Interval; the forwarder and /metrics see only the result
// and never know where a series came from.
#pragma once

#include "metrics/events.h"
#include "metrics/series.h"

#include <string>
#include <string_view>
#include <vector>

namespace tracer::metrics {

// What all sources produced for one interval.
struct Interval {
    Snapshot families;
    std::vector<Event> events;
    std::vector<ServiceCheck> service_checks;
    double elapsed_seconds = 0;  // since the previous interval (0 for the first)
};

// The health of one part of a source (a kernel area, a listener, a plugin
// instance, a metadata provider), for `tracer status`, the local API and
// tracer_source_up on /metrics.
struct SourceStatus {
    std::string source;      // the Source's name(): "kernel", "statsd", "plugins", ...
    std::string name;        // the part: "syscalls", "udp", "redis[0]", "docker" ...
    bool up = false;
    std::string detail;      // what is attached or listening; or why not / the last error
};

class Source {
public:
    virtual ~Source() = default;
    // A short lowercase word: "kernel", "statsd", "plugins".
    virtual std::string_view name() const = 0;
    // Called on the flush thread once per interval. Appends this interval's
    // families, events and service checks. Must not block on I/O: a source
    // that talks to the outside does so on threads of its own and hands over
    // its latest results here.
    virtual void flush(Interval& out) = 0;
    // Any thread, any time: the health of each part of this source.
    virtual std::vector<SourceStatus> status() const = 0;
};

}  // namespace tracer::metrics
