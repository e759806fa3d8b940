// The kernel areas' collectors without root and without BPF: readings made
// by hand go through the same read -> name -> accumulate -> forget cycle the
// agent runs (CgroupDirectory over a directory tree shaped like a cgroup
// hierarchy, whose inode numbers are the keys), and the series come out
// cumulative, per cgroup path, and monotonic across a cgroup's removal.
#include "agent/cgroup_directory.h"
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

}  // namespace
