// tracer top's view model: rates from two snapshots, container rows,
// percentiles from histogram buckets, sorting and filtering; the cgroup
// files it reads beside the snapshots.
#include "api/snapshot_json.h"
#include "top/cgroup_files.h"
#include "top/view_model.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

using namespace tracer;
using namespace tracer::top;

namespace {

metrics::Labels cgroup_labels(const std::string& cgroup, const std::string& id = "", const std::string& name = "",
                              const std::string& image = "") {
    return {{"cgroup", cgroup}, {"container_id", id}, {"container_name", name}, {"image", image}};
}

metrics::Labels with(metrics::Labels l, const std::string& k, const std::string& v) {
    l.push_back({k, v});
    return l;
}

const std::vector<double> kBounds = {1e-6, 1e-5, 1e-4, 1e-3};

metrics::Sample hist(metrics::Labels labels, std::vector<uint64_t> counts, double sum) {
    metrics::Sample s;
    s.labels = std::move(labels);
    s.histogram.bounds = kBounds;
    s.histogram.counts = std::move(counts);
    s.histogram.sum = sum;
    for (auto c : s.histogram.counts) s.histogram.count += c;
    return s;
}

// One cgroup's counters at one point in time.
struct Counters {
    std::string cgroup, id, name, image;
    double syscalls = 0, errors = 0, cpu = 0, csw = 0, rx = 0, tx = 0;
    std::vector<uint64_t> runq = {0, 0, 0, 0, 0};
    std::vector<uint64_t> read_latency = {0, 0, 0, 0, 0};
    double read_seconds = 0, write_seconds = 0;
    metrics::Labels more = {};  // pod, namespace, kube_container...
};

TimedSnapshot snapshot(const std::vector<Counters>& cgroups, double t, uint64_t seq) {
    metrics::Family sc{"tracer.syscalls", "", "", metrics::MetricType::Counter, {}};
    metrics::Family err{"tracer.syscall.errors", "", "", metrics::MetricType::Counter, {}};
    metrics::Family dur{"tracer.syscall.duration", "seconds", "", metrics::MetricType::Histogram, {}};
    metrics::Family cpu{"tracer.cpu", "seconds", "", metrics::MetricType::Counter, {}};
    metrics::Family csw{"tracer.context_switches", "", "", metrics::MetricType::Counter, {}};
    metrics::Family net{"tracer.net.bytes", "bytes", "", metrics::MetricType::Counter, {}};
    metrics::Family rq{"tracer.runqueue.latency", "seconds", "", metrics::MetricType::Histogram, {}};
    for (const auto& c : cgroups) {
        auto l = cgroup_labels(c.cgroup, c.id, c.name, c.image);
        l.insert(l.end(), c.more.begin(), c.more.end());
        sc.samples.push_back({with(l, "syscall", "read"), c.syscalls / 2, {}});
        sc.samples.push_back({with(l, "syscall", "write"), c.syscalls / 2, {}});
        err.samples.push_back({with(l, "syscall", "read"), c.errors, {}});
        dur.samples.push_back(hist(with(l, "syscall", "read"), c.read_latency, c.read_seconds));
        dur.samples.push_back(hist(with(l, "syscall", "write"), {0, 0, 0, 0, 0}, c.write_seconds));
        cpu.samples.push_back({l, c.cpu, {}});
        csw.samples.push_back({with(l, "kind", "voluntary"), c.csw, {}});
        net.samples.push_back({with(l, "direction", "rx"), c.rx, {}});
        net.samples.push_back({with(l, "direction", "tx"), c.tx, {}});
        rq.samples.push_back(hist(l, c.runq, 0));
    }
    metrics::Family build{"tracer.build_info", "", "", metrics::MetricType::Gauge, {{{{"version", "9.9"}}, 1, {}}}};
    return TimedSnapshot{{sc, err, dur, cpu, csw, net, rq, build}, t, seq};
}

const Row* find(const std::vector<Row>& rows, const std::string& key) {
    for (const auto& r : rows)
        if (r.key == key) return &r;
    return nullptr;
}

}  // namespace

TEST(TopPercentile, InterpolatesInsideTheBucket) {
    Buckets b{{1, 2, 4}, {0, 10, 0, 0}};
    EXPECT_DOUBLE_EQ(percentile(b, 0.5), 1.5);
    EXPECT_NEAR(percentile(b, 0.99), 1.99, 1e-9);
    EXPECT_DOUBLE_EQ(percentile(b, 0.0), 1.0);
    Buckets first{{1, 2, 4}, {4, 0, 0, 0}};
    EXPECT_DOUBLE_EQ(percentile(first, 0.5), 0.5);  // the first bucket starts at 0
}

TEST(TopPercentile, SpansBucketsAndOverflow) {
    Buckets b{{1, 2, 4}, {50, 0, 49, 1}};
    EXPECT_DOUBLE_EQ(percentile(b, 0.5), 1.0);
    EXPECT_NEAR(percentile(b, 0.75), 2 + 2 * (25.0 / 49), 1e-9);
    EXPECT_DOUBLE_EQ(percentile(b, 1.0), 4.0);  // overflow: the last bound
    EXPECT_TRUE(std::isnan(percentile(Buckets{{1, 2}, {0, 0, 0}}, 0.5)));
    EXPECT_TRUE(std::isnan(percentile(Buckets{{1, 2}, {1, 1}}, 0.5)));  // malformed: no overflow bucket
}

TEST(TopViewModel, RatesFromTwoSnapshots) {
    ViewModel m;
    Counters a{"/docker/abc", "abc", "web", "nginx:1.25"};
    a.syscalls = 1000, a.errors = 10, a.cpu = 5, a.csw = 100, a.rx = 1e6, a.tx = 2e6;
    a.runq = {10, 0, 0, 0, 0};
    EXPECT_TRUE(m.update(snapshot({a}, 100.0, 1)));
    EXPECT_FALSE(m.has_rates());
    auto first = m.rows({});
    ASSERT_EQ(first.size(), 1u);
    EXPECT_EQ(first[0].usage.syscalls_per_s, 0);

    Counters b = a;
    b.syscalls = 3000, b.errors = 30, b.cpu = 6, b.csw = 300, b.rx = 3e6, b.tx = 2e6;
    b.runq = {10, 98, 2, 0, 0};  // this interval: 98 in (1us, 10us], 2 in (10us, 100us]
    b.read_latency = {0, 0, 100, 0, 0};
    b.read_seconds = 0.004;
    EXPECT_TRUE(m.update(snapshot({b}, 102.0, 2)));
    EXPECT_TRUE(m.has_rates());
    EXPECT_DOUBLE_EQ(m.interval_seconds(), 2.0);
    auto rows = m.rows({});
    ASSERT_EQ(rows.size(), 1u);
    const Row& r = rows[0];
    EXPECT_EQ(r.name, "web");
    EXPECT_EQ(r.image, "nginx:1.25");
    EXPECT_DOUBLE_EQ(r.usage.syscalls_per_s, 1000);
    EXPECT_DOUBLE_EQ(r.usage.syscall_errors_per_s, 10);
    EXPECT_DOUBLE_EQ(r.cpu_percent, 50);
    EXPECT_DOUBLE_EQ(r.usage.context_switches_per_s, 100);
    EXPECT_DOUBLE_EQ(r.usage.rx_bytes_per_s, 1e6);
    EXPECT_DOUBLE_EQ(r.usage.tx_bytes_per_s, 0);
    // p99 of the interval's 100 wake-ups: rank 99 -> 1 of 2 into (1e-5, 1e-4].
    EXPECT_NEAR(r.runq_p99_seconds, 1e-5 + (1e-4 - 1e-5) * 0.5, 1e-12);
    EXPECT_EQ(r.top_syscall, "read");
    EXPECT_DOUBLE_EQ(r.top_syscall_seconds_per_s, 0.002);
    const auto& read = r.usage.syscalls.at("read");
    EXPECT_DOUBLE_EQ(read.calls_per_s, 500);
    EXPECT_DOUBLE_EQ(read.errors_per_s, 10);
    EXPECT_TRUE(read.timed);
    EXPECT_NEAR(percentile(read.latency, 0.5), 1e-5 + (1e-4 - 1e-5) * 0.5, 1e-12);
    EXPECT_EQ(m.label_of("tracer.build_info", "version"), "9.9");
}

TEST(TopViewModel, SameSequenceIgnoredAndCounterResetIsNoNegativeRate) {
    ViewModel m;
    Counters a{"/docker/abc", "abc", "web"};
    a.syscalls = 1000;
    m.update(snapshot({a}, 10, 1));
    a.syscalls = 5000;
    EXPECT_FALSE(m.update(snapshot({a}, 11, 1)));  // the same publication again
    Counters restarted = a;
    restarted.syscalls = 10;
    EXPECT_TRUE(m.update(snapshot({restarted}, 12, 2)));
    EXPECT_DOUBLE_EQ(m.rows({})[0].usage.syscalls_per_s, 0);
}

TEST(TopViewModel, APublicationNoNewerThanTheCurrentGivesNoRates) {
    ViewModel m;
    Counters a{"/docker/abc", "abc", "web"};
    a.syscalls = 1000;
    EXPECT_TRUE(m.update(snapshot({a}, 10, 0)));
    EXPECT_FALSE(m.update(snapshot({a}, 10, 0)));  // unknown sequence, same time
    EXPECT_FALSE(m.update(snapshot({a}, 9, 0)));
    EXPECT_FALSE(m.has_rates());
    EXPECT_TRUE(m.update(snapshot({a}, 11, 0)));
    EXPECT_TRUE(m.has_rates());
}

TEST(TopViewModel, ContainerRowsSumTheirCgroupsAndAllCgroupsShowsEach) {
    ViewModel m;
    Counters c1{"/docker/abc", "abc", "web"}, c2{"/docker/abc/sub", "abc", "web"}, sys{"/system.slice/ssh.service"};
    m.update(snapshot({c1, c2, sys}, 0, 1));
    c1.syscalls = 100, c2.syscalls = 300, sys.syscalls = 50;
    m.update(snapshot({c1, c2, sys}, 1, 2));
    auto rows = m.rows({});
    ASSERT_EQ(rows.size(), 1u);  // only containers by default
    EXPECT_EQ(rows[0].key, "abc");
    EXPECT_DOUBLE_EQ(rows[0].usage.syscalls_per_s, 400);
    EXPECT_EQ(rows[0].cgroups, (std::vector<std::string>{"/docker/abc", "/docker/abc/sub"}));

    ViewOptions all;
    all.all_cgroups = true;
    auto each = m.rows(all);
    ASSERT_EQ(each.size(), 3u);
    ASSERT_NE(find(each, "/system.slice/ssh.service"), nullptr);
    EXPECT_DOUBLE_EQ(find(each, "/system.slice/ssh.service")->usage.syscalls_per_s, 50);
    EXPECT_DOUBLE_EQ(find(each, "/docker/abc/sub")->usage.syscalls_per_s, 300);
    ASSERT_TRUE(m.row("abc", false));
    EXPECT_FALSE(m.row("abc", true));
}

TEST(TopViewModel, SortsByEveryColumnAndReverses) {
    ViewModel m;
    Counters a{"/a", "", ""}, b{"/b", "", ""}, c{"/c", "", ""};
    m.update(snapshot({a, b, c}, 0, 1));
    a.syscalls = 100, b.syscalls = 300, c.syscalls = 200;
    a.cpu = 0.3, b.cpu = 0.1, c.cpu = 0.2;
    a.rx = 5, b.rx = 7, c.rx = 6;
    m.update(snapshot({a, b, c}, 1, 2));
    ViewOptions o;
    o.all_cgroups = true;
    auto keys = [&] {
        std::string out;
        for (const auto& r : m.rows(o)) out += r.key;
        return out;
    };
    o.sort = Column::Syscalls;
    EXPECT_EQ(keys(), "/b/c/a");
    o.reverse = true;
    EXPECT_EQ(keys(), "/a/c/b");
    o.reverse = false;
    o.sort = Column::Cpu;
    EXPECT_EQ(keys(), "/a/c/b");
    o.sort = Column::NetRx;
    EXPECT_EQ(keys(), "/b/c/a");
    o.sort = Column::Name;
    EXPECT_EQ(keys(), "/a/b/c");
    o.reverse = true;
    EXPECT_EQ(keys(), "/c/b/a");
    // Every column has a distinct sort key.
    std::string seen;
    for (const auto& col : columns()) {
        EXPECT_EQ(seen.find(col.key), std::string::npos) << col.title;
        seen += col.key;
    }
}

TEST(TopViewModel, UnknownValuesSortLast) {
    std::vector<Row> rows(3);
    rows[0].key = "x", rows[0].name = "x";
    rows[1].key = "y", rows[1].name = "y", rows[1].memory_bytes = 10;
    rows[2].key = "z", rows[2].name = "z", rows[2].memory_bytes = 20;
    sort_rows(rows, Column::Memory, false);
    EXPECT_EQ(rows[0].key + rows[1].key + rows[2].key, "zyx");
    sort_rows(rows, Column::Memory, true);
    EXPECT_EQ(rows[0].key + rows[1].key + rows[2].key, "yzx");
}

TEST(TopViewModel, FilterMatchesNameIdImageAndCgroupIgnoringCase) {
    ViewModel m;
    Counters w{"/docker/abc", "abc", "Web-Frontend", "nginx:1.25"}, d{"/docker/def", "def", "db", "postgres:16"};
    m.update(snapshot({w, d}, 0, 1));
    ViewOptions o;
    auto names = [&] {
        std::string out;
        for (const auto& r : m.rows(o)) out += r.name + ";";
        return out;
    };
    o.filter = "web";
    EXPECT_EQ(names(), "Web-Frontend;");
    o.filter = "POSTGRES";
    EXPECT_EQ(names(), "db;");
    o.filter = "/docker/";
    EXPECT_EQ(names(), "Web-Frontend;db;");  // ties (no rates yet) by name, byte order
    o.filter = "def";
    EXPECT_EQ(names(), "db;");
    o.filter = "nothing-like-it";
    EXPECT_EQ(names(), "");
}

// Two pods' containers often share a name (app, istio-proxy): a Kubernetes
// container is named by its pod and its container, the pod's sandbox
// <pod>/POD, and the filter finds them by pod and namespace too.
TEST(TopViewModel, KubernetesContainersAreNamedByPodAndContainer) {
    auto kube = [](const std::string& pod, const std::string& ns, const std::string& container) {
        metrics::Labels l{{"pod", pod}, {"namespace", ns}};
        if (!container.empty()) l.push_back({"kube_container", container});
        return l;
    };
    const std::string pod_a = "/kubepods/besteffort/pod0f1c2d3e-4a5b-6c7d-8e9f-0a1b2c3d4e5f/";
    const std::string pod_b = "/kubepods/burstable/pod1f1c2d3e-4a5b-6c7d-8e9f-0a1b2c3d4e5f/";
    Counters a{pod_a + "aaa", "aaa", "app", "registry/web:1"}, b{pod_b + "bbb", "bbb", "app", "registry/api:2"};
    Counters sandbox{pod_a + "ccc", "ccc", "web-7d9f"}, docker{"/docker/ddd", "ddd", "plain"};
    a.more = kube("web-7d9f", "shop", "app");
    b.more = kube("api-5c6b", "billing", "app");
    sandbox.more = kube("web-7d9f", "shop", "");  // (the sandbox's container_name is its pod's)
    ViewModel m;
    m.update(snapshot({a, b, sandbox, docker}, 0, 1));
    ViewOptions o;
    auto names = [&] {
        std::string out;
        for (const auto& r : m.rows(o)) out += r.name + ";";
        return out;
    };
    EXPECT_EQ(names(), "api-5c6b/app;plain;web-7d9f/POD;web-7d9f/app;");
    auto rows = m.rows(o);
    ASSERT_NE(find(rows, "aaa"), nullptr);
    EXPECT_EQ(find(rows, "aaa")->pod, "web-7d9f");
    EXPECT_EQ(find(rows, "aaa")->kube_namespace, "shop");
    EXPECT_EQ(find(rows, "aaa")->image, "registry/web:1");
    EXPECT_EQ(find(rows, "ddd")->pod, "");
    o.filter = "BILLING";
    EXPECT_EQ(names(), "api-5c6b/app;");
    o.filter = "web-7d9f";
    EXPECT_EQ(names(), "web-7d9f/POD;web-7d9f/app;");
    o.filter = "";
    o.all_cgroups = true;
    EXPECT_EQ(m.row(pod_b + "bbb", true)->name, "api-5c6b/app (" + pod_b + "bbb)");
}

TEST(TopViewModel, CgroupReaderFillsMemoryAndPids) {
    ViewModel m;
    std::vector<std::string> asked;
    m.set_cgroup_reader([&](const std::vector<std::string>& cgroups) {
        asked = cgroups;
        return CgroupFacts{1024.0 * 1024, 3.0};
    });
    m.update(snapshot({{"/docker/abc", "abc", "web"}}, 0, 1));
    auto rows = m.rows({});
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].memory_bytes, 1024.0 * 1024);
    EXPECT_EQ(rows[0].pids, 3.0);
    EXPECT_EQ(asked, std::vector<std::string>{"/docker/abc"});
}

// Throttling (the share of periods that ran out of quota) and stalls are
// rates between two snapshots' cumulative counters, read once per snapshot
// however often the rows are drawn.
TEST(TopViewModel, ThrottlingAndStallsAreRatesBetweenTwoSnapshotsCounters) {
    ViewModel m;
    int reads = 0;
    CpuThrottling counters{100, 10, 1.0};
    Pressure stalls{10, 1, 0.5, 2, 0};
    m.set_cgroup_reader([&](const std::vector<std::string>&) {
        ++reads;
        CgroupFacts f;
        f.cpu_limit = 0.5;
        f.throttling = counters;
        f.pressure = stalls;
        return f;
    });
    Counters a{"/docker/abc", "abc", "web"};
    m.update(snapshot({a}, 0, 1));
    auto first = m.rows({});
    ASSERT_EQ(first.size(), 1u);
    EXPECT_EQ(first[0].cpu_limit, 0.5);
    EXPECT_TRUE(std::isnan(first[0].throttled_percent)) << "no rate before a second snapshot";
    counters = {120, 25, 1.6};  // 20 periods, 15 of them throttled, 0.6 s held back over 2 s
    stalls = {11.8, 1.2, 0.5, 2, 0};  // cpu: 1.8 s of 2 stalled; memory 0.2 s
    m.update(snapshot({a}, 2, 2));
    for (int i = 0; i < 3; ++i) {  // redraws of the same snapshot: the same figures, no new read
        auto rows = m.rows({});
        ASSERT_EQ(rows.size(), 1u);
        EXPECT_DOUBLE_EQ(rows[0].throttled_percent, 75);
        EXPECT_DOUBLE_EQ(rows[0].throttled_seconds_per_s, 0.3);
        ASSERT_TRUE(rows[0].pressure);
        EXPECT_NEAR(rows[0].pressure->cpu_some, 0.9, 1e-9);
        EXPECT_NEAR(rows[0].pressure->memory_some, 0.1, 1e-9);
        EXPECT_EQ(rows[0].pressure->memory_full, 0);
    }
    EXPECT_EQ(reads, 2);
    ViewOptions o;
    o.sort = Column::Throttled;
    EXPECT_EQ(m.rows(o).size(), 1u);
}

// The cpu and memory controllers' files and cgroup2's pressure files, as the kernel writes them.
TEST(TopCgroupFiles, LimitsThrottlingAndStallsFromV1AndV2Files) {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("tracer-top-cpu-" + std::to_string(::getpid()));
    fs::create_directories(dir / "v1");
    fs::create_directories(dir / "v2");
    fs::create_directories(dir / "v1-unlimited");
    fs::create_directories(dir / "v2-unlimited");
    auto write = [](const fs::path& p, const std::string& text) { std::ofstream(p) << text; };
    write(dir / "v1/cpu.cfs_quota_us", "25000\n");
    write(dir / "v1/cpu.cfs_period_us", "100000\n");
    write(dir / "v1/cpu.stat", "nr_periods 40\nnr_throttled 30\nthrottled_time 2500000000\nnr_bursts 0\nburst_time 0\n");
    write(dir / "v2/cpu.max", "150000 100000\n");
    write(dir / "v2/cpu.stat", "usage_usec 9\nuser_usec 5\nsystem_usec 4\nnr_periods 8\nnr_throttled 2\n"
                              "throttled_usec 1500\nnr_bursts 0\nburst_usec 0\n");
    write(dir / "v1-unlimited/cpu.cfs_quota_us", "-1\n");
    write(dir / "v1-unlimited/cpu.cfs_period_us", "100000\n");
    write(dir / "v2-unlimited/cpu.max", "max 100000\n");
    write(dir / "v1/memory.usage_in_bytes", "1048576\n");
    write(dir / "v1/memory.limit_in_bytes", "268435456\n");
    write(dir / "v2/memory.current", "2097152\n");
    write(dir / "v2/memory.max", "536870912\n");
    write(dir / "v1-unlimited/memory.limit_in_bytes", "9223372036854771712\n");
    write(dir / "v2-unlimited/memory.max", "max\n");
    write(dir / "v2/cpu.pressure", "some avg10=9.00 avg60=1.00 avg300=0.20 total=2500000\n"
                                   "full avg10=0.00 avg60=0.00 avg300=0.00 total=100\n");
    write(dir / "v2/memory.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=300000\n"
                                      "full avg10=0.00 avg60=0.00 avg300=0.00 total=100000\n");
    EXPECT_EQ(cpu_limit_of((dir / "v1").string()), 0.25);
    EXPECT_EQ(cpu_limit_of((dir / "v2").string()), 1.5);
    EXPECT_EQ(cpu_limit_of((dir / "v1-unlimited").string()), std::nullopt);
    EXPECT_EQ(cpu_limit_of((dir / "v2-unlimited").string()), std::nullopt);
    EXPECT_EQ(cpu_limit_of((dir / "absent").string()), std::nullopt);
    auto v1 = cpu_throttling_of((dir / "v1").string());
    ASSERT_TRUE(v1);
    EXPECT_EQ(v1->periods, 40);
    EXPECT_EQ(v1->throttled_periods, 30);
    EXPECT_DOUBLE_EQ(v1->throttled_seconds, 2.5);
    auto v2 = cpu_throttling_of((dir / "v2").string());
    ASSERT_TRUE(v2);
    EXPECT_EQ(v2->periods, 8);
    EXPECT_EQ(v2->throttled_periods, 2);
    EXPECT_DOUBLE_EQ(v2->throttled_seconds, 0.0015);
    EXPECT_FALSE(cpu_throttling_of((dir / "absent").string()));
    auto psi = pressure_of((dir / "v2").string());
    ASSERT_TRUE(psi);
    EXPECT_DOUBLE_EQ(psi->cpu_some, 2.5);
    EXPECT_DOUBLE_EQ(psi->memory_some, 0.3);
    EXPECT_DOUBLE_EQ(psi->memory_full, 0.1);
    EXPECT_EQ(psi->io_some, 0);  // (no io.pressure)
    EXPECT_FALSE(pressure_of((dir / "v1").string()));
    EXPECT_EQ(memory_limit_of((dir / "v1").string()), 268435456.0);
    EXPECT_EQ(memory_limit_of((dir / "v2").string()), 536870912.0);
    EXPECT_EQ(memory_limit_of((dir / "v1-unlimited").string()), std::nullopt);
    EXPECT_EQ(memory_limit_of((dir / "v2-unlimited").string()), std::nullopt);
    // A container of two outermost cgroups is limited by their sum, and only if both are.
    CgroupFiles files(dir.string(), "/proc", containers::CgroupMount{dir.string(), "/", false, {"cpu"}},
                      containers::CgroupMount{dir.string(), "/", true, {}});
    auto both = files.facts({"/v1", "/v2"});
    EXPECT_EQ(both.cpu_limit, 1.75);
    EXPECT_EQ(both.memory_bytes, 3145728.0);
    EXPECT_EQ(both.memory_limit, 805306368.0);
    ASSERT_TRUE(both.throttling);
    EXPECT_EQ(both.throttling->periods, 48);
    ASSERT_TRUE(both.pressure);  // (only /v2 has pressure files)
    EXPECT_DOUBLE_EQ(both.pressure->cpu_some, 2.5);
    EXPECT_FALSE(files.facts({"/v1", "/v2-unlimited"}).cpu_limit);
    EXPECT_FALSE(files.facts({"/v1", "/v2-unlimited"}).memory_limit);
    fs::remove_all(dir);
}

TEST(SnapshotJson, RoundTripsEveryType) {
    auto snap = snapshot({{"/docker/abc", "abc", "web"}}, 0, 1).families;
    metrics::Family summary{"statsd.t", "", "a timer", metrics::MetricType::Summary, {}};
    metrics::Sample s;
    s.labels = {{"b", "2"}, {"a", "1"}};  // order kept
    s.summary.quantiles = {{0.5, 1.5}, {0.99, 9}};
    s.summary.sum = 12;
    s.summary.count = 4;
    summary.samples.push_back(s);
    snap.push_back(summary);
    auto back = api::snapshot_from_json(nlohmann::json::parse(api::snapshot_to_json(snap).dump()));
    ASSERT_EQ(back.size(), snap.size());
    for (size_t i = 0; i < snap.size(); ++i) {
        EXPECT_EQ(back[i].name, snap[i].name);
        EXPECT_EQ(back[i].type, snap[i].type);
        ASSERT_EQ(back[i].samples.size(), snap[i].samples.size());
        for (size_t j = 0; j < snap[i].samples.size(); ++j) {
            EXPECT_EQ(back[i].samples[j].labels, snap[i].samples[j].labels);
            EXPECT_EQ(back[i].samples[j].value, snap[i].samples[j].value);
            EXPECT_EQ(back[i].samples[j].histogram.counts, snap[i].samples[j].histogram.counts);
            EXPECT_EQ(back[i].samples[j].histogram.bounds, snap[i].samples[j].histogram.bounds);
            EXPECT_EQ(back[i].samples[j].summary.quantiles, snap[i].samples[j].summary.quantiles);
        }
    }
    EXPECT_THROW(api::snapshot_from_json(nlohmann::json::parse(R"([{"name":"x","type":"histogram","samples":[
        {"labels":[],"bounds":[1,2],"counts":[1],"sum":0,"count":1}]}])")),
                 std::runtime_error);
}
