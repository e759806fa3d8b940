// Names cgroup keys for every per-cgroup collector, under one cardinality
// limit: at most `max_cgroups` cgroup paths get series of their own, the rest
// are folded into "<overflow>"; keys that were created and removed between two
// scans of cgroupfs are "<unresolved>". Once per interval the agent hands it
// every key the probes reported; it re-scans cgroupfs when one is unknown (or
// periodically) and says which keys are gone, so each probe can release them
// after their last reading was counted.
#pragma once

#include "containers/cgroup_resolver.h"
#include "containers/container_metadata.h"
#include "containers/container_tagger.h"
#include "metrics/series.h"
#include "probes/cgroup_events_probe.h"

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace tracer::agent {

class CgroupDirectory {
public:
    static constexpr const char* kUnresolved = "<unresolved>";
    static constexpr const char* kOverflow = "<overflow>";

    CgroupDirectory(containers::CgroupResolver& resolver, uint32_t max_cgroups,
                    std::chrono::seconds rescan_every = std::chrono::seconds(30));

    // Starts an interval with the keys read from every probe (duplicates fine).
    void begin_interval(const std::vector<uint64_t>& keys);

    // The label of `key` this interval: its path, kOverflow or kUnresolved.
    const std::string& label(uint64_t key);

    // Keys gone since the last interval (including never-named ones): every
    // probe forgets them once this interval's readings are counted.
    const std::vector<uint64_t>& gone() const { return gone_; }

    // Ends the interval: paths not labelled for two intervals free their slot.
    void end_interval();

    // Cgroups created since the last interval are named from the kernel's
    // mkdir records (drained at begin_interval), even if already removed;
    // a removal makes the next interval re-scan.
    void use_cgroup_events(probes::CgroupEventsProbe* events) { events_ = events; }

    // Names cgroups after their containers from now on: every per-cgroup
    // sample gets the tagger's label set (see containers/container_tagger.h).
    // Without a tagger, samples keep their lone `cgroup` label.
    void use_tagger(const containers::ContainerTagger* tagger, containers::MetadataCache* cache);

    // Replaces the `cgroup` label (the first label) of every sample in
    // families [first, end) with the cgroup's tags as they were when it was
    // last labelled; drops the samples of excluded containers.
    void apply_tags(metrics::Snapshot& snapshot, size_t first) const;

    // Appends tracer.container.info: 1 for every container whose cgroup
    // exists now, tagged as its kernel series are, idle or not (a container
    // none of whose tasks ran since the agent started has no other series).
    // One sample per container (its outermost cgroup), at most max_cgroups,
    // none for excluded containers; before its metadata arrives a container
    // is named by its id alone. Call after end_interval.
    void append_container_info(metrics::Snapshot& snapshot);

    uint64_t interval() const { return interval_; }
    size_t tracked() const { return tracked_.size(); }
    size_t overflowed() const { return overflowed_.size(); }

private:
    containers::CgroupResolver& resolver_;
    uint32_t max_cgroups_;
    std::chrono::seconds rescan_every_;
    std::chrono::steady_clock::time_point last_scan_;
    bool rescanned_ = false;
    uint64_t interval_ = 0;
    struct Tracked {
        uint64_t last_labelled = 0;  // interval number
        uint64_t tagged = 0;         // interval the tags were computed in
        containers::ContainerTagger::Tags tags;
    };
    containers::ContainerTagger::Tags untracked_tags(const std::string& path) const;

    probes::CgroupEventsProbe* events_ = nullptr;
    bool removals_ = false;  // rmdir records since the last scan
    const containers::ContainerTagger* tagger_ = nullptr;
    containers::MetadataCache* cache_ = nullptr;
    std::unordered_map<std::string, Tracked> tracked_;  // by path
    std::set<std::string> overflowed_;                   // paths folded this interval
    std::vector<uint64_t> gone_;
    // The container cgroups of the resolver's present set, as of generation
    // container_paths_of_ (recomputed when it changes): path -> sorted.
    std::vector<std::string> container_paths_;
    uint64_t container_paths_of_ = UINT64_MAX;
};

}  // namespace tracer::agent
