#include "forwarder/forwarder.h"

#include "forwarder/sink_types.h"
#include "metrics/output_sanitizer.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace tracer::forwarder {
namespace {

std::string read_api_key(const config::SinkConfig& s) {
    const std::string who = "sink '" + s.name + "'";
    std::string key;
    if (!s.api_key_env.empty()) {
        const char* v = std::getenv(s.api_key_env.c_str());
        if (!v || !*v) throw config::ConfigError(who + ": api_key_env: the variable " + s.api_key_env + " is not set");
        key = v;
    } else if (!s.api_key_file.empty()) {
        std::ifstream in(s.api_key_file);
        if (!in) throw config::ConfigError(who + ": api_key_file: cannot read " + s.api_key_file);
        std::stringstream ss;
        ss << in.rdbuf();
        key = ss.str();
        while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) key.pop_back();
        if (key.empty()) throw config::ConfigError(who + ": api_key_file: " + s.api_key_file + " is empty");
    }
    return key;
}

// The loader checked every type against the table.
const SinkType& type_of(const config::SinkConfig& s) {
    const SinkType* t = find_sink_type(s.type);
    if (!t) throw config::ConfigError("sink '" + s.name + "': unknown type '" + s.type + "'");
    return *t;
}

}  // namespace

std::string host_tag(const config::AgentConfig& cfg) {
    if (!cfg.hostname.empty()) return cfg.hostname;
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) != 0) return "";
    return buf;
}

Forwarder::Forwarder(const config::AgentConfig& cfg) {
    bool deltas = false;
    for (const auto& s : cfg.sinks) deltas |= type_of(s).needs_deltas;
    aggregator_ = std::make_unique<Aggregator>(AggregatorOptions{host_tag(cfg), cfg.tags, cfg.interval, deltas});
    for (const auto& s : cfg.sinks) {
        SinkOptions o;
        o.name = s.name;
        o.http.url = s.url;
        o.http.timeout_seconds = s.timeout;
        o.http.tls_verify = s.tls_verify;
        o.http.ca_file = s.ca_file;
        o.http.cert_file = s.cert_file;
        o.http.key_file = s.key_file;
        o.http.proxy = s.proxy;
        const SinkType& type = type_of(s);
        if (std::string key = read_api_key(s); !key.empty())
            o.http.headers.push_back(std::string(type.auth_header) + key);
        o.limits.max_series = s.max_series_per_request;
        o.limits.max_bytes = s.max_request_bytes;
        o.queue_batches = s.queue_batches;
        o.spool_dir = cfg.spool_dir.empty() ? "" : cfg.spool_dir + "/" + s.name;
        o.spool_max_bytes = s.spool_max_bytes.value_or(cfg.spool_max_bytes);
        o.backoff_initial = s.backoff_initial;
        o.backoff_max = s.backoff_max;
        o.log_every = cfg.interval;
        sinks_.push_back(std::make_unique<Sink>(std::move(o), type.make_encoder()));
        descriptions_.push_back(s.name + " (" + s.type + ") -> " + s.url);
    }
}

std::vector<metrics::SourceStatus> Forwarder::status() const {
    std::vector<metrics::SourceStatus> out;
    for (size_t i = 0; i < sinks_.size(); ++i) {
        const Sink& sink = *sinks_[i];
        const SinkStats& st = sink.stats();
        Sink::Health h = sink.health();
        char buf[160];
        std::snprintf(buf, sizeof buf, "; queued %llu, spooled %llu (%llu bytes), sent %llu",
                      static_cast<unsigned long long>(st.queued_batches.load()),
                      static_cast<unsigned long long>(st.spooled_batches.load()),
                      static_cast<unsigned long long>(st.spooled_bytes.load()),
                      static_cast<unsigned long long>(st.sent_batches.load()));
        std::string detail = descriptions_[i] + buf;
        if (!h.last_error.empty())
            detail += "; last error " + std::to_string(static_cast<long long>(h.last_error_age_seconds)) +
                      " s ago: " + h.last_error;
        out.push_back({"sinks", sink.name(), !h.failing, std::move(detail)});
    }
    return out;
}

Forwarder::~Forwarder() { stop(); }

void Forwarder::start() {
    for (auto& s : sinks_) s->start();
}

void Forwarder::submit(int64_t timestamp_ms, std::vector<std::shared_ptr<const metrics::Snapshot>> sources,
                       std::vector<metrics::Event> events, std::vector<metrics::ServiceCheck> service_checks) {
    if (sinks_.empty()) return;
    // the snapshots were sanitized by the flush loop; the events and checks are made valid here
    metrics::SanitizeReport rewrites;
    for (auto& e : events) metrics::sanitize_event(e, rewrites);
    for (auto& c : service_checks) metrics::sanitize_service_check(c, rewrites);
    auto batch = aggregator_->aggregate(timestamp_ms, std::move(sources), std::move(events), std::move(service_checks));
    for (auto& s : sinks_) s->offer(batch);
}

void Forwarder::stop() {
    for (auto& s : sinks_) s->stop();
}

std::string Forwarder::describe() const {
    std::string out;
    for (const auto& d : descriptions_) out += (out.empty() ? "" : ", ") + d;
    return out;
}

void Forwarder::append_families(metrics::Snapshot& out) const {
    if (sinks_.empty()) return;
    using metrics::MetricType;
    auto family = [](const char* name, const char* unit, MetricType type, const char* help) {
        return metrics::Family{name, unit, help, type, {}};
    };
    auto sent = family("tracer.forwarder.sent_batches", "", MetricType::Counter,
                       "Requests (batches, or parts of a batch split by the size limits) delivered with a 2xx answer.");
    auto samples = family("tracer.forwarder.sent_samples", "", MetricType::Counter, "Series points delivered.");
    auto failed = family("tracer.forwarder.failed_requests", "", MetricType::Counter,
                         "Requests that failed: no answer, or an answer other than 2xx.");
    auto retried = family("tracer.forwarder.retried_requests", "", MetricType::Counter,
                          "Requests that were retries of a failed one.");
    auto dropped = family("tracer.forwarder.dropped_batches", "", MetricType::Counter,
                          "Batches given up, by reason: spool_full (the oldest spooled one made room), rejected "
                          "(a 4xx answer other than 408/429), queue_full, spool_error, encode_error, corrupt.");
    auto queued = family("tracer.forwarder.queued_batches", "", MetricType::Gauge,
                         "Batches in memory, not yet delivered (waiting to be encoded, or encoded and waiting to be sent).");
    auto spooled = family("tracer.forwarder.spooled_batches", "", MetricType::Gauge,
                          "Undelivered batches in the on-disk spool.");
    auto spooled_bytes = family("tracer.forwarder.spooled", "bytes", MetricType::Gauge,
                                "Size of the on-disk spool.");
    for (const auto& s : sinks_) {
        const SinkStats& st = s->stats();
        metrics::Labels sink{{"sink", s->name()}};
        sent.samples.push_back({sink, double(st.sent_batches.load())});
        samples.samples.push_back({sink, double(st.sent_samples.load())});
        failed.samples.push_back({sink, double(st.failed_requests.load())});
        retried.samples.push_back({sink, double(st.retried_requests.load())});
        for (size_t r = 0; r < st.dropped.size(); ++r)
            dropped.samples.push_back({{{"reason", drop_reason_name(static_cast<DropReason>(r))}, {"sink", s->name()}},
                                       double(st.dropped[r].load())});
        queued.samples.push_back({sink, double(st.queued_batches.load())});
        spooled.samples.push_back({sink, double(st.spooled_batches.load())});
        spooled_bytes.samples.push_back({sink, double(st.spooled_bytes.load())});
    }
    for (auto* f : {&sent, &samples, &failed, &retried, &dropped, &queued, &spooled, &spooled_bytes})
        out.push_back(std::move(*f));
}

}  // namespace tracer::forwarder
