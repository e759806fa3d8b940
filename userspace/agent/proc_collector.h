// Process lifecycle per cgroup (ProcProbe counters) as cumulative series:
// execs, forks, exits, OOM kills. Events themselves are `tracer trace`'s.
#pragma once

#include "agent/cgroup_collector.h"
#include "agent/cgroup_totals.h"
#include "probes/proc_probe.h"

namespace tracer::agent {

class ProcCollector : public CgroupCollector {
public:
    explicit ProcCollector(KernelReadings<probes::ProcCountsReading> kernel) : kernel_(std::move(kernel)) {}
    explicit ProcCollector(probes::ProcProbe& probe) : ProcCollector(readings_of(probe, &probes::ProcProbe::read_counts)) {}

    void read(std::vector<uint64_t>& keys) override;
    void accumulate(CgroupDirectory& directory, std::chrono::duration<double> elapsed) override;
    void forget(const std::vector<uint64_t>& keys) override;
    void append_families(metrics::Snapshot& out) const override;

private:
    KernelReadings<probes::ProcCountsReading> kernel_;
    std::vector<probes::ProcCountsReading> readings_;
    CgroupTotalsTable<probes::ProcCountsReading> table_;
};

}  // namespace tracer::agent
