#include "probes/syscall_probe.h"

#include "probes/bpf_support.h"
#include "syscalls.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <unordered_set>

namespace tracer::probes {

SyscallProbe::SyscallProbe(const SyscallProbeOptions& o) : latency_(o.latency) {
    install_libbpf_logging();
    ncpus_ = libbpf_num_possible_cpus();
    if (ncpus_ <= 0) throw_libbpf_error("cannot count possible CPUs", ncpus_);
    percpu_.resize(ncpus_);

    LIBBPF_OPTS(bpf_object_open_opts, open_opts);
    if (!o.btf_path.empty()) open_opts.btf_custom_path = o.btf_path.c_str();
    skel_ = syscalls_bpf::open(&open_opts);
    if (!skel_) throw_libbpf_error("cannot open the syscalls BPF object", errno);

    skel_->rodata->latency_enabled = o.latency;
    skel_->rodata->cgroup_key_mode = o.keying.mode;
    skel_->rodata->cgroup_v1_subsys_id = o.keying.v1_subsys_id;
    bpf_map__set_max_entries(skel_->maps.syscall_stats, std::max<uint32_t>(o.map_entries, 64));
    if (o.latency) {
        bpf_map__set_max_entries(skel_->maps.syscall_inflight, std::max<uint32_t>(o.max_threads, 64));
    } else {
        // count-only: one hook, no per-thread state
        bpf_program__set_autoload(skel_->progs.tracer_sys_enter, false);
        bpf_program__set_autoload(skel_->progs.tracer_sys_thread_exit, false);
        bpf_map__set_max_entries(skel_->maps.syscall_inflight, 1);
    }

    if (int err = syscalls_bpf::load(skel_)) {
        syscalls_bpf::destroy(skel_);
        skel_ = nullptr;
        throw_libbpf_error("cannot load the syscalls BPF programs", err);
    }
    if (int err = syscalls_bpf::attach(skel_)) {
        syscalls_bpf::destroy(skel_);
        skel_ = nullptr;
        throw_libbpf_error("cannot attach the syscalls BPF programs to raw_syscalls tracepoints", err);
    }
    bpf_program* prog;
    bpf_object__for_each_program(prog, skel_->obj) {
        if (bpf_program__autoload(prog)) attached_.push_back(bpf_program__section_name(prog));
    }
}

SyscallProbe::~SyscallProbe() {
    if (skel_) syscalls_bpf::destroy(skel_);
}

void SyscallProbe::read(std::vector<SyscallReading>& out) {
    out.clear();
    int fd = bpf_map__fd(skel_->maps.syscall_stats);
    const uint64_t epoch = skel_->bss->max_epoch;
    syscall_key key{}, next{};
    bool first = true;
    while (bpf_map_get_next_key(fd, first ? nullptr : &key, &next) == 0) {
        first = false;
        key = next;
        if (bpf_map_lookup_elem(fd, &key, percpu_.data()) != 0) continue;  // deleted meanwhile
        SyscallReading r{key.cgroup_id, key.nr, {}};
        for (const auto& v : percpu_) {
            r.totals.count += v.count;
            r.totals.errors += v.errors;
            r.totals.total_ns += v.total_ns;
            if (v.max_epoch == epoch) r.totals.max_ns = std::max<uint64_t>(r.totals.max_ns, v.max_ns);
            for (int i = 0; i < SYSCALL_LATENCY_SLOTS; ++i) r.totals.slots[i] += v.slots[i];
        }
        out.push_back(r);
    }
    // Later updates record their max under the next epoch.
    skel_->bss->max_epoch = epoch + 1;
}

void SyscallProbe::forget_cgroups(const std::vector<uint64_t>& cgroup_ids) {
    if (cgroup_ids.empty()) return;
    std::unordered_set<uint64_t> dead(cgroup_ids.begin(), cgroup_ids.end());
    int fd = bpf_map__fd(skel_->maps.syscall_stats);
    std::vector<syscall_key> doomed;
    syscall_key key{}, next{};
    bool first = true;
    while (bpf_map_get_next_key(fd, first ? nullptr : &key, &next) == 0) {
        first = false;
        key = next;
        if (dead.count(key.cgroup_id)) doomed.push_back(key);
    }
    for (const auto& k : doomed) bpf_map_delete_elem(fd, &k);
}

std::vector<uint32_t> SyscallProbe::inflight_threads() const {
    std::vector<uint32_t> tids;
    if (!latency_) return tids;
    int fd = bpf_map__fd(skel_->maps.syscall_inflight);
    uint32_t key = 0, next = 0;
    bool first = true;
    while (bpf_map_get_next_key(fd, first ? nullptr : &key, &next) == 0) {
        first = false;
        key = next;
        tids.push_back(key);
    }
    return tids;
}

std::array<uint64_t, SYSCALL_DROP_REASONS> SyscallProbe::drops() const {
    std::array<uint64_t, SYSCALL_DROP_REASONS> total{};
    int fd = bpf_map__fd(skel_->maps.syscall_drops);
    std::vector<uint64_t> values(ncpus_);
    for (uint32_t reason = 0; reason < SYSCALL_DROP_REASONS; ++reason) {
        if (bpf_map_lookup_elem(fd, &reason, values.data()) != 0) continue;
        for (uint64_t v : values) total[reason] += v;
    }
    return total;
}

}  // namespace tracer::probes
