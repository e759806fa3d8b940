// Loads bpf/proc.bpf.c (embedded skeleton), attaches it to the process
// lifecycle tracepoints (exec, fork, exit, oom:mark_victim), hands out its
// ring-buffer events and reads its per-CPU per-cgroup counters. Destroying the
// probe detaches every program; nothing is pinned.
#pragma once

#include "bpf/proc.h"
#include "containers/cgroup_layout.h"
#include "probes/bpf_maps.h"
#include "probes/bpf_support.h"  // ProbeVariant, skipped_runs

#include <array>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tracer::probes {

struct ProcProbeOptions {
    containers::CgroupKeying keying;
    uint32_t ring_bytes = 256 * 1024;  // event ring; rounded up to a power-of-two number of pages
    uint32_t map_entries = 16384;      // cgroups with counters
    std::string btf_path;              // external BTF ("" = the kernel's)
    ProbeVariant variant = ProbeVariant::Auto;
    // Report OOM victims when they exit, as on kernels whose oom:mark_victim
    // names only a pid (always on there). For tests of that path.
    bool oom_report_at_exit = false;
    // The kinds whose events go into the ring (1 << PROC_EVENT_*; see
    // proc_event_bit()); every kind is counted either way.
    uint32_t emitted_events = ~0u;
};

enum class ProcEventKind : uint32_t {
    Exec = PROC_EVENT_EXEC,
    Fork = PROC_EVENT_FORK,  // a new process (not a thread); pid/tgid: the child
    Exit = PROC_EVENT_EXIT,  // a thread-group leader exited
    Oom = PROC_EVENT_OOM,    // pid/tgid/comm/cgroup_id: the victim
};

constexpr uint32_t proc_event_bit(ProcEventKind k) { return 1u << static_cast<uint32_t>(k); }

struct ProcEvent {
    ProcEventKind kind = ProcEventKind::Exec;
    uint32_t pid = 0, tgid = 0, ppid = 0;
    uint64_t cgroup_id = 0;     // the task's cgroup key
    uint64_t timestamp_ns = 0;  // CLOCK_MONOTONIC
    std::string comm;
    // Exec
    std::string filename;
    // Exit
    int32_t exit_code = 0;  // wait status: WIFEXITED/WEXITSTATUS/WTERMSIG decode it
    uint64_t lifetime_ns = 0;
    // Oom
    uint64_t oom_memcg_id = 0;        // the victim's memory cgroup key (0: none)
    uint64_t oom_total_vm_pages = 0;  // 0 when unknown
    uint32_t oom_trigger_tgid = 0;    // whose allocation invoked the OOM killer
    bool oom_at_exit = false;         // reported when the victim exited (see bpf/proc.bpf.c)
};

// Sums over CPUs of one cgroup's counters, since the entry was created.
struct ProcCountsReading {
    uint64_t cgroup_id = 0;
    uint64_t execs = 0, forks = 0, exits = 0, oom_kills = 0;
};

class ProcProbe {
public:
    // Opens, loads and attaches. Throws ProbeError with a clear message.
    explicit ProcProbe(const ProcProbeOptions& options);
    ~ProcProbe();
    ProcProbe(const ProcProbe&) = delete;
    ProcProbe& operator=(const ProcProbe&) = delete;

    // The ring buffer map, for the caller's own poll/epoll (POLLIN). poll() and
    // select() see waiting events at once; epoll only learns of them from a
    // wake-up, and only OOM events wake (the others wait for a drain()).
    int ring_fd() const { return events_fd_; }
    // Hands every event available now to `sink`, without blocking; returns how
    // many. An exception from `sink` stops the drain (the event is consumed).
    size_t drain(const std::function<void(const ProcEvent&)>& sink);
    // Blocks up to `timeout_ms` until events are waiting: returns at once if
    // some are, else sleeps until an OOM event (the only kind that wakes) or the
    // timeout. True if events are waiting. Consumes nothing: drain() does.
    bool wait(int timeout_ms);

    // Every cgroup's counters (replacing `out`).
    void read_counts(std::vector<ProcCountsReading>& out);
    // Deletes the counters of cgroups that no longer exist (after their last read).
    void forget_cgroups(const std::vector<uint64_t>& cgroup_ids);

    // Events lost to a full ring since load (their counters still count them).
    uint64_t ring_drops() const;
    // Every failure since load, by enum proc_drop_reason.
    std::array<uint64_t, PROC_DROP_REASONS> drops() const;
    // Runs of each of this probe's programs the kernel skipped (see probes::skipped_runs).
    std::vector<std::pair<std::string, uint64_t>> skipped_runs() const { return probes::skipped_runs(obj_); }

    ProbeVariant variant() const { return variant_; }
    const char* variant_description() const;
    // "tp_btf/sched_process_exec, ..." for the start-up log.
    const std::vector<std::string>& attached() const { return attached_; }

private:
    template <class Skeleton>
    void load(const ProcProbeOptions& options, int mark_victim_prototype);

    std::unique_ptr<void, void (*)(void*)> skel_{nullptr, nullptr};  // owns the skeleton
    bpf_object* obj_ = nullptr;
    std::optional<EventRing> ring_;  // freed first
    int events_fd_ = -1, counts_fd_ = -1, drops_fd_ = -1;
    ProbeVariant variant_ = ProbeVariant::Baseline;
    int ncpus_;
    std::vector<std::string> attached_;
    std::vector<proc_counts> percpu_;  // scratch for one lookup
};

}  // namespace tracer::probes
