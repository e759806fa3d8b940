// SyscallCollector over the real probe and real cgroups: cumulative series per
// cgroup path, folding beyond max_cgroups, and releasing cgroups that are gone.
#include "agent/cgroup_directory.h"
#include "agent/syscall_collector.h"
#include "containers/cgroup_layout.h"
#include "fixtures.h"

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <optional>

using namespace tracer;
using fixtures::HeldChild;
using fixtures::TestCgroup;

namespace {

class SyscallCollectorTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (auto why = fixtures::root_skip_reason(); !why.empty()) GTEST_SKIP() << why;
        keying_ = containers::choose_cgroup_keying(fixtures::host_layout(), "auto", "/proc/cgroups");
        mount_ = keying_.mode == 0 ? fixtures::host_layout().unified()
                                   : fixtures::host_layout().v1_controller(keying_.hierarchy);
        probes::SyscallProbeOptions o;
        o.keying = keying_;
        probe_ = std::make_unique<probes::SyscallProbe>(o);
        resolver_ = std::make_unique<containers::CgroupResolver>(keying_.mount_point, keying_.mount_root);
    }

    static void getppid_in(const TestCgroup& cg, int n) {
        HeldChild child([n] {
            for (int i = 0; i < n; ++i) syscall(SYS_getppid);
        });
        cg.add(child.pid());
        child.release();
        ASSERT_EQ(child.wait(), 0);
    }

    static std::optional<double> value(const metrics::Snapshot& s, const std::string& family,
                                       const std::string& cgroup, const std::string& syscall) {
        for (const auto& f : s) {
            if (f.name != family) continue;
            for (const auto& smp : f.samples)
                if (smp.labels == metrics::Labels{{"cgroup", cgroup}, {"syscall", syscall}}) return smp.value;
        }
        return std::nullopt;
    }

    // One interval of the agent's loop over this collector.
    void interval(agent::CgroupDirectory& d, agent::SyscallCollector& c) {
        agent::collect_interval(d, {&c}, std::chrono::seconds(1));
    }

    containers::CgroupKeying keying_;
    const containers::CgroupMount* mount_ = nullptr;
    std::unique_ptr<probes::SyscallProbe> probe_;
    std::unique_ptr<containers::CgroupResolver> resolver_;
};

}  // namespace

TEST_F(SyscallCollectorTest, CountersAccumulateAcrossIntervals) {
    agent::CgroupDirectory d(*resolver_, 1000, std::chrono::seconds(0));
    agent::SyscallCollector c(*probe_, {true, std::vector<uint32_t>{SYS_getppid}});
    TestCgroup cg("accumulate");
    interval(d, c);
    getppid_in(cg, 4000);
    interval(d, c);
    getppid_in(cg, 6000);
    interval(d, c);
    metrics::Snapshot s;
    c.append_families(s);
    auto v = value(s, "tracer.syscalls", cg.path(*mount_), "getppid");
    ASSERT_TRUE(v.has_value());
    EXPECT_GE(*v, 10000);
    EXPECT_LE(*v, 10010);
    auto top = c.top_cgroups(100);
    bool listed = false;
    for (const auto& r : top) listed |= r.cgroup == cg.path(*mount_) && r.syscalls_per_second >= 6000;
    EXPECT_TRUE(listed) << "the last interval's 6000 calls/s appear in the top list";
}

// Latency windows: sys_enter is attached a fifth of the time. Counts stay
// exact, and the histogram is scaled so its _count equals them.
TEST_F(SyscallCollectorTest, WindowedLatencyKeepsCountsExactAndTheHistogramCountEqualToThem) {
    probes::SyscallProbeOptions o;
    o.keying = keying_;
    o.timed_syscalls = std::vector<uint32_t>{SYS_getppid};
    o.latency_window_ms = 40;
    o.latency_period_ms = 200;
    probes::SyscallProbe probe(o);
    if (!probe.latency_windowed()) GTEST_SKIP() << "latency windows need the 5.11+ build on Linux 5.15+";
    agent::CgroupDirectory d(*resolver_, 1000, std::chrono::seconds(0));
    agent::SyscallCollector c(probe, {true, std::vector<uint32_t>{SYS_getppid}});
    TestCgroup cg("windowed");
    interval(d, c);
    uint64_t made = 0;
    for (int round = 0; round < 2; ++round) {
        // ~1 s of getppid bursts: several windows, sampled busy bursts included
        HeldChild child([] {
            close_range(3, ~0u, 0);  // the sys_enter link's fd too: it would keep sys_enter attached
            timespec ts{0, 2000000};
            for (int i = 0; i < 400; ++i) {
                for (int j = 0; j < 100; ++j) syscall(SYS_getppid);
                syscall(SYS_nanosleep, &ts, nullptr);
            }
        });
        cg.add(child.pid());
        child.release();
        ASSERT_EQ(child.wait(), 0);
        made += 40000;
        interval(d, c);

        metrics::Snapshot s;
        c.append_families(s);
        const double counted = value(s, "tracer.syscalls", cg.path(*mount_), "getppid").value_or(-1);
        EXPECT_GE(counted, double(made));
        EXPECT_LE(counted, double(made + 10));
        const metrics::Histogram* h = nullptr;
        for (const auto& f : s)
            if (f.name == "tracer.syscall.duration")
                for (const auto& smp : f.samples)
                    if (smp.labels == metrics::Labels{{"cgroup", cg.path(*mount_)}, {"syscall", "getppid"}})
                        h = &smp.histogram;
        ASSERT_NE(h, nullptr);
        EXPECT_EQ(double(h->count), counted) << "round " << round;
        uint64_t buckets = 0;
        for (auto n : h->counts) buckets += n;
        EXPECT_EQ(buckets, h->count);
        EXPECT_GT(h->sum, 0);
        EXPECT_LT(h->sum / counted, 0.001) << "getppid takes microseconds";
    }
    std::vector<probes::SyscallReading> r;
    probe.read(r);
    uint64_t timed = 0;
    for (const auto& e : r)
        if (e.cgroup_id == cg.id(*mount_) && e.nr == SYS_getppid)
            for (auto n : e.totals.slots) timed += n;
    EXPECT_GT(timed, 0u);
    EXPECT_LT(double(timed), 0.6 * double(made)) << "the kernel timed only the calls inside windows";
    RecordProperty("timed_share", std::to_string(double(timed) / double(made)));
}

TEST_F(SyscallCollectorTest, CgroupsBeyondTheLimitAreFoldedNotLost) {
    agent::CgroupDirectory d(*resolver_, 1, std::chrono::seconds(0));
    agent::SyscallCollector c(*probe_, {true, std::nullopt});
    interval(d, c);  // the host's busiest cgroups take the one slot
    TestCgroup a("fold-a"), b("fold-b");
    getppid_in(a, 7000);
    getppid_in(b, 3000);
    interval(d, c);
    metrics::Snapshot s;
    c.append_families(s);
    EXPECT_FALSE(value(s, "tracer.syscalls", a.path(*mount_), "getppid").has_value());
    EXPECT_FALSE(value(s, "tracer.syscalls", b.path(*mount_), "getppid").has_value());
    EXPECT_GE(value(s, "tracer.syscalls", agent::CgroupDirectory::kOverflow, "getppid").value_or(0), 10000);
    EXPECT_EQ(d.tracked(), 1u);
    EXPECT_GE(d.overflowed(), 2u);
}

TEST_F(SyscallCollectorTest, GoneCgroupsReportTheirLastDeltaThenAreReleased) {
    agent::CgroupDirectory d(*resolver_, 1000, std::chrono::seconds(0));
    agent::SyscallCollector c(*probe_, {true, std::nullopt});
    std::string path;
    uint64_t id = 0;
    {
        TestCgroup cg("gone");
        path = cg.path(*mount_);
        id = cg.id(*mount_);
        interval(d, c);  // the cgroup is known by now
        getppid_in(cg, 5000);
    }  // removed before the next collection
    interval(d, c);
    metrics::Snapshot s;
    c.append_families(s);
    EXPECT_GE(value(s, "tracer.syscalls", path, "getppid").value_or(0), 5000) << "the last data point keeps its name";

    std::vector<probes::SyscallReading> r;
    probe_->read(r);
    for (const auto& e : r) EXPECT_NE(e.cgroup_id, id) << "kernel entries of a gone cgroup are deleted";

    interval(d, c);
    interval(d, c);
    metrics::Snapshot later;
    c.append_families(later);
    EXPECT_FALSE(value(later, "tracer.syscalls", path, "getppid").has_value()) << "its series end";
}
