// Kernel totals per cgroup key -> cumulative totals per cgroup label, for the
// probes that aggregate by cgroup alone (scheduling, processes). Counters stay
// monotonic when a key's kernel entry is recreated, and a label's state goes
// away two intervals after it was last seen.
#pragma once

#include "agent/cgroup_directory.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace tracer::agent {

// How much a monotonic kernel counter grew; a smaller value means the entry
// was recreated, and all of it is new.
inline uint64_t counter_delta(uint64_t now, uint64_t before) { return now >= before ? now - before : now; }

template <class Totals>
class CgroupTotalsTable {
public:
    struct Entry {
        Totals totals{};
        uint64_t last_seen = 0;  // interval number
    };

    // `add_delta(Totals& acc, const Totals& now, const Totals& before)` adds the
    // growth of every field (use counter_delta). A reading is {cgroup_id,
    // totals} or is itself the Totals (with its cgroup_id).
    template <class Reading, class AddDelta>
    void accumulate(const std::vector<Reading>& readings, CgroupDirectory& directory, AddDelta add_delta) {
        const uint64_t interval = directory.interval();
        for (const auto& r : readings) {
            const Totals& now = totals_of(r);
            auto& before = last_[r.cgroup_id];
            auto& entry = by_label_[directory.label(r.cgroup_id)];
            entry.last_seen = interval;
            add_delta(entry.totals, now, before);
            before = now;
        }
        std::erase_if(by_label_, [&](const auto& kv) { return interval - kv.second.last_seen >= 2; });
    }

    void forget(const std::vector<uint64_t>& keys) {
        for (uint64_t k : keys) last_.erase(k);
    }

    const std::map<std::string, Entry>& by_label() const { return by_label_; }

private:
    template <class Reading>
    static const Totals& totals_of(const Reading& r) {
        if constexpr (requires { r.totals; })
            return r.totals;
        else
            return r;
    }

    std::unordered_map<uint64_t, Totals> last_;  // by cgroup key: the kernel's totals at the last read
    std::map<std::string, Entry> by_label_;       // cumulative, by label
};

}  // namespace tracer::agent
