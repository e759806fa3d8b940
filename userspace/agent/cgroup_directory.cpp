#include "agent/cgroup_directory.h"

#include "containers/cgroup_path_parser.h"

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
    // Every cgroup the kernel created before this interval's reading has a
    // record by now: a mkdir precedes any activity in the cgroup.
    if (events_)
        events_->drain([&](const probes::CgroupEvent& e) {
            if (e.created)
                resolver_.learn(e.cgroup_id, e.path.empty() ? "/" : e.path);
            else
                removals_ = true;
        });
    // Re-scan when the kernel shows keys we cannot name, when cgroups were
    // removed, and now and then to notice cgroups that are gone.
    auto now = std::chrono::steady_clock::now();
    bool unknown = std::any_of(keys.begin(), keys.end(), [&](uint64_t k) { return !resolver_.lookup(k); });
    rescanned_ = unknown || removals_ || now - last_scan_ >= rescan_every_;
    if (!rescanned_) return;
    gone_ = resolver_.rescan();
    last_scan_ = now;
    removals_ = false;
    // A container's metadata outlives its cgroup by one more interval.
    if (cache_)
        for (uint64_t k : gone_)
            if (auto path = resolver_.lookup(k))
                if (auto ref = containers::container_from_cgroup_path(*path)) cache_->cgroup_gone(ref->id);
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
        it = tracked_.emplace(*path, Tracked{}).first;
    }
    Tracked& t = it->second;
    t.last_labelled = interval_;
    // Once per interval: names learnt (or changed) since show from this one on.
    if (t.tagged != interval_ || t.tags.labels.empty()) {
        t.tagged = interval_;
        t.tags = untracked_tags(*path);
    }
    return it->first;
}

void CgroupDirectory::end_interval() {
    std::erase_if(tracked_, [&](const auto& kv) { return interval_ - kv.second.last_labelled >= 2; });
    if (cache_) cache_->end_interval();
}

void CgroupDirectory::append_container_info(metrics::Snapshot& snapshot) {
    if (!tagger_) return;
    if (container_paths_of_ != resolver_.generation()) {
        container_paths_of_ = resolver_.generation();
        std::unordered_map<std::string, std::string> outermost;  // container id -> its shortest path
        resolver_.for_each_present([&](const std::string& path) {
            auto ref = containers::container_from_cgroup_path(path);
            if (!ref) return;
            auto [it, added] = outermost.emplace(ref->id, path);
            if (!added && path.size() < it->second.size()) it->second = path;
        });
        container_paths_.clear();
        for (auto& [id, path] : outermost) container_paths_.push_back(std::move(path));
        std::sort(container_paths_.begin(), container_paths_.end());
    }
    metrics::Family info;
    info.name = "tracer.container.info";
    info.type = metrics::MetricType::Gauge;
    info.help = "1 for every container whose cgroup exists, idle or not, with its tags (a container that has not "
                "run since the agent started has no other series).";
    for (const auto& path : container_paths_) {
        if (info.samples.size() >= max_cgroups_) break;
        auto labels = tagger_->container_labels(path);  // nullopt: excluded
        if (labels) info.samples.push_back({std::move(*labels), 1.0, {}});
    }
    if (!info.samples.empty()) snapshot.push_back(std::move(info));
}

void CgroupDirectory::use_tagger(const containers::ContainerTagger* tagger, containers::MetadataCache* cache) {
    tagger_ = tagger;
    cache_ = cache;
}

containers::ContainerTagger::Tags CgroupDirectory::untracked_tags(const std::string& path) const {
    if (tagger_) return tagger_->tags_for_path(path);
    containers::ContainerTagger::Tags t;
    t.labels.push_back({"cgroup", path});
    return t;
}

void CgroupDirectory::apply_tags(metrics::Snapshot& snapshot, size_t first) const {
    std::unordered_map<std::string, containers::ContainerTagger::Tags> pseudo;  // <overflow>, <unresolved>
    for (size_t f = first; f < snapshot.size(); ++f) {
        auto& samples = snapshot[f].samples;
        std::erase_if(samples, [&](metrics::Sample& s) {
            if (s.labels.empty() || s.labels[0].name != "cgroup") return false;
            const containers::ContainerTagger::Tags* tags = nullptr;
            if (auto it = tracked_.find(s.labels[0].value); it != tracked_.end()) {
                tags = &it->second.tags;
            } else {
                auto p = pseudo.find(s.labels[0].value);
                if (p == pseudo.end()) p = pseudo.emplace(s.labels[0].value, untracked_tags(s.labels[0].value)).first;
                tags = &p->second;
            }
            if (tags->excluded) return true;
            metrics::Labels labels = tags->labels;
            labels.insert(labels.end(), s.labels.begin() + 1, s.labels.end());
            s.labels = std::move(labels);
            return false;
        });
    }
}

}  // namespace tracer::agent
