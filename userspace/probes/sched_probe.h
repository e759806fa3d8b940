// Loads bpf/sched.bpf.c (embedded skeleton), attaches it, and reads its
// per-CPU per-cgroup scheduling aggregates. Destroying the probe detaches
// every program; nothing is pinned.
#pragma once

#include "containers/cgroup_layout.h"
#include "probes/bpf_maps.h"     // CountingSlots
#include "probes/bpf_support.h"  // ProbeVariant: the same two builds
#include "bpf/sched.h"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct bpf_object;

namespace tracer::probes {

struct SchedProbeOptions {
    containers::CgroupKeying keying;
    uint32_t map_entries = 16384;  // cgroups
    uint32_t max_threads = 32768;  // threads alive at once (Baseline: the thread-id hash)
    std::string btf_path;          // external BTF ("" = the kernel's)
    ProbeVariant variant = ProbeVariant::Auto;
    // Run-queue latency from the scheduler's own per-task accounting
    // (sched_info: no clock read, no wake-up hook) where the kernel keeps it;
    // false: time stamps at wake-up and switch-in (see bpf/sched.bpf.c).
    bool prefer_sched_info = true;
    // Counting slots: cgroups whose switches count in a mapped per-CPU array
    // instead of the hash (bpf/sched.bpf.c). nullopt: as many as fit a few MiB
    // of memory for this CPU count; 0: every cgroup counts in the hash.
    std::optional<uint32_t> fast_slots;
};

// True when this kernel keeps per-task run-queue accounting (CONFIG_SCHED_INFO
// and it is switched on): /proc/thread-self/schedstat counts our own switch-ins.
bool kernel_keeps_sched_info();

// Sums over CPUs of one cgroup's entry, since the entry was created.
struct SchedTotals {
    uint64_t runq_count = 0;     // waits on a run queue (wake-up or preemption to running); in
                                 // sched_info mode charged when the task next switches out
    uint64_t runq_total_ns = 0;  // their summed length
    std::array<uint64_t, SCHED_RUNQ_SLOTS> runq_slots{};  // log2 ns histogram of the waits
    uint64_t oncpu_ns = 0;       // charged at switch-out, and for the task running on each CPU when
                                 // read() flushes (see running_flushed())
    uint64_t voluntary = 0;      // switch-outs that blocked
    uint64_t involuntary = 0;    // switch-outs that stayed runnable (preempted)
    uint64_t migrations = 0;
};

struct SchedReading {
    uint64_t cgroup_id;
    SchedTotals totals;
};

class SchedProbe {
public:
    // Opens, loads and attaches. Throws ProbeError with a clear message.
    explicit SchedProbe(const SchedProbeOptions& options);
    ~SchedProbe();
    SchedProbe(const SchedProbe&) = delete;
    SchedProbe& operator=(const SchedProbe&) = delete;

    // Reads every cgroup's entry (replacing `out`). First charges the thread
    // running on each CPU its time there so far (bpf/sched.bpf.c,
    // tracer_sched_flush), where the kernel can run a program on a given CPU.
    void read(std::vector<SchedReading>& out);

    // Whether read() charges running threads: false on kernels before 5.10
    // (no BPF_F_TEST_RUN_ON_CPU for raw tracepoint programs), where a thread's
    // time shows when it is switched out.
    bool running_flushed() const { return flush_fd_ >= 0; }

    // Deletes the entries of cgroups that no longer exist (after their last read).
    void forget_cgroups(const std::vector<uint64_t>& cgroup_ids);

    ProbeVariant variant() const { return variant_; }
    const char* variant_description() const;

    // Failed map updates since load, by enum sched_drop_reason.
    std::array<uint64_t, SCHED_DROP_REASONS> drops() const;
    // Runs of each of this probe's programs the kernel skipped (see probes::skipped_runs).
    std::vector<std::pair<std::string, uint64_t>> skipped_runs() const { return probes::skipped_runs(obj_); }

    uint32_t fast_slots() const { return fast_.size(); }
    // Cgroups holding a counting slot now.
    size_t fast_slots_held() const { return fast_.held().size(); }
    std::optional<uint32_t> fast_slot_of(uint64_t cgroup) const { return fast_.slot_of(cgroup); }

    // The 5.11+ build's sched_threads array (bpf/sched.bpf.c), -1 in the
    // 5.8+ build: tests take its entries to drive threads to task storage.
    int thread_entries_fd() const;

    // "raw_tp/sched_switch, ..." for the start-up log.
    const std::vector<std::string>& attached() const { return attached_; }

private:
    template <class Skeleton>
    void load(const SchedProbeOptions& options);

    std::unique_ptr<void, void (*)(void*)> skel_{nullptr, nullptr};  // owns the skeleton
    bpf_object* obj_ = nullptr;
    void flush_running();

    int stats_fd_ = -1, drops_fd_ = -1;
    int flush_fd_ = -1;         // tracer_sched_flush; -1 once the kernel refused to run it
    CountingSlots fast_;        // sched_counts: [cpu][slot] sched_row
    ProbeVariant variant_ = ProbeVariant::Baseline;
    bool sched_info_ = false;
    int ncpus_;
    std::vector<std::string> attached_;
    std::vector<sched_stats> percpu_;  // scratch for one lookup
};

}  // namespace tracer::probes
