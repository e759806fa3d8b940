#include "probes/syscall_probe.h"

#include "probes/bpf_maps.h"
#include "probes/bpf_support.h"
#include "log.h"
#include "stop_fd.h"
#include "syscalls.skel.h"
#include "syscalls_modern.skel.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

namespace tracer::probes {
namespace {

// One page per CPU (bpf/syscalls.h): the resident counts fill it.
static_assert(sizeof(syscall_cpu_cache) == 4096, "a CPU's syscall_cache entry must be one page");

// The inode of the initial PID namespace (PROC_PID_INIT_INO in the kernel).
constexpr ino_t kInitialPidNamespaceInode = 0xEFFFFFFCU;

// BPF_FUNC_task_pt_regs in the running kernel's enum bpf_func_id (5.15+).
bool kernel_has_task_pt_regs() {
    std::unique_ptr<btf, void (*)(btf*)> b(btf__load_vmlinux_btf(), btf__free);
    if (!b) return false;
    int id = btf__find_by_name_kind(b.get(), "bpf_func_id", BTF_KIND_ENUM);
    const btf_type* t = id > 0 ? btf__type_by_id(b.get(), id) : nullptr;
    if (!t || !btf_is_enum(t)) return false;
    const struct btf_enum* e = btf_enum(t);
    for (int i = 0; i < btf_vlen(t); ++i, ++e)
        if (std::strcmp(btf__name_by_offset(b.get(), e->name_off), "BPF_FUNC_task_pt_regs") == 0) return true;
    return false;
}

// Counting slots: as many as fit in this budget for syscall_counts (8 bytes
// per syscall number, CPU and slot), between these bounds.
constexpr uint64_t kFastCountBudget = 8ull << 20;
constexpr uint32_t kMinFastSlots = 8, kMaxFastSlots = 256;

}  // namespace

template <class Skeleton>
void SyscallProbe::load(const SyscallProbeOptions& o) {
    LIBBPF_OPTS(bpf_object_open_opts, open_opts);
    if (!o.btf_path.empty()) open_opts.btf_custom_path = o.btf_path.c_str();
    Skeleton* skel = Skeleton::open(&open_opts);
    if (!skel) throw_libbpf_error("cannot open the syscalls BPF object", errno);
    std::unique_ptr<void, void (*)(void*)> owner(skel, [](void* p) { Skeleton::destroy(static_cast<Skeleton*>(p)); });

    // What every CPU's entry starts with (written once the map exists)
    syscall_cpu_cache settings{};
    // sample_every must be a power of two (the program masks with it)
    uint32_t every = 1;
    while (every < o.sample_every && every < (1u << 20)) every <<= 1;
    settings.sample_after = every > 1 ? o.sample_after : 0;
    settings.sample_mask = every - 1;
    settings.window_open = 1;
    settings.resident_slot = SYSCALL_SLOT_NONE;  // (placed once the probe has counted a while)
    if (o.latency) {  // count-only: nothing timed
        for (auto& word : settings.timed) word = o.timed_syscalls ? 0 : ~0ull;
        if (o.timed_syscalls)
            for (uint32_t nr : *o.timed_syscalls) {
                uint32_t bit = std::min<uint32_t>(nr, SYSCALL_NR_OTHER);
                settings.timed[bit / 64] |= 1ull << (bit % 64);
            }
    }
    skel->rodata->cgroup_key_mode = o.keying.mode;
    skel->rodata->cgroup_v1_subsys_id = o.keying.v1_subsys_id;
    bpf_map__set_max_entries(skel->maps.syscall_stats, std::max<uint32_t>(o.map_entries, 64));
    allocate_lazily_where_supported(skel->maps.syscall_stats);
    const uint32_t slots = o.fast_slots ? std::min(*o.fast_slots, kMaxFastSlots)
                                         : CountingSlots::fitting(kFastCountBudget, SYSCALL_FAST_NRS * sizeof(uint64_t),
                                                                  ncpus_, kMinFastSlots, kMaxFastSlots);
    settings.fast_slots = slots;
    bpf_map__set_max_entries(skel->maps.syscall_counts, std::max<uint32_t>(1, ncpus_ * slots * SYSCALL_FAST_NRS));
    bpf_map__set_max_entries(skel->maps.syscall_slots, std::max<uint32_t>(1, slots));
    bpf_map__set_max_entries(skel->maps.syscall_free_slots, std::max<uint32_t>(1, slots));
    bpf_map__set_max_entries(skel->maps.syscall_cache, uint32_t(ncpus_));
    bool task_storage = bpf_map__type(skel->maps.syscall_inflight) == BPF_MAP_TYPE_TASK_STORAGE;
    if (!task_storage)
        bpf_map__set_max_entries(skel->maps.syscall_inflight, o.latency ? std::max<uint32_t>(o.max_threads, 64) : 1);
    // Latency windows need exit and exit_group counted without sys_enter: the
    // 5.11+ build does it at thread exit, with bpf_task_pt_regs (5.15+).
    windowed_ = o.latency && o.latency_period_ms > 0 && o.latency_window_ms < o.latency_period_ms &&
                task_storage && kernel_has_task_pt_regs();
    skel->rodata->exits_at_task_exit = windowed_;
    settings.sample_by_window = windowed_;
    if (auto* p = bpf_object__find_program_by_name(skel->obj, "tracer_sys_task_exit"))
        bpf_program__set_autoload(p, windowed_);
    if (!o.latency) {
        // count-only: one hook, no per-thread state
        bpf_program__set_autoload(skel->progs.tracer_sys_enter, false);
        if (auto* p = bpf_object__find_program_by_name(skel->obj, "tracer_sys_thread_exit"))
            bpf_program__set_autoload(p, false);
    }
    // sys_enter is attached after sys_exit (open_window): every stamp's exit is seen
    if (o.latency) bpf_program__set_autoattach(skel->progs.tracer_sys_enter, false);
    if (int err = Skeleton::load(skel)) throw_libbpf_error("cannot load the syscalls BPF programs", err);
    cpus_ = map_array(bpf_map__fd(skel->maps.syscall_cache), size_t(ncpus_) * sizeof(syscall_cpu_cache),
                      "the syscalls per-CPU entries");
    for_each_cpu([&](syscall_cpu_cache& c) { c = settings; });  // before any program is attached
    fast_ = CountingSlots(bpf_map__fd(skel->maps.syscall_slots), bpf_map__fd(skel->maps.syscall_free_slots),
                          bpf_map__fd(skel->maps.syscall_counts), slots, ncpus_,
                          SYSCALL_FAST_NRS * sizeof(uint64_t), "the syscalls count array");
    resident_.assign(size_t(ncpus_), Resident{});
    placed_calls_.assign(size_t(ncpus_) * slots, 0);
    placed_cgroup_.assign(size_t(ncpus_) * slots, 0);
    placed_at_ = std::chrono::steady_clock::now();
    if (int err = Skeleton::attach(skel))
        throw_libbpf_error("cannot attach the syscalls BPF programs to raw_syscalls tracepoints", err);
    if (o.latency) {
        enter_prog_ = skel->progs.tracer_sys_enter;
        enter_link_ = {bpf_program__attach(enter_prog_), bpf_link__destroy};
        if (!enter_link_) throw_libbpf_error("cannot attach the syscalls BPF program to raw_syscalls:sys_enter", errno);
        windows_opened_ = 1;
    }

    obj_ = skel->obj;
    stats_fd_ = bpf_map__fd(skel->maps.syscall_stats);
    busy_fd_ = bpf_map__fd(skel->maps.syscall_busy);
    inflight_fd_ = task_storage ? -1 : bpf_map__fd(skel->maps.syscall_inflight);
    if (inflight_fd_ >= 0 && o.latency) {
        // Slot keys are thread ids of the initial PID namespace: only a /proc
        // of that namespace, read from it, can tell which of them are gone.
        struct stat ns;
        std::string self_ns = o.proc_root + "/self/ns/pid";
        if (stat(self_ns.c_str(), &ns) == 0 && ns.st_ino == kInitialPidNamespaceInode)
            proc_root_ = o.proc_root;
        else
            LOG_WARN("syscalls: tracer does not run in the host PID namespace (%s), so the in-flight slots of "
                     "threads whose exit the kernel skipped are never released; run it with the host's PIDs "
                     "(hostPID: true, --pid=host)",
                     self_ns.c_str());
    }
    drops_fd_ = bpf_map__fd(skel->maps.syscall_drops);
    skel_ = std::move(owner);
}

SyscallProbe::SyscallProbe(const SyscallProbeOptions& o)
    : latency_(o.latency), window_ms_(o.latency_window_ms), period_ms_(o.latency_period_ms),
      quiet_rate_(o.latency_quiet_rate) {
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
    if (latency_ && o.latency_window_ms < o.latency_period_ms && !windowed_)
        LOG_INFO("syscalls: latency windows need the 5.11+ build on Linux 5.15+ (bpf_task_pt_regs); "
                 "this kernel runs the %s: sys_enter stays attached",
                 variant_description());
    if (windowed_)
        window_thread_ = std::jthread([this, w = std::chrono::milliseconds(o.latency_window_ms),
                                       p = std::chrono::milliseconds(o.latency_period_ms),
                                       q = o.latency_quiet_rate](std::stop_token stop) { run_windows(stop, w, p, q); });
}

SyscallProbe::~SyscallProbe() = default;

// Before sys_enter runs again, a new generation: marks of "no stamp" that
// sys_exit made since the last window closed no longer hold.
bool SyscallProbe::open_window() {
    // (seq_cst atomics, not fences: ThreadSanitizer does not model fences)
    for_each_cpu([](syscall_cpu_cache& c) { __atomic_fetch_add(&c.window_gen, 1, __ATOMIC_SEQ_CST); });
    for_each_cpu([](syscall_cpu_cache& c) { __atomic_store_n(&c.window_open, 1, __ATOMIC_SEQ_CST); });
    bpf_link* link = bpf_program__attach(enter_prog_);
    const int err = errno;
    enter_link_ = {link, bpf_link__destroy};
    if (link) {
        windows_opened_.fetch_add(1);
        return true;
    }
    if (window_failures_.fetch_add(1) == 0)
        LOG_WARN("syscalls: cannot re-attach raw_syscalls:sys_enter for a latency window (%s); "
                 "syscalls are counted, latency waits for the next window",
                 std::strerror(err));
    return false;
}

// sys_enter stops stamping once window_open is clear, even a run that began
// before the detach (see bpf/syscalls.bpf.c).
void SyscallProbe::close_window() {
    enter_link_.reset();
    for_each_cpu([](syscall_cpu_cache& c) { __atomic_store_n(&c.window_open, 0, __ATOMIC_SEQ_CST); });
}

uint64_t SyscallProbe::latency_stamps() { return sum_over_cpus(&syscall_cpu_cache::stamps); }

// (wraps, as each CPU's count does: differences stay right)
uint32_t SyscallProbe::syscalls_entered() { return sum_over_cpus(&syscall_cpu_cache::enters); }

// The first window opened at load; the next ones open every `period` after it.
// Attach and detach (a few RCU grace periods) run here, never on the flush path.
// While the host is quiet (fewer syscalls per second than `quiet_rate` since
// the window opened or was last asked), a window ends without a detach and
// the hook stays attached until the next window would end, a period later:
// only the generation moves on, as at an open, so that sampling's per-window
// counts start again. Asking every window instead would wake this thread five
// times as often, and on a VM such wake-ups cost as much as the detaches they
// save (bench_agent_idle). Load arriving meanwhile does not wait for the
// period's end: each CPU is armed with its share of the calls a quiet host
// makes in a period, and sys_enter wakes this thread through the syscall_busy
// ring when one CPU has made them.
void SyscallProbe::run_windows(std::stop_token stop, std::chrono::milliseconds window,
                               std::chrono::milliseconds period, uint32_t quiet_rate) {
    using Clock = std::chrono::steady_clock;
    const StopFd stop_fd(stop);
    std::unique_ptr<ring_buffer, void (*)(ring_buffer*)> busy(
        quiet_rate ? ring_buffer__new(busy_fd_, [](void*, void*, size_t) { return 0; }, nullptr, nullptr) : nullptr,
        ring_buffer__free);
    if (quiet_rate && !busy)
        LOG_WARN("syscalls: cannot read the syscall_busy ring (%s): load arriving on a quiet host pays sys_enter "
                 "until the period ends",
                 std::strerror(errno));
    enum class Woke { Time, Busy, Stop };
    auto sleep_until = [&](Clock::time_point t) {
        for (;;) {
            if (stop.stop_requested()) return Woke::Stop;
            const auto now = Clock::now();
            if (now >= t) return Woke::Time;
            auto ms = std::chrono::ceil<std::chrono::milliseconds>(t - now).count();
            if (!stop_fd) ms = std::min<decltype(ms)>(ms, 100);  // no eventfd: look for stop now and then
            pollfd fds[2] = {{stop_fd ? stop_fd.get() : -1, POLLIN, 0},
                             {busy ? ring_buffer__epoll_fd(busy.get()) : -1, POLLIN, 0}};
            if (::poll(fds, 2, int(std::min<decltype(ms)>(ms, 3600 * 1000))) > 0 && fds[1].revents) {
                ring_buffer__consume(busy.get());
                return Woke::Busy;
            }
        }
    };
    auto start = Clock::now();
    uint32_t entered = syscalls_entered();
    auto counted_from = start;
    bool held = false;  // sys_enter left attached past a window's end
    auto quiet = [&] {
        if (!quiet_rate || !enter_link_) return false;
        const uint32_t now_entered = syscalls_entered();
        const auto now = Clock::now();
        const double seconds = std::chrono::duration<double>(now - counted_from).count();
        const double rate = seconds > 0 ? double(uint32_t(now_entered - entered)) / seconds : 0;
        entered = now_entered;
        counted_from = now;
        host_rate_.store(uint64_t(rate + 0.5), std::memory_order_relaxed);
        const bool below = rate < double(quiet_rate);
        if (below != held)
            LOG_DEBUG(below ? "syscalls: host quiet (%.0f syscalls/s, below latency_quiet_rate %u): "
                              "sys_enter stays attached"
                            : "syscalls: host busy (%.0f syscalls/s, latency_quiet_rate %u): latency windows again",
                      rate, quiet_rate);
        return below;
    };
    // Each CPU's share of what a quiet host makes in a period, counted from
    // now: shared by the CPUs online (a host may have many more possible).
    const double seconds_per_period = std::chrono::duration<double>(period).count();
    const long n_online = sysconf(_SC_NPROCESSORS_ONLN);
    const long online = n_online > 0 ? std::min<long>(n_online, ncpus_) : ncpus_;
    const uint32_t share = uint32_t(std::clamp(double(quiet_rate) * seconds_per_period / double(online), 64.0, 1e9));
    auto arm = [&](bool on) {
        on = on && busy;  // (without the ring no alarm would be read)
        for_each_cpu([&](syscall_cpu_cache& c) {
            if (on) __atomic_store_n(&c.busy_at, __atomic_load_n(&c.enters, __ATOMIC_RELAXED) + share, __ATOMIC_RELAXED);
            __atomic_store_n(&c.busy_armed, on ? 1u : 0u, __ATOMIC_SEQ_CST);
        });
    };
    for (;;) {
        const Woke woke = sleep_until(start + window);
        if (woke == Woke::Stop) return;
        if (woke == Woke::Busy && !held) continue;  // (a late record from before the last detach)
        if (quiet()) {
            place_resident(/*may_wait=*/true);  // (sys_enter stays attached: a wait costs no window time)
            arm(true);
            if (woke == Woke::Busy) continue;  // still quiet, all CPUs together: on to the period's end
            held = true;
            held_now_.store(true, std::memory_order_relaxed);
            windows_held_.fetch_add(1);
            for_each_cpu([](syscall_cpu_cache& c) { __atomic_fetch_add(&c.window_gen, 1, __ATOMIC_SEQ_CST); });
            start += period;
            while (start + period < Clock::now()) start += period;  // (a stalled host: as below)
            continue;
        }
        held = false;
        held_now_.store(false, std::memory_order_relaxed);
        arm(false);
        close_window();
        // Off the flush path, once a period, and after the detach: a wait for
        // BPF runs (a grace period, milliseconds where RCU is not expedited)
        // does not keep sys_enter attached past the window.
        place_resident(/*may_wait=*/true);
        // The next window opens a period after this one did (a held one: a
        // period after it would have); a stalled host skips the windows it
        // missed rather than running them back to back.
        for (const auto now = Clock::now(); start <= now;) start += period;
        for (Woke w; (w = sleep_until(start)) != Woke::Time;)
            if (w == Woke::Stop) return;
        open_window();
        entered = syscalls_entered();
        counted_from = Clock::now();
    }
}

const char* SyscallProbe::variant_description() const {
    return variant_ == ProbeVariant::Modern ? "task storage + BTF, Linux 5.11+"
                                                   : "thread-id hash, Linux 5.8+";
}

void SyscallProbe::read(std::vector<SyscallReading>& out) {
    out.clear();
    const uint64_t epoch = __atomic_load_n(&cpu_entries()[0].max_epoch, __ATOMIC_SEQ_CST);  // the same on every CPU
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
    for_each_cpu([epoch](syscall_cpu_cache& c) { __atomic_store_n(&c.max_epoch, epoch + 1, __ATOMIC_SEQ_CST); });
    read_fast_counts(out);
    // The window thread waits for BPF runs off this path; without one, a
    // read waits here when a page was given up (a wait of microseconds to
    // milliseconds, only after the busiest cgroup on a CPU changed)
    place_resident(/*may_wait=*/!windowed_);
    if (!proc_root_.empty() && std::chrono::steady_clock::now() - swept_at_ >= std::chrono::seconds(30))
        release_exited_threads();
}

// A slot's counts on one CPU: its block of syscall_counts, and that CPU's
// resident counts while they are the slot's.
template <class Add>
void SyscallProbe::each_count(int cpu, uint64_t cgroup, uint32_t slot, Add&& add) {
    const auto* words = static_cast<const uint64_t*>(fast_.at(cpu, slot));
    for (uint32_t nr = 0; nr < SYSCALL_FAST_NRS; ++nr) add(nr, __atomic_load_n(words + nr, __ATOMIC_RELAXED));
    const Resident& r = resident_[size_t(cpu)];
    if (r.cgroup != cgroup || r.slot != slot) return;
    const __u64* page = cpu_entries()[cpu].resident;
    for (uint32_t nr = 0; nr < SYSCALL_RESIDENT_NRS; ++nr) add(nr, __atomic_load_n(page + nr, __ATOMIC_RELAXED));
}

void SyscallProbe::read_fast_counts(std::vector<SyscallReading>& out) {
    std::lock_guard lock(resident_mu_);
    std::map<std::pair<uint64_t, uint32_t>, size_t> index;  // (cgroup, nr) -> entry of `out`
    for (size_t i = 0; i < out.size(); ++i) index[{out[i].cgroup_id, out[i].nr}] = i;
    for (auto [cgroup, slot] : fast_.held()) {
        std::array<uint64_t, SYSCALL_FAST_NRS> sum{};
        for (int cpu = 0; cpu < ncpus_; ++cpu) each_count(cpu, cgroup, slot, [&](uint32_t nr, uint64_t n) { sum[nr] += n; });
        if (auto it = retired_.find(cgroup); it != retired_.end())
            for (uint32_t nr = 0; nr < SYSCALL_RESIDENT_NRS; ++nr) sum[nr] += it->second[nr];
        for (uint32_t nr = 0; nr < SYSCALL_FAST_NRS; ++nr) {
            if (!sum[nr]) continue;
            auto [it, fresh] = index.try_emplace({cgroup, nr}, out.size());
            if (fresh) out.push_back(SyscallReading{cgroup, nr, {}});
            out[it->second].totals.count += sum[nr];
        }
    }
}

bool SyscallProbe::grace_over(const Resident& r, std::chrono::steady_clock::time_point now) const {
    return waits_prove_ ? waits_done_ >= r.wait : now - r.since >= kResidentGrace;
}

void SyscallProbe::place_resident(bool may_wait) {
    std::unique_lock lock(resident_mu_);
    if (resident_.empty()) return;
    auto now = std::chrono::steady_clock::now();
    if (now - placed_at_ < kPlacementGap) return;
    // A page given up waits for every BPF run that may have read its slot
    // as resident before the clearing: a wait begun after the clearing ends
    // after them. Not under the lock (it blocks; read() may place meanwhile).
    const auto unproved = [&](const Resident& r) { return r.giving_up && !grace_over(r, now); };
    if (may_wait && waits_prove_ && std::any_of(resident_.begin(), resident_.end(), unproved)) {
        const uint64_t wait = ++waits_begun_;
        lock.unlock();
        const bool proved = probes::wait_for_bpf_runs();
        const int err = errno;
        lock.lock();
        if (proved) {
            waits_done_ = std::max(waits_done_, wait);
        } else if (waits_prove_) {
            waits_prove_ = false;
            LOG_WARN("syscalls: cannot wait for running BPF programs (%s): a CPU's resident counts move to "
                     "another cgroup %lld ms after they are given up instead",
                     err == ENOTSUP ? "one CPU online" : (std::string("membarrier: ") + std::strerror(err)).c_str(),
                     static_cast<long long>(kResidentGrace.count()));
        }
        now = std::chrono::steady_clock::now();
        if (now - placed_at_ < kPlacementGap) return;  // (placed meanwhile)
    }
    const double seconds = std::chrono::duration<double>(now - placed_at_).count();
    placed_at_ = now;
    const auto held = fast_.held();
    for (int cpu = 0; cpu < ncpus_; ++cpu) {
        Resident& r = resident_[size_t(cpu)];
        if (r.giving_up && grace_over(r, now)) fold_resident(cpu);
        // each slot's calls on this CPU since the last placement
        uint64_t own_calls = 0, best_calls = 0;
        std::optional<std::pair<uint64_t, uint32_t>> best;
        for (auto [cgroup, slot] : held) {
            if (!cgroup) continue;  // (a key BPF could not read: 0 means a free page here)
            uint64_t total = 0;
            each_count(cpu, cgroup, slot, [&](uint32_t, uint64_t n) { total += n; });
            const size_t i = size_t(cpu) * fast_.size() + slot;
            // (a slot first seen here: all its calls, made since it was
            // taken, zeroed; most often since the last placement)
            const uint64_t calls = placed_cgroup_[i] == cgroup ? total - std::min(total, placed_calls_[i]) : total;
            placed_cgroup_[i] = cgroup;
            placed_calls_[i] = total;
            if (r.cgroup == cgroup && r.slot == slot)
                own_calls = calls;
            else if (calls > best_calls) {
                best_calls = calls;
                best = {cgroup, slot};
            }
        }
        if (!best || double(best_calls) < kResidentMinRate * seconds) continue;
        if (!r.cgroup) {  // a free page (zero): BPF counts there from now on
            r = Resident{best->first, best->second, false, now};
            __atomic_store_n(&cpu_entries()[cpu].resident_slot, best->second, __ATOMIC_SEQ_CST);
        } else if (!r.giving_up && best_calls >= 2 * own_calls) {
            give_up_resident(cpu, now);  // folded once no run can still write it, then goes to the busiest slot
        }
    }
}

void SyscallProbe::give_up_resident(int cpu, std::chrono::steady_clock::time_point now) {
    // runs that read the old slot may still add to the page until the grace is over (grace_over)
    __atomic_store_n(&cpu_entries()[cpu].resident_slot, SYSCALL_SLOT_NONE, __ATOMIC_SEQ_CST);
    resident_[size_t(cpu)].giving_up = true;
    resident_[size_t(cpu)].since = now;
    resident_[size_t(cpu)].wait = waits_begun_ + 1;
}

void SyscallProbe::fold_resident(int cpu) {
    Resident& r = resident_[size_t(cpu)];
    __u64* page = cpu_entries()[cpu].resident;
    // a cgroup forgotten meanwhile (its slot released or held by another) keeps nothing
    auto* keep = fast_.slot_of(r.cgroup) == r.slot ? &retired_[r.cgroup] : nullptr;
    uint64_t folded = 0;
    for (uint32_t nr = 0; nr < SYSCALL_RESIDENT_NRS; ++nr) {
        const uint64_t n = __atomic_load_n(page + nr, __ATOMIC_RELAXED);
        if (keep) (*keep)[nr] += n;
        folded += n;
        __atomic_store_n(page + nr, 0, __ATOMIC_RELAXED);
    }
    // the slot's calls on this CPU, as the next placement counts them, lose the page
    const size_t i = size_t(cpu) * fast_.size() + r.slot;
    if (placed_cgroup_[i] == r.cgroup) placed_calls_[i] -= std::min(placed_calls_[i], folded);
    r = Resident{};
}

std::optional<uint64_t> SyscallProbe::resident_cgroup(int cpu) {
    std::lock_guard lock(resident_mu_);
    if (cpu < 0 || size_t(cpu) >= resident_.size() || !resident_[size_t(cpu)].cgroup) return std::nullopt;
    return resident_[size_t(cpu)].cgroup;
}

uint64_t SyscallProbe::resident_waits() {
    std::lock_guard lock(resident_mu_);
    return waits_done_;
}

uint64_t SyscallProbe::resident_calls(int cpu) {
    if (cpu < 0 || cpu >= ncpus_) return 0;
    uint64_t n = 0;
    for (const __u64& c : cpu_entries()[cpu].resident) n += __atomic_load_n(&c, __ATOMIC_RELAXED);
    return n;
}

size_t SyscallProbe::fast_slots_held() const { return fast_.held().size(); }

std::optional<uint32_t> SyscallProbe::fast_slot_of(uint64_t cgroup_id) const { return fast_.slot_of(cgroup_id); }

void SyscallProbe::forget_cgroups(const std::vector<uint64_t>& cgroup_ids) {
    forget_cgroup_keys<syscall_key>(stats_fd_, cgroup_ids, [](const syscall_key& k) { return k.cgroup_id; });
    std::lock_guard lock(resident_mu_);
    // A resident page of a removed cgroup: BPF stops counting there before
    // the slot can go to another cgroup; the page is zeroed once no run can still write it.
    const auto now = std::chrono::steady_clock::now();
    for (uint64_t id : cgroup_ids) {
        retired_.erase(id);
        for (int cpu = 0; cpu < ncpus_; ++cpu)
            if (resident_[size_t(cpu)].cgroup == id && !resident_[size_t(cpu)].giving_up) give_up_resident(cpu, now);
    }
    // A removed cgroup's slot: no CPU may go on using it (the epoch makes
    // every cache look its slot up again) before it is zeroed and reused.
    // (a seq_cst read-modify-write: the zeroing after it cannot move before it)
    fast_.release(cgroup_ids, [this](const std::vector<uint32_t>&) {
        for_each_cpu([](syscall_cpu_cache& c) { __atomic_fetch_add(&c.slot_epoch, 1, __ATOMIC_SEQ_CST); });
    });
}

std::vector<uint32_t> SyscallProbe::inflight_threads() const {
    if (!latency_ || inflight_fd_ < 0) return {};
    return map_keys<uint32_t>(inflight_fd_);
}

size_t SyscallProbe::release_exited_threads() {
    swept_at_ = std::chrono::steady_clock::now();
    if (proc_root_.empty()) return 0;  // set only for the thread-id hash in latency mode
    size_t released = 0;
    for (uint32_t tid : map_keys<uint32_t>(inflight_fd_)) {
        struct stat st;
        std::string path = proc_root_ + "/" + std::to_string(tid);
        if (stat(path.c_str(), &st) == 0 || errno != ENOENT) continue;
        // A new thread given this id meanwhile loses one latency sample at most.
        if (bpf_map_delete_elem(inflight_fd_, &tid) == 0) ++released;
    }
    exited_released_ += released;
    return released;
}

std::array<uint64_t, SYSCALL_DROP_REASONS> SyscallProbe::drops() const {
    return sum_drop_counters<SYSCALL_DROP_REASONS>(drops_fd_, ncpus_);
}

}  // namespace tracer::probes
