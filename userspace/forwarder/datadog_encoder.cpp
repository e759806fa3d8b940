// Datadog-style intake (v1): POST <url>/api/v1/series with
//   {"series":[{"metric":"tracer.syscalls","points":[[1700000000,42]],
//               "type":"count","interval":10,"host":"h","tags":["cgroup:/x"]}]}
// gzip-compressed; events to /api/v1/events (one per request) and service
// checks to /api/v1/check_run. Counters are sent as the interval's delta.
#include "forwarder/sink_encoders.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace tracer::forwarder {
namespace {

using metrics::MetricType;

void append_json_string(std::string& out, std::string_view s) {
    out += '"';
    for (char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += c;
                }
        }
    }
    out += '"';
}

void append_number(std::string& out, double v) {
    char buf[32];
    if (v == std::trunc(v) && std::abs(v) < 9007199254740992.0)
        out.append(buf, std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(v)).ptr);
    else
        out.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

void append_tag(std::string& out, std::string_view name, std::string_view value) {
    std::string tag(name);
    if (!value.empty()) {
        tag += ':';
        tag += value;
    }
    append_json_string(out, tag);
}

Payload json_payload(std::string_view body, std::string path) {
    Payload p;
    p.body = gzip_compress(body);
    p.content_type = "application/json";
    p.content_encoding = "gzip";
    p.path = std::move(path);
    return p;
}

class DatadogEncoder final : public SeriesEncoder {
public:
    DatadogEncoder() : SeriesEncoder("application/json", "gzip", "/api/v1/series") {}

    void encode(const Batch& batch, const PayloadLimits& limits, std::vector<Payload>& out) override {
        batch_ = &batch;
        begin(limits, out);
        global_.clear();
        for (const auto& t : batch.tags) append_tag(global_, t.name, t.value), global_ += ',';
        std::string name;
        for (const auto& bf : batch.families) {
            const metrics::Family& f = *bf.family;
            for (size_t i = 0; i < f.samples.size(); ++i) {
                const metrics::Sample& s = f.samples[i];
                const SampleDelta* d = i < bf.deltas.size() ? &bf.deltas[i] : nullptr;
                tags_of(s.labels);
                switch (f.type) {
                    case MetricType::Gauge: add(f.name, "gauge", s.value); break;
                    case MetricType::Counter:
                        if (d) add(f.name, "count", d->value);
                        break;
                    case MetricType::Histogram:
                        if (!d) break;
                        add_count_sum(f.name, *d);
                        if (d->count > 0)
                            for (const auto& hq : kHistogramQuantiles)
                                add(f.name + hq.datadog_suffix, "gauge",
                                    estimate_quantile(s.histogram.bounds, d->buckets, hq.q));
                        break;
                    case MetricType::Summary:
                        if (d) add_count_sum(f.name, *d);
                        for (const auto& [q, v] : s.summary.quantiles) add(f.name + quantile_suffix(q), "gauge", v);
                        break;
                }
            }
        }
        end();
        for (const auto& e : batch.events) out.push_back(event_payload(e));
        if (!batch.service_checks.empty()) out.push_back(checks_payload());
    }

private:
    static std::string quantile_suffix(double q) {
        if (q == 0.5) return ".median";
        if (q == 1) return ".max";
        char buf[32];
        std::snprintf(buf, sizeof buf, ".%gpercentile", q * 100);
        return buf;
    }

    void tags_of(const metrics::Labels& labels) {
        tags_ = global_;
        for (const auto& l : labels) append_tag(tags_, l.name, l.value), tags_ += ',';
        if (!tags_.empty()) tags_.pop_back();
    }

    void add_count_sum(const std::string& name, const SampleDelta& d) {
        add(name + ".count", "count", static_cast<double>(d.count));
        add(name + ".sum", "count", d.sum);
        if (d.count > 0) add(name + ".avg", "gauge", d.sum / static_cast<double>(d.count));
    }

    void add(std::string_view metric, const char* type, double value) {
        if (!std::isfinite(value)) return;  // JSON has no NaN / Inf
        body_ += series_ == 0 ? "{\"series\":[" : ",";
        body_ += "{\"metric\":";
        append_json_string(body_, metric);
        body_ += ",\"points\":[[";
        append_number(body_, static_cast<double>(batch_->timestamp_ms / 1000));
        body_ += ',';
        append_number(body_, value);
        body_ += "]],\"type\":\"";
        body_ += type;
        body_ += '"';
        if (type[0] == 'c') {
            body_ += ",\"interval\":";
            append_number(body_, batch_->interval_seconds);
        }
        if (!batch_->host.empty()) {
            body_ += ",\"host\":";
            append_json_string(body_, batch_->host);
        }
        body_ += ",\"tags\":[";
        body_ += tags_;
        body_ += "]}";
        series_added();
    }

    void seal() override { body_ += "]}"; }

    void append_str_tags(std::string& out, const std::vector<std::string>& tags) {
        out += "\"tags\":[";
        std::string_view sep;
        for (const auto& t : batch_->tags) out += sep, append_tag(out, t.name, t.value), sep = ",";
        for (const auto& t : tags) out += sep, append_json_string(out, t), sep = ",";
        out += ']';
    }

    int64_t seconds_or_now(int64_t ts) const { return ts ? ts : batch_->timestamp_ms / 1000; }

    Payload event_payload(const metrics::Event& e) {
        std::string j = "{\"title\":";
        append_json_string(j, e.title);
        j += ",\"text\":";
        append_json_string(j, e.text);
        j += ",\"date_happened\":" + std::to_string(seconds_or_now(e.timestamp));
        j += ",\"host\":";
        append_json_string(j, e.hostname.empty() ? batch_->host : e.hostname);
        if (!e.aggregation_key.empty()) j += ",\"aggregation_key\":", append_json_string(j, e.aggregation_key);
        j += ",\"priority\":";
        append_json_string(j, e.priority);
        if (!e.source_type.empty()) j += ",\"source_type_name\":", append_json_string(j, e.source_type);
        j += ",\"alert_type\":";
        append_json_string(j, e.alert_type);
        j += ',';
        append_str_tags(j, e.tags);
        j += '}';
        return json_payload(j, "/api/v1/events");
    }

    Payload checks_payload() {
        std::string j = "[";
        for (const auto& c : batch_->service_checks) {
            if (j.size() > 1) j += ',';
            j += "{\"check\":";
            append_json_string(j, c.name);
            j += ",\"status\":" + std::to_string(c.status);
            j += ",\"timestamp\":" + std::to_string(seconds_or_now(c.timestamp));
            j += ",\"host_name\":";
            append_json_string(j, c.hostname.empty() ? batch_->host : c.hostname);
            j += ",\"message\":";
            append_json_string(j, c.message);
            j += ',';
            append_str_tags(j, c.tags);
            j += '}';
        }
        j += ']';
        return json_payload(j, "/api/v1/check_run");
    }

    const Batch* batch_ = nullptr;
    std::string global_, tags_;
};

}  // namespace

std::unique_ptr<SinkEncoder> make_datadog_encoder() { return std::make_unique<DatadogEncoder>(); }

}  // namespace tracer::forwarder
