// What tracer knows about one container, from whichever provider knew it
// (Docker Engine API, OCI bundle annotations), and a thread-safe, bounded
// cache of it: providers fill it from their own threads, the flush loop only
// reads it and never waits for a provider.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace tracer::containers {

struct ContainerInfo {
    std::string id;              // full id
    std::string name;            // without Docker's leading '/'
    std::string image;           // as the user named it ("nginx:1.25"), else the image id
    std::string pod;             // Kubernetes pod name
    std::string pod_namespace;   // Kubernetes namespace
    std::string kube_container;  // Kubernetes container name
    std::map<std::string, std::string> labels;
};

// Fills pod / pod_namespace / kube_container from the labels Kubernetes puts
// on the containers it runs through Docker (io.kubernetes.pod.name, ...).
void apply_kubernetes_labels(ContainerInfo& info);

class MetadataCache {
public:
    explicit MetadataCache(size_t max_entries = 4096);

    // Providers: add or replace what is known about a container.
    void put(ContainerInfo info);
    void rename(const std::string& id, const std::string& new_name);

    // The flush loop: what is known, or nullopt. An unknown id is queued for
    // the providers (at most once until it is known or forgotten).
    std::optional<ContainerInfo> find(const std::string& id);

    // Providers: the ids asked for since the last call; waits up to `timeout`
    // for one (none: until one is asked for). Returns empty on timeout or
    // after stop().
    std::vector<std::string> wait_requests(std::optional<std::chrono::milliseconds> timeout = std::nullopt);
    void stop();

    // The cgroup of `id` is gone: its entry is dropped at the second
    // end_interval() from now, i.e. after its last data point was flushed.
    void cgroup_gone(const std::string& id);
    void end_interval();

    size_t size() const;
    size_t max_entries() const { return max_entries_; }

private:
    void evict_one_locked();

    const size_t max_entries_;
    mutable std::mutex mu_;
    std::condition_variable requested_;
    bool stopped_ = false;
    uint64_t tick_ = 0;  // bumped by end_interval and every find; orders entries for eviction
    struct Entry {
        ContainerInfo info;
        uint64_t last_used = 0;
    };
    std::unordered_map<std::string, Entry> entries_;
    std::unordered_set<std::string> asked_;  // queued or being looked up
    std::deque<std::string> requests_;
    std::vector<std::pair<std::string, int>> expiring_;  // id, end_interval()s left
};

// Answers the ids the flush loop asked about, on its own thread: each lookup
// (Docker inspect, OCI bundle annotations, ...) is tried in order and the
// first that knows the container fills the cache.
class MetadataLookups {
public:
    using Lookup = std::function<std::optional<ContainerInfo>(const std::string& id)>;
    MetadataLookups(MetadataCache& cache, std::vector<Lookup> lookups);
    ~MetadataLookups();  // stops and joins

private:
    MetadataCache& cache_;
    std::vector<Lookup> lookups_;
    std::jthread thread_;
};

}  // namespace tracer::containers
