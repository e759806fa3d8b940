#include "agent/cgroup_directory.h"

#include <algorithm>
#include <unordered_set>

namespace tracer::agent {

CgroupDirectory::CgroupDirectory(containers::CgroupResolver& resolver, uint32_t max_cgroups,
                                 std::chrono::seconds rescan_every)
    : resolver_(resolver), max_cgroups_(max_cgroups), rescan_every_(rescan_every) {
    resolver_.rescan();
    last_scan_ = std::chrono::steady_clock::now();
}

void CgroupDirectory::begin_interval(const std::vector<uint64_t>& keys) {
    ++interval_;
    overflowed_.clear();
    gone_.clear();
    // Re-scan when the kernel shows keys we cannot name, and now and then to
    // notice cgroups that are gone.
    auto now = std::chrono::steady_clock::now();
    bool unknown = std::any_of(keys.begin(), keys.end(), [&](uint64_t k) { return !resolver_.lookup(k); });
    rescanned_ = unknown || now - last_scan_ >= rescan_every_;
    if (!rescanned_) return;
    gone_ = resolver_.rescan();
    last_scan_ = now;
    // Still unknown right after a scan: created and removed between two scans.
    std::unordered_set<uint64_t> never_named;
    for (uint64_t k : keys)
        if (!resolver_.lookup(k)) never_named.insert(k);
    gone_.insert(gone_.end(), never_named.begin(), never_named.end());
}

const std::string& CgroupDirectory::label(uint64_t key) {
    static const std::string unresolved = kUnresolved, overflow = kOverflow;
    auto path = resolver_.lookup(key);
    if (!path) return unresolved;
    auto it = tracked_.find(*path);
    if (it == tracked_.end()) {
        if (tracked_.size() >= max_cgroups_) {
            overflowed_.insert(*path);
            return overflow;
        }
        it = tracked_.emplace(*path, interval_).first;
    }
    it->second = interval_;
    return it->first;
}

void CgroupDirectory::end_interval() {
    std::erase_if(tracked_, [&](const auto& kv) { return interval_ - kv.second >= 2; });
}

}  // namespace tracer::agent
