#include "containers/container_metadata.h"

#include <algorithm>
#include <chrono>

namespace tracer::containers {

void apply_kubernetes_labels(ContainerInfo& info) {
    auto label = [&](const char* key) -> std::string {
        auto it = info.labels.find(key);
        return it == info.labels.end() ? std::string() : it->second;
    };
    if (info.pod.empty()) info.pod = label("io.kubernetes.pod.name");
    if (info.pod_namespace.empty()) info.pod_namespace = label("io.kubernetes.pod.namespace");
    if (info.kube_container.empty()) info.kube_container = label("io.kubernetes.container.name");
}

MetadataCache::MetadataCache(size_t max_entries) : max_entries_(std::max<size_t>(max_entries, 1)) {}

void MetadataCache::evict_one_locked() {
    auto oldest = std::min_element(entries_.begin(), entries_.end(),
                                   [](const auto& a, const auto& b) { return a.second.last_used < b.second.last_used; });
    if (oldest != entries_.end()) entries_.erase(oldest);
}

void MetadataCache::put(ContainerInfo info) {
    std::lock_guard lock(mu_);
    asked_.erase(info.id);
    auto it = entries_.find(info.id);
    if (it == entries_.end()) {
        if (entries_.size() >= max_entries_) evict_one_locked();
        it = entries_.emplace(info.id, Entry{}).first;
        it->second.last_used = ++tick_;
    }
    it->second.info = std::move(info);
}

void MetadataCache::rename(const std::string& id, const std::string& new_name) {
    std::lock_guard lock(mu_);
    if (auto it = entries_.find(id); it != entries_.end()) it->second.info.name = new_name;
}

std::optional<ContainerInfo> MetadataCache::find(const std::string& id) {
    std::lock_guard lock(mu_);
    if (auto it = entries_.find(id); it != entries_.end()) {
        it->second.last_used = ++tick_;
        return it->second.info;
    }
    // Bounded like the entries: an id nobody can name is asked for once.
    if (asked_.size() < max_entries_ && asked_.insert(id).second) {
        if (requests_.size() >= max_entries_) requests_.pop_front();  // no provider drains them
        requests_.push_back(id);
        requested_.notify_one();
    }
    return std::nullopt;
}

std::vector<std::string> MetadataCache::wait_requests(std::optional<std::chrono::milliseconds> timeout) {
    std::unique_lock lock(mu_);
    auto ready = [&] { return stopped_ || !requests_.empty(); };
    if (timeout) requested_.wait_for(lock, *timeout, ready);
    else requested_.wait(lock, ready);
    std::vector<std::string> out(requests_.begin(), requests_.end());
    requests_.clear();
    return out;
}

void MetadataCache::stop() {
    std::lock_guard lock(mu_);
    stopped_ = true;
    requested_.notify_all();
}

void MetadataCache::cgroup_gone(const std::string& id) {
    std::lock_guard lock(mu_);
    expiring_.emplace_back(id, 2);
}

void MetadataCache::end_interval() {
    std::lock_guard lock(mu_);
    for (auto& [id, left] : expiring_)
        if (--left == 0) {
            entries_.erase(id);
            asked_.erase(id);
        }
    std::erase_if(expiring_, [](const auto& e) { return e.second <= 0; });
}

size_t MetadataCache::size() const {
    std::lock_guard lock(mu_);
    return entries_.size();
}

MetadataLookups::MetadataLookups(MetadataCache& cache, std::vector<Lookup> lookups)
    : cache_(cache), lookups_(std::move(lookups)) {
    // Sleeps until an id is asked for; the destructor's cache_.stop() wakes it.
    thread_ = std::jthread([this](std::stop_token stop) {
        while (!stop.stop_requested())
            for (const auto& id : cache_.wait_requests())
                for (const auto& lookup : lookups_)
                    if (auto info = lookup(id)) {
                        cache_.put(std::move(*info));
                        break;
                    }
    });
}

MetadataLookups::~MetadataLookups() {
    thread_.request_stop();
    cache_.stop();
}

}  // namespace tracer::containers
