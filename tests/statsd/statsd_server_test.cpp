// The statsd server over real sockets on loopback and a real Unix socket.
// Needs no privileges, except the cgroup-origin test (root; skips otherwise).
#include "containers/cgroup_layout.h"
#include "fixtures.h"
#include "metrics/prometheus_text.h"
#include "statsd/process_origin.h"
#include "statsd/statsd_server.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace tracer::statsd {
namespace {

using namespace std::chrono_literals;

// A datagram (UDP or Unix) or stream (TCP) client.
class Sender {
public:
    static Sender udp(uint16_t port) { return inet(SOCK_DGRAM, port); }
    static Sender tcp(uint16_t port) { return inet(SOCK_STREAM, port); }
    static Sender uds(const std::string& path) {
        Sender s(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
        EXPECT_EQ(::connect(s.fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
        return s;
    }
    Sender(Sender&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    ~Sender() {
        if (fd_ >= 0) ::close(fd_);
    }
    void send(const std::string& data) const {
        ASSERT_EQ(::send(fd_, data.data(), data.size(), 0), ssize_t(data.size())) << std::strerror(errno);
    }

private:
    explicit Sender(int fd) : fd_(fd) {}
    static Sender inet(int type, uint16_t port) {
        Sender s(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::connect(s.fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
        return s;
    }
    int fd_;
};

const metrics::Family* find_family(const StatsdFlush& f, const std::string& name) {
    for (const auto& fam : f.families)
        if (fam.name == name) return &fam;
    return nullptr;
}

// The sample of `name` whose labels include every one of `labels`.
const metrics::Sample* find_sample(const StatsdFlush& f, const std::string& name, const metrics::Labels& labels = {}) {
    const metrics::Family* fam = find_family(f, name);
    if (!fam) return nullptr;
    for (const auto& s : fam->samples)
        if (std::all_of(labels.begin(), labels.end(), [&](const metrics::Label& l) {
                return std::find(s.labels.begin(), s.labels.end(), l) != s.labels.end();
            }))
            return &s;
    return nullptr;
}

class StatsdServerTest : public ::testing::Test {
protected:
    void SetUp() override {
        socket_path_ = "/tmp/tracer-statsd-test-" + std::to_string(getpid()) + ".sock";
        options_.udp_listen = "127.0.0.1:0";
        options_.socket_path = socket_path_;
        options_.tcp_listen = "127.0.0.1:0";
    }
    void start() {
        server_ = std::make_unique<StatsdServer>(options_);
        ASSERT_EQ(server_->start(), 3u) << (server_->errors().empty() ? "" : server_->errors()[0]);
    }
    // Waits until the server took `metrics` values in all (or 10 s passed),
    // then flushes: one interval holds everything sent since the last flush.
    StatsdFlush flush_until(uint64_t metrics) {
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (server_->received() < metrics && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(5ms);
        EXPECT_GE(server_->received(), metrics);
        return server_->flush();
    }

    std::string socket_path_;
    StatsdServerOptions options_;
    std::unique_ptr<StatsdServer> server_;
};

// 100,000 increments, 10 per datagram, paced so a small (unprivileged)
// receive buffer keeps up; every one must be counted and none dropped.
TEST_F(StatsdServerTest, HundredThousandIncrementsOverUdpAreExact) {
    start();
    Sender s = Sender::udp(server_->udp_port());
    std::string datagram;
    for (int i = 0; i < 10; ++i) datagram += "test.hits:1|c|#route:/api\n";
    for (int i = 0; i < 10000; ++i) {
        s.send(datagram);
        if (i % 50 == 49) std::this_thread::sleep_for(200us);
    }
    StatsdFlush f = flush_until(100000);
    const auto* hits = find_sample(f, "test.hits", {{"route", "/api"}});
    ASSERT_NE(hits, nullptr);
    EXPECT_EQ(hits->value, 100000);
    const auto* drops = find_sample(f, "tracer.statsd.receive.drops", {{"transport", "udp"}});
    ASSERT_NE(drops, nullptr);
    EXPECT_EQ(drops->value, 0);
}

TEST_F(StatsdServerTest, HundredThousandIncrementsOverUnixSocketAreExact) {
    start();
    Sender s = Sender::uds(socket_path_);
    std::string datagram;
    for (int i = 0; i < 10; ++i) datagram += "test.uds:1|c\n";
    for (int i = 0; i < 10000; ++i) s.send(datagram);  // a full socket makes the sender wait
    StatsdFlush f = flush_until(100000);
    const auto* hits = find_sample(f, "test.uds");
    ASSERT_NE(hits, nullptr);
    EXPECT_EQ(hits->value, 100000);
}

TEST_F(StatsdServerTest, SampleRatesScaleCounts) {
    start();
    Sender s = Sender::udp(server_->udp_port());
    for (int i = 0; i < 100; ++i) s.send("sampled:1|c|@0.1\nsampled.timer:5|ms|@0.5");
    StatsdFlush f = flush_until(200);
    ASSERT_NE(find_sample(f, "sampled"), nullptr);
    EXPECT_DOUBLE_EQ(find_sample(f, "sampled")->value, 1000);
    EXPECT_EQ(find_sample(f, "sampled.timer")->summary.count, 200u);
}

TEST_F(StatsdServerTest, GaugesTakeDeltas) {
    start();
    Sender s = Sender::udp(server_->udp_port());
    s.send("temp:10|g\ntemp:+5|g\ntemp:-3|g");
    StatsdFlush f = flush_until(3);
    ASSERT_NE(find_sample(f, "temp"), nullptr);
    EXPECT_EQ(find_sample(f, "temp")->value, 12);
    s.send("temp:-2|g");
    f = flush_until(4);
    EXPECT_EQ(find_sample(f, "temp")->value, 10);
    f = server_->flush();  // no news: the gauge keeps its value
    EXPECT_EQ(find_sample(f, "temp")->value, 10);
}

TEST_F(StatsdServerTest, HistogramOfTenThousandValues) {
    options_.percentiles = {0.5, 0.9, 0.95, 0.99};
    start();
    std::vector<int> values(10000);
    for (int i = 0; i < 10000; ++i) values[i] = i + 1;
    std::shuffle(values.begin(), values.end(), std::mt19937(7));
    Sender s = Sender::udp(server_->udp_port());
    std::string datagram;
    for (size_t i = 0; i < values.size(); ++i) {
        datagram += "req.size:" + std::to_string(values[i]) + "|h\n";
        if (i % 20 == 19) {
            s.send(datagram);
            datagram.clear();
        }
    }
    StatsdFlush f = flush_until(10000);
    auto within = [](double got, double want) { return std::abs(got - want) <= 0.01 * want; };
    const auto* sample = find_sample(f, "req.size");
    ASSERT_NE(sample, nullptr);
    EXPECT_EQ(sample->summary.count, 10000u);
    EXPECT_EQ(sample->summary.sum, 50005000);
    ASSERT_EQ(sample->summary.quantiles.size(), 4u);
    const double want[] = {5000, 9000, 9500, 9900};
    for (size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(sample->summary.quantiles[i].first, options_.percentiles[i]);
        EXPECT_PRED2(within, sample->summary.quantiles[i].second, want[i]) << options_.percentiles[i];
    }
}

TEST_F(StatsdServerTest, DistributionsStayWithinTheSketchBound) {
    options_.percentiles = {0.5, 0.75, 0.9, 0.99};
    start();
    std::mt19937_64 rng(3);
    std::lognormal_distribution<double> dist(3, 1.5);
    std::vector<double> values;
    Sender s = Sender::uds(socket_path_);
    std::string datagram = "lat";
    for (int i = 0; i < 20000; ++i) {
        values.push_back(std::round(dist(rng) * 1000) / 1000);
        datagram += ":" + std::to_string(values.back());
        if (i % 50 == 49) {  // packed values: lat:v1:v2:...|d
            s.send(datagram + "|d|#svc:db");
            datagram = "lat";
        }
    }
    StatsdFlush f = flush_until(20000);
    const auto* sample = find_sample(f, "lat", {{"svc", "db"}});
    ASSERT_NE(sample, nullptr);
    EXPECT_EQ(sample->summary.count, 20000u);
    std::sort(values.begin(), values.end());
    const double accuracy = DistributionSketch().relative_accuracy();
    ASSERT_EQ(sample->summary.quantiles.size(), 4u);
    for (const auto& [q, got] : sample->summary.quantiles) {
        double want = values[size_t(q * (values.size() - 1))];
        EXPECT_LE(std::abs(got - want), accuracy * want) << q;
    }
}

TEST_F(StatsdServerTest, SetsCountDistinctMembers) {
    start();
    Sender s = Sender::tcp(server_->tcp_port());
    s.send("users:alice|s\nusers:bob|s\nusers:alice|s\nusers:carol|s\n");
    StatsdFlush f = flush_until(4);
    EXPECT_EQ(find_sample(f, "users")->value, 3);
}

TEST_F(StatsdServerTest, TcpLinesSplitAcrossReads) {
    start();
    Sender s = Sender::tcp(server_->tcp_port());
    s.send("split.counter:2|c\nsplit.cou");
    std::this_thread::sleep_for(50ms);
    s.send("nter:3|c\n");
    StatsdFlush f = flush_until(2);
    EXPECT_EQ(find_sample(f, "split.counter")->value, 5);
}

TEST_F(StatsdServerTest, CountersRenderAsPrometheusTotals) {
    start();
    Sender s = Sender::udp(server_->udp_port());
    s.send("api.requests:7|c|#code:200\nqueue.depth:4|g\nrender.time:12|ms");
    StatsdFlush f = flush_until(3);
    std::string text;
    metrics::render_prometheus_text(f.families, text);
    EXPECT_NE(text.find("# TYPE api_requests_total counter\napi_requests_total{code=\"200\"} 7\n"), std::string::npos)
        << text;
    EXPECT_NE(text.find("# TYPE queue_depth gauge\nqueue_depth 4\n"), std::string::npos);
    EXPECT_NE(text.find("# TYPE render_time summary\n"), std::string::npos);
    EXPECT_NE(text.find("render_time_count 1\n"), std::string::npos);
    // cumulative across flushes
    s.send("api.requests:3|c|#code:200");
    f = flush_until(4);
    EXPECT_EQ(find_sample(f, "api.requests")->value, 10);
}

TEST_F(StatsdServerTest, EventsAndServiceChecksReachTheCallback) {
    std::mutex mu;
    std::vector<metrics::Event> events;
    std::vector<metrics::ServiceCheck> checks;
    options_.on_events = [&](std::vector<metrics::Event>&& e, std::vector<metrics::ServiceCheck>&& c) {
        std::lock_guard lock(mu);
        for (auto& x : e) events.push_back(std::move(x));
        for (auto& x : c) checks.push_back(std::move(x));
    };
    start();
    Sender s = Sender::udp(server_->udp_port());
    s.send("_e{6,12}:Deploy|new\\nversion|t:success|#env:prod|c:abc\n_sc|db.ok|1|#env:prod|m:slow replies");
    for (int i = 0; i < 100; ++i) {
        server_->flush();
        std::lock_guard lock(mu);
        if (!events.empty() && !checks.empty()) break;
        std::this_thread::sleep_for(20ms);
    }
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].title, "Deploy");
    EXPECT_EQ(events[0].text, "new\nversion");
    EXPECT_EQ(events[0].alert_type, "success");
    EXPECT_EQ(events[0].tags, (std::vector<std::string>{"env:prod", "container_id:abc"}));
    ASSERT_EQ(checks.size(), 1u);
    EXPECT_EQ(checks[0].name, "db.ok");
    EXPECT_EQ(checks[0].status, 1);
    EXPECT_EQ(checks[0].message, "slow replies");
    EXPECT_GT(checks[0].timestamp, 0);
}

TEST_F(StatsdServerTest, MalformedLinesAreCountedByReason) {
    start();
    Sender s = Sender::udp(server_->udp_port());
    s.send("good:1|c\nbad\nworse:x|c\n:1|c\nrate:1|c|@7\nok:1|g\n_e{9}:x");
    StatsdFlush f = flush_until(2);  // the datagram was parsed whole
    auto errors = [&](const char* reason) {
        const auto* s = find_sample(f, "tracer.statsd.parse_errors", {{"reason", reason}});
        return s ? s->value : -1;
    };
    EXPECT_EQ(errors("no_value"), 1);
    EXPECT_EQ(errors("bad_value"), 1);
    EXPECT_EQ(errors("empty_name"), 1);
    EXPECT_EQ(errors("bad_sample_rate"), 1);
    EXPECT_EQ(errors("bad_event"), 1);
    EXPECT_EQ(find_sample(f, "good")->value, 1);
}

TEST_F(StatsdServerTest, ContextsAreCappedAndRefusalsCounted) {
    options_.max_contexts = 10;
    start();
    Sender s = Sender::udp(server_->udp_port());
    std::string datagram;
    for (int i = 0; i < 25; ++i) datagram += "ctx" + std::to_string(i) + ":1|c\n";
    s.send(datagram);
    StatsdFlush f = flush_until(10);
    EXPECT_EQ(find_sample(f, "tracer.statsd.contexts")->value, 10);
    EXPECT_EQ(find_sample(f, "tracer.statsd.contexts.refused")->value, 15);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitizedBuild = true;
#else
constexpr bool kSanitizedBuild = false;
#endif

long rss_kib() {
    FILE* f = std::fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && std::fgets(line, sizeof line, f))
        if (std::sscanf(line, "VmRSS: %ld", &kib) == 1) break;
    if (f) std::fclose(f);
    return kib;
}

// A flood of unique names (200,000 contexts of ~200 bytes, ten intervals) past
// max_contexts: memory stays bounded by the cap, and every refused sample is counted.
TEST_F(StatsdServerTest, FloodOfUniqueNamesPastMaxContexts) {
    options_.max_contexts = 1000;
    start();
    Sender s = Sender::udp(server_->udp_port());
    const std::string tags = "|c|#filler:" + std::string(160, 'x');
    const long rss_before = rss_kib();
    uint64_t sent = 0, refused = 0, dropped = 0;
    for (int interval = 0; interval < 10; ++interval) {
        for (int d = 0; d < 2000; ++d) {
            std::string datagram;
            for (int i = 0; i < 10; ++i) datagram += "flood." + std::to_string(sent++) + ":1" + tags + "\n";
            s.send(datagram);
            if (d % 50 == 49) std::this_thread::sleep_for(200us);
        }
        std::this_thread::sleep_for(50ms);
        StatsdFlush f = server_->flush();
        EXPECT_LE(find_sample(f, "tracer.statsd.contexts")->value, 1000);
        refused = static_cast<uint64_t>(find_sample(f, "tracer.statsd.contexts.refused")->value);
        dropped = static_cast<uint64_t>(find_sample(f, "tracer.statsd.receive.drops", {{"transport", "udp"}})->value);
    }
    // The readers may still be taking in what the kernel queued (far slower
    // under TSan): give them a bounded time. A sample lost without being
    // counted never closes the gap, and the check below fails.
    for (int i = 0; i < 100 && refused + 1000 + dropped * 10 < sent; ++i) {
        std::this_thread::sleep_for(100ms);
        StatsdFlush f = server_->flush();
        refused = static_cast<uint64_t>(find_sample(f, "tracer.statsd.contexts.refused")->value);
        dropped = static_cast<uint64_t>(find_sample(f, "tracer.statsd.receive.drops", {{"transport", "udp"}})->value);
    }
    const long rss_after = rss_kib();
    std::printf("flood: %llu unique contexts sent, %llu samples refused, %llu datagrams dropped by the kernel; "
                "RSS %ld -> %ld KiB\n",
                static_cast<unsigned long long>(sent), static_cast<unsigned long long>(refused),
                static_cast<unsigned long long>(dropped), rss_before, rss_after);
    // every sample that reached the server and found no room is counted
    EXPECT_GE(refused + 1000 + dropped * 10, sent);
    EXPECT_GT(refused, sent / 2);
    // 200,000 contexts kept would take well over 60 MiB; the cap keeps a few MiB
    if (!kSanitizedBuild) {  // ASan's quarantine holds freed memory: RSS says nothing there
        EXPECT_LT(rss_after - rss_before, 32 * 1024);
    }
}

TEST_F(StatsdServerTest, ContainerFieldTagsTheOriginUnlessOff) {
    start();
    Sender s = Sender::udp(server_->udp_port());
    s.send("from.container:1|c|c:0123abcd");
    StatsdFlush f = flush_until(1);
    EXPECT_NE(find_sample(f, "from.container", {{"container_id", "0123abcd"}}), nullptr);
    server_.reset();
    options_.origin_from_field = false;
    start();
    Sender t = Sender::udp(server_->udp_port());
    t.send("from.container:1|c|c:0123abcd");
    f = flush_until(1);
    ASSERT_NE(find_sample(f, "from.container"), nullptr);
    EXPECT_TRUE(find_sample(f, "from.container")->labels.empty());
}

TEST_F(StatsdServerTest, UnixSocketSenderPidGivesItsOrigin) {
    std::vector<pid_t> asked;
    std::mutex mu;
    options_.pid_labels = [&](pid_t pid) {
        std::lock_guard lock(mu);
        asked.push_back(pid);
        return metrics::Labels{{"sender_pid", std::to_string(pid)}};
    };
    start();
    Sender s = Sender::uds(socket_path_);
    s.send("who:1|c");
    StatsdFlush f = flush_until(1);
    EXPECT_NE(find_sample(f, "who", {{"sender_pid", std::to_string(getpid())}}), nullptr);
}

TEST_F(StatsdServerTest, PortInUseIsOneErrorAndTheRestRuns) {
    fixtures::BusyUdpPort busy;
    options_.udp_listen = "127.0.0.1:" + std::to_string(busy.port());
    StatsdServer server(options_);
    EXPECT_EQ(server.start(), 2u);
    ASSERT_EQ(server.errors().size(), 1u);
    EXPECT_NE(server.errors()[0].find("Address already in use"), std::string::npos) << server.errors()[0];
    EXPECT_EQ(server.udp_port(), 0);
    EXPECT_TRUE(server.socket_listening());
}

TEST_F(StatsdServerTest, SocketOfALiveServerIsNotTakenOver) {
    start();
    StatsdServerOptions second = options_;
    second.udp_listen = "";
    second.tcp_listen = "";
    StatsdServer other(second);
    EXPECT_EQ(other.start(), 0u);
    ASSERT_EQ(other.errors().size(), 1u);
    EXPECT_NE(other.errors()[0].find("in use"), std::string::npos);
}

// A sender inside a test cgroup gets that cgroup's `cgroup` label, as the
// kernel metrics name it in the hierarchy the agent keys on.
TEST_F(StatsdServerTest, SenderInATestCgroupGetsItsCgroupTag) {
    if (auto why = fixtures::root_skip_reason(); !why.empty()) GTEST_SKIP() << why;
    const auto& layout = fixtures::host_layout();
    auto keying = containers::choose_cgroup_keying(layout, "auto", "/proc/cgroups");
    const containers::CgroupMount* mount =
        keying.hierarchy == "unified" ? layout.unified() : layout.v1_controller(keying.hierarchy);
    ASSERT_NE(mount, nullptr);
    options_.pid_labels = [h = keying.hierarchy](pid_t pid) { return cgroup_labels_of_pid(pid, h); };
    start();
    fixtures::TestCgroup cg("statsd");
    std::string path = socket_path_;
    // the sender lives on while the server reads its datagram: the origin of
    // a datagram is looked up when it is read
    fixtures::HeldChild child([path] {
        Sender s = Sender::uds(path);
        s.send("in.cgroup:1|c");
        std::this_thread::sleep_for(1s);
    });
    cg.add(child.pid());
    child.release();
    StatsdFlush f = flush_until(1);
    EXPECT_EQ(child.wait(), 0);
    const auto* sample = find_sample(f, "in.cgroup");
    ASSERT_NE(sample, nullptr);
    EXPECT_EQ(sample->labels, (metrics::Labels{{"cgroup", cg.path(*mount)}})) << keying.describe();
}

}  // namespace
}  // namespace tracer::statsd
