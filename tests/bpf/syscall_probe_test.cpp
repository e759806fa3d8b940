// bpf/syscalls.bpf.c on the real kernel: the test makes its own cgroups in
// every mounted hierarchy, moves a child into them and checks what the probe
// reports, in every cgroup keying mode this host offers (cgroup v2, and v1
// controller hierarchies on v1/hybrid hosts).
#include "containers/cgroup_layout.h"
#include "containers/cgroup_resolver.h"
#include "probes/syscall_names.h"
#include "probes/syscall_probe.h"
#include "fixtures.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <ctime>
#include <thread>

using namespace tracer;
using tracer::fixtures::HeldChild;
using tracer::fixtures::TestCgroup;

namespace {

// Every keying the host supports: "unified" and each v1 controller tracer can key on.

using Variant = probes::ProbeVariant;

// Runs of the probe's program `name` the kernel skipped so far (see probes::skipped_runs).
uint64_t skipped(const probes::SyscallProbe& probe, const std::string& name) {
    for (const auto& [prog, n] : probe.skipped_runs())
        if (prog == name) return n;
    ADD_FAILURE() << "no program " << name << " among the probe's";
    return 0;
}

// A count of `made` calls, give or take the few the test's child makes
// itself, and less at most the `probe`'s sys_exit runs the kernel skipped
// (on any thread: reported as tracer_bpf_runs_skipped_total, seen on Linux
// 7.3 in TCG guests, where a thread preempted inside the program lets
// another one's run be skipped).
void expect_made(const probes::SyscallProbe& probe, uint64_t counted, uint64_t made, const std::string& what = "") {
    const uint64_t lost = skipped(probe, "tracer_sys_exit");
    EXPECT_GE(counted + lost, made) << what << " (sys_exit runs the kernel skipped: " << lost << ")";
    EXPECT_LE(counted, made + 5) << what;
}

// A forked child holds copies of the test's fds, the sys_enter link among
// them: the link would stay attached while the child runs.
void close_inherited_fds() { close_range(3, ~0u, 0); }

// (keying, variant): every cgroup keying the host offers, with both builds of
// the program (the 5.8 baseline and the 5.11+ one) where the kernel takes them.
class SyscallProbeTest : public fixtures::ProbeTest {
protected:
    void SetUp() override {
        ProbeTest::SetUp();
        if (!base_ready()) return;
        skip_modern_without_task_storage();
        if (IsSkipped()) return;
    }

    std::unique_ptr<probes::SyscallProbe> open(bool latency = true,
                                               std::optional<std::vector<uint32_t>> timed = std::nullopt,
                                               uint32_t sample_every = 16, uint32_t window_ms = 1000,
                                               uint32_t period_ms = 1000) {
        probes::SyscallProbeOptions o;
        o.latency = latency;
        o.sample_every = sample_every;
        o.latency_window_ms = window_ms;
        o.latency_period_ms = period_ms;
        o.timed_syscalls = std::move(timed);
        o.keying = keying_;
        o.variant = variant_;
        o.fast_slots = fast_slots_;
        if (sample_after_) o.sample_after = *sample_after_;
        o.latency_quiet_rate = quiet_rate_;
        auto p = std::make_unique<probes::SyscallProbe>(o);
        EXPECT_EQ(p->variant(), variant_);
        return p;
    }

    // Runs `work` in a child inside `cg` and waits for it.
    void run_in(const TestCgroup& cg, std::function<void()> work) {
        HeldChild child(std::move(work));
        cg.add(child.pid());
        child.release();
        ASSERT_EQ(child.wait(), 0);
    }

    // run_in, and how long it took (ms).
    long run_in_timed(const TestCgroup& cg, std::function<void()> work) {
        const auto start = std::chrono::steady_clock::now();
        run_in(cg, std::move(work));
        return long(
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count());
    }

    // In a child inside `cg`: sleeps `quiet_ms`, then makes getppid calls for
    // `load_ms`, `burst` at a time with a nanosleep of `pause_ns` (0: none)
    // after each; returns how many.
    uint64_t getppid_load(const TestCgroup& cg, long load_ms, int burst, long pause_ns, long quiet_ms = 0) {
        auto* calls = static_cast<uint64_t*>(
            mmap(nullptr, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
        EXPECT_NE(calls, MAP_FAILED);
        if (calls == MAP_FAILED) return 0;
        run_in(cg, [=] {
            close_inherited_fds();
            timespec quiet{quiet_ms / 1000, (quiet_ms % 1000) * 1000000}, pause{0, pause_ns}, start{}, now{};
            if (quiet_ms) syscall(SYS_nanosleep, &quiet, nullptr);
            clock_gettime(CLOCK_MONOTONIC, &start);
            do {
                for (int i = 0; i < burst; ++i) syscall(SYS_getppid);
                *calls += uint64_t(burst);
                if (pause_ns) syscall(SYS_nanosleep, &pause, nullptr);
                clock_gettime(CLOCK_MONOTONIC, &now);
            } while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 < load_ms);
        });
        const uint64_t made = *calls;
        munmap(calls, sizeof(uint64_t));
        return made;
    }

    void expect_windows_time_a_part(int burst, long pause_ns, uint64_t min_windows);
    std::unique_ptr<probes::SyscallProbe> open_sampling_getppid();
    void expect_stamped_as_sampling_asks(probes::SyscallProbe& probe, const TestCgroup& cg, int busy,
                                         uint64_t calls_each, uint64_t others, long elapsed_ms);

    std::optional<uint32_t> fast_slots_;  // counting slots of the next open() (nullopt: sized by the probe)
    std::optional<uint32_t> sample_after_;  // the next open()'s (nullopt: the default)
    uint32_t quiet_rate_ = 0;                // the next open()'s latency_quiet_rate

    // Every syscall of `cgroup`, from one read (the maximum is per read).
    static std::map<uint32_t, probes::SyscallTotals> read_once(probes::SyscallProbe& p, uint64_t cgroup) {
        std::vector<probes::SyscallReading> r;
        p.read(r);
        std::map<uint32_t, probes::SyscallTotals> out;
        for (const auto& e : r)
            if (e.cgroup_id == cgroup) out[e.nr] = e.totals;
        return out;
    }

    static probes::SyscallTotals totals(probes::SyscallProbe& p, uint64_t cgroup, const char* syscall) {
        std::vector<probes::SyscallReading> r;
        p.read(r);
        auto nr = probes::syscall_number(syscall);
        probes::SyscallTotals t;
        for (const auto& e : r)
            if (e.cgroup_id == cgroup && nr && e.nr == *nr) t = e.totals;
        return t;
    }

};

TEST_P(SyscallProbeTest, CountsExactlyTheGetppidCallsOfItsCgroup) {
    auto probe = open();
    TestCgroup cg("getppid");
    constexpr int N = 20000;
    run_in(cg, [] {
        for (int i = 0; i < N; ++i) syscall(SYS_getppid);
    });
    auto t = totals(*probe, cg.id(*mount_), "getppid");
    EXPECT_GE(t.count, uint64_t(N));
    EXPECT_LE(t.count, uint64_t(N + 5));
    EXPECT_EQ(t.errors, 0u);
}

TEST_P(SyscallProbeTest, CountsFailingClosesAsErrors) {
    auto probe = open();
    TestCgroup cg("close");
    constexpr int N = 3000;
    run_in(cg, [] {
        for (int i = 0; i < N; ++i) syscall(SYS_close, -1);
    });
    auto t = totals(*probe, cg.id(*mount_), "close");
    EXPECT_GE(t.errors, uint64_t(N));
    EXPECT_LE(t.errors, uint64_t(N + 5));
    EXPECT_GE(t.count, t.errors);
}

TEST_P(SyscallProbeTest, NanosleepLatencySumsAndBuckets) {
    auto probe = open();
    TestCgroup cg("nanosleep");
    // The child times each sleep itself (shared memory): on a busy machine a
    // wake-up can be late, and the probe must report what really happened.
    constexpr int N = 50;
    auto* measured = static_cast<uint64_t*>(
        mmap(nullptr, N * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(measured, MAP_FAILED);
    run_in(cg, [measured] {
        prctl(PR_SET_TIMERSLACK, 1UL);  // default 50 us slack would blur 1 ms sleeps
        timespec ts{0, 1000000}, a{}, b{};
        for (int i = 0; i < N; ++i) {
            clock_gettime(CLOCK_MONOTONIC, &a);
            syscall(SYS_nanosleep, &ts, nullptr);
            clock_gettime(CLOCK_MONOTONIC, &b);
            measured[i] = (b.tv_sec - a.tv_sec) * 1000000000ull + b.tv_nsec - a.tv_nsec;
        }
    });
    uint64_t user_sum = 0, user_min = ~0ull, user_max = 0;
    for (int i = 0; i < N; ++i) {
        user_sum += measured[i];
        user_min = std::min(user_min, measured[i]);
        user_max = std::max(user_max, measured[i]);
    }
    munmap(measured, N * sizeof(uint64_t));

    auto t = totals(*probe, cg.id(*mount_), "nanosleep");
    ASSERT_EQ(t.count, uint64_t(N));
    // Never less than what was asked for, and within 10% of the truth. On a quiet
    // machine the truth is within 10% of 50 ms too; on a loaded one it is not.
    EXPECT_GE(t.total_ns, uint64_t(N) * 1000000);
    EXPECT_LE(t.total_ns, user_sum);
    EXPECT_GE(double(t.total_ns), 0.9 * double(user_sum));
    RecordProperty("nanosleep_sum_ms", std::to_string(t.total_ns / 1e6));
    // Every sleep lands in a log2 slot covering [min, max] of what the child saw.
    auto slot = [](uint64_t ns) { return 63 - __builtin_clzll(ns); };
    uint64_t in_range = 0;
    for (int s = slot(user_min - std::min<uint64_t>(user_min, 20000)); s <= slot(user_max); ++s)
        in_range += t.slots[s];
    EXPECT_EQ(in_range, uint64_t(N));
    EXPECT_GE(t.max_ns, 1000000u);
    EXPECT_LE(t.max_ns, user_max);
}

// A busy thread's latency is sampled (one call in 16 beyond the first 256 per
// period stands for 16): the count stays exact, the histogram and the sum
// estimate every call. With sampling off every call is in the histogram.
TEST_P(SyscallProbeTest, BusyThreadsAreSampledWithExactCounts) {
    constexpr int N = 40000;
    for (uint32_t every : {16u, 1u}) {
        auto probe = open(true, std::vector<uint32_t>{SYS_getppid}, every);
        TestCgroup cg(every > 1 ? "sampled" : "unsampled");
        run_in(cg, [] {
            for (int i = 0; i < N; ++i) syscall(SYS_getppid);
        });
        auto t = totals(*probe, cg.id(*mount_), "getppid");
        EXPECT_GE(t.count, uint64_t(N)) << "every " << every;
        EXPECT_LE(t.count, uint64_t(N + 5)) << "every " << every;
        uint64_t in_slots = 0;
        for (auto v : t.slots) in_slots += v;
        if (every == 1) {
            EXPECT_EQ(in_slots, t.count);
        } else {
            // sampled calls carry weight 16, drawn with probability 1/16: an
            // estimate of the count (its standard deviation is ~2 % here)
            EXPECT_NEAR(double(in_slots), double(t.count), 0.1 * double(t.count) + 16 * 16);
            RecordProperty("sampled_histogram_vs_count", std::to_string(double(in_slots) / double(t.count)));
        }
        EXPECT_GT(t.total_ns, 0u);
        EXPECT_LT(t.total_ns / std::max<uint64_t>(in_slots, 1), 1000000u) << "getppid takes microseconds";
    }
}

// Sampling is counted per CPU, and a call entered without a stamp leaves only
// a token on its CPU. Two threads that take turns on the CPUs and are moved
// between them, often while they sleep (entering on one CPU, leaving on the
// other), must have every call counted and every timed call timed from its
// own stamp: a stamp that an exit missed would be taken by a later exit of
// the same syscall and time it across the pause between them, longer than
// any one sleep the threads saw.
TEST_P(SyscallProbeTest, SampledThreadsThatBlockAndMoveAreTimedOnlyByTheirOwnCalls) {
    const int ncpu = int(sysconf(_SC_NPROCESSORS_ONLN));
    if (ncpu < 2) GTEST_SKIP() << "needs two CPUs to move threads between";
    constexpr int kThreads = 2, kRounds = 40, kBurst = 300, kFirstSleeps = 4;
    sample_after_ = 16;
    auto probe = open(true, std::vector<uint32_t>{SYS_getppid, SYS_nanosleep}, 16);
    TestCgroup cg("sampled-moving");
    // the longest sleep each thread saw, measured by itself
    auto* longest = static_cast<uint64_t*>(
        mmap(nullptr, kThreads * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(longest, MAP_FAILED);
    run_in(cg, [ncpu, longest] {
        prctl(PR_SET_TIMERSLACK, 1UL);
        std::atomic<pid_t> tids[kThreads] = {};
        std::atomic<int> finished{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t)
            threads.emplace_back([t, &tids, &finished, longest] {
                tids[t] = pid_t(syscall(SYS_gettid));
                auto sleep = [t, longest] {
                    timespec ts{0, 2 * 1000 * 1000}, a{}, b{};
                    clock_gettime(CLOCK_MONOTONIC, &a);
                    syscall(SYS_nanosleep, &ts, nullptr);
                    clock_gettime(CLOCK_MONOTONIC, &b);
                    uint64_t ns = uint64_t(b.tv_sec - a.tv_sec) * 1000000000ull + b.tv_nsec - a.tv_nsec;
                    longest[t] = std::max(longest[t], ns);
                };
                // a thread's first calls on a CPU are all timed: these sleeps are
                for (int i = 0; i < kFirstSleeps; ++i) sleep();
                for (int i = 0; i < kRounds; ++i) {
                    for (int k = 0; k < kBurst; ++k) syscall(SYS_getppid);
                    sleep();
                    // a longer pause in a call that is not timed: a sleep timed
                    // from an earlier sleep's stamp would span it
                    timespec pause{0, 20 * 1000 * 1000};
                    clock_nanosleep(CLOCK_MONOTONIC, 0, &pause, nullptr);
                }
                ++finished;
            });
        // move the threads between CPUs until they are done
        unsigned seed = 1;
        while (finished < kThreads) {
            for (int t = 0; t < kThreads; ++t) {
                if (!tids[t]) continue;
                cpu_set_t set;
                CPU_ZERO(&set);
                CPU_SET(int(rand_r(&seed) % unsigned(ncpu)), &set);
                sched_setaffinity(tids[t], sizeof set, &set);  // a narrower cpuset refuses some: no move then
            }
            usleep(700);
        }
        for (auto& th : threads) th.join();
    });
    const uint64_t longest_sleep = *std::max_element(longest, longest + kThreads);
    munmap(longest, kThreads * sizeof(uint64_t));
    auto all = read_once(*probe, cg.id(*mount_));
    const probes::SyscallTotals g = all[SYS_getppid], n = all[SYS_nanosleep];
    expect_made(*probe, g.count, kThreads * kRounds * kBurst, "getppid");
    expect_made(*probe, n.count, kThreads * (kRounds + kFirstSleeps), "nanosleep");
    uint64_t g_slots = 0, n_slots = 0;
    for (auto v : g.slots) g_slots += v;
    for (auto v : n.slots) n_slots += v;
    // most calls sampled (weight 16, probability 1/16): the histogram
    // estimates the count (standard deviation ~3 %)
    EXPECT_NEAR(double(g_slots), double(g.count), 0.15 * double(g.count));
    RecordProperty("getppid_histogram_vs_count", std::to_string(double(g_slots) / double(g.count)));
    // every timed sleep took at least its 2 ms and at most the longest one seen
    EXPECT_GE(n_slots, uint64_t(kThreads * kFirstSleeps));
    EXPECT_GE(n.max_ns, 2000000u);
    EXPECT_LE(n.max_ns, longest_sleep) << "a sleep timed from an earlier sleep's stamp";
    for (int s = 0; s < 20; ++s) EXPECT_EQ(n.slots[s], 0u) << "nanosleep slot " << s;
    RecordProperty("longest_sleep_ns", std::to_string(longest_sleep));
    RecordProperty("longest_timed_sleep_ns", std::to_string(n.max_ns));
}

// Sampling with the settings below, for the tests of busy threads: one
// window for the whole test where windows are offered (sampling's period is
// then the window); elsewhere 16-jiffy periods.
constexpr uint32_t kSampleAfter = 256, kSampleEvery = 16;
std::unique_ptr<probes::SyscallProbe> SyscallProbeTest::open_sampling_getppid() {
    sample_after_ = kSampleAfter;
    return open(true, std::vector<uint32_t>{SYS_getppid}, kSampleEvery, /*window_ms=*/60000, /*period_ms=*/120000);
}

// The getppid calls of `cg`, `busy` threads of `calls_each` and `others` more
// that other threads made, `elapsed_ms` long, stamped as sampling asks: each
// busy thread's first kSampleAfter calls, one in kSampleEvery of the rest (6
// standard deviations either way), every call of the others; without windows,
// kSampleAfter more per busy thread for each period begun (16 jiffies: at most
// one per 16 ms, and the two the run may straddle).
void SyscallProbeTest::expect_stamped_as_sampling_asks(probes::SyscallProbe& probe, const TestCgroup& cg, int busy,
                                                       uint64_t calls_each, uint64_t others, long elapsed_ms) {
    const uint64_t stamps = probe.latency_stamps();
    const probes::SyscallTotals g = read_once(probe, cg.id(*mount_))[SYS_getppid];
    expect_made(probe, g.count, busy * calls_each + others, "getppid");
    uint64_t in_slots = 0;
    for (auto v : g.slots) in_slots += v;
    EXPECT_NEAR(double(in_slots), double(g.count), 0.15 * double(g.count));
    const double drawn = double(busy) * double(calls_each - kSampleAfter) / kSampleEvery;
    double allowed = busy * kSampleAfter + drawn + 6 * std::sqrt(drawn) + double(others);
    if (!probe.latency_windowed()) allowed += busy * kSampleAfter * (double(elapsed_ms) / 16 + 2);
    EXPECT_LE(double(stamps), allowed) << "a busy thread was timed afresh after another thread's calls; "
                                       << elapsed_ms << " ms";
    // (less the sys_enter runs the kernel skipped, as expect_made allows for sys_exit's)
    EXPECT_GE(double(stamps + skipped(probe, "tracer_sys_enter")),
              busy * kSampleAfter + drawn - 6 * std::sqrt(drawn))
        << "fewer calls timed than sampling asks for";
    RecordProperty("calls_timed", std::to_string(stamps));
    RecordProperty("calls_timed_allowed", std::to_string(allowed));
}

// Pins the calling thread, and the threads it starts later, to `cpu`.
void pin_to_cpu(int cpu) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0) _exit(3);
}

// The same, to the CPU it runs on.
void stay_on_this_cpu() { pin_to_cpu(sched_getcpu()); }

// A busy thread keeps its sampling count while another thread takes its CPU
// for a few timed calls now and then (a node's daemons, the agent itself):
// the calls it makes when it comes back are sampled, not timed afresh. A count
// restarted at each return would stamp the first `sample_after` of its calls
// again: here 20 times 256 more stamps than sampling asks for.
TEST_P(SyscallProbeTest, BusyThreadKeepsItsSamplingCountAcrossInterruptions) {
    constexpr int kRounds = 20, kBurst = 2000, kInterloper = 4;
    auto probe = open_sampling_getppid();
    TestCgroup cg("sampled-interrupted");
    const long elapsed_ms = run_in_timed(cg, [] {
        // the interloper runs only while the busy thread waits for it
        stay_on_this_cpu();
        int to_b[2], to_a[2];
        if (pipe(to_b) != 0 || pipe(to_a) != 0) _exit(4);
        std::thread b([&] {
            char x;
            while (read(to_b[0], &x, 1) == 1 && x == 'g') {
                for (int k = 0; k < kInterloper; ++k) syscall(SYS_getppid);
                if (write(to_a[1], &x, 1) != 1) break;
            }
        });
        char x = 'g';
        for (int r = 0; r < kRounds; ++r) {
            for (int k = 0; k < kBurst; ++k) syscall(SYS_getppid);
            if (write(to_b[1], &x, 1) != 1 || read(to_a[0], &x, 1) != 1) _exit(5);
        }
        x = 'q';
        if (write(to_b[1], &x, 1) != 1) _exit(6);
        b.join();
    });
    expect_stamped_as_sampling_asks(*probe, cg, 1, uint64_t(kRounds) * kBurst, uint64_t(kRounds) * kInterloper,
                                    elapsed_ms);
}

// Busy threads taking turns on one CPU (a pool of workers) each keep their
// own count, as one busy thread does. Counts restarted at each turn would
// stamp 120 times 256 more calls than sampling asks for.
TEST_P(SyscallProbeTest, BusyThreadsTakingTurnsEachKeepTheirSamplingCount) {
    constexpr int kThreads = 3, kRounds = 40, kBurst = 1000;
    auto probe = open_sampling_getppid();
    TestCgroup cg("sampled-turns");
    const long elapsed_ms = run_in_timed(cg, [] {
        // each thread makes its burst and hands the turn to the next
        stay_on_this_cpu();
        int turn[kThreads][2];
        for (auto& p : turn)
            if (pipe(p) != 0) _exit(4);
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t)
            threads.emplace_back([&turn, t] {
                char x;
                for (int r = 0; r < kRounds; ++r) {
                    if (read(turn[t][0], &x, 1) != 1) _exit(5);
                    for (int k = 0; k < kBurst; ++k) syscall(SYS_getppid);
                    if (write(turn[(t + 1) % kThreads][1], &x, 1) != 1) _exit(6);
                }
            });
        char x = 'g';
        if (write(turn[0][1], &x, 1) != 1) _exit(7);
        for (auto& th : threads) th.join();
    });
    expect_stamped_as_sampling_asks(*probe, cg, kThreads, uint64_t(kRounds) * kBurst, 0, elapsed_ms);
}

TEST_P(SyscallProbeTest, SiblingCgroupsNeverMix) {
    auto probe = open();
    TestCgroup a("sib-a"), b("sib-b");
    run_in(a, [] {
        for (int i = 0; i < 7000; ++i) syscall(SYS_getppid);
    });
    run_in(b, [] {
        for (int i = 0; i < 3000; ++i) syscall(SYS_getppid);
    });
    auto ta = totals(*probe, a.id(*mount_), "getppid");
    auto tb = totals(*probe, b.id(*mount_), "getppid");
    expect_made(*probe, ta.count, 7000);
    expect_made(*probe, tb.count, 3000);
}

// One counting slot for the whole host: it goes to whichever cgroup makes a
// syscall first (most likely this test's own); every other cgroup counts in
// the hash, as exactly.
TEST_P(SyscallProbeTest, CgroupsWithoutACountingSlotCountExactlyInTheHash) {
    fast_slots_ = 1;
    auto probe = open();
    EXPECT_EQ(probe->fast_slots(), 1u);
    TestCgroup a("noslot-a"), b("noslot-b");
    run_in(a, [] {
        for (int i = 0; i < 4000; ++i) syscall(SYS_getppid);
        for (int i = 0; i < 50; ++i) syscall(SYS_close, -1);
    });
    run_in(b, [] {
        for (int i = 0; i < 6000; ++i) syscall(SYS_getppid);
    });
    EXPECT_EQ(probe->fast_slots_held(), 1u);
    auto ta = totals(*probe, a.id(*mount_), "getppid");
    auto tb = totals(*probe, b.id(*mount_), "getppid");
    auto ca = totals(*probe, a.id(*mount_), "close");
    expect_made(*probe, ta.count, 4000);
    expect_made(*probe, tb.count, 6000);
    expect_made(*probe, ca.errors, 50);
    EXPECT_GE(ca.count, ca.errors);
}

// Removed cgroups hand their slots back; a cgroup that gets a slot another
// one held counts from zero.
TEST_P(SyscallProbeTest, ForgottenCgroupsHandTheirCountingSlotsBack) {
    fast_slots_ = 8;
    auto probe = open(/*latency=*/false);
    std::map<uint32_t, int> holders;  // slot -> cgroups that held it
    for (int i = 0; i < 12; ++i) {
        TestCgroup cg("slots-" + std::to_string(i));
        const int n = 1000 + 100 * i;
        run_in(cg, [n] {
            for (int k = 0; k < n; ++k) syscall(SYS_getppid);
        });
        const uint64_t id = cg.id(*mount_);
        auto t = totals(*probe, id, "getppid");
        expect_made(*probe, t.count, uint64_t(n), "cgroup " + std::to_string(i));
        if (auto slot = probe->fast_slot_of(id)) holders[*slot] += 1;
        probe->forget_cgroups({id});
        EXPECT_FALSE(probe->fast_slot_of(id)) << "a forgotten cgroup keeps no slot";
    }
    int reused = 0;
    for (auto& [slot, n] : holders) reused += n > 1;
    EXPECT_FALSE(holders.empty()) << "no test cgroup ever got one of 8 slots";
    RecordProperty("slots_reused", std::to_string(reused));
    EXPECT_LE(probe->fast_slots_held(), 8u);
}

// Resident counts: the cgroup counting most on a CPU gets that CPU's own
// page and gives it up to one counting twice as much, or when it is
// forgotten; each call is counted once wherever it went (the page, the
// slot's block, the page folded into the cgroup's counts), across every move.
TEST_P(SyscallProbeTest, ResidentCountsFollowTheBusiestCgroupAndStayExact) {
    using namespace std::chrono_literals;
    auto probe = open(/*latency=*/false);  // no window thread: placements happen here and in read()
    TestCgroup a("resident-a"), b("resident-b");
    const uint64_t ida = a.id(*mount_), idb = b.id(*mount_);
    const int cpu = sched_getcpu();
    uint64_t made_a = 0, made_b = 0;
    auto calls = [&](TestCgroup& cg, uint64_t& made, int n) {
        run_in(cg, [cpu, n] {
            pin_to_cpu(cpu);
            for (int i = 0; i < n; ++i) syscall(SYS_getppid);
        });
        made += uint64_t(n);
    };
    // placements at least half a second apart, as the probe keeps them; the
    // cgroups' calls are many, so that no other cgroup's on the CPU meanwhile
    // (a busy host's) outnumber them
    auto place = [&](std::chrono::milliseconds after) {
        std::this_thread::sleep_for(after);
        probe->place_resident_counts();
    };
    // A page given up is folded once every BPF run that may still write it
    // has ended: at the next placement, after a wait for them (membarrier),
    // which is then sooner than kResidentGrace; where that wait proves
    // nothing (one CPU online, nohz_full), kResidentGrace after.
    const bool waits = probes::wait_for_bpf_runs();
    const auto grace = waits ? 600ms : probes::SyscallProbe::kResidentGrace + 100ms;
    RecordProperty("grace", waits ? "waits for BPF runs" : "timed");
    std::this_thread::sleep_for(600ms);
    calls(a, made_a, 100000);
    place(0ms);
    ASSERT_EQ(probe->resident_cgroup(cpu), ida) << "the cgroup counting most on the CPU did not get its page";
    calls(a, made_a, 25000);  // on the page
    EXPECT_GE(probe->resident_calls(cpu), 25000u) << "sys_exit did not count a's calls on the CPU's page";
    calls(b, made_b, 500000);  // in b's block
    place(600ms);              // twice a's calls: a gives the page up
    EXPECT_EQ(probe->resident_cgroup(cpu), ida) << "the page went before BPF runs could have ended";
    const uint64_t waits_before = probe->resident_waits();
    calls(a, made_a, 3000);  // in a's block again
    calls(b, made_b, 100000);
    place(grace);  // a's page folded into its counts, and given to b
    ASSERT_EQ(probe->resident_cgroup(cpu), idb) << "the busier cgroup did not get the page";
    if (waits) {
        EXPECT_GT(probe->resident_waits(), waits_before) << "the page was folded without a wait for BPF runs";
    }
    calls(b, made_b, 7000);  // on the page
    EXPECT_GE(probe->resident_calls(cpu), 7000u) << "sys_exit did not count b's calls on the CPU's page";
    EXPECT_LE(probe->resident_calls(cpu), 7000u + 5) << "the page was not zeroed before b took it";
    expect_made(*probe, totals(*probe, ida, "getppid").count, made_a, "a, after the page moved to b");
    expect_made(*probe, totals(*probe, idb, "getppid").count, made_b, "b, on the page");

    probe->forget_cgroups({idb});  // as if b were removed: its page is given up
    calls(a, made_a, 100000);
    place(grace);  // b's page zeroed (nothing kept for it), then a's
    ASSERT_EQ(probe->resident_cgroup(cpu), ida) << "the page of a forgotten cgroup was not freed";
    calls(a, made_a, 1000);
    expect_made(*probe, totals(*probe, ida, "getppid").count, made_a, "a, on the page again");
    RecordProperty("calls_a", std::to_string(made_a));
}

TEST_P(SyscallProbeTest, CountOnlyModeCountsWithoutLatency) {
    auto probe = open(/*latency=*/false);
    TestCgroup cg("count-only");
    run_in(cg, [] {
        for (int i = 0; i < 5000; ++i) syscall(SYS_getppid);
        for (int i = 0; i < 100; ++i) syscall(SYS_close, -1);
    });
    auto t = totals(*probe, cg.id(*mount_), "getppid");
    EXPECT_GE(t.count, 5000u);
    EXPECT_LE(t.count, 5005u);
    EXPECT_EQ(t.total_ns, 0u);
    auto c = totals(*probe, cg.id(*mount_), "close");
    EXPECT_GE(c.errors, 100u);
    EXPECT_LE(c.errors, 105u);
}

// A signal handler returns through rt_sigreturn, whose exit reports syscall
// -1: each is counted as rt_sigreturn, none as `other`, with latency on or off.
TEST_P(SyscallProbeTest, SignalHandlerReturnsAreCountedAsRtSigreturn) {
    for (bool latency : {false, true}) {
        auto probe = open(latency);
        TestCgroup cg(latency ? "sigreturn-timed" : "sigreturn");
        constexpr int N = 300;
        run_in(cg, [] {
            signal(SIGUSR1, [](int) {});
            pid_t self = pid_t(syscall(SYS_getpid));
            for (int i = 0; i < N; ++i) kill(self, SIGUSR1);
        });
        auto all = read_once(*probe, cg.id(*mount_));
        EXPECT_GE(all[SYS_rt_sigreturn].count, uint64_t(N)) << "latency " << latency;
        EXPECT_LE(all[SYS_rt_sigreturn].count, uint64_t(N + 5)) << "latency " << latency;
        EXPECT_EQ(all[SYSCALL_NR_OTHER].count, 0u) << "latency " << latency;
    }
}

TEST_P(SyscallProbeTest, TimesOnlyTheSyscallsItIsAskedToAndCountsAll) {
    auto probe = open(true, std::vector<uint32_t>{SYS_nanosleep});
    TestCgroup cg("timed");
    run_in(cg, [] {
        timespec ts{0, 1000000};
        for (int i = 0; i < 5; ++i) syscall(SYS_nanosleep, &ts, nullptr);
        for (int i = 0; i < 3000; ++i) syscall(SYS_getppid);
    });
    auto all = read_once(*probe, cg.id(*mount_));
    const probes::SyscallTotals sleep = all[SYS_nanosleep], ppid = all[SYS_getppid];
    EXPECT_EQ(sleep.count, 5u);
    EXPECT_GE(sleep.total_ns, 5000000u);
    uint64_t sleep_slots = 0;
    for (auto v : sleep.slots) sleep_slots += v;
    EXPECT_EQ(sleep_slots, 5u);
    EXPECT_GE(ppid.count, 3000u);
    EXPECT_LE(ppid.count, 3005u);
    EXPECT_EQ(ppid.total_ns, 0u) << "getppid is counted, not timed";
    uint64_t ppid_slots = 0;
    for (auto v : ppid.slots) ppid_slots += v;
    EXPECT_EQ(ppid_slots, 0u);
}

// With latency windows, sys_exit runs while sys_enter is detached and must
// only use a stamp of the very syscall that is returning. rt_sigreturn is
// stamped on entry and exits as syscall -1, which sys_exit takes as
// rt_sigreturn's own exit: its stamp times it and goes; a getppid entered
// after the window closed must not be timed with it (it would read as the
// whole time since the signal).
TEST_P(SyscallProbeTest, AStampLeftFromAWindowNeverTimesALaterCall) {
    auto probe = open(true, std::vector<uint32_t>{SYS_getpid, SYS_getppid, SYS_rt_sigreturn}, 1,
                      /*window_ms=*/1000, /*period_ms=*/600000);
    if (!probe->latency_windowed()) GTEST_SKIP() << "latency windows need the 5.11+ build on Linux 5.15+";
    EXPECT_EQ(probe->latency_windows(), 1u) << "the first window opens at load";
    TestCgroup cg("stale");
    run_in(cg, [] {
        close_inherited_fds();
        signal(SIGUSR1, [](int) {});
        pid_t self = pid_t(syscall(SYS_getpid));  // inside the window: timed
        kill(self, SIGUSR1);                       // the handler returns through rt_sigreturn
        timespec ts{1, 500000000};
        syscall(SYS_nanosleep, &ts, nullptr);  // the window closes meanwhile
        for (int i = 0; i < 100; ++i) syscall(SYS_getppid);
    });
    EXPECT_EQ(probe->latency_windows(), 1u);
    std::vector<probes::SyscallReading> r;
    probe->read(r);
    probes::SyscallTotals pid, ppid, exit_group, sigreturn;
    for (const auto& e : r) {
        if (e.cgroup_id != cg.id(*mount_)) continue;
        if (e.nr == SYS_getpid) pid = e.totals;
        if (e.nr == SYS_getppid) ppid = e.totals;
        if (e.nr == SYS_exit_group) exit_group = e.totals;
        if (e.nr == SYS_rt_sigreturn) sigreturn = e.totals;
    }
    EXPECT_EQ(sigreturn.count, 1u);
    uint64_t sigreturn_slots = 0;
    for (auto v : sigreturn.slots) sigreturn_slots += v;
    EXPECT_EQ(sigreturn_slots, 1u) << "the handler's return, in the window, timed by its own stamp";
    EXPECT_EQ(exit_group.count, 1u) << "the child's _exit, made while sys_enter was detached, is counted";
    uint64_t pid_slots = 0, ppid_slots = 0;
    for (auto v : pid.slots) pid_slots += v;
    for (auto v : ppid.slots) ppid_slots += v;
    ASSERT_EQ(pid_slots, 1u) << "getpid ran inside the first window (a host too busy to start the child in 1 s?)";
    EXPECT_EQ(ppid.count, 100u) << "counted while sys_enter is detached";
    EXPECT_EQ(ppid_slots, 0u) << "entered after the window: none timed";
    EXPECT_EQ(ppid.total_ns, 0u);
    EXPECT_EQ(ppid.max_ns, 0u);
}

// Windows of 100 ms every 500 ms over 2 s of getppid (`burst` calls, then a
// nanosleep of `pause_ns`): calls are counted throughout, only a part of
// them is timed.
void SyscallProbeTest::expect_windows_time_a_part(int burst, long pause_ns, uint64_t min_windows) {
    auto probe = open(true, std::vector<uint32_t>{SYS_getppid}, 1, /*window_ms=*/100, /*period_ms=*/500);
    if (!probe->latency_windowed()) GTEST_SKIP() << "latency windows need the 5.11+ build on Linux 5.15+";
    TestCgroup cg("windows");
    const uint64_t made = getppid_load(cg, 2000, burst, pause_ns);
    auto t = totals(*probe, cg.id(*mount_), "getppid");
    EXPECT_EQ(t.count, made);
    uint64_t in_slots = 0;
    for (auto v : t.slots) in_slots += v;
    EXPECT_GT(in_slots, 0u);
    EXPECT_LT(double(in_slots), 0.6 * double(made)) << "timed only inside the windows (a fifth of the time)";
    EXPECT_GE(probe->latency_windows(), min_windows) << "windows closed and opened again";
    EXPECT_EQ(probe->latency_window_failures(), 0u);
    RecordProperty("timed_share", std::to_string(double(in_slots) / double(made)));
    RecordProperty("windows_held", std::to_string(probe->latency_windows_held()));
}

// Windows open and close on schedule: over 2 s of load, the windows of 0,
// 0.5, 1 and 1.5 s at least (the one due at 2 s may open just after the load
// ends, as the window thread wakes a little late on a busy host).
TEST_P(SyscallProbeTest, LatencyWindowsTimeAPartAndCountAll) { expect_windows_time_a_part(50, 1000000, 4); }

// On a quiet host sys_enter stays attached past its window: a call made long
// after the first window would have closed is timed. (The rate asked for is
// far above what a host makes without a test loading it on purpose.)
TEST_P(SyscallProbeTest, AQuietHostKeepsSysEnterAttachedPastTheWindow) {
    quiet_rate_ = 2'000'000;
    auto probe = open(true, std::vector<uint32_t>{SYS_getppid}, 1, /*window_ms=*/100, /*period_ms=*/300);
    if (!probe->latency_windowed()) GTEST_SKIP() << "latency windows need the 5.11+ build on Linux 5.15+";
    TestCgroup cg("quiet");
    run_in(cg, [] {
        close_inherited_fds();
        timespec ts{1, 200000000};
        syscall(SYS_nanosleep, &ts, nullptr);  // four periods: the window would have closed
        for (int i = 0; i < 100; ++i) syscall(SYS_getppid);
    });
    auto t = totals(*probe, cg.id(*mount_), "getppid");
    EXPECT_EQ(t.count, 100u);
    uint64_t in_slots = 0;
    for (auto v : t.slots) in_slots += v;
    EXPECT_EQ(in_slots, 100u) << "sys_enter stayed attached: every call timed";
    EXPECT_EQ(probe->latency_windows(), 1u) << "never detached, so never opened again";
    EXPECT_GE(probe->latency_windows_held(), 3u);
}

// A busy host detaches sys_enter when the window ends, as without a quiet
// rate: a few hundred thousand syscalls a second at least, far above it (the
// first window may still be held, before the load starts).
TEST_P(SyscallProbeTest, ABusyHostClosesTheWindows) {
    quiet_rate_ = 50'000;
    expect_windows_time_a_part(1000, 0, 3);
}

// Load arriving while a quiet host keeps sys_enter attached detaches it long
// before the period ends: the CPU that made its share of a quiet period's
// calls wakes the window thread.
TEST_P(SyscallProbeTest, LoadOnAQuietHostDetachesSysEnterBeforeThePeriodEnds) {
    quiet_rate_ = 20'000;  // a share of 40,000 calls per CPU on 2 CPUs in a 4 s period
    auto probe = open(true, std::vector<uint32_t>{SYS_getppid}, 1, /*window_ms=*/100, /*period_ms=*/4000);
    if (!probe->latency_windowed()) GTEST_SKIP() << "latency windows need the 5.11+ build on Linux 5.15+";
    TestCgroup cg("arrives");
    // 0.5 s quiet (the first window ends on a quiet host: held), then 1.5 s of
    // load, all of it before the period ends
    const uint64_t made = getppid_load(cg, 1500, 1000, 0, /*quiet_ms=*/500);
    ASSERT_GE(probe->latency_windows_held(), 1u) << "the host was not quiet in the first window (other load?)";
    auto t = totals(*probe, cg.id(*mount_), "getppid");
    EXPECT_EQ(t.count, made);
    uint64_t in_slots = 0;
    for (auto v : t.slots) in_slots += v;
    EXPECT_LT(double(in_slots), 0.5 * double(made))
        << "sys_enter stayed attached through the load (it would have until the period's end, 4.1 s)";
    EXPECT_EQ(probe->latency_windows(), 1u) << "the next window opens only a period after the first";
    RecordProperty("timed_share", std::to_string(double(in_slots) / double(made)));
}

TEST_P(SyscallProbeTest, ThreadsDyingMidSyscallLeaveNoInflightSlot) {
    if (variant_ == Variant::Modern)
        GTEST_SKIP() << "the 5.11+ build keeps slots in task storage, which the kernel frees with the task";
    auto probe = open();
    TestCgroup cg("threads");
    // 64 threads block in read() forever; the process is then SIGKILLed, so
    // none of those syscalls ever completes normally.
    HeldChild child([] {
        int fds[2];
        if (pipe(fds) != 0) _exit(2);
        for (int i = 0; i < 64; ++i) {
            std::thread([fd = fds[0]] {
                char c;
                (void)!read(fd, &c, 1);
            }).detach();
        }
        pause();
    });
    cg.add(child.pid());
    const uint64_t enters_skipped_before = skipped(*probe, "tracer_sys_enter");
    child.release();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::set<uint32_t> tids;
    for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(child.pid()) + "/task"))
        tids.insert(static_cast<uint32_t>(std::stoul(e.path().filename())));
    ASSERT_EQ(tids.size(), 65u);
    auto holding = [&] {
        size_t n = 0;
        for (uint32_t t : probe->inflight_threads()) n += tids.count(t);
        return n;
    };
    // A sys_enter the kernel skipped (the program was preempted on that CPU
    // and another thread entered it: seen in vmtest's guest on 7.3.4) leaves
    // its thread without a slot; the probe reports each such run.
    auto accounted = [&] { return holding() + (skipped(*probe, "tracer_sys_enter") - enters_skipped_before); };
    // Until each thread is in its read(): slow under emulation.
    for (int i = 0; i < 400 && accounted() < 65; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    // (on failure: what the threads without a slot are doing, from /proc)
    auto without_slot = [&] {
        std::set<uint32_t> held;
        for (uint32_t t : probe->inflight_threads()) held.insert(t);
        std::string out;
        for (uint32_t t : tids) {
            if (held.count(t)) continue;
            std::ifstream in("/proc/" + std::to_string(child.pid()) + "/task/" + std::to_string(t) + "/syscall");
            std::string what;
            std::getline(in, what);
            out += " tid " + std::to_string(t) + " (syscall: " + what + ")";
        }
        return out;
    };
    EXPECT_GE(accounted(), 65u) << "every blocked thread holds an in-flight slot, or its sys_enter was reported "
                                   "skipped; without one:" << without_slot();
    EXPECT_LE(holding(), 65u);
    const uint64_t exits_skipped_before = skipped(*probe, "tracer_sys_thread_exit");
    kill(child.pid(), SIGKILL);
    child.wait();
    // Each thread's exit releases its slot; the ones the kernel skipped
    // (reported) are released by the sweep of threads that are gone.
    for (int i = 0; i < 400 && holding() != 0; ++i) {
        probe->release_exited_threads();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(holding(), 0u) << "killed threads' slots must be released";
    RecordProperty("sys_enter_skipped", std::to_string(skipped(*probe, "tracer_sys_enter") - enters_skipped_before));
    RecordProperty("thread_exit_skipped",
                   std::to_string(skipped(*probe, "tracer_sys_thread_exit") - exits_skipped_before));
    RecordProperty("released_by_sweep", std::to_string(probe->exited_threads_released()));
}

// The sweep releases the slot of a thread that is gone (a slot the kernel
// left behind when it skipped the thread's exit: made here by writing it into
// the probe's map) and keeps those of live threads.
TEST_P(SyscallProbeTest, SweepReleasesSlotsOfGoneThreadsOnly) {
    if (variant_ == Variant::Modern)
        GTEST_SKIP() << "the 5.11+ build keeps slots in task storage, which the kernel frees with the task";
    auto probe = open();
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    std::atomic<pid_t> blocked_tid{0};
    std::thread blocked([&] {
        blocked_tid = static_cast<pid_t>(syscall(SYS_gettid));
        char c;
        (void)!read(fds[0], &c, 1);
    });
    auto holds = [&](uint32_t tid) {
        auto held = probe->inflight_threads();
        return std::find(held.begin(), held.end(), tid) != held.end();
    };
    for (int i = 0; i < 100 && !(blocked_tid && holds(uint32_t(blocked_tid))); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const uint32_t live = uint32_t(blocked_tid.load());
    ASSERT_TRUE(holds(live)) << "the blocked thread holds a slot";
    // The probe's slot map: the one named syscall_inflight that holds `live`.
    int map_fd = -1;
    for (__u32 id = 0; map_fd < 0 && bpf_map_get_next_id(id, &id) == 0;) {
        int fd = bpf_map_get_fd_by_id(id);
        if (fd < 0) continue;
        bpf_map_info info{};
        __u32 len = sizeof(info);
        std::vector<unsigned char> value(64);
        if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && std::string(info.name) == "syscall_infligh" &&
            info.key_size == sizeof(uint32_t) && info.value_size <= value.size() &&
            bpf_map_lookup_elem(fd, &live, value.data()) == 0)
            map_fd = fd;
        else
            close(fd);
    }
    ASSERT_GE(map_fd, 0) << "the probe's syscall_inflight map";
    // A thread id that is gone: a child's, once reaped.
    pid_t gone = fork();
    if (gone == 0) _exit(0);
    ASSERT_GT(gone, 0);
    waitpid(gone, nullptr, 0);
    std::vector<unsigned char> zero(64, 0);
    const uint32_t gone_tid = uint32_t(gone);
    ASSERT_EQ(bpf_map_update_elem(map_fd, &gone_tid, zero.data(), BPF_NOEXIST), 0);
    ASSERT_TRUE(holds(gone_tid));
    EXPECT_GE(probe->release_exited_threads(), 1u);
    EXPECT_FALSE(holds(gone_tid)) << "a gone thread's slot is released";
    EXPECT_TRUE(holds(live)) << "a live thread's slot stays";
    EXPECT_GE(probe->exited_threads_released(), 1u);
    close(map_fd);
    ASSERT_EQ(write(fds[1], "x", 1), 1);
    blocked.join();
    close(fds[0]);
    close(fds[1]);
}

TEST_P(SyscallProbeTest, ResolverNamesTheTestCgroup) {
    TestCgroup cg("resolve");
    containers::CgroupResolver resolver(keying_.mount_point, keying_.mount_root);
    resolver.rescan();
    auto path = resolver.lookup(cg.id(*mount_));
    ASSERT_TRUE(path.has_value());
    EXPECT_EQ(*path, cg.path(*mount_));
    EXPECT_EQ(resolver.lookup(1).value_or("?"), keying_.mount_root == "/" ? "/" : keying_.mount_root);
}

INSTANTIATE_TEST_SUITE_P(Keyings, SyscallProbeTest, fixtures::probe_test_params(), fixtures::probe_test_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(SyscallProbeTest);

}  // namespace
