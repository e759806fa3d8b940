#include "probes/proc_probe.h"

#include "probes/bpf_support.h"
#include "log.h"
#include "proc.skel.h"
#include "proc_modern.skel.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <unordered_set>
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
    bpf_map__set_max_entries(skel->maps.proc_events, ring_buffer_size(o.ring_bytes));
    if (int err = Skeleton::load(skel)) throw_libbpf_error("cannot load the proc BPF programs", err);
    if (int err = Skeleton::attach(skel))
        throw_libbpf_error("cannot attach the proc BPF programs to the sched and oom tracepoints", err);

    events_fd_ = bpf_map__fd(skel->maps.proc_events);
    ring_buffer* rb = ring_buffer__new(events_fd_, &ProcProbe::on_sample, this, nullptr);
    if (!rb) throw_libbpf_error("cannot map the proc event ring buffer", errno);
    ring_ = {rb, ring_buffer__free};
    counts_fd_ = bpf_map__fd(skel->maps.proc_counts);
    drops_fd_ = bpf_map__fd(skel->maps.proc_drops);
    skel_ = std::move(owner);
    bpf_program* prog;
    bpf_object__for_each_program(prog, skel->obj) {
        if (bpf_program__autoload(prog)) attached_.push_back(bpf_program__section_name(prog));
    }
}

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

int ProcProbe::on_sample(void* ctx, void* data, size_t size) {
    auto* self = static_cast<ProcProbe*>(ctx);
    proc_event h;
    if (size < sizeof h) return 0;
    std::memcpy(&h, data, sizeof h);
    ProcEvent ev;
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
        if (size < sizeof e) return 0;
        std::memcpy(&e, data, sizeof e);
        ev.filename = bounded(e.filename, sizeof e.filename);
        break;
    }
    case PROC_EVENT_FORK:
        break;
    case PROC_EVENT_EXIT: {
        proc_exit_event e;
        if (size < sizeof e) return 0;
        std::memcpy(&e, data, sizeof e);
        ev.exit_code = e.exit_code;
        ev.lifetime_ns = e.lifetime_ns;
        break;
    }
    case PROC_EVENT_OOM: {
        proc_oom_event e;
        if (size < sizeof e) return 0;
        std::memcpy(&e, data, sizeof e);
        ev.oom_memcg_id = e.memcg_id;
        ev.oom_total_vm_pages = e.total_vm_pages;
        ev.oom_trigger_tgid = e.trigger_tgid;
        ev.oom_at_exit = e.flags & PROC_OOM_AT_EXIT;
        break;
    }
    default:
        return 0;  // a kind this build does not know
    }
    try {
        (*self->sink_)(ev);
    } catch (...) {
        // never unwind through libbpf's C frames
        self->sink_error_ = std::current_exception();
        return -1;
    }
    ++self->delivered_;
    return 0;
}

size_t ProcProbe::drain(const std::function<void(const ProcEvent&)>& sink) {
    sink_ = &sink;
    delivered_ = 0;
    int n = ring_buffer__consume(ring_.get());
    sink_ = nullptr;
    if (sink_error_) std::rethrow_exception(std::exchange(sink_error_, nullptr));
    if (n < 0) throw_libbpf_error("cannot read the proc event ring buffer", n);
    return delivered_;
}

bool ProcProbe::wait(int timeout_ms) {
    // poll(), not the ring's epoll: poll asks the ring whether data is waiting on
    // every call, epoll only learns of it from a wake-up, and most events have none.
    pollfd p{events_fd_, POLLIN, 0};
    int n = poll(&p, 1, timeout_ms);
    if (n < 0 && errno != EINTR) throw_libbpf_error("cannot wait on the proc event ring buffer", errno);
    return n > 0 && (p.revents & POLLIN);
}

void ProcProbe::read_counts(std::vector<ProcCountsReading>& out) {
    out.clear();
    const int fd = counts_fd_;
    uint64_t key = 0, next = 0;
    bool first = true;
    while (bpf_map_get_next_key(fd, first ? nullptr : &key, &next) == 0) {
        first = false;
        key = next;
        if (bpf_map_lookup_elem(fd, &key, percpu_.data()) != 0) continue;  // deleted meanwhile
        ProcCountsReading r;
        r.cgroup_id = key;
        for (const auto& v : percpu_) {
            r.execs += v.execs;
            r.forks += v.forks;
            r.exits += v.exits;
            r.oom_kills += v.oom_kills;
        }
        out.push_back(r);
    }
}

void ProcProbe::forget_cgroups(const std::vector<uint64_t>& cgroup_ids) {
    if (cgroup_ids.empty()) return;
    std::unordered_set<uint64_t> dead(cgroup_ids.begin(), cgroup_ids.end());
    std::vector<uint64_t> doomed;
    uint64_t key = 0, next = 0;
    bool first = true;
    while (bpf_map_get_next_key(counts_fd_, first ? nullptr : &key, &next) == 0) {
        first = false;
        key = next;
        if (dead.count(key)) doomed.push_back(key);
    }
    for (uint64_t k : doomed) bpf_map_delete_elem(counts_fd_, &k);
}

std::array<uint64_t, PROC_DROP_REASONS> ProcProbe::drops() const {
    std::array<uint64_t, PROC_DROP_REASONS> total{};
    std::vector<uint64_t> values(ncpus_);
    for (uint32_t reason = 0; reason < PROC_DROP_REASONS; ++reason) {
        if (bpf_map_lookup_elem(drops_fd_, &reason, values.data()) != 0) continue;
        for (uint64_t v : values) total[reason] += v;
    }
    return total;
}

uint64_t ProcProbe::ring_drops() const { return drops()[PROC_DROP_RINGBUF_FULL]; }

}  // namespace tracer::probes
