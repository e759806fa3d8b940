// Everything the kernel measures, as one Source: every enabled area of the
// table in agent/kernel_areas.cpp, loaded with fallback (a newer build, then
// the 5.8 one) and read once per interval, with one CgroupDirectory naming
// the keys of all of them under one max_cgroups limit.
//
// Degraded mode: when BPF cannot be used at all (no permission, no BTF, a
// kernel older than 5.8) or an area's programs are refused, the source says
// so once, loudly, exports tracer_probe_up{probe} 0 for what is missing and
// goes on with what it has; the rest of the agent never depends on it.
#pragma once

#include "agent/cgroup_directory.h"
#include "agent/kernel_area.h"
#include "metrics/source.h"

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <vector>

namespace tracer::probes {
class CgroupEventsProbe;
}

namespace tracer::agent {

class HostContext;

class KernelSource : public metrics::Source {
public:
    KernelSource(const config::AgentConfig& cfg, HostContext& host, const std::string& btf_path,
                 AreaEvents events = {});
    ~KernelSource() override;

    std::string_view name() const override { return "kernel"; }
    void flush(metrics::Interval& out) override;
    std::vector<metrics::SourceStatus> status() const override;

    // How many areas are attached.
    size_t loaded() const { return areas_.size(); }
    // Per area of the table: its hooks and build when attached, else why not.
    struct AreaReport {
        std::string name;
        bool attached = false;
        std::vector<std::string> hooks;
        std::string build;  // when attached
        std::string error;  // when not
    };
    std::vector<AreaReport> report() const;
    // Hands over what the areas' event rings hold.
    void drain_events();
    // The agent's event thread: drains the areas' rings until `stop`. Every
    // 100 ms while some area's records cross without a wake-up (process or
    // connection events asked for by api_events); otherwise it sleeps in
    // poll() until a record that wakes arrives (an OOM kill) or `stop`, so
    // an agent with the default config does not wake for it.
    void run_events(std::stop_token stop);
    // "name 41.2k, name 3.1k": the busiest cgroups of the last interval,
    // containers by their names; "" when no area ranks them.
    std::string busiest_line(size_t n) const;

private:
    struct Loaded {
        std::string name;
        std::unique_ptr<LoadedArea> area;
    };
    void load(const config::AgentConfig& cfg, const std::string& btf_path, AreaEvents events);
    // The loaded area of that name; nullptr when it is not loaded.
    const LoadedArea* area_named(const std::string& name) const;

    HostContext& host_;
    std::unique_ptr<probes::CgroupEventsProbe> cgroup_events_;
    CgroupDirectory directory_;
    std::vector<Loaded> areas_;
    std::vector<CgroupCollector*> collectors_;
    std::vector<metrics::SourceStatus> status_;  // one per area of the table, fixed after start-up
    // Kernel-skipped runs already logged, by program, and when the last warning was.
    std::map<std::string, uint64_t> skipped_logged_;
    std::chrono::steady_clock::time_point skipped_warned_at_{};
    void warn_of_skipped_runs(const std::vector<std::pair<std::string, uint64_t>>& runs);
};

}  // namespace tracer::agent
