// Turns SyscallProbe readings into labelled, cumulative series once per
// interval: kernel totals -> per-(cgroup id, syscall) deltas -> per-(cgroup
// path, syscall) counters that stay monotonic while cgroups come and go.
// Cardinality is bounded: at most `max_cgroups` cgroups get series of their
// own, the rest are folded (not dropped) into cgroup="<overflow>"; latency
// histograms only for the allowlisted syscalls. What was cut is reported.
#pragma once

#include "containers/cgroup_resolver.h"
#include "metrics/series.h"
#include "probes/syscall_probe.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace tracer::agent {

struct SyscallCollectorOptions {
    bool latency = true;
    uint32_t max_cgroups = 1000;
    std::vector<std::string> histogram_syscalls;  // names; "*" = all
    std::chrono::seconds rescan_every{30};        // besides re-scanning on unknown ids
};

struct CgroupRate {
    std::string cgroup;
    double syscalls_per_second;
};

class SyscallCollector {
public:
    // Label values for data that cannot be attributed to a cgroup path.
    static constexpr const char* kUnresolved = "<unresolved>";
    static constexpr const char* kOverflow = "<overflow>";

    SyscallCollector(probes::SyscallProbe& probe, containers::CgroupResolver& resolver,
                     SyscallCollectorOptions options);

    // One interval: read the probe, resolve ids (re-scanning when needed),
    // accumulate deltas, release dead cgroups. `elapsed` is the time since the
    // previous collect(), for rates.
    void collect(std::chrono::duration<double> elapsed);

    // Appends this collector's families (cumulative state) to `out`.
    void append_families(metrics::Snapshot& out) const;

    // Highest syscall rates of the last interval, highest first.
    std::vector<CgroupRate> top_cgroups(size_t n) const;

    size_t cgroups_tracked() const { return tracked_.size(); }
    size_t cgroups_overflowed() const { return overflowed_last_; }
    size_t histograms_omitted() const { return histograms_omitted_; }

private:
    struct Accum {
        uint64_t count = 0, errors = 0, total_ns = 0;
        uint64_t max_ns = 0;  // last interval only
        std::array<uint64_t, SYSCALL_LATENCY_SLOTS> slots{};
    };
    struct CgroupState {
        std::map<uint32_t, Accum> by_syscall;
        uint64_t last_seen = 0;       // interval number
        uint64_t interval_count = 0;  // syscalls in the last interval it was seen
    };
    struct IdNr {
        uint64_t id;
        uint32_t nr;
        bool operator==(const IdNr&) const = default;
    };
    struct IdNrHash {
        size_t operator()(const IdNr& k) const { return std::hash<uint64_t>()(k.id * 1031 + k.nr); }
    };

    const std::string& label_for(const std::string& path);
    bool wants_histogram(uint32_t nr) const;

    probes::SyscallProbe& probe_;
    containers::CgroupResolver& resolver_;
    SyscallCollectorOptions options_;
    bool all_histograms_ = false;
    std::unordered_set<uint32_t> histogram_nrs_;

    std::vector<probes::SyscallReading> readings_;
    std::unordered_map<IdNr, probes::SyscallTotals, IdNrHash> last_;
    std::map<std::string, CgroupState> cgroups_;  // by label (path, or a pseudo path)
    std::set<std::string> tracked_;               // paths with series of their own
    std::set<std::string> overflowed_;            // paths folded this interval
    size_t overflowed_last_ = 0;
    size_t histograms_omitted_ = 0;
    uint64_t interval_ = 0;
    double last_elapsed_ = 0;
    std::chrono::steady_clock::time_point last_scan_{};
};

}  // namespace tracer::agent
