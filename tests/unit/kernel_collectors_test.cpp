// The kernel areas' collectors without root and without BPF: readings made
// by hand go through the same read -> name -> accumulate -> forget cycle the
// agent runs (CgroupDirectory over a directory tree shaped like a cgroup
// hierarchy, whose inode numbers are the keys), and the series come out
// cumulative, per cgroup path, and monotonic across a cgroup's removal.
#include "agent/cgroup_directory.h"
#include "agent/log2_histogram.h"
#include "agent/net_collector.h"
#include "agent/proc_collector.h"
#include "agent/sched_collector.h"
#include "agent/syscall_collector.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <optional>

using namespace tracer;
using namespace tracer::agent;
namespace fs = std::filesystem;

namespace {

uint64_t inode(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
    return st.st_ino;
}

// A cgroup-shaped tree under /tmp with two cgroups, and the readings each
// "kernel" read hands the collector.
template <class Reading>
class Kernel {
public:
    Kernel() : root_("/tmp/tracer-collectors-" + std::to_string(getpid()) + "-" + std::to_string(next_++)) {
        fs::create_directories(root_ + "/web");
        fs::create_directories(root_ + "/db");
        web = inode(root_ + "/web");
        db = inode(root_ + "/db");
        resolver_ = std::make_unique<containers::CgroupResolver>(root_, "/");
        // re-scan every interval, as the agent does once cgroup events report a removal
        directory_ = std::make_unique<CgroupDirectory>(*resolver_, 100, std::chrono::seconds(0));
    }
    ~Kernel() { fs::remove_all(root_); }

    KernelReadings<Reading> readings() {
        return {[this](std::vector<Reading>& out) { out = now; },
                [this](const std::vector<uint64_t>& keys) { forgotten.insert(forgotten.end(), keys.begin(), keys.end()); }};
    }
    void interval(CgroupCollector& c) { collect_interval(*directory_, {&c}, std::chrono::seconds(1)); }
    void remove_db() { fs::remove(root_ + "/db"); }

    uint64_t web = 0, db = 0;
    std::vector<Reading> now;            // what the next read returns
    std::vector<uint64_t> forgotten;     // keys the collector released

private:
    static inline int next_ = 0;
    std::string root_;
    std::unique_ptr<containers::CgroupResolver> resolver_;
    std::unique_ptr<CgroupDirectory> directory_;
};

// The value of `family`'s sample whose labels include all of `want`.
std::optional<double> value(const CgroupCollector& c, const std::string& family, const metrics::Labels& want) {
    metrics::Snapshot snap;
    c.append_families(snap);
    for (const auto& f : snap) {
        if (f.name != family) continue;
        for (const auto& s : f.samples) {
            bool all = true;
            for (const auto& l : want) all &= std::find(s.labels.begin(), s.labels.end(), l) != s.labels.end();
            if (!all) continue;
            if (f.type == metrics::MetricType::Histogram) return double(s.histogram.count);
            return s.value;
        }
    }
    return std::nullopt;
}

TEST(KernelCollectors, SchedCountsAccumulateDeltasPerCgroupPath) {
    Kernel<probes::SchedReading> k;
    SchedCollector c(k.readings());
    probes::SchedTotals web{};
    web.oncpu_ns = 2'000'000'000;
    web.voluntary = 10;
    web.involuntary = 3;
    web.migrations = 4;
    web.runq_count = 5;
    web.runq_total_ns = 5000;
    web.runq_slots[10] = 5;  // five waits of ~1 µs
    k.now = {{k.web, web}};
    k.interval(c);
    EXPECT_EQ(value(c, "tracer.cpu", {{"cgroup", "/web"}}), 2.0);
    EXPECT_EQ(value(c, "tracer.context_switches", {{"cgroup", "/web"}, {"kind", "voluntary"}}), 10);
    EXPECT_EQ(value(c, "tracer.context_switches", {{"cgroup", "/web"}, {"kind", "involuntary"}}), 3);
    EXPECT_EQ(value(c, "tracer.migrations", {{"cgroup", "/web"}}), 4);
    EXPECT_EQ(value(c, "tracer.runqueue.latency", {{"cgroup", "/web"}}), 5);

    web.oncpu_ns += 500'000'000;
    web.voluntary += 7;
    k.now = {{k.web, web}};
    k.interval(c);
    EXPECT_EQ(value(c, "tracer.cpu", {{"cgroup", "/web"}}), 2.5);
    EXPECT_EQ(value(c, "tracer.context_switches", {{"cgroup", "/web"}, {"kind", "voluntary"}}), 17);
    EXPECT_FALSE(value(c, "tracer.cpu", {{"cgroup", "/db"}}).has_value()) << "a cgroup with no readings has no series";
}

TEST(KernelCollectors, ProcCountsStayMonotonicWhenTheKernelEntryIsRecreated) {
    Kernel<probes::ProcCountsReading> k;
    ProcCollector c(k.readings());
    k.now = {{k.web, 3, 4, 5, 0}, {k.db, 1, 1, 1, 1}};
    k.interval(c);
    EXPECT_EQ(value(c, "tracer.process.execs", {{"cgroup", "/web"}}), 3);
    EXPECT_EQ(value(c, "tracer.process.forks", {{"cgroup", "/web"}}), 4);
    EXPECT_EQ(value(c, "tracer.process.exits", {{"cgroup", "/web"}}), 5);
    EXPECT_EQ(value(c, "tracer.oom_kills", {{"cgroup", "/db"}}), 1);
    // The kernel's entry starts again from zero (e.g. released and re-created):
    // the series goes on from where it was, it does not go backwards.
    k.now = {{k.web, 2, 0, 0, 0}};
    k.interval(c);
    EXPECT_EQ(value(c, "tracer.process.execs", {{"cgroup", "/web"}}), 5);
    EXPECT_EQ(value(c, "tracer.process.forks", {{"cgroup", "/web"}}), 4);
}

TEST(KernelCollectors, NetReleasesTheKernelEntriesOfCgroupsThatAreGone) {
    Kernel<probes::NetReading> k;
    NetCollector c(k.readings());
    probes::NetReading web{k.web, {}}, db{k.db, {}};
    web.totals.rx_bytes = 1000;
    web.totals.tx_bytes = 2000;
    web.totals.opened_inbound = 2;
    web.totals.closed = 1;
    web.totals.retransmits = 6;
    db.totals.tx_bytes = 10;
    k.now = {web, db};
    k.interval(c);
    EXPECT_EQ(value(c, "tracer.net.bytes", {{"cgroup", "/web"}, {"direction", "rx"}}), 1000);
    EXPECT_EQ(value(c, "tracer.net.bytes", {{"cgroup", "/web"}, {"direction", "tx"}}), 2000);
    EXPECT_EQ(value(c, "tracer.tcp.retransmits", {{"cgroup", "/web"}}), 6);
    EXPECT_EQ(value(c, "tracer.tcp.connections.open", {{"cgroup", "/web"}}), 1);  // 2 opened, 1 closed
    EXPECT_TRUE(k.forgotten.empty());

    k.remove_db();  // its last reading is counted, then its kernel entry is released
    db.totals.tx_bytes = 15;
    k.now = {web, db};
    k.interval(c);
    k.now = {web};
    k.interval(c);
    EXPECT_NE(std::find(k.forgotten.begin(), k.forgotten.end(), k.db), k.forgotten.end());
    EXPECT_EQ(std::find(k.forgotten.begin(), k.forgotten.end(), k.web), k.forgotten.end());
}

TEST(KernelCollectors, SyscallCountsErrorsAndTheBusiestCgroup) {
    Kernel<probes::SyscallReading> k;
    SyscallCollector c(k.readings(), SyscallCollectorOptions{true, std::vector<uint32_t>{0}});
    probes::SyscallTotals read{}, write{};
    read.count = 100;
    read.errors = 7;
    write.count = 40;
    k.now = {{k.web, 0, read}, {k.db, 1, write}};
    k.interval(c);
    read.count = 300;
    k.now = {{k.web, 0, read}, {k.db, 1, write}};
    k.interval(c);
    EXPECT_EQ(value(c, "tracer.syscalls", {{"cgroup", "/web"}, {"syscall", "read"}}), 300);
    EXPECT_EQ(value(c, "tracer.syscall.errors", {{"cgroup", "/web"}, {"syscall", "read"}}), 7);
    EXPECT_EQ(value(c, "tracer.syscalls", {{"cgroup", "/db"}, {"syscall", "write"}}), 40);
    auto top = c.top_cgroups(1);
    ASSERT_EQ(top.size(), 1u);
    EXPECT_EQ(top[0].cgroup, "/web");
    EXPECT_DOUBLE_EQ(top[0].syscalls_per_second, 200);  // this interval's 200 reads in 1 s
}

// The kernel times a sample of the calls (latency windows, busy-thread
// sampling): each interval's histogram growth is scaled to the calls counted,
// in whole calls, and an interval without timed calls passes its calls on.
TEST(KernelCollectors, SyscallHistogramsAreScaledToTheExactCount) {
    Kernel<probes::SyscallReading> k;
    SyscallCollector c(k.readings(), SyscallCollectorOptions{true, std::vector<uint32_t>{0}});
    auto histogram = [&] {
        metrics::Snapshot snap;
        c.append_families(snap);
        for (const auto& f : snap)
            if (f.name == "tracer.syscall.duration")
                for (const auto& s : f.samples)
                    if (s.labels == metrics::Labels{{"cgroup", "/web"}, {"syscall", "read"}}) return s.histogram;
        ADD_FAILURE() << "no histogram for /web read";
        return metrics::Histogram{};
    };
    probes::SyscallTotals read{};
    // 100 of 1000 calls timed: 60 in [2^10, 2^11) ns, 40 in [2^20, 2^21) ns
    read.count = 1000;
    read.slots[10] = 60;
    read.slots[20] = 40;
    read.total_ns = 60 * 1500 + 40 * 1500000;
    k.now = {{k.web, 0, read}};
    k.interval(c);
    auto h = histogram();
    EXPECT_EQ(h.count, 1000u);
    EXPECT_EQ(h.counts[1], 600u);  // le 2^12 ns
    EXPECT_EQ(h.counts[6], 400u);  // le 2^22 ns
    EXPECT_DOUBLE_EQ(h.sum, 10 * (60 * 1500 + 40 * 1500000) / 1e9);

    read.count += 500;  // no window in this interval: nothing timed, carried over
    k.now = {{k.web, 0, read}};
    k.interval(c);
    EXPECT_EQ(histogram().count, 1000u);
    EXPECT_EQ(value(c, "tracer.syscalls", {{"cgroup", "/web"}, {"syscall", "read"}}), 1500);

    read.count += 300;  // 3 timed calls stand for the 800 since the last timed ones
    read.slots[10] += 3;
    read.total_ns += 3 * 1200;
    k.now = {{k.web, 0, read}};
    k.interval(c);
    h = histogram();
    EXPECT_EQ(h.count, 1800u);
    EXPECT_EQ(h.counts[1], 1400u);
    EXPECT_DOUBLE_EQ(h.sum, (10 * (60 * 1500 + 40 * 1500000) + 800 * 1200) / 1e9);

    read.count += 10;  // 10 calls over 3 equal slots: 4, 3, 3 (the lower slot takes the rounding)
    read.slots[10] += 1;
    read.slots[12] += 1;
    read.slots[14] += 1;
    k.now = {{k.web, 0, read}};
    k.interval(c);
    h = histogram();
    EXPECT_EQ(h.count, 1810u);
    EXPECT_EQ(h.counts[1], 1404u);
    EXPECT_EQ(h.counts[2], 3u);
    EXPECT_EQ(h.counts[3], 3u);
}

TEST(KernelCollectors, ScaledLog2SlotsSumToTheCalls) {
    const uint64_t timed[] = {0, 7, 0, 5, 1};
    for (uint64_t calls : {0ull, 1ull, 12ull, 13ull, 1000003ull, 1ull << 50}) {
        auto s = scale_log2_slots(timed, 13000, calls);
        ASSERT_TRUE(s.has_value());
        uint64_t total = 0;
        for (size_t i = 0; i < s->slots.size(); ++i) {
            total += s->slots[i];
            if (timed[i] == 0) {
                EXPECT_EQ(s->slots[i], 0u) << "a slot with no timed call stays empty";
            }
        }
        EXPECT_EQ(total, calls);
        EXPECT_NEAR(double(s->total_ns), 1000.0 * double(calls), 1.0 + 1e-12 * double(calls));
    }
    const uint64_t none[] = {0, 0};
    EXPECT_FALSE(scale_log2_slots(none, 0, 10).has_value());
}

}  // namespace
