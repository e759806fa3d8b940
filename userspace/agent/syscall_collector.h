// Turns SyscallProbe readings into labelled, cumulative series once per
// interval: kernel totals -> per-(cgroup key, syscall) deltas -> per-(cgroup
// label, syscall) counters that stay monotonic while cgroups come and go.
// Latency histograms only for the allowlisted syscalls; how many series that
// cut is reported. The kernel times a sample of the calls (latency windows,
// busy-thread sampling); each interval's histogram growth is scaled to the
// calls counted, so a histogram's _count is the syscall count.
#pragma once

#include "agent/cgroup_collector.h"
#include "probes/syscall_probe.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace tracer::agent {

struct SyscallCollectorOptions {
    bool latency = true;
    // Syscalls with a latency histogram (the ones the probe times); nullopt = all.
    std::optional<std::vector<uint32_t>> histogram_syscalls;
};

struct CgroupRate {
    std::string cgroup;
    double syscalls_per_second;
};

class SyscallCollector : public CgroupCollector {
public:
    SyscallCollector(KernelReadings<probes::SyscallReading> kernel, SyscallCollectorOptions options);
    SyscallCollector(probes::SyscallProbe& probe, SyscallCollectorOptions options)
        : SyscallCollector(readings_of(probe, &probes::SyscallProbe::read), std::move(options)) {}

    void read(std::vector<uint64_t>& keys) override;
    void accumulate(CgroupDirectory& directory, std::chrono::duration<double> elapsed) override;
    void forget(const std::vector<uint64_t>& keys) override;
    void append_families(metrics::Snapshot& out) const override;

    // Highest syscall rates of the last interval, highest first.
    std::vector<CgroupRate> top_cgroups(size_t n) const;
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
    struct KeyNr {
        uint64_t key;
        uint32_t nr;
        bool operator==(const KeyNr&) const = default;
    };
    struct KeyNrHash {
        size_t operator()(const KeyNr& k) const { return std::hash<uint64_t>()(k.key * 1031 + k.nr); }
    };

    bool wants_histogram(uint32_t nr) const;

    KernelReadings<probes::SyscallReading> kernel_;
    SyscallCollectorOptions options_;
    std::unordered_set<uint32_t> histogram_nrs_;

    std::vector<probes::SyscallReading> readings_;
    struct LastReading {
        probes::SyscallTotals totals;
        // Calls counted since the last interval with timed calls of this
        // (key, syscall): the next timed ones are scaled to stand for them.
        uint64_t untimed = 0;
    };
    std::unordered_map<KeyNr, LastReading, KeyNrHash> last_;
    std::map<std::string, CgroupState> cgroups_;  // by label
    size_t histograms_omitted_ = 0;
    uint64_t interval_ = 0;
    double last_elapsed_ = 0;
};

}  // namespace tracer::agent
