// The tags of every per-cgroup metric: a cgroup path -> its container (from the
// path) -> what the metadata cache knows about it -> one label set, the same
// label names in the same order for every cgroup:
//
//   cgroup, container_id, container_name, image, pod, namespace, kube_container,
//   then one tag per container_labels_as_tags entry (file order)
//
// Values that do not apply (a systemd service has no image; a container whose
// metadata is not known yet has only its cgroup) are "", which Prometheus
// treats as an absent label and the /metrics renderer omits. Thread-safe: the
// flush loop and the DogStatsD receivers (labels_for_pid) share one tagger.
#pragma once

#include "containers/cgroup_layout.h"
#include "containers/container_metadata.h"
#include "metrics/series.h"
#include "pattern.h"

#include <sys/types.h>

#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tracer::containers {

// What people call a container, from its tags: a Kubernetes container
// <pod>/<container> (the containers of different pods share names: app,
// istio-proxy), its pod's sandbox <pod>/POD (Kubernetes' own name for it);
// any other container its name.
std::string container_display_name(std::string_view name, std::string_view pod, std::string_view kube_container);

struct ContainerTaggerOptions {
    std::vector<std::pair<std::string, std::string>> labels_as_tags;  // container label -> tag name
    std::vector<std::string> include;  // "name:<regex>" / "image:<regex>"
    std::vector<std::string> exclude;
    std::string proc_root = "/proc";   // <host_root>/proc, for labels_for_pid
    CgroupKeying keying;               // which line of /proc/<pid>/cgroup is the key's hierarchy
};

class ContainerTagger {
public:
    // Throws PatternError on a bad filter (the config loader checks first).
    ContainerTagger(MetadataCache& cache, ContainerTaggerOptions options);

    // Every per-cgroup sample's tag names, in order (see above).
    const std::vector<std::string>& names() const { return names_; }

    struct Tags {
        metrics::Labels labels;  // names() with their values
        bool known = true;       // false: a container whose metadata is not in the cache yet
        bool excluded = false;   // a container that container_exclude leaves out
    };
    // The tags of a cgroup path (relative to the keyed hierarchy's root, as
    // CgroupResolver gives it; "<overflow>" etc. are paths too). Never waits:
    // an unknown container is queued for the metadata providers.
    Tags tags_for_path(const std::string& cgroup_path) const;

    // For readers that keep only containers (the container plugin): the tags
    // of a container's cgroup path; nullopt for a cgroup that is no container
    // or an excluded one. Before its metadata arrives: the cgroup and its
    // container_id (the rest "").
    std::optional<metrics::Labels> container_labels(const std::string& cgroup_path) const;

    // For the DogStatsD server: the same labels as the kernel metrics of the
    // cgroup `pid` lives in (its line in /proc/<pid>/cgroup for the keyed
    // hierarchy). Empty when the pid is gone or its container is excluded.
    metrics::Labels labels_for_pid(pid_t pid) const;

    // For a DogStatsD `|c:<container-id>` field (full id, or a prefix of at
    // least 12): the labels of that container's cgroup, as the kernel metrics
    // carry them, once its cgroup has been tagged (tags_for_path remembers the
    // path of every container id it saw). Before that, or for an id never
    // seen here: just container_id (12 characters). Empty when excluded.
    metrics::Labels labels_for_container_id(std::string_view id) const;

    // The keyed hierarchy's path in a /proc/<pid>/cgroup text; nullopt if absent.
    static std::optional<std::string> keyed_path(const std::string& proc_pid_cgroup, const CgroupKeying& keying);

private:
    struct Filter {
        bool by_image;
        Pattern re;
    };
    static std::vector<Filter> compile(const std::vector<std::string>& filters);
    static bool matches(const std::vector<Filter>& filters, const ContainerInfo& info);
    void remember_path(const std::string& id, const std::string& cgroup_path) const;

    MetadataCache& cache_;
    ContainerTaggerOptions options_;
    // container id -> its cgroup path, from tags_for_path; bounded (cleared when full).
    mutable std::mutex paths_mu_;
    mutable std::unordered_map<std::string, std::string> path_of_id_;
    std::vector<std::string> names_;
    std::vector<Filter> include_, exclude_;
};

}  // namespace tracer::containers
