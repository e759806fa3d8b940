#include "probes/proc_probe.h"

#include "probes/bpf_maps.h"
#include "probes/bpf_support.h"
#include "log.h"
#include "proc.skel.h"
#include "proc_modern.skel.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

namespace tracer::probes {
namespace {

constexpr int kMarkVictimAbsent = -1, kMarkVictimPid = 0, kMarkVictimTask = 1;

// oom:mark_victim's prototype on this kernel, from btf_trace_mark_victim:
// (void *data, struct task_struct *victim, uid_t uid) on recent kernels,
// (void *data, int pid) on older ones (see bpf/proc.bpf.c).
int mark_victim_prototype(const std::string& btf_path) {
    btf* b = btf_path.empty() ? btf__load_vmlinux_btf() : btf__parse(btf_path.c_str(), nullptr);
    if (!b) throw_libbpf_error("cannot read the kernel BTF to inspect oom:mark_victim", errno);
    std::unique_ptr<btf, void (*)(btf*)> owner(b, btf__free);
    auto resolve = [b](uint32_t id) {
        const btf_type* t = btf__type_by_id(b, id);
        while (t && (btf_is_mod(t) || btf_is_typedef(t))) t = btf__type_by_id(b, t->type);
        return t;
    };
    int id = btf__find_by_name_kind(b, "btf_trace_mark_victim", BTF_KIND_TYPEDEF);
    if (id < 0) return kMarkVictimAbsent;
    const btf_type* ptr = resolve(id);
    const btf_type* proto = ptr && btf_is_ptr(ptr) ? resolve(ptr->type) : nullptr;
    if (!proto || !btf_is_func_proto(proto) || btf_vlen(proto) < 2) return kMarkVictimAbsent;
    const btf_type* arg = resolve(btf_params(proto)[1].type);  // [0] is the tracepoint's data
    if (arg && btf_is_int(arg)) return kMarkVictimPid;
    const btf_type* pointee = arg && btf_is_ptr(arg) ? resolve(arg->type) : nullptr;
    if (pointee && btf_is_struct(pointee) &&
        std::string_view(btf__name_by_offset(b, pointee->name_off)) == "task_struct")
        return kMarkVictimTask;
    return kMarkVictimAbsent;
}

std::string bounded(const char* s, size_t max) { return std::string(s, strnlen(s, max)); }

}  // namespace

template <class Skeleton>
void ProcProbe::load(const ProcProbeOptions& o, int mark_victim) {
    LIBBPF_OPTS(bpf_object_open_opts, open_opts);
    if (!o.btf_path.empty()) open_opts.btf_custom_path = o.btf_path.c_str();
    Skeleton* skel = Skeleton::open(&open_opts);
    if (!skel) throw_libbpf_error("cannot open the proc BPF object", errno);
    std::unique_ptr<void, void (*)(void*)> owner(skel, [](void* p) { Skeleton::destroy(static_cast<Skeleton*>(p)); });

    skel->rodata->cgroup_key_mode = o.keying.mode;
    skel->rodata->cgroup_v1_subsys_id = o.keying.v1_subsys_id;
    skel->rodata->oom_victim_is_task = mark_victim == kMarkVictimTask;
    skel->rodata->oom_report_at_exit = mark_victim == kMarkVictimPid || o.oom_report_at_exit;
    skel->rodata->emitted_events = o.emitted_events;
    if (mark_victim == kMarkVictimAbsent) bpf_program__set_autoload(skel->progs.tracer_proc_oom, false);
    bpf_map__set_max_entries(skel->maps.proc_counts, std::max<uint32_t>(o.map_entries, 64));
    allocate_lazily_where_supported(skel->maps.proc_counts);
    bpf_map__set_max_entries(skel->maps.proc_events, ring_buffer_size(o.ring_bytes));
    if (int err = Skeleton::load(skel)) throw_libbpf_error("cannot load the proc BPF programs", err);
    if (int err = Skeleton::attach(skel))
        throw_libbpf_error("cannot attach the proc BPF programs to the sched and oom tracepoints", err);

    events_fd_ = bpf_map__fd(skel->maps.proc_events);
    ring_.emplace(events_fd_, "the proc event ring buffer");
    counts_fd_ = bpf_map__fd(skel->maps.proc_counts);
    drops_fd_ = bpf_map__fd(skel->maps.proc_drops);
    obj_ = skel->obj;
    skel_ = std::move(owner);
    bpf_program* prog;
    bpf_object__for_each_program(prog, skel->obj) {
        if (bpf_program__autoload(prog)) attached_.push_back(bpf_program__section_name(prog));
    }
}

namespace {

// One ring record -> event; false for a short record or a kind this build does not know.
bool decode_event(const void* data, size_t size, ProcEvent& ev) {
    proc_event h;
    if (size < sizeof h) return false;
    std::memcpy(&h, data, sizeof h);
    ev.kind = static_cast<ProcEventKind>(h.kind);
    ev.pid = h.pid;
    ev.tgid = h.tgid;
    ev.ppid = h.ppid;
    ev.cgroup_id = h.cgroup_id;
    ev.timestamp_ns = h.timestamp_ns;
    ev.comm = bounded(h.comm, sizeof h.comm);
    switch (h.kind) {
    case PROC_EVENT_EXEC: {
        proc_exec_event e;
        if (size < sizeof e) return false;
        std::memcpy(&e, data, sizeof e);
        ev.filename = bounded(e.filename, sizeof e.filename);
        break;
    }
    case PROC_EVENT_FORK:
        break;
    case PROC_EVENT_EXIT: {
        proc_exit_event e;
        if (size < sizeof e) return false;
        std::memcpy(&e, data, sizeof e);
        ev.exit_code = e.exit_code;
        ev.lifetime_ns = e.lifetime_ns;
        break;
    }
    case PROC_EVENT_OOM: {
        proc_oom_event e;
        if (size < sizeof e) return false;
        std::memcpy(&e, data, sizeof e);
        ev.oom_memcg_id = e.memcg_id;
        ev.oom_total_vm_pages = e.total_vm_pages;
        ev.oom_trigger_tgid = e.trigger_tgid;
        ev.oom_at_exit = e.flags & PROC_OOM_AT_EXIT;
        break;
    }
    default:
        return false;  // a kind this build does not know
    }
    return true;
}

}  // namespace

ProcProbe::ProcProbe(const ProcProbeOptions& o) {
    install_libbpf_logging();
    ncpus_ = libbpf_num_possible_cpus();
    if (ncpus_ <= 0) throw_libbpf_error("cannot count possible CPUs", ncpus_);
    percpu_.resize(ncpus_);

    int mark_victim = mark_victim_prototype(o.btf_path);
    if (mark_victim == kMarkVictimAbsent)
        LOG_WARN("proc: this kernel has no oom:mark_victim tracepoint tracer understands; OOM kills are not reported");

    variant_ = load_newest_build(o.variant, "proc", [&] { load<proc_modern_bpf>(o, mark_victim); },
                                 [&] { load<proc_bpf>(o, mark_victim); });
}

// ring_ is declared after skel_, so it is freed (unmapped) before the maps close.
ProcProbe::~ProcProbe() = default;

const char* ProcProbe::variant_description() const {
    return variant_ == ProbeVariant::Modern ? "tp_btf + BTF, Linux 5.11+" : "raw_tp + CO-RE reads, Linux 5.8+";
}

size_t ProcProbe::drain(const std::function<void(const ProcEvent&)>& sink) {
    return ring_->drain([&](const void* data, size_t size) {
        ProcEvent ev;
        if (!decode_event(data, size, ev)) return false;
        sink(ev);
        return true;
    });
}

bool ProcProbe::wait(int timeout_ms) {
    // poll(), not the ring's epoll: most events come without a wake-up.
    return ring_->wait(timeout_ms);
}

void ProcProbe::read_counts(std::vector<ProcCountsReading>& out) {
    out.clear();
    for_each_percpu_entry<uint64_t>(counts_fd_, percpu_, [&](uint64_t key, const auto& per_cpu) {
        ProcCountsReading r;
        r.cgroup_id = key;
        for (const auto& v : per_cpu) {
            r.execs += v.execs;
            r.forks += v.forks;
            r.exits += v.exits;
            r.oom_kills += v.oom_kills;
        }
        out.push_back(r);
    });
}

void ProcProbe::forget_cgroups(const std::vector<uint64_t>& cgroup_ids) {
    forget_cgroup_keys<uint64_t>(counts_fd_, cgroup_ids, [](uint64_t k) { return k; });
}

std::array<uint64_t, PROC_DROP_REASONS> ProcProbe::drops() const {
    return sum_drop_counters<PROC_DROP_REASONS>(drops_fd_, ncpus_);
}

uint64_t ProcProbe::ring_drops() const { return drops()[PROC_DROP_RINGBUF_FULL]; }

}  // namespace tracer::probes
