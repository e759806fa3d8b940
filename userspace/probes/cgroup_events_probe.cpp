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
    skel_ = {skel, [](void* p) { cgroup_events_bpf::destroy(static_cast<cgroup_events_bpf*>(p)); }};
    skel->rodata->hierarchy_id = hierarchy;
    if (int err = cgroup_events_bpf::load(skel)) throw_libbpf_error("cannot load the cgroup events BPF programs", err);
    if (int err = cgroup_events_bpf::attach(skel))
        throw_libbpf_error("cannot attach to the cgroup:cgroup_mkdir/cgroup_rmdir tracepoints", err);
    ring_buffer* rb = ring_buffer__new(bpf_map__fd(skel->maps.cgroup_events), &CgroupEventsProbe::on_sample, this,
                                       nullptr);
    if (!rb) throw_libbpf_error("cannot map the cgroup event ring buffer", errno);
    ring_ = {rb, ring_buffer__free};
    drops_fd_ = bpf_map__fd(skel->maps.cgroup_event_drops);
}

// ring_ is declared after skel_, so it is freed (unmapped) before the maps close.
CgroupEventsProbe::~CgroupEventsProbe() = default;

int CgroupEventsProbe::on_sample(void* ctx, void* data, size_t size) {
    auto* self = static_cast<CgroupEventsProbe*>(ctx);
    cgroup_event e;
    if (size < sizeof e || !self->sink_) return 0;
    std::memcpy(&e, data, sizeof e);
    CgroupEvent ev;
    ev.created = e.kind == CGROUP_EVENT_MKDIR;
    ev.cgroup_id = e.cgroup_id;
    ev.path.assign(e.path, strnlen(e.path, sizeof e.path));
    (*self->sink_)(ev);
    return 0;
}

size_t CgroupEventsProbe::drain(const std::function<void(const CgroupEvent&)>& sink) {
    sink_ = &sink;
    int n = ring_buffer__consume(ring_.get());
    sink_ = nullptr;
    return n > 0 ? static_cast<size_t>(n) : 0;
}

uint64_t CgroupEventsProbe::drops() const {
    std::vector<uint64_t> values(ncpus_);
    uint32_t zero = 0;
    if (bpf_map_lookup_elem(drops_fd_, &zero, values.data()) != 0) return 0;
    uint64_t total = 0;
    for (uint64_t v : values) total += v;
    return total;
}

}  // namespace tracer::probes
