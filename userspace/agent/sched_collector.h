// Scheduling per cgroup (SchedProbe) as cumulative series: run-queue latency
// histogram, on-CPU seconds, context switches by kind, migrations.
#pragma once

#include "agent/cgroup_collector.h"
#include "agent/cgroup_totals.h"
#include "probes/sched_probe.h"

namespace tracer::agent {

class SchedCollector : public CgroupCollector {
public:
    explicit SchedCollector(KernelReadings<probes::SchedReading> kernel) : kernel_(std::move(kernel)) {}
    explicit SchedCollector(probes::SchedProbe& probe) : SchedCollector(readings_of(probe, &probes::SchedProbe::read)) {}

    void read(std::vector<uint64_t>& keys) override;
    void accumulate(CgroupDirectory& directory, std::chrono::duration<double> elapsed) override;
    void forget(const std::vector<uint64_t>& keys) override;
    void append_families(metrics::Snapshot& out) const override;

private:
    KernelReadings<probes::SchedReading> kernel_;
    std::vector<probes::SchedReading> readings_;
    CgroupTotalsTable<probes::SchedTotals> table_;
};

}  // namespace tracer::agent
