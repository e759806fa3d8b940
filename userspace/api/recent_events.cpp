#include "api/recent_events.h"

#include <chrono>

namespace tracer::api {

void RecentEvents::add(nlohmann::json event) {
    if (!event.contains("time_unix_ms"))
        event["time_unix_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();
    std::lock_guard lock(mu_);
    event["seq"] = next_seq_++;
    if (ring_.size() == capacity_) {
        ring_.pop_front();
        ++evicted_;
    }
    ring_.push_back(std::move(event));
}

void RecentEvents::count_evicted(uint64_t n) {
    std::lock_guard lock(mu_);
    evicted_ += n;
}

RecentEvents::Page RecentEvents::since(uint64_t since, size_t limit) const {
    Page page;
    std::lock_guard lock(mu_);
    page.next = next_seq_;
    page.evicted = evicted_;
    // seq is dense in the ring: the first kept one is next_seq_ - size.
    uint64_t first = next_seq_ - ring_.size();
    size_t skip = since > first ? size_t(std::min<uint64_t>(since - first, ring_.size())) : 0;
    size_t available = ring_.size() - skip;
    if (available > limit) skip += available - limit;
    for (size_t i = skip; i < ring_.size(); ++i) page.events.push_back(ring_[i]);
    return page;
}

}  // namespace tracer::api
