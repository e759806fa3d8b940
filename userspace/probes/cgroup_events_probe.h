// Cgroups as the kernel creates and removes them (bpf/cgroup_events.bpf.c), so
// a cgroup that lives shorter than a cgroupfs scan is still named: the agent
// drains this probe before it names an interval's keys and hands every mkdir
// to CgroupResolver::learn().
#pragma once

#include "containers/cgroup_layout.h"
#include "probes/bpf_maps.h"
#include "probes/bpf_support.h"  // skipped_runs

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace tracer::probes {

struct CgroupEvent {
    bool created = true;  // mkdir (else rmdir)
    uint64_t cgroup_id = 0;
    std::string path;     // relative to the hierarchy root
};

class CgroupEventsProbe {
public:
    // Watches the hierarchy `keying` names (its v1 hierarchy id comes from
    // `proc_cgroups`, /proc/cgroups). Throws ProbeError.
    CgroupEventsProbe(const containers::CgroupKeying& keying, const std::string& proc_cgroups,
                      const std::string& btf_path = "");
    ~CgroupEventsProbe();
    CgroupEventsProbe(const CgroupEventsProbe&) = delete;
    CgroupEventsProbe& operator=(const CgroupEventsProbe&) = delete;

    // Hands every event recorded so far to `sink` (never blocks); returns how many.
    size_t drain(const std::function<void(const CgroupEvent&)>& sink);
    // Records lost because the ring was full (those cgroups are named by the next scan).
    uint64_t drops() const;
    // Runs of each of this probe's programs the kernel skipped (see probes::skipped_runs).
    std::vector<std::pair<std::string, uint64_t>> skipped_runs() const { return probes::skipped_runs(obj_); }

private:
    std::unique_ptr<void, void (*)(void*)> skel_{nullptr, nullptr};
    bpf_object* obj_ = nullptr;
    std::optional<EventRing> ring_;  // freed first
    int drops_fd_ = -1;
    int ncpus_ = 0;
};

// The v1 hierarchy id of `controller` in /proc/cgroups (its 2nd column); -1 if absent.
int hierarchy_id_of(const std::string& proc_cgroups_path, const std::string& controller);

}  // namespace tracer::probes
