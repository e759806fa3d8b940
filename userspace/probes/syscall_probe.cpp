#include "probes/syscall_probe.h"

#include "probes/bpf_maps.h"
#include "probes/bpf_support.h"
#include "log.h"
#include "syscalls.skel.h"
#include "syscalls_modern.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>

namespace tracer::probes {

template <class Skeleton>
void SyscallProbe::load(const SyscallProbeOptions& o) {
    LIBBPF_OPTS(bpf_object_open_opts, open_opts);
    if (!o.btf_path.empty()) open_opts.btf_custom_path = o.btf_path.c_str();
    Skeleton* skel = Skeleton::open(&open_opts);
    if (!skel) throw_libbpf_error("cannot open the syscalls BPF object", errno);
    std::unique_ptr<void, void (*)(void*)> owner(skel, [](void* p) { Skeleton::destroy(static_cast<Skeleton*>(p)); });

    skel->rodata->latency_enabled = o.latency;
    // sample_every must be a power of two (the program masks with it)
    uint32_t every = 1;
    while (every < o.sample_every && every < (1u << 20)) every <<= 1;
    skel->rodata->sample_after = every > 1 ? o.sample_after : 0;
    skel->rodata->sample_every = every;
    for (int w = 0; w < SYSCALL_TIMED_WORDS; ++w) skel->rodata->timed_syscalls[w] = o.timed_syscalls ? 0 : ~0ull;
    if (o.timed_syscalls)
        for (uint32_t nr : *o.timed_syscalls) {
            uint32_t bit = std::min<uint32_t>(nr, SYSCALL_NR_OTHER);
            skel->rodata->timed_syscalls[bit / 64] |= 1ull << (bit % 64);
        }
    skel->rodata->cgroup_key_mode = o.keying.mode;
    skel->rodata->cgroup_v1_subsys_id = o.keying.v1_subsys_id;
    bpf_map__set_max_entries(skel->maps.syscall_stats, std::max<uint32_t>(o.map_entries, 64));
    bool task_storage = bpf_map__type(skel->maps.syscall_inflight) == BPF_MAP_TYPE_TASK_STORAGE;
    if (!task_storage)
        bpf_map__set_max_entries(skel->maps.syscall_inflight, o.latency ? std::max<uint32_t>(o.max_threads, 64) : 1);
    if (!o.latency) {
        // count-only: one hook, no per-thread state
        bpf_program__set_autoload(skel->progs.tracer_sys_enter, false);
        if (auto* p = bpf_object__find_program_by_name(skel->obj, "tracer_sys_thread_exit"))
            bpf_program__set_autoload(p, false);
    }
    if (int err = Skeleton::load(skel)) throw_libbpf_error("cannot load the syscalls BPF programs", err);
    if (int err = Skeleton::attach(skel))
        throw_libbpf_error("cannot attach the syscalls BPF programs to raw_syscalls tracepoints", err);

    obj_ = skel->obj;
    stats_fd_ = bpf_map__fd(skel->maps.syscall_stats);
    inflight_fd_ = task_storage ? -1 : bpf_map__fd(skel->maps.syscall_inflight);
    drops_fd_ = bpf_map__fd(skel->maps.syscall_drops);
    max_epoch_ = &skel->bss->max_epoch;
    skel_ = std::move(owner);
}

SyscallProbe::SyscallProbe(const SyscallProbeOptions& o) : latency_(o.latency) {
    install_libbpf_logging();
    ncpus_ = libbpf_num_possible_cpus();
    if (ncpus_ <= 0) throw_libbpf_error("cannot count possible CPUs", ncpus_);
    percpu_.resize(ncpus_);

    variant_ = load_newest_build(o.variant, "syscalls", [&] { load<syscalls_modern_bpf>(o); },
                                 [&] { load<syscalls_bpf>(o); });
    bpf_program* prog;
    bpf_object__for_each_program(prog, obj_) {
        if (bpf_program__autoload(prog)) attached_.push_back(bpf_program__section_name(prog));
    }
}

SyscallProbe::~SyscallProbe() = default;

const char* SyscallProbe::variant_description() const {
    return variant_ == ProbeVariant::Modern ? "task storage + BTF, Linux 5.11+"
                                                   : "thread-id hash, Linux 5.8+";
}

void SyscallProbe::read(std::vector<SyscallReading>& out) {
    out.clear();
    const uint64_t epoch = *max_epoch_;
    for_each_percpu_entry<syscall_key>(stats_fd_, percpu_, [&](const syscall_key& key, const auto& per_cpu) {
        SyscallReading r{key.cgroup_id, key.nr, {}};
        for (const auto& v : per_cpu) {
            r.totals.count += v.count;
            r.totals.errors += v.errors;
            r.totals.total_ns += v.total_ns;
            if (v.max_epoch == epoch) r.totals.max_ns = std::max<uint64_t>(r.totals.max_ns, v.max_ns);
            for (int i = 0; i < SYSCALL_LATENCY_SLOTS; ++i) r.totals.slots[i] += v.slots[i];
        }
        out.push_back(r);
    });
    // Later updates record their max under the next epoch.
    *max_epoch_ = epoch + 1;
}

void SyscallProbe::forget_cgroups(const std::vector<uint64_t>& cgroup_ids) {
    forget_cgroup_keys<syscall_key>(stats_fd_, cgroup_ids, [](const syscall_key& k) { return k.cgroup_id; });
}

std::vector<uint32_t> SyscallProbe::inflight_threads() const {
    if (!latency_ || inflight_fd_ < 0) return {};
    return map_keys<uint32_t>(inflight_fd_);
}

std::array<uint64_t, SYSCALL_DROP_REASONS> SyscallProbe::drops() const {
    return sum_drop_counters<SYSCALL_DROP_REASONS>(drops_fd_, ncpus_);
}

}  // namespace tracer::probes
