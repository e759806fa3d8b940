// Network per cgroup (NetProbe) as cumulative series: bytes and packets each
// way, TCP connections opened by direction, closed and open, retransmits,
// resets, per-connection bytes, RTT and lifetime histograms.
#pragma once

#include "agent/cgroup_collector.h"
#include "agent/cgroup_totals.h"
#include "probes/net_probe.h"

namespace tracer::agent {

class NetCollector : public CgroupCollector {
public:
    explicit NetCollector(KernelReadings<probes::NetReading> kernel) : kernel_(std::move(kernel)) {}
    explicit NetCollector(probes::NetProbe& probe) : NetCollector(readings_of(probe, &probes::NetProbe::read)) {}

    void read(std::vector<uint64_t>& keys) override;
    void accumulate(CgroupDirectory& directory, std::chrono::duration<double> elapsed) override;
    void forget(const std::vector<uint64_t>& keys) override;
    void append_families(metrics::Snapshot& out) const override;

private:
    KernelReadings<probes::NetReading> kernel_;
    std::vector<probes::NetReading> readings_;
    CgroupTotalsTable<net_stats> table_;
};

}  // namespace tracer::agent
