// What every per-cgroup collector does once per interval, in this order, so
// that one CgroupDirectory can name the keys of all of them under one limit.
#pragma once

#include "agent/cgroup_directory.h"
#include "metrics/series.h"

#include <chrono>
#include <cstdint>
#include <vector>

namespace tracer::agent {

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
