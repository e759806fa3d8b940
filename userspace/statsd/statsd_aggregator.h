// Per-reader aggregation of DogStatsD samples over one flush interval. Each
// listener thread owns one: no locks, no allocation once a context exists.
// A context is (name, kind, sorted tags, origin tags); its key is one string
// built in a reused buffer and looked up without copying. At flush the reader
// hands its interval values over (take()) and the flush side merges them
// across readers (StatsdStore).
#pragma once

#include "statsd/distribution_sketch.h"
#include "statsd/dogstatsd_parser.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace tracer::statsd {

// The separators of a context key: name \x1f kind \x1f tags (each "k:v",
// sorted, \x1e-separated) \x1f origin (each "name\x1dvalue", \x1e-separated).
inline constexpr char kKeyField = '\x1f';
inline constexpr char kKeyItem = '\x1e';
inline constexpr char kKeyPair = '\x1d';

// What one context received in one interval (from one reader, or merged).
struct IntervalValues {
    MetricKind kind = MetricKind::Counter;
    double samples = 0;  // lines (values) received, unweighted
    double counter = 0;  // counters: the sum of value / sample rate
    // gauges: the last absolute value (at gauge_time) and the deltas after it
    bool gauge_absolute = false;
    double gauge_value = 0;
    double gauge_delta = 0;
    uint64_t gauge_time = 0;
    std::unordered_set<uint64_t> set;            // sets: hashes of the members
    std::unique_ptr<DistributionSketch> sketch;  // timers, histograms, distributions

    void merge(IntervalValues&& other);
};

struct TakenContext {
    std::string key;
    IntervalValues values;
};

// A fast 64-bit hash of a context key (8 bytes per step).
uint64_t context_hash(std::string_view s);

class StatsdAggregator {
public:
    // At most `max_contexts` contexts live here; samples of further ones are refused.
    explicit StatsdAggregator(size_t max_contexts, double relative_accuracy = DistributionSketch::kDefaultRelativeAccuracy);

    // `origin`: the sender's tags, serialized ("name\x1dvalue" items joined by
    // \x1e), "" if none. `now`: a monotonic time for ordering gauge writes
    // across readers. Returns the number of values taken (packed lines carry
    // several), 0 if the context was refused.
    size_t add(const ParsedMetric& metric, std::string_view origin, uint64_t now);

    // Moves every context that received something out into `out` (appending)
    // and forgets contexts idle for two intervals.
    void take(std::vector<TakenContext>& out);

    size_t contexts() const { return contexts_.size(); }
    uint64_t refused() const { return refused_; }  // cumulative

private:
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return context_hash(s); }
    };
    struct Entry {
        IntervalValues values;
        bool touched = false;
        uint32_t idle = 0;
    };
    void build_key(const ParsedMetric& m, std::string_view origin);
    Entry* find_or_create(const ParsedMetric& m, std::string_view origin);

    size_t max_contexts_;
    double accuracy_;
    std::unordered_map<std::string, Entry, Hash, std::equal_to<>> contexts_;
    // The fast path: a direct-mapped cache from the context of a line as sent
    // (origin, name, the text after the values: tags not yet sorted) to its
    // entry. A slot is valid while its generation is current; erasing any
    // context starts a new generation.
    struct RawSlot {
        uint64_t hash = 0;
        uint64_t generation = 0;
        std::string key;
        Entry* entry = nullptr;
    };
    static constexpr size_t kRawSlots = 4096;
    std::vector<RawSlot> raw_;
    uint64_t generation_ = 1;
    std::string raw_key_;               // reused
    std::string key_;                   // reused
    std::vector<std::string_view> tags_;  // reused
    uint64_t refused_ = 0;
};

// Splits a context key back into name, kind and labels (origin labels win
// over a tag of the same name; a tag without ':' is a label with an empty
// value; of repeated names the first, in sorted order, is kept).
struct ContextIdentity {
    std::string name;
    MetricKind kind = MetricKind::Counter;
    std::vector<std::pair<std::string, std::string>> labels;  // sorted by name
};
ContextIdentity split_context_key(std::string_view key);

// "name\x1dvalue\x1e..." for origin labels.
std::string serialize_origin(const std::vector<std::pair<std::string, std::string>>& labels);

}  // namespace tracer::statsd
