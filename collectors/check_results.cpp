#include "collectors/check_results.h"

#include <algorithm>
#include <unordered_map>

namespace tracer::collectors {

const char* kind_name(MetricKind kind) {
    switch (kind) {
        case MetricKind::Gauge: return "gauge";
        case MetricKind::MonotonicCount: return "monotonic_count";
        case MetricKind::Rate: return "rate";
    }
    return "gauge";
}

void CollectedRun::add(const std::string& name, MetricKind kind, double value, metrics::Labels labels,
                       const std::string& unit) {
    std::sort(labels.begin(), labels.end());
    metrics.push_back({name, kind, value, std::move(labels), unit});
}

void CollectedRun::gauge(const std::string& name, double value, metrics::Labels labels, const std::string& unit) {
    add(name, MetricKind::Gauge, value, std::move(labels), unit);
}

void CollectedRun::monotonic_count(const std::string& name, double value, metrics::Labels labels,
                                   const std::string& unit) {
    add(name, MetricKind::MonotonicCount, value, std::move(labels), unit);
}

void CollectedRun::rate(const std::string& name, double cumulative, metrics::Labels labels, const std::string& unit) {
    add(name, MetricKind::Rate, cumulative, std::move(labels), unit);
}

void CollectedRun::service_check(const std::string& name, CheckStatus status, const std::string& message,
                                 metrics::Labels labels) {
    service_checks.push_back({name, status, message, std::move(labels)});
}

void RateDeriver::derive(std::vector<ReportedMetric>& run, std::chrono::steady_clock::time_point at) {
    std::vector<ReportedMetric> kept;
    kept.reserve(run.size());
    for (auto& m : run) {
        if (m.kind != MetricKind::Rate) {
            kept.push_back(std::move(m));
            continue;
        }
        auto& prev = previous_[{m.name, m.labels}];
        double seconds = std::chrono::duration<double>(at - prev.at).count();
        bool usable = prev.seen && seconds > 0 && m.value >= prev.value;
        double rate = usable ? (m.value - prev.value) / seconds : 0;
        prev = {m.value, at, true};
        if (!usable) continue;
        m.kind = MetricKind::Gauge;
        m.value = rate;
        kept.push_back(std::move(m));
    }
    run = std::move(kept);
}

metrics::Labels labels_from_tags(const std::vector<std::string>& tags) {
    metrics::Labels out;
    for (const auto& t : tags) {
        size_t colon = t.find(':');
        std::string name = t.substr(0, colon), value = colon == std::string::npos ? "" : t.substr(colon + 1);
        if (name.empty()) continue;
        if (std::none_of(out.begin(), out.end(), [&](const auto& l) { return l.name == name; }))
            out.push_back({name, value});
    }
    std::sort(out.begin(), out.end());
    return out;
}

metrics::Labels merged_labels(const metrics::Labels& own, const metrics::Labels& tags) {
    metrics::Labels out = own;
    for (const auto& t : tags)
        if (std::none_of(own.begin(), own.end(), [&](const auto& l) { return l.name == t.name; })) out.push_back(t);
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::string> tags_from_labels(const metrics::Labels& labels) {
    std::vector<std::string> out;
    for (const auto& l : labels) out.push_back(l.value.empty() ? l.name : l.name + ":" + l.value);
    return out;
}

void append_families(const std::vector<ReportedMetric>& run, const metrics::Labels& tags, metrics::Snapshot& out) {
    std::unordered_map<std::string, size_t> index;
    for (size_t i = 0; i < out.size(); ++i) index.emplace(out[i].name, i);
    for (const auto& m : run) {
        auto [it, fresh] = index.emplace(m.name, out.size());
        if (fresh) {
            auto type = m.kind == MetricKind::MonotonicCount ? metrics::MetricType::Counter : metrics::MetricType::Gauge;
            out.push_back(metrics::Family{m.name, m.unit, "", type, {}});
        }
        out[it->second].samples.push_back({merged_labels(m.labels, tags), m.value, {}});
    }
}

}  // namespace tracer::collectors
