// Process lifecycle per cgroup (ProcProbe counters) as cumulative series:
// execs, forks, exits, OOM kills. Events themselves are `tracer trace`'s.
#pragma once

#include "agent/cgroup_collector.h"
#include "agent/cgroup_totals.h"
#include "probes/proc_probe.h"

namespace tracer::agent {

class ProcCollector : public CgroupCollector {
public:
    explicit ProcCollector(probes::ProcProbe& probe) : probe_(probe) {}

    void read(std::vector<uint64_t>& keys) override;
    void accumulate(CgroupDirectory& directory, std::chrono::duration<double> elapsed) override;
    void forget(const std::vector<uint64_t>& keys) override;
    void append_families(metrics::Snapshot& out) const override;

private:
    probes::ProcProbe& probe_;
    std::vector<probes::ProcCountsReading> readings_;
    CgroupTotalsTable<probes::ProcCountsReading> table_;
};

}  // namespace tracer::agent
