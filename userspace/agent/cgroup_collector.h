// What every per-cgroup collector does once per interval, in this order, so
// that one CgroupDirectory can name the keys of all of them under one limit.
#pragma once

#include "agent/cgroup_directory.h"
#include "metrics/series.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

namespace tracer::agent {

// Where a collector's kernel readings come from: its area's probe in the
// agent; readings made by hand in the unit tests, which need no root.
template <class Reading>
struct KernelReadings {
    std::function<void(std::vector<Reading>&)> read;          // every cgroup's totals since its entry was made
    std::function<void(const std::vector<uint64_t>&)> forget;  // release the kernel entries of these keys
};

// The readings of a probe with read(std::vector<Reading>&) and forget_cgroups().
template <class Reading, class Probe>
KernelReadings<Reading> readings_of(Probe& probe, void (Probe::*read)(std::vector<Reading>&)) {
    return {[&probe, read](std::vector<Reading>& out) { (probe.*read)(out); },
            [&probe](const std::vector<uint64_t>& keys) { probe.forget_cgroups(keys); }};
}

class CgroupCollector {
public:
    virtual ~CgroupCollector() = default;
    // 1. Read the probe's kernel totals; append the cgroup keys seen to `keys`.
    virtual void read(std::vector<uint64_t>& keys) = 0;
    // 2. Turn what read() got into cumulative per-label state.
    virtual void accumulate(CgroupDirectory& directory, std::chrono::duration<double> elapsed) = 0;
    // 3. Release the keys of cgroups that are gone (kernel and own state).
    virtual void forget(const std::vector<uint64_t>& keys) = 0;
    // Any time after: the cumulative series.
    virtual void append_families(metrics::Snapshot& out) const = 0;
};

// One interval over all collectors: read, name, accumulate, release.
void collect_interval(CgroupDirectory& directory, const std::vector<CgroupCollector*>& collectors,
                      std::chrono::duration<double> elapsed);

}  // namespace tracer::agent
