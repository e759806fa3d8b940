#include "statsd/statsd_aggregator.h"

#include <algorithm>
#include <cstring>

namespace tracer::statsd {

void IntervalValues::merge(IntervalValues&& o) {
    samples += o.samples;
    counter += o.counter;
    if (o.gauge_absolute && (!gauge_absolute || o.gauge_time >= gauge_time)) {
        // the later absolute write wins; deltas sent to other readers still apply
        gauge_delta = o.gauge_delta + gauge_delta;
        gauge_value = o.gauge_value;
        gauge_time = o.gauge_time;
        gauge_absolute = true;
    } else {
        gauge_delta += o.gauge_delta;
    }
    if (set.empty()) set = std::move(o.set);
    else set.insert(o.set.begin(), o.set.end());
    if (o.sketch) {
        if (!sketch) sketch = std::move(o.sketch);
        else sketch->merge(*o.sketch);
    }
}

uint64_t context_hash(std::string_view s) {
    constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;
    uint64_t h = 0x243F6A8885A308D3ull ^ (s.size() * kMul);
    auto mix = [&](uint64_t w) {
        h ^= w;
        h *= kMul;
        h ^= h >> 29;
    };
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        mix(w);
    }
    if (i < s.size()) {
        uint64_t w = 0;
        std::memcpy(&w, s.data() + i, s.size() - i);
        mix(w);
    }
    h ^= h >> 32;
    h *= kMul;
    return h ^ (h >> 29);
}

StatsdAggregator::StatsdAggregator(size_t max_contexts, double relative_accuracy)
    : max_contexts_(max_contexts), accuracy_(relative_accuracy), raw_(kRawSlots) {
    tags_.reserve(64);
    key_.reserve(512);
}

void StatsdAggregator::build_key(const ParsedMetric& m, std::string_view origin) {
    tags_.clear();
    TagIterator it(m.tags);
    std::string_view tag;
    while (it.next(tag)) tags_.push_back(tag);
    std::sort(tags_.begin(), tags_.end());
    key_.clear();
    key_.append(m.name);
    key_ += kKeyField;
    key_ += static_cast<char>('0' + static_cast<int>(m.kind));
    key_ += kKeyField;
    for (size_t i = 0; i < tags_.size(); ++i) {
        if (i) key_ += kKeyItem;
        key_.append(tags_[i]);
    }
    key_ += kKeyField;
    key_.append(origin);
}

StatsdAggregator::Entry* StatsdAggregator::find_or_create(const ParsedMetric& m, std::string_view origin) {
    const bool cacheable = m.timestamp == 0;  // a timestamp makes every line's text unique
    RawSlot* slot = nullptr;
    uint64_t hash = 0;
    if (cacheable) {
        raw_key_.assign(origin);
        raw_key_ += kKeyField;
        raw_key_.append(m.name);
        raw_key_.append(m.tail);
        hash = context_hash(raw_key_);
        slot = &raw_[hash & (kRawSlots - 1)];
        if (slot->hash == hash && slot->generation == generation_ && slot->key == raw_key_) return slot->entry;
    }
    build_key(m, origin);
    auto it = contexts_.find(std::string_view(key_));
    if (it == contexts_.end()) {
        if (contexts_.size() >= max_contexts_) return nullptr;
        it = contexts_.emplace(key_, Entry{}).first;
        it->second.values.kind = m.kind;
    }
    if (slot) {
        slot->hash = hash;
        slot->generation = generation_;
        slot->key = raw_key_;
        slot->entry = &it->second;
    }
    return &it->second;
}

size_t StatsdAggregator::add(const ParsedMetric& m, std::string_view origin, uint64_t now) {
    Entry* found = find_or_create(m, origin);
    if (!found) {
        ++refused_;
        return 0;
    }
    Entry& e = *found;
    e.touched = true;
    IntervalValues& v = e.values;
    const double weight = 1 / m.sample_rate;
    if (m.single_value && m.kind == MetricKind::Counter) {  // the hot case
        v.samples += 1;
        v.counter += m.first_value * weight;
        return 1;
    }
    ValueIterator values(m.values);
    std::string_view text;
    size_t taken = 0;
    while (values.next(text)) {
        ++taken;
        v.samples += 1;
        double x = 0;
        switch (m.kind) {
            case MetricKind::Counter:
                parse_number(text, x);
                v.counter += x * weight;
                break;
            case MetricKind::Gauge:
                parse_number(text, x);
                if (text[0] == '+' || text[0] == '-') {
                    v.gauge_delta += x;
                } else {
                    v.gauge_absolute = true;
                    v.gauge_value = x;
                    v.gauge_delta = 0;
                    v.gauge_time = now;
                }
                break;
            case MetricKind::Set:
                v.set.insert(std::hash<std::string_view>{}(text));
                break;
            case MetricKind::Timer:
            case MetricKind::Histogram:
            case MetricKind::Distribution:
                parse_number(text, x);
                if (!v.sketch) v.sketch = std::make_unique<DistributionSketch>(accuracy_);
                v.sketch->add(x, weight);
                break;
        }
    }
    return taken;
}

void StatsdAggregator::take(std::vector<TakenContext>& out) {
    for (auto it = contexts_.begin(); it != contexts_.end();) {
        Entry& e = it->second;
        if (e.touched) {
            IntervalValues fresh;
            fresh.kind = e.values.kind;
            out.push_back({it->first, std::move(e.values)});
            e.values = std::move(fresh);
            e.touched = false;
            e.idle = 0;
            ++it;
        } else if (++e.idle >= 2) {
            ++generation_;  // a cache slot may point here
            it = contexts_.erase(it);
        } else {
            ++it;
        }
    }
}

ContextIdentity split_context_key(std::string_view key) {
    ContextIdentity id;
    auto field = [&key] {
        size_t at = key.find(kKeyField);
        std::string_view f = key.substr(0, at);
        key = at == std::string_view::npos ? std::string_view{} : key.substr(at + 1);
        return f;
    };
    id.name = std::string(field());
    std::string_view kind = field();
    id.kind = kind.empty() ? MetricKind::Counter : static_cast<MetricKind>(kind[0] - '0');
    auto items = [](std::string_view list, char pair, auto&& each) {
        while (!list.empty()) {
            size_t at = list.find(kKeyItem);
            std::string_view item = list.substr(0, at);
            list = at == std::string_view::npos ? std::string_view{} : list.substr(at + 1);
            size_t sep = item.find(pair);
            each(item.substr(0, sep), sep == std::string_view::npos ? std::string_view{} : item.substr(sep + 1));
        }
    };
    std::vector<std::pair<std::string, std::string>> origin, tags;
    std::string_view tag_field = field();
    items(key, kKeyPair, [&](std::string_view n, std::string_view v) { origin.emplace_back(n, v); });
    items(tag_field, ':', [&](std::string_view n, std::string_view v) { tags.emplace_back(n, v); });
    auto by_name = [](const auto& a, const auto& b) { return a.first < b.first; };
    std::stable_sort(origin.begin(), origin.end(), by_name);
    for (auto& l : origin)
        if (id.labels.empty() || id.labels.back().first != l.first) id.labels.push_back(std::move(l));
    for (auto& t : tags) {
        bool taken = std::any_of(id.labels.begin(), id.labels.end(), [&](const auto& l) { return l.first == t.first; });
        if (!taken && !t.first.empty()) id.labels.push_back(std::move(t));
    }
    std::stable_sort(id.labels.begin(), id.labels.end(), by_name);
    return id;
}

std::string serialize_origin(const std::vector<std::pair<std::string, std::string>>& labels) {
    std::string out;
    for (const auto& [name, value] : labels) {
        if (!out.empty()) out += kKeyItem;
        out += name;
        out += kKeyPair;
        out += value;
    }
    return out;
}

}  // namespace tracer::statsd
