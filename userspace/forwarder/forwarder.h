// The forwarder: one Aggregator and the configured sinks. The flush loop calls
// submit() once per interval; every sink gets the same immutable Batch on its
// own queue, so a slow or failing sink never stalls collection nor the other
// sinks. Its self-metrics go on /metrics (tracer_forwarder_*).
#pragma once

#include "config/agent_config.h"
#include "forwarder/aggregator.h"
#include "forwarder/sink.h"
#include "metrics/source.h"

#include <memory>
#include <string>
#include <vector>

namespace tracer::forwarder {

class Forwarder {
public:
    // Builds every sink of cfg.sinks (reads API keys from their variable or
    // file; opens the spools). Throws config::ConfigError naming the sink when
    // a key cannot be read.
    explicit Forwarder(const config::AgentConfig& cfg);
    ~Forwarder();  // stop()s
    Forwarder(const Forwarder&) = delete;
    Forwarder& operator=(const Forwarder&) = delete;

    void start();
    // One interval: aggregate every source (null ones skipped) and offer the
    // batch to every sink. Never blocks on a sink.
    void submit(int64_t timestamp_ms, std::vector<std::shared_ptr<const metrics::Snapshot>> sources,
                std::vector<metrics::Event> events = {}, std::vector<metrics::ServiceCheck> service_checks = {});
    // Stops every sink and spills what is in memory to the spools. Idempotent.
    void stop();

    // tracer.forwarder.* families, one sample per sink (and drop reason).
    void append_families(metrics::Snapshot& out) const;

    size_t sinks() const { return sinks_.size(); }
    const Sink& sink(size_t i) const { return *sinks_.at(i); }
    std::string describe() const;  // "remote_write -> http://..., datadog -> ..."
    // One per sink, for `tracer status` (any thread): down while its
    // deliveries fail; the detail has the queue, the spool and the last error.
    std::vector<metrics::SourceStatus> status() const;

private:
    std::unique_ptr<Aggregator> aggregator_;
    std::vector<std::unique_ptr<Sink>> sinks_;
    std::vector<std::string> descriptions_;
};

// The host tag: cfg.hostname, else gethostname().
std::string host_tag(const config::AgentConfig& cfg);

}  // namespace tracer::forwarder
