#include "statsd/statsd_store.h"

#include <cmath>
#include <cstdio>

namespace tracer::statsd {

StatsdStore::StatsdStore(size_t max_contexts, std::vector<double> percentiles, std::chrono::seconds expiry)
    : max_contexts_(max_contexts), percentiles_(std::move(percentiles)), expiry_(expiry) {}

void StatsdStore::merge(std::vector<TakenContext>&& taken) {
    const auto now = std::chrono::steady_clock::now();
    for (auto& t : taken) {
        auto it = contexts_.find(t.key);
        if (it == contexts_.end()) {
            if (contexts_.size() >= max_contexts_) {
                refused_ += static_cast<uint64_t>(t.values.samples);
                continue;
            }
            ContextIdentity id = split_context_key(t.key);
            Context c;
            c.name = std::move(id.name);
            c.kind = id.kind;
            for (auto& [n, v] : id.labels) c.labels.push_back({std::move(n), std::move(v)});
            c.interval.kind = c.kind;
            it = contexts_.emplace(std::move(t.key), std::move(c)).first;
        }
        Context& c = it->second;
        c.interval.merge(std::move(t.values));
        c.fresh = true;
        c.last_seen = now;
    }
}

void StatsdStore::flush(StatsdFlush& out) {
    const auto now = std::chrono::steady_clock::now();
    // one family per (name, kind), in name order
    std::map<std::pair<std::string, int>, metrics::Family> families;
    auto family = [&](const Context& c) -> metrics::Family& {
        auto [it, fresh] = families.try_emplace({c.name, static_cast<int>(c.kind)});
        metrics::Family& f = it->second;
        if (fresh) {
            f.name = c.name;
            switch (c.kind) {
                case MetricKind::Counter: f.type = metrics::MetricType::Counter; break;
                case MetricKind::Gauge:
                case MetricKind::Set: f.type = metrics::MetricType::Gauge; break;
                default: f.type = metrics::MetricType::Summary; break;
            }
            f.help = std::string("DogStatsD ") + kind_name(c.kind) +
                     (c.kind == MetricKind::Set ? " (distinct members in the last interval)" : "");
        }
        return f;
    };

    for (auto it = contexts_.begin(); it != contexts_.end();) {
        Context& c = it->second;
        if (!c.fresh && now - c.last_seen > expiry_) {
            it = contexts_.erase(it);
            continue;
        }
        IntervalValues& v = c.interval;
        metrics::Sample sample{c.labels, 0, {}, {}};
        switch (c.kind) {
            case MetricKind::Counter:
                c.counter_total += v.counter;
                sample.value = c.counter_total;
                break;
            case MetricKind::Gauge:
                if (c.fresh) {
                    if (v.gauge_absolute) c.gauge = v.gauge_value;
                    c.gauge += v.gauge_delta;
                    c.gauge_known = true;
                }
                sample.value = c.gauge;
                break;
            case MetricKind::Set:
                sample.value = static_cast<double>(v.set.size());
                break;
            case MetricKind::Timer:
            case MetricKind::Histogram:
            case MetricKind::Distribution: {
                const DistributionSketch* s = v.sketch.get();
                if (s && !s->empty()) {
                    c.summary_count += s->count();
                    c.summary_sum += s->sum();
                    for (double q : percentiles_) sample.summary.quantiles.emplace_back(q, s->quantile(q));
                }
                sample.summary.count = static_cast<uint64_t>(std::llround(c.summary_count));
                sample.summary.sum = c.summary_sum;
                break;
            }
        }
        if (c.kind != MetricKind::Gauge || c.gauge_known) family(c).samples.push_back(std::move(sample));
        IntervalValues next;
        next.kind = c.kind;
        c.interval = std::move(next);
        c.fresh = false;
        ++it;
    }
    for (auto& [key, f] : families) out.families.push_back(std::move(f));
}

}  // namespace tracer::statsd
