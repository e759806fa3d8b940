// The DogStatsD server as a Source: each interval hands over the aggregated
// values, events and service checks; status() names each listener and why
// one could not open.
#pragma once

#include "metrics/source.h"
#include "statsd/statsd_server.h"

#include <memory>
#include <string>
#include <vector>

namespace tracer::statsd {

class StatsdSource : public metrics::Source {
public:
    // Starts the server (options.on_events is the source's own: leave it unset).
    explicit StatsdSource(StatsdServerOptions options);
    ~StatsdSource() override;

    std::string_view name() const override { return "statsd"; }
    void flush(metrics::Interval& out) override;
    std::vector<metrics::SourceStatus> status() const override;

    // "udp 127.0.0.1:8125, unix /run/tracer/dsd.socket"; "" when nothing listens.
    std::string describe() const;
    StatsdServer& server() { return *server_; }

private:
    StatsdServerOptions options_;
    std::vector<metrics::Event> events_;           // filled by flush() through on_events
    std::vector<metrics::ServiceCheck> checks_;
    std::unique_ptr<StatsdServer> server_;
};

}  // namespace tracer::statsd
