// InfluxDB line protocol (gzip), one line per series:
//   tracer.syscalls,cgroup=/x,host=h,syscall=read value=42 1700000000000000000
// Counters and gauges: field `value` (counters cumulative, as Influx users
// expect); histograms: count, sum (cumulative) and p50/p95/p99 estimated from
// the interval's buckets; summaries: count, sum and their own quantiles.
// Every field is a float, so a series never changes field type.
#include "forwarder/sink_encoders.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace tracer::forwarder {
namespace {

using metrics::MetricType;

// Measurement names escape ',' and ' '; tag keys, tag values and field keys
// also '='. A backslash is doubled, so one at the end of a tag value cannot
// escape the ',' or ' ' that follows it.
void append_escaped(std::string& out, std::string_view s, bool equals) {
    for (char c : s) {
        if (c == ',' || c == ' ' || c == '\\' || (equals && c == '=')) out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
}

void append_number(std::string& out, double v) {
    char buf[32];
    out.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

class InfluxEncoder final : public SeriesEncoder {
public:
    InfluxEncoder() : SeriesEncoder("text/plain; charset=utf-8", "gzip", "") {}

    void encode(const Batch& batch, const PayloadLimits& limits, std::vector<Payload>& out) override {
        begin(limits, out);
        ts_ = std::to_string(batch.timestamp_ms * 1000000);
        global_.clear();
        if (!batch.host.empty()) global_.emplace_back("host", batch.host);
        for (const auto& t : batch.tags) global_.emplace_back(t.name, t.value);
        for (const auto& bf : batch.families) {
            const metrics::Family& f = *bf.family;
            for (size_t i = 0; i < f.samples.size(); ++i) {
                const metrics::Sample& s = f.samples[i];
                const SampleDelta* d = i < bf.deltas.size() ? &bf.deltas[i] : nullptr;
                fields_.clear();
                switch (f.type) {
                    case MetricType::Gauge:
                    case MetricType::Counter: field("value", s.value); break;
                    case MetricType::Histogram:
                        field("count", static_cast<double>(s.histogram.count));
                        field("sum", s.histogram.sum);
                        if (d && d->count > 0)
                            for (const auto& hq : kHistogramQuantiles)
                                field(hq.influx_field, estimate_quantile(s.histogram.bounds, d->buckets, hq.q));
                        break;
                    case MetricType::Summary:
                        field("count", static_cast<double>(s.summary.count));
                        field("sum", s.summary.sum);
                        for (const auto& [q, v] : s.summary.quantiles) {
                            char name[32];
                            std::snprintf(name, sizeof name, "p%g", q * 100);
                            field(name, v);
                        }
                        break;
                }
                if (fields_.empty()) continue;
                append_escaped(body_, f.name, false);
                tags_.clear();  // a sample's own label wins over a global tag of the same name
                for (const auto& l : s.labels) add_tag(tags_, l.name, l.value);
                for (const auto& [name, value] : global_) {
                    bool own = false;
                    for (const auto& l : s.labels) own |= l.name == name;
                    if (!own) add_tag(tags_, name, value);
                }
                body_ += tags_;
                body_ += ' ';
                body_ += fields_;
                body_ += ' ';
                body_ += ts_;
                body_ += '\n';
                series_added();
            }
        }
        end();
    }

private:
    static void add_tag(std::string& out, std::string_view name, std::string_view value) {
        if (name.empty() || value.empty()) return;  // line protocol has no empty tag values
        out += ',';
        append_escaped(out, name, true);
        out += '=';
        append_escaped(out, value, true);
    }

    void field(std::string_view name, double v) {
        if (!std::isfinite(v)) return;
        if (!fields_.empty()) fields_ += ',';
        append_escaped(fields_, name, true);
        fields_ += '=';
        append_number(fields_, v);
    }

    std::string ts_, tags_, fields_;
    std::vector<std::pair<std::string_view, std::string_view>> global_;
};

}  // namespace

std::unique_ptr<SinkEncoder> make_influx_encoder() { return std::make_unique<InfluxEncoder>(); }

}  // namespace tracer::forwarder
