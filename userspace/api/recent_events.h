// The local API's recent events (/v1/events): a bounded, thread-safe ring of
// JSON records, each numbered in arrival order so that a reader can ask for
// what is newer than the last one it saw. The oldest give way when it is
// full; how many did is counted.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <deque>
#include <mutex>

namespace tracer::api {

class RecentEvents {
public:
    explicit RecentEvents(size_t capacity = 4096) : capacity_(capacity ? capacity : 1) {}

    // Adds `event` (an object: "kind", "cgroup", ...), numbering it ("seq")
    // and stamping it ("time_unix_ms") unless it carries a time already.
    void add(nlohmann::json event);
    // `n` events that gave way to newer ones before they were added (a
    // producer's own bounded buffer overflowed): counted as evicted.
    void count_evicted(uint64_t n);
    size_t capacity() const { return capacity_; }

    struct Page {
        nlohmann::json events = nlohmann::json::array();  // oldest first
        uint64_t next = 0;      // ask for since=next to get only newer ones
        uint64_t evicted = 0;   // events that gave way to newer ones since start
    };
    // Events with seq >= since, at most `limit` of the newest of them.
    Page since(uint64_t since, size_t limit) const;

private:
    mutable std::mutex mu_;
    size_t capacity_;
    std::deque<nlohmann::json> ring_;
    uint64_t next_seq_ = 1;
    uint64_t evicted_ = 0;
};

}  // namespace tracer::api
