#include "forwarder/aggregator.h"

#include <cmath>
#include <limits>
#include <string_view>

namespace tracer::forwarder {

size_t Batch::series() const {
    size_t n = 0;
    for (const auto& f : families) n += f.family->samples.size();
    return n;
}

double estimate_quantile(const std::vector<double>& bounds, const std::vector<uint64_t>& buckets, double q) {
    uint64_t total = 0;
    for (uint64_t c : buckets) total += c;
    if (total == 0 || bounds.empty()) return std::numeric_limits<double>::quiet_NaN();
    const double rank = q * static_cast<double>(total);
    uint64_t below = 0;
    for (size_t i = 0; i < buckets.size(); ++i) {
        if (buckets[i] == 0 || static_cast<double>(below + buckets[i]) < rank) {
            below += buckets[i];
            continue;
        }
        if (i >= bounds.size() || std::isinf(bounds[i]))  // the overflow bucket: its lower bound
            return i == 0 ? std::numeric_limits<double>::quiet_NaN() : bounds[std::min(i, bounds.size()) - 1];
        const double lower = i == 0 ? std::min(0.0, bounds[0]) : bounds[i - 1];
        const double upper = bounds[i];
        return lower + (upper - lower) * (rank - static_cast<double>(below)) / static_cast<double>(buckets[i]);
    }
    return bounds.back();
}

Aggregator::Aggregator(AggregatorOptions options) : opt_(std::move(options)) {
    for (const auto& t : opt_.tags) {
        size_t colon = t.find(':');
        tags_.push_back({t.substr(0, colon), colon == std::string::npos ? "" : t.substr(colon + 1)});
    }
}

namespace {

// FNV-1a over the family's name and unit and the sample's labels, with
// separators that cannot occur in a name.
uint64_t series_key(const metrics::Family& f, const metrics::Sample& s) {
    uint64_t h = 0xcbf29ce484222325ull;
    auto mix = [&h](std::string_view text, unsigned char end) {
        for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ull;
        h = (h ^ end) * 0x100000001b3ull;
    };
    mix(f.name, 0x1f);
    mix(f.unit, 0x1e);
    for (const auto& l : s.labels) {
        mix(l.name, 0x1f);
        mix(l.value, 0x1e);
    }
    return h;
}

}  // namespace

SampleDelta Aggregator::delta(const metrics::Family& f, const metrics::Sample& s,
                              std::unordered_map<uint64_t, SampleDelta>& next) {
    const uint64_t key = series_key(f, s);
    SampleDelta now;
    if (f.type == metrics::MetricType::Counter) {
        now.value = s.value;
    } else if (f.type == metrics::MetricType::Histogram) {
        now.sum = s.histogram.sum;
        now.count = s.histogram.count;
        now.buckets = s.histogram.counts;
    } else {
        now.sum = s.summary.sum;
        now.count = s.summary.count;
    }
    SampleDelta d = now;
    if (auto it = previous_.find(key); it != previous_.end()) {
        const SampleDelta& p = it->second;
        const bool reset = now.value < p.value || now.count < p.count;
        if (!reset) {
            d.value = now.value - p.value;
            d.sum = now.sum - p.sum;
            d.count = now.count - p.count;
            if (p.buckets.size() == now.buckets.size())
                for (size_t i = 0; i < d.buckets.size(); ++i)
                    d.buckets[i] = now.buckets[i] >= p.buckets[i] ? now.buckets[i] - p.buckets[i] : now.buckets[i];
        }
    }
    next.insert_or_assign(key, std::move(now));
    return d;
}

std::shared_ptr<const Batch> Aggregator::aggregate(int64_t timestamp_ms,
                                                   std::vector<std::shared_ptr<const metrics::Snapshot>> sources,
                                                   std::vector<metrics::Event> events,
                                                   std::vector<metrics::ServiceCheck> service_checks) {
    auto batch = std::make_shared<Batch>();
    batch->timestamp_ms = timestamp_ms;
    batch->interval_seconds = opt_.interval_seconds;
    batch->host = opt_.host;
    batch->tags = tags_;
    batch->events = std::move(events);
    batch->service_checks = std::move(service_checks);
    batch->has_deltas = opt_.deltas;
    std::unordered_map<uint64_t, SampleDelta> next;
    if (opt_.deltas) next.reserve(previous_.size());
    for (auto& snap : sources) {
        if (!snap) continue;
        for (const auto& f : *snap) {
            if (f.samples.empty()) continue;
            BatchFamily bf{&f, {}};
            if (opt_.deltas && f.type != metrics::MetricType::Gauge) {
                bf.deltas.reserve(f.samples.size());
                for (const auto& s : f.samples) bf.deltas.push_back(delta(f, s, next));
            }
            batch->families.push_back(std::move(bf));
        }
        batch->sources.push_back(std::move(snap));
    }
    if (opt_.deltas) previous_ = std::move(next);  // series gone this interval are forgotten
    return batch;
}

}  // namespace tracer::forwarder
