// Loads bpf/syscalls.bpf.c (embedded skeleton), attaches it, and reads its
// per-CPU (cgroup, syscall) aggregates. Destroying the probe detaches every
// program; nothing is pinned.
#pragma once

#include "containers/cgroup_layout.h"
#include "probes/bpf_support.h"
#include "bpf/syscalls.h"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct bpf_object;

namespace tracer::probes {

struct SyscallProbeOptions {
    bool latency = true;          // two hooks + in-flight slots; false: sys_exit only
    // With latency: the syscalls to time (nullopt = all); the others are only
    // counted, at the cost of count-only mode.
    std::optional<std::vector<uint32_t>> timed_syscalls;
    uint32_t map_entries = 16384; // (cgroup, syscall) pairs
    uint32_t max_threads = 32768; // threads inside a syscall at once (latency mode)
    containers::CgroupKeying keying;
    std::string btf_path;         // external BTF ("" = the kernel's)
    ProbeVariant variant = ProbeVariant::Auto;
    // Latency of busy threads is sampled: beyond `sample_after` timed syscalls
    // of one thread within 16 jiffies, one in `sample_every` (rounded up to a
    // power of two) is timed and stands for that many in the histogram and
    // sum. Counts and errors stay exact. sample_every <= 1: every call timed.
    uint32_t sample_after = 256;
    uint32_t sample_every = 16;
};

// Sums over CPUs of one (cgroup, syscall) entry, since the entry was created.
struct SyscallTotals {
    uint64_t count = 0;
    uint64_t errors = 0;
    uint64_t total_ns = 0;
    uint64_t max_ns = 0;  // largest latency in the interval that read() ended (0: none)
    std::array<uint64_t, SYSCALL_LATENCY_SLOTS> slots{};
};

struct SyscallReading {
    uint64_t cgroup_id;
    uint32_t nr;
    SyscallTotals totals;
};

class SyscallProbe {
public:
    // Opens, loads and attaches. Throws ProbeError with a clear message.
    explicit SyscallProbe(const SyscallProbeOptions& options);
    ~SyscallProbe();
    SyscallProbe(const SyscallProbe&) = delete;
    SyscallProbe& operator=(const SyscallProbe&) = delete;

    // Reads every entry (replacing `out`) and starts a new max-latency interval.
    void read(std::vector<SyscallReading>& out);

    // Deletes the entries of cgroups that no longer exist (after their last read).
    void forget_cgroups(const std::vector<uint64_t>& cgroup_ids);

    // Thread ids holding an in-flight slot right now (Baseline, latency mode):
    // bounded by the threads alive, since exiting threads release theirs.
    // Modern keeps slots in task storage, freed with the task (not listable).
    std::vector<uint32_t> inflight_threads() const;

    ProbeVariant variant() const { return variant_; }
    // "task storage + BTF (Linux 5.11+)" or "thread-id hash (Linux 5.8+)", for the log
    const char* variant_description() const;

    // Failed map updates since load, by enum syscall_drop_reason.
    std::array<uint64_t, SYSCALL_DROP_REASONS> drops() const;

    // "raw_tp/sys_enter, raw_tp/sys_exit, ..." for the start-up log.
    const std::vector<std::string>& attached() const { return attached_; }

private:
    template <class Skeleton>
    void load(const SyscallProbeOptions& options);

    std::unique_ptr<void, void (*)(void*)> skel_{nullptr, nullptr};  // owns the skeleton
    bpf_object* obj_ = nullptr;
    int stats_fd_ = -1, inflight_fd_ = -1, drops_fd_ = -1;
    volatile __u64* max_epoch_ = nullptr;  // in the mmap-ed .bss
    ProbeVariant variant_ = ProbeVariant::Baseline;
    bool latency_;
    int ncpus_;
    std::vector<std::string> attached_;
    std::vector<syscall_stats> percpu_;  // scratch for one lookup
};

}  // namespace tracer::probes
