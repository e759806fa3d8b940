// bpf/proc.bpf.c on the real kernel: children in the test's own cgroups exec,
// fork, exit and get OOM-killed; the probe's events and per-cgroup counters
// must say exactly that, in every cgroup keying this host offers and with both
// builds of the program.
#include "containers/cgroup_layout.h"
#include "probes/proc_probe.h"
#include "fixtures.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <set>
#include <stdexcept>
#include <thread>

using namespace tracer;
using fixtures::HeldChild;
using fixtures::TestCgroup;
using probes::ProcEvent;
using probes::ProcEventKind;

namespace {


using Variant = probes::ProbeVariant;

// A child's run: how it ended and every event drained meanwhile.
struct ChildRun {
    pid_t pid = -1;
    siginfo_t info{};
    std::vector<ProcEvent> events;
    bool exited_with(int code) const { return info.si_code == CLD_EXITED && info.si_status == code; }
    bool killed_by(int sig) const {
        return (info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED) && info.si_status == sig;
    }
};

class ProcProbeTest : public fixtures::ProbeTest {
protected:
    void SetUp() override {
        ProbeTest::SetUp();
        if (!base_ready()) return;
        // the 5.11+ build needs bpf_get_current_task_btf (5.11, with task storage)
        skip_modern_without_task_storage();
    }

    // A roomy ring by default: the whole host's processes share it.
    std::unique_ptr<probes::ProcProbe> open(uint32_t ring_bytes = 8u << 20, bool oom_at_exit = false,
                                            uint32_t emitted = ~0u) {
        probes::ProcProbeOptions o;
        o.emitted_events = emitted;
        o.keying = keying_;
        o.variant = variant_;
        o.ring_bytes = ring_bytes;
        o.oom_report_at_exit = oom_at_exit;
        auto p = std::make_unique<probes::ProcProbe>(o);
        EXPECT_EQ(p->variant(), variant_);
        return p;
    }

    // Runs `work` in a child inside `cg`, draining the probe until the child is gone.
    static ChildRun run_in(const TestCgroup& cg, probes::ProcProbe& probe, std::function<void()> work) {
        ChildRun r;
        HeldChild child(std::move(work));
        r.pid = child.pid();
        cg.add(child.pid());
        auto keep = [&r](const ProcEvent& e) { r.events.push_back(e); };
        child.release();
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        for (;;) {
            probe.drain(keep);
            r.info = {};
            if (waitid(P_PID, r.pid, &r.info, WEXITED | WNOHANG | WNOWAIT) == 0 && r.info.si_pid == r.pid) break;
            if (std::chrono::steady_clock::now() > deadline) {
                ADD_FAILURE() << "child " << r.pid << " still running after 60 s";
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        probe.drain(keep);  // its exit event was submitted before it became waitable
        child.wait();
        return r;
    }

    static probes::ProcCountsReading counts(probes::ProcProbe& p, uint64_t cgroup) {
        std::vector<probes::ProcCountsReading> all;
        p.read_counts(all);
        for (const auto& c : all)
            if (c.cgroup_id == cgroup) return c;
        probes::ProcCountsReading none;
        none.cgroup_id = cgroup;
        return none;
    }

    void oom_kill_is_reported(bool at_exit);

};

// In a child: n times fork, exec /bin/true, wait; exits 1 on any failure.
void fork_exec_true(int n) {
    for (int i = 0; i < n; ++i) {
        pid_t p = fork();
        if (p == 0) {
            execl("/bin/true", "true", static_cast<char*>(nullptr));
            _exit(127);
        }
        int status = 0;
        if (p < 0 || waitpid(p, &status, 0) != p || status != 0) _exit(1);
    }
}

TEST_P(ProcProbeTest, ExecsOfBinTrueAreEventsAndCounts) {
    auto probe = open();
    TestCgroup cg("exec");
    constexpr int N = 50;
    ChildRun r = run_in(cg, *probe, [] { fork_exec_true(N); });
    ASSERT_TRUE(r.exited_with(0));
    const uint64_t key = cg.id(*mount_);
    int execs = 0;
    std::set<uint32_t> forked, execed;
    for (const auto& e : r.events) {
        if (e.cgroup_id != key) continue;
        if (e.kind == ProcEventKind::Exec) {
            ++execs;
            execed.insert(e.pid);
            EXPECT_EQ(e.filename, "/bin/true");
            EXPECT_EQ(e.comm, "true");
            EXPECT_EQ(e.pid, e.tgid);
            EXPECT_EQ(e.ppid, uint32_t(r.pid));
        } else if (e.kind == ProcEventKind::Fork) {
            forked.insert(e.pid);
            EXPECT_EQ(e.ppid, uint32_t(r.pid));
        }
    }
    EXPECT_EQ(execs, N);
    EXPECT_EQ(forked.size(), size_t(N));
    EXPECT_EQ(forked, execed) << "every forked child exec'd once";
    auto c = counts(*probe, key);
    EXPECT_EQ(c.execs, uint64_t(N));
    EXPECT_EQ(c.forks, uint64_t(N));
    EXPECT_EQ(c.exits, uint64_t(N + 1)) << "the N children and the test's child";
    EXPECT_EQ(c.oom_kills, 0u);
}

TEST_P(ProcProbeTest, KindsLeftOutOfTheRingAreStillCounted) {
    // As `tracer run` loads it: only OOM kills cross the ring.
    auto probe = open(8u << 20, false, probes::proc_event_bit(ProcEventKind::Oom));
    TestCgroup cg("quiet-ring");
    constexpr int N = 20;
    ChildRun r = run_in(cg, *probe, [] { fork_exec_true(N); });
    ASSERT_TRUE(r.exited_with(0));
    size_t non_oom = 0;
    for (const auto& e : r.events) non_oom += e.kind != ProcEventKind::Oom;
    EXPECT_EQ(non_oom, 0u) << "no exec, fork or exit event of any cgroup reached the ring";
    auto c = counts(*probe, cg.id(*mount_));
    EXPECT_EQ(c.execs, uint64_t(N));
    EXPECT_EQ(c.forks, uint64_t(N));
    EXPECT_EQ(c.exits, uint64_t(N + 1));
}

TEST_P(ProcProbeTest, ExitsCarryTheStatusAndLifetime) {
    auto probe = open();
    TestCgroup cg("exit");
    constexpr int N = 50;
    ChildRun r = run_in(cg, *probe, [] {
        for (int i = 0; i < N; ++i) {
            pid_t p = fork();
            if (p == 0) _exit(7);
            int status = 0;
            if (p < 0 || waitpid(p, &status, 0) != p || !WIFEXITED(status) || WEXITSTATUS(status) != 7) _exit(1);
        }
    });
    ASSERT_TRUE(r.exited_with(0));
    const uint64_t key = cg.id(*mount_);
    int sevens = 0, own = 0;
    for (const auto& e : r.events) {
        if (e.cgroup_id != key || e.kind != ProcEventKind::Exit) continue;
        if (e.pid == uint32_t(r.pid)) {
            ++own;
            EXPECT_EQ(e.exit_code, 0);
            continue;
        }
        EXPECT_EQ(e.ppid, uint32_t(r.pid));
        EXPECT_EQ(e.pid, e.tgid);
        // decoded as a shell does: status in bits 8-15, no signal in bits 0-6
        EXPECT_EQ(e.exit_code & 0x7f, 0);
        if ((e.exit_code >> 8) == 7) ++sevens;
        EXPECT_GT(e.lifetime_ns, 0u);
        EXPECT_LT(e.lifetime_ns, 60ull * 1000000000ull);
    }
    EXPECT_EQ(sevens, N);
    EXPECT_EQ(own, 1);
    EXPECT_EQ(counts(*probe, key).exits, uint64_t(N + 1));
}

void ProcProbeTest::oom_kill_is_reported(bool at_exit) {
    auto probe = open(8u << 20, at_exit);
    TestCgroup cg("oom");
    const containers::CgroupMount* mem = fixtures::limit_memory(cg, 32u << 20);
    if (!mem) GTEST_SKIP() << "the test cgroup has no memory controller (v1 memory or cgroup2 memory.max)";

    ChildRun r = run_in(cg, *probe, [] { fixtures::touch_memory_and_exit(64u << 20); });  // 64 MiB in 32
    EXPECT_TRUE(r.killed_by(SIGKILL)) << "si_code " << r.info.si_code << " si_status " << r.info.si_status;

    const uint64_t memkey = cg.id(*mem), key = cg.id(*mount_);
    std::vector<ProcEvent> ooms;
    const ProcEvent* death = nullptr;
    for (const auto& e : r.events) {
        if (e.kind == ProcEventKind::Oom && e.oom_memcg_id == memkey) ooms.push_back(e);
        if (e.kind == ProcEventKind::Exit && e.pid == uint32_t(r.pid)) death = &e;
    }
    ASSERT_EQ(ooms.size(), 1u);
    const ProcEvent& o = ooms[0];
    EXPECT_EQ(o.pid, uint32_t(r.pid));
    EXPECT_EQ(o.tgid, uint32_t(r.pid));
    EXPECT_EQ(o.cgroup_id, key);
    EXPECT_EQ(o.oom_trigger_tgid, uint32_t(r.pid)) << "a memcg OOM runs in the allocating task";
    EXPECT_EQ(o.oom_at_exit, at_exit);
    if (at_exit)
        EXPECT_EQ(o.oom_total_vm_pages, 0u);
    else
        EXPECT_GE(o.oom_total_vm_pages, (64u << 20) / 4096) << "the 64 MiB mapping is in total_vm";
    ASSERT_NE(death, nullptr);
    EXPECT_EQ(death->exit_code & 0x7f, SIGKILL);
    EXPECT_LE(o.timestamp_ns, death->timestamp_ns);
    EXPECT_EQ(counts(*probe, key).oom_kills, 1u);
}

TEST_P(ProcProbeTest, OomKillInA32MiBCgroup) { oom_kill_is_reported(false); }

// The path kernels take whose oom:mark_victim names only a pid.
TEST_P(ProcProbeTest, OomKillReportedWhenTheVictimExits) { oom_kill_is_reported(true); }

TEST_P(ProcProbeTest, FloodOverflowsATinyRingAndDrainingRecovers) {
    auto probe = open(4096);  // one page: a dozen events
    TestCgroup cg("flood");
    const uint64_t key = cg.id(*mount_);
    const uint64_t drops_before = probe->ring_drops();
    constexpr int N = 5000;
    {
        HeldChild child([] {
            for (int i = 0; i < N; ++i) {
                pid_t p = fork();
                if (p == 0) _exit(0);
                if (p < 0 || waitpid(p, nullptr, 0) != p) _exit(1);
            }
        });
        cg.add(child.pid());
        child.release();
        ASSERT_EQ(child.wait(), 0);  // nothing drained meanwhile
    }
    const uint64_t dropped = probe->ring_drops() - drops_before;
    size_t delivered = 0;
    probe->drain([&](const ProcEvent& e) { delivered += e.cgroup_id == key; });
    EXPECT_GT(dropped, 0u);
    // each of the cgroup's N fork and N exit events was delivered or dropped
    EXPECT_GE(dropped + delivered, 2u * N);
    auto c = counts(*probe, key);
    EXPECT_EQ(c.forks, uint64_t(N)) << "a full ring loses events, never counts";
    EXPECT_EQ(c.exits, uint64_t(N + 1));

    // Drained, the ring delivers again (retried: the host's own processes
    // can fill one page between two drains).
    bool seen = false;
    for (int attempt = 0; attempt < 20 && !seen; ++attempt) {
        ChildRun r = run_in(cg, *probe, [] {
            execl("/bin/true", "true", static_cast<char*>(nullptr));
            _exit(127);
        });
        for (const auto& e : r.events)
            seen |= e.kind == ProcEventKind::Exec && e.cgroup_id == key && e.filename == "/bin/true";
    }
    EXPECT_TRUE(seen) << "no exec event after the flood";
}

TEST_P(ProcProbeTest, WaitSeesWaitingEventsAndSinkErrorsPropagate) {
    auto probe = open();
    probe->drain([](const ProcEvent&) {});
    TestCgroup cg("wait");
    HeldChild child([] {});
    cg.add(child.pid());
    child.release();
    ASSERT_EQ(child.wait(), 0);
    EXPECT_TRUE(probe->wait(1000)) << "the child's exit event is waiting";
    // a throwing sink stops the drain, and the exception reaches the caller
    EXPECT_THROW(probe->drain([](const ProcEvent&) { throw std::runtime_error("sink"); }), std::runtime_error);
    probe->drain([](const ProcEvent&) {});
    EXPECT_FALSE(probe->attached().empty());
}

INSTANTIATE_TEST_SUITE_P(ProcKeyings, ProcProbeTest, fixtures::probe_test_params(), fixtures::probe_test_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ProcProbeTest);

}  // namespace
