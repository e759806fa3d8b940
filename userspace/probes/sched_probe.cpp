#include "probes/sched_probe.h"

#include "probes/bpf_maps.h"
#include "probes/bpf_support.h"
#include "log.h"
#include "sched.skel.h"
#include "sched_modern.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <type_traits>

namespace tracer::probes {
namespace {

// Counting slots (bpf/sched.bpf.c): a slot is one sched_row per CPU.
constexpr uint64_t kFastCountBudget = 4ull << 20;
constexpr uint32_t kMinFastSlots = 16, kMaxFastSlots = 1024;
static_assert(kMaxFastSlots <= UINT16_MAX, "a thread caches the slots per CPU in 16 bits");
static_assert(sizeof(sched_thread) == 64, "a thread's entry is one cache line");

void add_stats(SchedTotals& t, const sched_stats& v) {
    t.runq_count += v.runq_count;
    t.runq_total_ns += v.runq_total_ns;
    t.oncpu_ns += v.oncpu_ns;
    t.voluntary += v.voluntary;
    t.involuntary += v.involuntary;
    t.migrations += v.migrations;
    for (int i = 0; i < SCHED_RUNQ_SLOTS; ++i) t.runq_slots[i] += v.runq_slots[i];
}

}  // namespace

template <class Skeleton>
void SchedProbe::load(const SchedProbeOptions& o) {
    LIBBPF_OPTS(bpf_object_open_opts, open_opts);
    if (!o.btf_path.empty()) open_opts.btf_custom_path = o.btf_path.c_str();
    Skeleton* skel = Skeleton::open(&open_opts);
    if (!skel) throw_libbpf_error("cannot open the sched BPF object", errno);
    std::unique_ptr<void, void (*)(void*)> owner(skel, [](void* p) { Skeleton::destroy(static_cast<Skeleton*>(p)); });

    // One switch program per run-queue latency mode, so a switch reads no setting.
    skel->rodata->runq_from_sched_info = sched_info_;
    bpf_program__set_autoload(skel->progs.tracer_sched_wakeup, !sched_info_);
    bpf_program__set_autoload(skel->progs.tracer_sched_switch_clock, !sched_info_);
    bpf_program__set_autoload(skel->progs.tracer_sched_switch, sched_info_);
    // The flush (run by read(), never attached) is a raw tracepoint program;
    // the 5.11+ build's calls helpers that kernels gave those programs later
    // than tp_btf ones: left out where they are missing, and read() charges
    // running threads at their switch-out, as before.
    auto raw_tp_has = [](bpf_func_id f) {
        return libbpf_probe_bpf_helper(BPF_PROG_TYPE_RAW_TRACEPOINT, f, nullptr) == 1;
    };
    const bool flush = !std::is_same_v<Skeleton, sched_modern_bpf> ||
                       (raw_tp_has(BPF_FUNC_get_current_task_btf) && raw_tp_has(BPF_FUNC_task_storage_get));
    bpf_program__set_autoload(skel->progs.tracer_sched_flush, flush);
    bpf_program__set_autoattach(skel->progs.tracer_sched_flush, false);
    skel->rodata->cgroup_key_mode = o.keying.mode;
    skel->rodata->cgroup_v1_subsys_id = o.keying.v1_subsys_id;
    bpf_map__set_max_entries(skel->maps.sched_stats, std::max<uint32_t>(o.map_entries, 64));
    allocate_lazily_where_supported(skel->maps.sched_stats);
    if (bpf_map__type(skel->maps.sched_tasks) != BPF_MAP_TYPE_TASK_STORAGE)
        bpf_map__set_max_entries(skel->maps.sched_tasks, std::max<uint32_t>(o.max_threads, 64));
    const uint32_t slots = o.fast_slots ? std::min(*o.fast_slots, kMaxFastSlots)
                                         : CountingSlots::fitting(kFastCountBudget, sizeof(sched_row), ncpus_,
                                                                  kMinFastSlots, kMaxFastSlots);
    skel->rodata->fast_slots = slots;
    bpf_map__set_max_entries(skel->maps.sched_counts, std::max<uint32_t>(1, uint32_t(ncpus_) * slots));
    bpf_map__set_max_entries(skel->maps.sched_slots, std::max<uint32_t>(1, slots));
    bpf_map__set_max_entries(skel->maps.sched_free_slots, std::max<uint32_t>(1, slots));
    if (int err = Skeleton::load(skel)) throw_libbpf_error("cannot load the sched BPF programs", err);
    fast_ = CountingSlots(bpf_map__fd(skel->maps.sched_slots), bpf_map__fd(skel->maps.sched_free_slots),
                          bpf_map__fd(skel->maps.sched_counts), slots, ncpus_, sizeof(sched_row),
                          "the sched count array");
    if (int err = Skeleton::attach(skel))
        throw_libbpf_error("cannot attach the sched BPF programs to the scheduler tracepoints", err);

    obj_ = skel->obj;
    stats_fd_ = bpf_map__fd(skel->maps.sched_stats);
    drops_fd_ = bpf_map__fd(skel->maps.sched_drops);
    flush_fd_ = flush ? bpf_program__fd(skel->progs.tracer_sched_flush) : -1;
    if (!flush)
        LOG_INFO("sched: this kernel does not give raw tracepoint programs the task helpers the flush of running "
                 "threads calls: a running thread's time on CPU shows when it is switched out");
    skel_ = std::move(owner);
}

bool kernel_keeps_sched_info() {
    std::ifstream in("/proc/thread-self/schedstat");
    uint64_t oncpu = 0, run_delay = 0, pcount = 0;
    return static_cast<bool>(in >> oncpu >> run_delay >> pcount) && pcount > 0;
}

SchedProbe::SchedProbe(const SchedProbeOptions& o) : sched_info_(o.prefer_sched_info && kernel_keeps_sched_info()) {
    install_libbpf_logging();
    ncpus_ = libbpf_num_possible_cpus();
    if (ncpus_ <= 0) throw_libbpf_error("cannot count possible CPUs", ncpus_);
    percpu_.resize(ncpus_);

    variant_ = load_newest_build(o.variant, "sched", [&] { load<sched_modern_bpf>(o); }, [&] { load<sched_bpf>(o); });
    bpf_program* prog;
    bpf_object__for_each_program(prog, obj_) {
        if (bpf_program__autoload(prog) && bpf_program__autoattach(prog))
            attached_.push_back(bpf_program__section_name(prog));
    }
    flush_running();  // tries it once: running_flushed() is known from the start
}

SchedProbe::~SchedProbe() = default;

const char* SchedProbe::variant_description() const {
    if (variant_ == ProbeVariant::Modern)
        return sched_info_ ? "task storage + BTF, Linux 5.11+; run-queue latency from sched_info"
                           : "task storage + BTF, Linux 5.11+; run-queue latency from wake-up stamps";
    return sched_info_ ? "thread-id hash, Linux 5.8+; run-queue latency from sched_info"
                       : "thread-id hash, Linux 5.8+; run-queue latency from wake-up stamps";
}

void SchedProbe::flush_running() {
    if (flush_fd_ < 0) return;
    for (int cpu = 0; cpu < ncpus_; ++cpu) {
        LIBBPF_OPTS(bpf_test_run_opts, run, .flags = BPF_F_TEST_RUN_ON_CPU, .cpu = uint32_t(cpu));
        if (bpf_prog_test_run_opts(flush_fd_, &run) == 0) continue;
        int err = errno;
        if (err == ENXIO) continue;  // an offline CPU: nothing runs there
        // Before 5.10 raw tracepoint programs cannot be run on a given CPU
        // (ENOTSUPP, 524, which strerror does not know): running threads are
        // then charged when they are switched out.
        LOG_INFO("sched: cannot run the flush of running threads on CPU %d (%s): a thread's time on CPU "
                 "shows when it is switched out",
                 cpu, err == 524 ? "not supported: Linux 5.10+ runs a program on a given CPU" : std::strerror(err));
        flush_fd_ = -1;
        return;
    }
}

void SchedProbe::read(std::vector<SchedReading>& out) {
    flush_running();
    out.clear();
    for_each_percpu_entry<sched_key>(stats_fd_, percpu_, [&](const sched_key& key, const auto& per_cpu) {
        SchedReading r{key.cgroup_id, {}};
        for (const auto& v : per_cpu) add_stats(r.totals, v);
        out.push_back(r);
    });
    // and the cgroups holding a counting slot
    fast_.add_held_rows<sched_row>(out, [](SchedReading& r, const sched_row& v) { add_stats(r.totals, v.stats); });
}

void SchedProbe::forget_cgroups(const std::vector<uint64_t>& cgroup_ids) {
    // One key per cgroup: delete directly, no walk. ENOENT (never seen) is fine.
    for (uint64_t id : cgroup_ids) {
        sched_key key{id};
        bpf_map_delete_elem(stats_fd_, &key);
    }
    // A row that names no cgroup is every thread's cached slot gone stale
    // (bpf/sched.bpf.c): cleared on every CPU before the rows are zeroed.
    fast_.release(cgroup_ids, [this](const std::vector<uint32_t>& slots) {
        for (uint32_t slot : slots)
            for (int cpu = 0; cpu < ncpus_; ++cpu) {
                auto* row = static_cast<sched_row*>(const_cast<void*>(fast_.at(cpu, slot)));
                __atomic_store_n(&row->owner, 0, __ATOMIC_SEQ_CST);
            }
    });
}

int SchedProbe::thread_entries_fd() const {
    const bpf_map* map = bpf_object__find_map_by_name(obj_, "sched_threads");
    return map ? bpf_map__fd(map) : -1;
}

std::array<uint64_t, SCHED_DROP_REASONS> SchedProbe::drops() const {
    return sum_drop_counters<SCHED_DROP_REASONS>(drops_fd_, ncpus_);
}

}  // namespace tracer::probes
