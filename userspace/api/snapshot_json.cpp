#include "api/snapshot_json.h"

#include <cmath>
#include <stdexcept>

namespace tracer::api {

using nlohmann::json;

const char* metric_type_name(metrics::MetricType type) {
    switch (type) {
    case metrics::MetricType::Counter: return "counter";
    case metrics::MetricType::Gauge: return "gauge";
    case metrics::MetricType::Histogram: return "histogram";
    case metrics::MetricType::Summary: return "summary";
    }
    return "gauge";
}

namespace {

metrics::MetricType parse_type(const std::string& s, const std::string& family) {
    if (s == "counter") return metrics::MetricType::Counter;
    if (s == "gauge") return metrics::MetricType::Gauge;
    if (s == "histogram") return metrics::MetricType::Histogram;
    if (s == "summary") return metrics::MetricType::Summary;
    throw std::runtime_error("snapshot family '" + family + "': unknown type '" + s + "'");
}

// JSON has no infinities or NaN: null stands for them (never in counters).
json number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
double number_of(const json& j) { return j.is_number() ? j.get<double>() : 0.0; }

}  // namespace

json snapshot_to_json(const metrics::Snapshot& snapshot) {
    json families = json::array();
    for (const auto& f : snapshot) {
        json samples = json::array();
        for (const auto& s : f.samples) {
            // Labels as [name, value] pairs: their order is part of the series.
            json labels = json::array();
            for (const auto& l : s.labels) labels.push_back({l.name, l.value});
            json js = {{"labels", std::move(labels)}};
            switch (f.type) {
            case metrics::MetricType::Histogram:
                js["bounds"] = s.histogram.bounds;
                js["counts"] = s.histogram.counts;
                js["sum"] = number(s.histogram.sum);
                js["count"] = s.histogram.count;
                break;
            case metrics::MetricType::Summary: {
                json q = json::array();
                for (const auto& [quantile, value] : s.summary.quantiles) q.push_back({quantile, number(value)});
                js["quantiles"] = std::move(q);
                js["sum"] = number(s.summary.sum);
                js["count"] = s.summary.count;
                break;
            }
            default:
                js["value"] = number(s.value);
            }
            samples.push_back(std::move(js));
        }
        families.push_back({{"name", f.name},
                            {"unit", f.unit},
                            {"type", metric_type_name(f.type)},
                            {"help", f.help},
                            {"samples", std::move(samples)}});
    }
    return families;
}

metrics::Snapshot snapshot_from_json(const json& families) {
    if (!families.is_array()) throw std::runtime_error("snapshot: 'families' is not an array");
    metrics::Snapshot out;
    out.reserve(families.size());
    for (const auto& jf : families) {
        metrics::Family f;
        f.name = jf.value("name", "");
        f.unit = jf.value("unit", "");
        f.help = jf.value("help", "");
        f.type = parse_type(jf.value("type", "gauge"), f.name);
        const auto it = jf.find("samples");
        if (it == jf.end() || !it->is_array()) throw std::runtime_error("snapshot family '" + f.name + "': no samples array");
        for (const auto& js : *it) {
            metrics::Sample s;
            for (const auto& l : js.at("labels")) s.labels.push_back({l.at(0).get<std::string>(), l.at(1).get<std::string>()});
            if (f.type == metrics::MetricType::Histogram) {
                s.histogram.bounds = js.at("bounds").get<std::vector<double>>();
                s.histogram.counts = js.at("counts").get<std::vector<uint64_t>>();
                s.histogram.sum = number_of(js.at("sum"));
                s.histogram.count = js.at("count").get<uint64_t>();
                if (s.histogram.counts.size() != s.histogram.bounds.size() + 1)
                    throw std::runtime_error("snapshot family '" + f.name + "': histogram needs one count per bound plus +Inf");
            } else if (f.type == metrics::MetricType::Summary) {
                for (const auto& q : js.at("quantiles")) s.summary.quantiles.emplace_back(number_of(q.at(0)), number_of(q.at(1)));
                s.summary.sum = number_of(js.at("sum"));
                s.summary.count = js.at("count").get<uint64_t>();
            } else {
                s.value = number_of(js.at("value"));
            }
            f.samples.push_back(std::move(s));
        }
        out.push_back(std::move(f));
    }
    return out;
}

}  // namespace tracer::api
