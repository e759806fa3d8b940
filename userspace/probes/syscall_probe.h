// Loads bpf/syscalls.bpf.c (embedded skeleton), attaches it, and reads its
// per-CPU (cgroup, syscall) aggregates. Destroying the probe detaches every
// program; nothing is pinned.
#pragma once

#include "containers/cgroup_layout.h"
#include "probes/bpf_maps.h"
#include "probes/bpf_support.h"
#include "bpf/syscalls.h"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

struct bpf_object;
struct bpf_program;
struct bpf_link;

namespace tracer::probes {

struct SyscallProbeOptions {
    bool latency = true;          // two hooks + in-flight slots; false: sys_exit only
    // With latency: the syscalls to time (nullopt = all); the others are only
    // counted, at the cost of count-only mode.
    std::optional<std::vector<uint32_t>> timed_syscalls;
    uint32_t map_entries = 16384; // (cgroup, syscall) pairs
    // Counting slots (see bpf/syscalls.bpf.c): the cgroups that count without
    // a hash lookup per syscall. nullopt: as many as an 8 MiB array holds on
    // this many CPUs (8 to 256); 0: every count goes through the hash.
    std::optional<uint32_t> fast_slots;
    uint32_t max_threads = 32768; // threads inside a syscall at once (latency mode)
    containers::CgroupKeying keying;
    std::string btf_path;         // external BTF ("" = the kernel's)
    ProbeVariant variant = ProbeVariant::Auto;
    // Latency of busy threads is sampled: each CPU counts the timed syscalls
    // of the thread that last entered one there within a latency window (16
    // jiffies without windows); beyond `sample_after`, each call is timed with
    // probability 1/`sample_every` (rounded up to a power of two) and stands
    // for that many in the histogram and sum. Counts and errors stay exact.
    // sample_every <= 1: every call timed.
    uint32_t sample_after = 256;
    uint32_t sample_every = 16;
    // Latency windows: sys_enter is attached for `latency_window_ms` of every
    // `latency_period_ms` (the first window opens at load) and detached
    // otherwise; sys_exit stays attached, so counts and errors stay exact and
    // only the calls entered inside a window are timed. window >= period:
    // sys_enter stays attached. A process forked (without exec) while a
    // window is open holds a copy of the link and keeps sys_enter attached
    // until it exits or closes it: the agent never forks.
    uint32_t latency_window_ms = 1000;
    uint32_t latency_period_ms = 1000;
    // On a quiet host attaching and detaching sys_enter (each rewrites the
    // tracepoint's code and interrupts every CPU) costs more than leaving it
    // attached: when the syscalls sys_enter saw in a window, across CPUs, come
    // to fewer than this many per second, it stays attached until the next
    // window would end, a period later, and so on until the rate reaches it.
    // Meanwhile a CPU that alone makes a period's worth of a quiet host's
    // calls wakes the window thread to ask at once, so load arriving on a
    // quiet host pays the attached hook only until then.
    // 0: every window closes on time.
    uint32_t latency_quiet_rate = 0;
    // The host's /proc (the thread ids the kernel reports live there). The
    // thread-id hash build looks up the threads holding an in-flight slot
    // in it, to release those of threads gone without their exit counted.
    std::string proc_root = "/proc";
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

    // Deletes the entries of cgroups that no longer exist (after their last
    // read) and hands their counting slots back.
    void forget_cgroups(const std::vector<uint64_t>& cgroup_ids);

    // Thread ids holding an in-flight slot right now (Baseline, latency mode):
    // bounded by the threads alive, since exiting threads release theirs.
    // Modern keeps slots in task storage, freed with the task (not listable).
    std::vector<uint32_t> inflight_threads() const;
    // Releases the in-flight slots of threads that no longer exist (Baseline,
    // latency mode): a thread's slot goes at its exit, unless the kernel
    // skipped that run (see probes::skipped_runs). read() calls it every 30 s;
    // it stats /proc/<tid> per slot. Returns the slots released; 0 when the
    // proc root is not the initial PID namespace's (logged at load).
    size_t release_exited_threads();
    uint64_t exited_threads_released() const { return exited_released_; }

    ProbeVariant variant() const { return variant_; }
    // "task storage + BTF (Linux 5.11+)" or "thread-id hash (Linux 5.8+)", for the log
    const char* variant_description() const;

    // Failed map updates since load, by enum syscall_drop_reason.
    std::array<uint64_t, SYSCALL_DROP_REASONS> drops() const;
    // Runs of each of this probe's programs the kernel skipped (see probes::skipped_runs).
    std::vector<std::pair<std::string, uint64_t>> skipped_runs() const { return probes::skipped_runs(obj_); }

    // "raw_tp/sys_enter, raw_tp/sys_exit, ..." for the start-up log.
    const std::vector<std::string>& attached() const { return attached_; }

    // Cgroups that can count on the fast path at once (the rest count in the
    // hash, exactly, at a hash lookup per syscall), and how many do now.
    uint32_t fast_slots() const { return fast_.size(); }
    size_t fast_slots_held() const;
    std::optional<uint32_t> fast_slot_of(uint64_t cgroup_id) const;

    // Resident counts (see bpf/syscalls.h): gives each CPU's own page to the
    // slot that counted most calls there since the last placement (at least
    // kResidentMinRate a second, and twice the resident one's calls to take
    // the page from it), and folds a page given up before into its cgroup's
    // counts once no BPF run can still write it: after a wait for every run
    // that began before (wait_for_bpf_runs), which this call makes when a
    // page waits for one; where that wait proves nothing, kResidentGrace
    // after it was given up. The window thread calls it every period; read()
    // places without waiting (folding what a wait already proved), or, with
    // no window thread, as this call does. Calls less than kPlacementGap
    // after the last placement do nothing.
    void place_resident_counts() { place_resident(true); }
    // The cgroup whose counts `cpu`'s page holds now (being given up or not),
    // and the calls counted on that page since it was last zeroed.
    std::optional<uint64_t> resident_cgroup(int cpu);
    uint64_t resident_calls(int cpu);
    // Waits for BPF runs the placements have made (each before folding pages).
    uint64_t resident_waits();
    static constexpr double kResidentMinRate = 1000;  // calls/s
    static constexpr std::chrono::milliseconds kResidentGrace{1000};  // (only where waits prove nothing)
    static constexpr std::chrono::milliseconds kPlacementGap{500};

    // Latency windows opened since load (the first at load; 0 in count-only
    // mode), and the attaches of sys_enter that failed (logged, retried at
    // the next window).
    uint64_t latency_windows() const { return windows_opened_.load(); }
    // Whether sys_enter is duty-cycled: windows asked for, and exit/exit_group
    // countable without it (the 5.11+ build on Linux 5.15+).
    bool latency_windowed() const { return windowed_; }
    uint64_t latency_window_failures() const { return window_failures_.load(); }
    // Calls sys_enter has stamped since load, summed over CPUs: how many
    // timed calls the latency histograms are estimated from (sampling weighs
    // the others in). A statistic: an increment racing another may be lost.
    uint64_t latency_stamps();
    // Periods sys_enter stayed attached past a window's end because the host
    // was quiet (latency_quiet_rate).
    uint64_t latency_windows_held() const { return windows_held_.load(); }
    // Whether sys_enter is attached past a window now (the host quiet), and
    // the host's syscall rate when the window thread last measured it (0
    // before it has, or without a quiet rate).
    bool latency_held_now() const { return held_now_.load(std::memory_order_relaxed); }
    uint64_t latency_host_rate() const { return host_rate_.load(std::memory_order_relaxed); }
    // The window settings the probe was loaded with.
    uint32_t latency_window_ms() const { return window_ms_; }
    uint32_t latency_period_ms() const { return period_ms_; }
    uint32_t latency_quiet_rate() const { return quiet_rate_; }

private:
    template <class Skeleton>
    void load(const SyscallProbeOptions& options);
    // Attaches sys_enter (true) or detaches it; on the window thread after load.
    bool open_window();
    void close_window();
    void run_windows(std::stop_token stop, std::chrono::milliseconds window, std::chrono::milliseconds period,
                     uint32_t quiet_rate);
    // Syscalls sys_enter has seen on every CPU since load, modulo 2^32.
    uint32_t syscalls_entered();

    // Adds the fast-counting slots' counts (see bpf/syscalls.bpf.c) to `out`.
    void read_fast_counts(std::vector<SyscallReading>& out);

    std::unique_ptr<void, void (*)(void*)> skel_{nullptr, nullptr};  // owns the skeleton
    bpf_object* obj_ = nullptr;
    int stats_fd_ = -1, inflight_fd_ = -1, drops_fd_ = -1;
    // Each CPU's syscall_cache entry, mapped: userspace writes its settings
    // and generations part, the same on every CPU (see bpf/syscalls.h).
    MappedArray cpus_;
    syscall_cpu_cache* cpu_entries() { return reinterpret_cast<syscall_cpu_cache*>(cpus_.get()); }
    template <class Fn>
    void for_each_cpu(Fn fn) {
        for (int i = 0; i < ncpus_; ++i) fn(cpu_entries()[i]);
    }
    // A count the programs keep per CPU, summed (relaxed loads: each CPU's
    // programs write their own entry).
    template <class T>
    T sum_over_cpus(T syscall_cpu_cache::*field) {
        T n = 0;
        for_each_cpu([&](syscall_cpu_cache& c) { n += __atomic_load_n(&(c.*field), __ATOMIC_RELAXED); });
        return n;
    }
    CountingSlots fast_;  // syscall_counts: [cpu][slot][nr]

    // Resident counts: which cgroup's slot each CPU's page counts, as
    // userspace last told BPF (guarded by resident_mu_ with what follows).
    struct Resident {
        uint64_t cgroup = 0;  // 0: the page is free
        uint32_t slot = SYSCALL_SLOT_NONE;
        bool giving_up = false;  // BPF told to stop (resident_slot cleared) at `since`
        std::chrono::steady_clock::time_point since;
        uint64_t wait = 0;  // the first wait for BPF runs begun after that (see waits_begun_)
    };
    // Places (see place_resident_counts); may_wait: waits for BPF runs first
    // if a given-up page needs it (blocks for that long).
    void place_resident(bool may_wait);
    // Whether the page of `cpu`, given up, may be folded: no run can still write it.
    bool grace_over(const Resident& r, std::chrono::steady_clock::time_point now) const;
    // Tells BPF to stop counting on the page of `cpu` (its resident_slot cleared at `now`).
    void give_up_resident(int cpu, std::chrono::steady_clock::time_point now);
    // Adds the page of `cpu`, given up and past its grace (grace_over), into retired_ and zeroes it.
    void fold_resident(int cpu);
    // add(nr, n) for each count of `slot` (held by `cgroup`) on `cpu`.
    template <class Add>
    void each_count(int cpu, uint64_t cgroup, uint32_t slot, Add&& add);
    std::mutex resident_mu_;
    std::vector<Resident> resident_;  // per CPU
    // Waits for BPF runs (wait_for_bpf_runs) begun, numbered from 1, and the
    // last one that returned; waits_prove_: false once one failed (kResidentGrace then)
    uint64_t waits_begun_ = 0, waits_done_ = 0;
    bool waits_prove_ = true;
    // [cpu * slots + slot]: the calls the slot had counted on that CPU at the
    // last placement, and the cgroup that held it then
    std::vector<uint64_t> placed_calls_, placed_cgroup_;
    std::chrono::steady_clock::time_point placed_at_;
    // counts folded out of given-up pages, per cgroup still holding its slot
    std::map<uint64_t, std::array<uint64_t, SYSCALL_RESIDENT_NRS>> retired_;
    ProbeVariant variant_ = ProbeVariant::Baseline;
    bool latency_;
    bool windowed_ = false;
    int ncpus_;
    std::vector<std::string> attached_;
    std::vector<syscall_stats> percpu_;  // scratch for one lookup
    // The /proc the sweep reads: "" without in-flight hash slots (task storage,
    // count-only) or when it is not the initial PID namespace's.
    std::string proc_root_;
    std::chrono::steady_clock::time_point swept_at_;
    uint64_t exited_released_ = 0;

    bpf_program* enter_prog_ = nullptr;  // sys_enter, attached by open_window()
    std::unique_ptr<bpf_link, int (*)(bpf_link*)> enter_link_{nullptr, nullptr};
    std::atomic<uint64_t> windows_opened_{0}, window_failures_{0}, windows_held_{0};
    uint32_t window_ms_, period_ms_, quiet_rate_;
    std::atomic<bool> held_now_{false};
    std::atomic<uint64_t> host_rate_{0};  // syscalls/s, as last measured
    int busy_fd_ = -1;  // the syscall_busy ring: sys_enter's alarm while held
    std::jthread window_thread_;  // last: stopped and joined before the rest goes
};

}  // namespace tracer::probes
