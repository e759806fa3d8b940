#include "probes/cgroup_events_probe.h"

#include "bpf/cgroup_abi.h"
#include "bpf/cgroup_events.h"
#include "cgroup_events.skel.h"
#include "probes/bpf_support.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

namespace tracer::probes {

int hierarchy_id_of(const std::string& proc_cgroups_path, const std::string& controller) {
    std::ifstream in(proc_cgroups_path);
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream f(line);
        std::string name;
        int hierarchy = -1;
        if (f >> name >> hierarchy && name == controller) return hierarchy;
    }
    return -1;
}

CgroupEventsProbe::CgroupEventsProbe(const containers::CgroupKeying& keying, const std::string& proc_cgroups,
                                     const std::string& btf_path) {
    install_libbpf_logging();
    ncpus_ = libbpf_num_possible_cpus();
    if (ncpus_ <= 0) throw_libbpf_error("cannot count possible CPUs", ncpus_);
    int hierarchy = 0;  // cgroup v2's default hierarchy
    if (keying.mode == CGROUP_KEY_V1_SUBSYS) {
        hierarchy = hierarchy_id_of(proc_cgroups, keying.hierarchy);
        if (hierarchy <= 0)
            throw ProbeError("cgroup events: no hierarchy id for the '" + keying.hierarchy + "' controller in " +
                             proc_cgroups);
    }
    LIBBPF_OPTS(bpf_object_open_opts, open_opts);
    if (!btf_path.empty()) open_opts.btf_custom_path = btf_path.c_str();
    cgroup_events_bpf* skel = cgroup_events_bpf::open(&open_opts);
    if (!skel) throw_libbpf_error("cannot open the cgroup events BPF object", errno);
    obj_ = skel->obj;
    skel_ = {skel, [](void* p) { cgroup_events_bpf::destroy(static_cast<cgroup_events_bpf*>(p)); }};
    skel->rodata->hierarchy_id = hierarchy;
    if (int err = cgroup_events_bpf::load(skel)) throw_libbpf_error("cannot load the cgroup events BPF programs", err);
    if (int err = cgroup_events_bpf::attach(skel))
        throw_libbpf_error("cannot attach to the cgroup:cgroup_mkdir/cgroup_rmdir tracepoints", err);
    ring_.emplace(bpf_map__fd(skel->maps.cgroup_events), "the cgroup event ring buffer");
    drops_fd_ = bpf_map__fd(skel->maps.cgroup_event_drops);
}

// ring_ is declared after skel_, so it is freed (unmapped) before the maps close.
CgroupEventsProbe::~CgroupEventsProbe() = default;

size_t CgroupEventsProbe::drain(const std::function<void(const CgroupEvent&)>& sink) {
    return ring_->drain([&](const void* data, size_t size) {
        cgroup_event e;
        if (size < sizeof e) return false;
        std::memcpy(&e, data, sizeof e);
        CgroupEvent ev;
        ev.created = e.kind == CGROUP_EVENT_MKDIR;
        ev.cgroup_id = e.cgroup_id;
        ev.path.assign(e.path, strnlen(e.path, sizeof e.path));
        sink(ev);
        return true;
    });
}

uint64_t CgroupEventsProbe::drops() const { return sum_drop_counters<1>(drops_fd_, ncpus_)[0]; }

}  // namespace tracer::probes
