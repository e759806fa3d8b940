// The kernel areas, one line each (see agent/kernel_area.h). Each loader
// lives next to its area's collector.
#include "agent/kernel_area.h"

namespace tracer::agent {

std::unique_ptr<LoadedArea> load_syscalls_area(const AreaSetup&);  // agent/syscall_collector.cpp
std::unique_ptr<LoadedArea> load_sched_area(const AreaSetup&);     // agent/sched_collector.cpp
std::unique_ptr<LoadedArea> load_proc_area(const AreaSetup&);      // agent/proc_collector.cpp
std::unique_ptr<LoadedArea> load_net_area(const AreaSetup&);       // agent/net_collector.cpp

const std::vector<KernelAreaInfo>& kernel_areas() {
    static const std::vector<KernelAreaInfo> areas = {
        {"syscalls", "syscall metrics", [](const config::AgentConfig& c) { return c.syscalls.enabled; }, load_syscalls_area},
        {"sched", "scheduling metrics", [](const config::AgentConfig& c) { return c.sched.enabled; }, load_sched_area},
        {"proc", "process metrics", [](const config::AgentConfig& c) { return c.proc.enabled; }, load_proc_area},
        {"net", "network metrics", [](const config::AgentConfig& c) { return c.net.enabled; }, load_net_area},
    };
    return areas;
}

probes::ProbeVariant AreaSetup::variant() const {
    if (config.probe_build == "modern") return probes::ProbeVariant::Modern;
    if (config.probe_build == "baseline") return probes::ProbeVariant::Baseline;
    return probes::ProbeVariant::Auto;
}

}  // namespace tracer::agent
