// A kernel area is one thing the kernel side measures per cgroup: its
// programs (bpf/<area>.bpf.c), their ABI (bpf/<area>.h), the probe that loads
// and reads them (probes/<area>_probe) and the collector that turns readings
// into series (agent/<area>_collector, which also holds the area's loader).
// Every area is one line of the table in agent/kernel_areas.cpp; the kernel
// source loops over that table to load (with fallback), read, count drops,
// forget and describe, so adding an area touches nothing else.
#pragma once

#include "agent/cgroup_collector.h"
#include "config/agent_config.h"
#include "metrics/series.h"
#include "probes/bpf_support.h"  // ProbeVariant

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tracer::probes {
struct ProcEvent;
struct NetConnection;
}  // namespace tracer::probes

namespace tracer::agent {

class HostContext;

// Who takes the kernel's rare events beyond the agent's own log line (the
// local API's recent events); unset: nobody. Called on the event thread.
struct AreaEvents {
    std::function<void(const probes::ProcEvent&)> process;
    std::function<void(const probes::NetConnection&)> connection;
};

// What an area lost, by where it was lost.
struct AreaDrops {
    std::vector<std::pair<std::string, uint64_t>> map_failures;  // tracer_bpf_map_update_failures_total{map}
    std::vector<std::pair<std::string, uint64_t>> ring_drops;    // tracer_events_dropped_total{ring}
};

// A cgroup by how busy it was in the last interval (the log line of `tracer run`).
struct BusyCgroup {
    std::string cgroup;
    double per_second = 0;
};

// An area whose probe is attached and whose collector reads it.
class LoadedArea {
public:
    virtual ~LoadedArea() = default;
    virtual CgroupCollector& collector() = 0;
    // The hooks attached ("tp_btf/sys_enter", ...) and the build loaded
    // ("task storage + BTF, Linux 5.11+").
    virtual std::vector<std::string> hooks() const = 0;
    virtual std::string build() const = 0;
    // "tp_btf/sys_enter, tp_btf/sys_exit; task storage + BTF, Linux 5.11+"
    std::string describe() const {
        std::string out;
        for (const auto& hook : hooks()) out += (out.empty() ? "" : ", ") + hook;
        return out + "; " + build();
    }
    virtual void drops(AreaDrops& out) const = 0;
    // Runs of each of the area's programs the kernel skipped
    // (tracer_bpf_runs_skipped_total{program}; see probes::skipped_runs).
    virtual std::vector<std::pair<std::string, uint64_t>> skipped_runs() const = 0;
    // Series of the area's own beyond the per-cgroup ones (not tagged per cgroup).
    virtual void append_self_metrics(metrics::Snapshot&) const {}
    // What a cardinality limit of the area cut last interval: (limit, count).
    virtual void limits(std::vector<std::pair<std::string, double>>&) const {}
    // Areas with an event ring: hand over what arrived (the agent's event thread).
    virtual void drain_events() {}
    // How the event thread learns that drain_events() has work: `ring_fd` is
    // a ring whose records wake a poll() on it (-1: none); `batched` says
    // records also cross without a wake-up, so the area must be drained on
    // a timer. Neither (the default): the area never needs the event thread.
    struct EventWake {
        int ring_fd = -1;
        bool batched = false;
    };
    virtual EventWake event_wake() const { return {}; }
    // The busiest cgroups by this area's main rate, highest first (empty: no ranking).
    virtual std::vector<BusyCgroup> busiest(size_t) const { return {}; }
    // What the area does now when that changes as it runs (the syscall
    // latency windows), for `tracer status`; empty: nothing to add. Any thread.
    virtual std::string state() const { return ""; }
};

// The usual shape of a loaded area: a probe and the collector reading it.
template <class Probe, class Collector>
class ProbeArea : public LoadedArea {
public:
    template <class... CollectorArgs>
    explicit ProbeArea(std::unique_ptr<Probe> probe, CollectorArgs&&... args)
        : probe_(std::move(probe)), collector_(*probe_, std::forward<CollectorArgs>(args)...) {}
    CgroupCollector& collector() override { return collector_; }
    std::vector<std::string> hooks() const override { return probe_->attached(); }
    std::string build() const override { return probe_->variant_description(); }
    std::vector<std::pair<std::string, uint64_t>> skipped_runs() const override { return probe_->skipped_runs(); }

protected:
    std::unique_ptr<Probe> probe_;
    Collector collector_;
};

struct AreaSetup {
    const config::AgentConfig& config;
    const HostContext& host;
    std::string btf_path;
    AreaEvents events;
    // The build each area's probe loads (the `probe_build` key).
    probes::ProbeVariant variant() const;
};

struct KernelAreaInfo {
    std::string_view name;      // "syscalls": its config section and tracer_probe_up{probe}
    std::string_view measures;  // "syscall metrics", for "no <measures>" in messages
    bool (*enabled)(const config::AgentConfig&);
    // Loads and attaches; throws probes::ProbeError when the kernel or the
    // privileges do not allow it.
    std::unique_ptr<LoadedArea> (*load)(const AreaSetup&);
};

// Every area, in load order.
const std::vector<KernelAreaInfo>& kernel_areas();

}  // namespace tracer::agent
