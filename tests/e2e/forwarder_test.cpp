// The forwarder against a real VictoriaMetrics on loopback: every sink
// delivers a known batch with exact names, values and tags; an outage of five
// intervals loses nothing and duplicates nothing; a 400 does not hold up the
// batches after it; a 1 MiB spool drops its oldest batches and counts them;
// and `tracer run`, SIGTERMed while the backend is down, delivers everything
// after its restart.
#include "config/agent_config.h"
#include "fixtures.h"
#include "forwarder/forwarder.h"
#include "metrics/prometheus_text.h"
#include "victoria_metrics.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

using namespace std::chrono_literals;
using tracer::config::AgentConfig;
using tracer::config::SinkConfig;
using tracer::fixtures::ExportedSeries;
using tracer::fixtures::find_series;
using tracer::fixtures::Subprocess;
using tracer::fixtures::VictoriaMetrics;
using tracer::forwarder::DropReason;
using tracer::forwarder::Forwarder;
namespace metrics = tracer::metrics;
namespace fs = std::filesystem;
using Labels = std::map<std::string, std::string>;

namespace {

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 20s) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (done()) return true;
        std::this_thread::sleep_for(50ms);
    }
    return done();
}

uint64_t dropped(const Forwarder& f, DropReason r) {
    return f.sink(0).stats().dropped[static_cast<size_t>(r)].load();
}

// The known batch: a counter, a gauge, a histogram and a summary.
struct Known {
    double syscalls_a = 42, syscalls_b = 7, load = 1.5;
    std::vector<uint64_t> buckets{1, 2, 3, 4};  // bounds 0.001, 0.01, 0.1, +Inf
    double hist_sum = 5.5;
};

std::shared_ptr<const metrics::Snapshot> known_snapshot(const Known& k) {
    auto snap = std::make_shared<metrics::Snapshot>();
    metrics::Family syscalls{"tracer.test.syscalls", "", "Test counter.", metrics::MetricType::Counter, {}};
    syscalls.samples.push_back({{{"cgroup", "/a"}, {"syscall", "read"}}, k.syscalls_a});
    syscalls.samples.push_back({{{"cgroup", "/b"}, {"syscall", "write"}}, k.syscalls_b});
    snap->push_back(std::move(syscalls));
    metrics::Family load{"tracer.test.load", "", "Test gauge.", metrics::MetricType::Gauge, {}};
    load.samples.push_back({{}, k.load});
    snap->push_back(std::move(load));
    metrics::Family dur{"tracer.test.duration", "seconds", "Test histogram.", metrics::MetricType::Histogram, {}};
    metrics::Sample h{{{"cgroup", "/a"}}};
    h.histogram.bounds = {0.001, 0.01, 0.1};
    h.histogram.counts = k.buckets;
    for (auto c : k.buckets) h.histogram.count += c;
    h.histogram.sum = k.hist_sum;
    dur.samples.push_back(h);
    snap->push_back(std::move(dur));
    metrics::Family rtt{"tracer.test.rtt", "seconds", "Test summary.", metrics::MetricType::Summary, {}};
    metrics::Sample s{{{"cgroup", "/a"}}};
    s.summary.quantiles = {{0.5, 0.2}, {0.99, 0.9}};
    s.summary.sum = 12;
    s.summary.count = 30;
    rtt.samples.push_back(s);
    snap->push_back(std::move(rtt));
    return snap;
}

// name{a="b",...} of every sample line of /metrics' rendering of `snap`.
std::set<Labels> metrics_page_series(const metrics::Snapshot& snap) {
    std::string text;
    metrics::render_prometheus_text(snap, text);
    std::set<Labels> out;
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::string series = line.substr(0, line.rfind(' '));
        Labels l;
        size_t brace = series.find('{');
        l["__name__"] = series.substr(0, brace);
        if (brace != std::string::npos) {
            std::string body = series.substr(brace + 1, series.size() - brace - 2);
            size_t pos = 0;
            while (pos < body.size()) {
                size_t eq = body.find("=\"", pos), close = body.find('"', eq + 2);
                l[body.substr(pos, eq - pos)] = body.substr(eq + 2, close - eq - 2);
                pos = close + 2;
            }
        }
        out.insert(l);
    }
    return out;
}

Labels with(Labels l, const Labels& more) {
    l.insert(more.begin(), more.end());
    return l;
}

class ForwarderTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (auto why = VictoriaMetrics::skip_reason(); !why.empty()) GTEST_SKIP() << why;
        char tmpl[] = "/tmp/tracer-spool-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        spool_ = tmpl;
    }
    void TearDown() override {
        std::error_code ec;
        if (!spool_.empty()) fs::remove_all(spool_, ec);
    }

    AgentConfig config(const std::string& type, const std::string& url) const {
        AgentConfig cfg;
        cfg.interval = 0.5;
        cfg.hostname = "h1";
        cfg.tags = {"env:ci"};
        cfg.spool_dir = spool_;
        SinkConfig s;
        s.type = type;
        s.name = type;
        s.url = url;
        s.backoff_initial = 0.1;
        s.backoff_max = 0.4;
        s.timeout = 2;
        cfg.sinks = {s};
        return cfg;
    }

    void start_backend() {
        ASSERT_TRUE(vm_.start()) << "victoria-metrics did not start:\n" << vm_.output();
    }

    // Waits until the sink has delivered `n` requests and holds nothing.
    void wait_delivered(const Forwarder& f, uint64_t n) {
        const auto& st = f.sink(0).stats();
        EXPECT_TRUE(wait_until([&] { return st.sent_batches >= n && st.spooled_batches == 0 && st.queued_batches == 0; }))
            << "sent " << st.sent_batches << " of " << n << ", spooled " << st.spooled_batches << ", failed "
            << st.failed_requests << ", rejected " << st.dropped[static_cast<size_t>(DropReason::Rejected)];
    }

    VictoriaMetrics vm_;
    std::string spool_;
    const Labels tags_{{"host", "h1"}, {"env", "ci"}};
};

TEST_F(ForwarderTest, RemoteWriteCarriesTheMetricsPageSeriesExactly) {
    start_backend();
    Forwarder f(config("remote_write", vm_.url("/api/v1/write")));
    f.start();
    const int64_t t = now_ms();
    auto snap = known_snapshot({});
    f.submit(t, {snap});
    wait_delivered(f, 1);

    auto all = vm_.export_series("{__name__=~\"tracer_test_.*\"}", 13);
    // The same series as /metrics, plus the host and global tags.
    std::set<Labels> got, want;
    for (const auto& s : all) {
        got.insert(s.labels);
        EXPECT_EQ(s.timestamps, std::vector<int64_t>{t}) << s.labels.at("__name__");
    }
    for (const auto& l : metrics_page_series(*snap)) want.insert(with(l, tags_));
    EXPECT_EQ(got, want);
    ASSERT_EQ(all.size(), 13u);

    auto value = [&](const Labels& l) {
        const ExportedSeries* s = find_series(all, with(l, tags_));
        return s && s->values.size() == 1 ? s->values[0] : -1.0;
    };
    EXPECT_EQ(value({{"__name__", "tracer_test_syscalls_total"}, {"cgroup", "/a"}, {"syscall", "read"}}), 42);
    EXPECT_EQ(value({{"__name__", "tracer_test_syscalls_total"}, {"cgroup", "/b"}, {"syscall", "write"}}), 7);
    EXPECT_EQ(value({{"__name__", "tracer_test_load"}}), 1.5);
    EXPECT_EQ(value({{"__name__", "tracer_test_duration_seconds_bucket"}, {"cgroup", "/a"}, {"le", "0.001"}}), 1);
    EXPECT_EQ(value({{"__name__", "tracer_test_duration_seconds_bucket"}, {"cgroup", "/a"}, {"le", "0.01"}}), 3);
    EXPECT_EQ(value({{"__name__", "tracer_test_duration_seconds_bucket"}, {"cgroup", "/a"}, {"le", "0.1"}}), 6);
    EXPECT_EQ(value({{"__name__", "tracer_test_duration_seconds_bucket"}, {"cgroup", "/a"}, {"le", "+Inf"}}), 10);
    EXPECT_EQ(value({{"__name__", "tracer_test_duration_seconds_sum"}, {"cgroup", "/a"}}), 5.5);
    EXPECT_EQ(value({{"__name__", "tracer_test_duration_seconds_count"}, {"cgroup", "/a"}}), 10);
    EXPECT_EQ(value({{"__name__", "tracer_test_rtt_seconds"}, {"cgroup", "/a"}, {"quantile", "0.5"}}), 0.2);
    EXPECT_EQ(value({{"__name__", "tracer_test_rtt_seconds"}, {"cgroup", "/a"}, {"quantile", "0.99"}}), 0.9);
    EXPECT_EQ(value({{"__name__", "tracer_test_rtt_seconds_sum"}, {"cgroup", "/a"}}), 12);
    EXPECT_EQ(value({{"__name__", "tracer_test_rtt_seconds_count"}, {"cgroup", "/a"}}), 30);
    EXPECT_EQ(f.sink(0).stats().sent_samples, 13u);
}

TEST_F(ForwarderTest, DatadogSendsCountsAsDeltasAndHistogramsAsCountSumQuantiles) {
    start_backend();
    Forwarder f(config("datadog", vm_.url("/datadog")));
    f.start();
    const int64_t t = now_ms() / 1000 * 1000;  // Datadog points are in whole seconds
    f.submit(t, {known_snapshot({})});
    Known later;
    later.syscalls_a = 50;
    later.buckets = {1, 2, 7, 4};  // +4 in (0.01, 0.1]
    later.hist_sum = 5.9;
    f.submit(t + 10000, {known_snapshot(later)});
    wait_delivered(f, 2);

    auto all = vm_.export_series("{__name__=~\"tracer[.]test[.].*\"}", 27);
    auto points = [&](const Labels& l) {
        const ExportedSeries* s = find_series(all, with(l, tags_));
        EXPECT_TRUE(s) << "no series " << l.at("__name__");
        if (s) {
            EXPECT_EQ(s->timestamps, (std::vector<int64_t>{t, t + 10000})) << l.at("__name__");
        }
        return s ? s->values : std::vector<double>{};
    };
    using V = std::vector<double>;
    EXPECT_EQ(points({{"__name__", "tracer.test.syscalls"}, {"cgroup", "/a"}, {"syscall", "read"}}), (V{42, 8}));
    EXPECT_EQ(points({{"__name__", "tracer.test.syscalls"}, {"cgroup", "/b"}, {"syscall", "write"}}), (V{7, 0}));
    EXPECT_EQ(points({{"__name__", "tracer.test.load"}}), (V{1.5, 1.5}));
    EXPECT_EQ(points({{"__name__", "tracer.test.duration.count"}, {"cgroup", "/a"}}), (V{10, 4}));
    auto sum = points({{"__name__", "tracer.test.duration.sum"}, {"cgroup", "/a"}});
    ASSERT_EQ(sum.size(), 2u);
    EXPECT_DOUBLE_EQ(sum[0], 5.5);
    EXPECT_NEAR(sum[1], 0.4, 1e-9);
    // median of {1,2,3,4} over bounds .001/.01/.1: rank 5 lies 2/3 into (0.01, 0.1]
    auto median = points({{"__name__", "tracer.test.duration.median"}, {"cgroup", "/a"}});
    ASSERT_EQ(median.size(), 2u);
    EXPECT_NEAR(median[0], 0.07, 1e-9);
    EXPECT_NEAR(median[1], 0.055, 1e-9);  // the second interval alone: 4 in (0.01, 0.1], rank 2
    EXPECT_EQ(points({{"__name__", "tracer.test.rtt.median"}, {"cgroup", "/a"}}), (V{0.2, 0.2}));
    EXPECT_EQ(points({{"__name__", "tracer.test.rtt.99percentile"}, {"cgroup", "/a"}}), (V{0.9, 0.9}));
    EXPECT_EQ(points({{"__name__", "tracer.test.rtt.count"}, {"cgroup", "/a"}}), (V{30, 0}));
}

TEST_F(ForwarderTest, InfluxWritesLinesWithFieldsPerType) {
    start_backend();
    Forwarder f(config("influx", vm_.url("/write")));
    f.start();
    const int64_t t = now_ms();
    f.submit(t, {known_snapshot({})});
    wait_delivered(f, 1);

    auto all = vm_.export_series("{__name__=~\"tracer[.]test[.].*\"}", 12);
    auto value = [&](const Labels& l) {
        const ExportedSeries* s = find_series(all, with(l, tags_));
        EXPECT_TRUE(s && s->timestamps == std::vector<int64_t>{t}) << "no point at t for " << l.at("__name__");
        return s && s->values.size() == 1 ? s->values[0] : -1.0;
    };
    EXPECT_EQ(value({{"__name__", "tracer.test.syscalls_value"}, {"cgroup", "/a"}, {"syscall", "read"}}), 42);
    EXPECT_EQ(value({{"__name__", "tracer.test.syscalls_value"}, {"cgroup", "/b"}, {"syscall", "write"}}), 7);
    EXPECT_EQ(value({{"__name__", "tracer.test.load_value"}}), 1.5);
    EXPECT_EQ(value({{"__name__", "tracer.test.duration_count"}, {"cgroup", "/a"}}), 10);
    EXPECT_EQ(value({{"__name__", "tracer.test.duration_sum"}, {"cgroup", "/a"}}), 5.5);
    EXPECT_NEAR(value({{"__name__", "tracer.test.duration_p50"}, {"cgroup", "/a"}}), 0.07, 1e-9);
    EXPECT_EQ(value({{"__name__", "tracer.test.rtt_p50"}, {"cgroup", "/a"}}), 0.2);
    EXPECT_EQ(value({{"__name__", "tracer.test.rtt_p99"}, {"cgroup", "/a"}}), 0.9);
    EXPECT_EQ(value({{"__name__", "tracer.test.rtt_count"}, {"cgroup", "/a"}}), 30);
}

TEST_F(ForwarderTest, BackendDownForFiveIntervalsLosesNothingAndDuplicatesNothing) {
    start_backend();
    Forwarder f(config("remote_write", vm_.url("/api/v1/write")));
    f.start();
    const int64_t t0 = now_ms();
    constexpr int kIntervals = 10;
    for (int i = 0; i < kIntervals; ++i) {
        if (i == 2) vm_.stop();           // intervals 2..6 happen while it is down
        if (i == 7) start_backend();
        Known k;
        k.syscalls_a = i;
        f.submit(t0 + i * 500, {known_snapshot(k)});
        std::this_thread::sleep_for(500ms);
    }
    wait_delivered(f, kIntervals);

    auto all = vm_.export_series("{__name__=\"tracer_test_syscalls_total\",cgroup=\"/a\"}", kIntervals);
    ASSERT_EQ(all.size(), 1u);
    std::vector<int64_t> want_ts;
    std::vector<double> want_values;
    for (int i = 0; i < kIntervals; ++i) want_ts.push_back(t0 + i * 500), want_values.push_back(i);
    EXPECT_EQ(all[0].timestamps, want_ts);  // every interval, once each
    EXPECT_EQ(all[0].values, want_values);
    const auto& st = f.sink(0).stats();
    EXPECT_GT(st.failed_requests, 0u);
    EXPECT_GT(st.retried_requests, 0u);
    for (size_t r = 0; r < st.dropped.size(); ++r) EXPECT_EQ(st.dropped[r], 0u) << "reason " << r;
}

// A backend that answers the first request itself (`status`, with an optional
// Retry-After), then passes everything on to VictoriaMetrics; it records when
// each request came and the API key header it carried.
class FirstAnswerProxy {
public:
    FirstAnswerProxy(uint16_t backend, int status, std::string retry_after = "")
        : backend_(backend), port_(tracer::fixtures::free_tcp_port()) {
        server_.Post("/api/v1/write", [this, status, retry_after](const httplib::Request& req, httplib::Response& res) {
            {
                std::lock_guard lock(mu_);
                arrivals_.push_back(std::chrono::steady_clock::now());
                authorization_ = req.get_header_value("Authorization");
            }
            if (requests_++ == 0) {
                res.status = status;
                if (!retry_after.empty()) res.set_header("Retry-After", retry_after);
                res.set_content("bad batch (test)", "text/plain");
                return;
            }
            httplib::Client c("127.0.0.1", backend_);
            httplib::Headers h{{"Content-Encoding", req.get_header_value("Content-Encoding")},
                               {"X-Prometheus-Remote-Write-Version", "0.1.0"}};
            auto r = c.Post("/api/v1/write", h, req.body, req.get_header_value("Content-Type"));
            res.status = r ? r->status : 502;
        });
        thread_ = std::thread([this] { server_.listen("127.0.0.1", port_); });
        wait_until([this] { return server_.is_running(); }, 5s);
    }
    ~FirstAnswerProxy() {
        server_.stop();
        thread_.join();
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/api/v1/write"; }
    int requests() const { return requests_; }
    std::vector<std::chrono::steady_clock::time_point> arrivals() {
        std::lock_guard lock(mu_);
        return arrivals_;
    }
    std::string authorization() {
        std::lock_guard lock(mu_);
        return authorization_;
    }

private:
    uint16_t backend_, port_;
    std::atomic<int> requests_{0};
    std::mutex mu_;
    std::vector<std::chrono::steady_clock::time_point> arrivals_;
    std::string authorization_;
    httplib::Server server_;
    std::thread thread_;
};

TEST_F(ForwarderTest, RejectedBatchIsDroppedAndDoesNotBlockTheNextOnes) {
    start_backend();
    FirstAnswerProxy proxy(vm_.port(), 400);
    Forwarder f(config("remote_write", proxy.url()));
    f.start();
    const int64_t t0 = now_ms();
    for (int i = 0; i < 3; ++i) {
        Known k;
        k.syscalls_a = i;
        f.submit(t0 + i * 500, {known_snapshot(k)});
    }
    wait_delivered(f, 2);
    EXPECT_EQ(dropped(f, DropReason::Rejected), 1u);
    EXPECT_EQ(f.sink(0).stats().retried_requests, 0u);  // a 400 is not retried
    EXPECT_EQ(proxy.requests(), 3);

    auto all = vm_.export_series("{__name__=\"tracer_test_syscalls_total\",cgroup=\"/a\"}", 2);
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].timestamps, (std::vector<int64_t>{t0 + 500, t0 + 1000}));
    EXPECT_EQ(all[0].values, (std::vector<double>{1, 2}));
}

TEST_F(ForwarderTest, RetryAfterIsHonouredAndTheApiKeyIsSentButNeverLogged) {
    start_backend();
    FirstAnswerProxy proxy(vm_.port(), 503, "1");  // backoff_max is 0.4 s: only Retry-After waits 1 s
    auto cfg = config("remote_write", proxy.url());
    const std::string key_file = spool_ + "/key";
    std::ofstream(key_file) << "s3cr3t-t0ken\n";
    cfg.sinks[0].api_key_file = key_file;
    testing::internal::CaptureStderr();
    {
        Forwarder f(cfg);
        f.start();
        const int64_t t0 = now_ms();
        f.submit(t0, {known_snapshot({})});
        wait_delivered(f, 1);
        EXPECT_EQ(f.sink(0).stats().retried_requests, 1u);
        auto all = vm_.export_series("{__name__=\"tracer_test_load\"}", 1);
        ASSERT_EQ(all.size(), 1u);
        EXPECT_EQ(all[0].timestamps, std::vector<int64_t>{t0});
    }
    const std::string log = testing::internal::GetCapturedStderr();
    auto at = proxy.arrivals();
    ASSERT_EQ(at.size(), 2u);
    EXPECT_GE(at[1] - at[0], 950ms) << "the retry did not wait for Retry-After: 1";
    EXPECT_EQ(proxy.authorization(), "Bearer s3cr3t-t0ken");
    EXPECT_NE(log.find("HTTP 503"), std::string::npos) << log;
    EXPECT_EQ(log.find("s3cr3t"), std::string::npos) << log;
}

// HTTPS: verification is on by default (a self-signed server is refused and
// retried, never sent in clear), and `ca_file` makes the same server trusted.
TEST_F(ForwarderTest, TlsIsVerifiedByDefaultAndTrustsTheConfiguredCa) {
    const std::string cert = spool_ + "/cert.pem", key = spool_ + "/key.pem";
    const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
                            "-addext subjectAltName=IP:127.0.0.1 -keyout " + key + " -out " + cert + " 2>/dev/null";
    if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "openssl cannot make a test certificate (apt-get install openssl)";
    vm_.use_tls(cert, key);
    start_backend();
    const std::string url = "https://127.0.0.1:" + std::to_string(vm_.port()) + "/api/v1/write";
    {
        auto cfg = config("remote_write", url);
        cfg.spool_dir = "";
        Forwarder untrusted(cfg);
        untrusted.start();
        untrusted.submit(now_ms(), {known_snapshot({})});
        const auto& st = untrusted.sink(0).stats();
        EXPECT_TRUE(wait_until([&] { return st.failed_requests >= 2; }));
        EXPECT_EQ(st.sent_batches, 0u);
    }
    auto cfg = config("remote_write", url);
    cfg.sinks[0].ca_file = cert;
    Forwarder trusted(cfg);
    trusted.start();
    trusted.submit(now_ms(), {known_snapshot({})});
    wait_delivered(trusted, 1);
    EXPECT_EQ(trusted.sink(0).stats().failed_requests, 0u);
}

// ~250 KiB of snappy-compressed remote write per batch: 4000 series whose
// label values do not compress, plus a marker gauge with the batch's number.
std::shared_ptr<const metrics::Snapshot> bulky_snapshot(int batch) {
    auto snap = std::make_shared<metrics::Snapshot>();
    metrics::Family bulk{"tracer.test.bulk", "", "", metrics::MetricType::Gauge, {}};
    uint64_t x = 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(batch + 1);
    for (int i = 0; i < 4000; ++i) {
        char id[64];
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t y = x * 0x2545f4914f6cdd1dull;
        std::snprintf(id, sizeof id, "%016llx%016llx", static_cast<unsigned long long>(x),
                      static_cast<unsigned long long>(y));
        bulk.samples.push_back({{{"id", id}}, double(i)});
    }
    snap->push_back(std::move(bulk));
    metrics::Family marker{"tracer.test.batch", "", "", metrics::MetricType::Gauge, {}};
    marker.samples.push_back({{}, double(batch)});
    snap->push_back(std::move(marker));
    return snap;
}

TEST_F(ForwarderTest, SpoolCappedAtOneMebibyteDropsTheOldestAndCountsThem) {
    auto cfg = config("remote_write", vm_.url("/api/v1/write"));  // not started yet: down
    cfg.spool_max_bytes = 1 << 20;
    cfg.sinks[0].queue_batches = 64;
    cfg.sinks[0].backoff_initial = cfg.sinks[0].backoff_max = 0.2;
    Forwarder f(cfg);
    f.start();
    constexpr int kBatches = 12;
    const int64_t t0 = now_ms();
    for (int i = 0; i < kBatches; ++i) f.submit(t0 + i * 500, {bulky_snapshot(i)});
    const auto& st = f.sink(0).stats();
    ASSERT_TRUE(wait_until([&] {
        return st.queued_batches == 0 && st.spooled_batches + dropped(f, DropReason::SpoolFull) == kBatches;
    })) << "spooled " << st.spooled_batches << ", dropped " << dropped(f, DropReason::SpoolFull);
    const uint64_t lost = dropped(f, DropReason::SpoolFull);
    EXPECT_GE(lost, 1u);
    EXPECT_LE(st.spooled_bytes, 1u << 20);
    uint64_t on_disk = 0;
    for (const auto& e : fs::recursive_directory_iterator(spool_))
        if (e.is_regular_file()) on_disk += e.file_size();
    EXPECT_EQ(on_disk, st.spooled_bytes);

    start_backend();
    wait_delivered(f, kBatches - lost);
    auto all = vm_.export_series("{__name__=\"tracer_test_batch\"}", kBatches - lost);
    ASSERT_EQ(all.size(), 1u);
    std::vector<double> want;  // the newest batches survived, in order
    for (int i = static_cast<int>(lost); i < kBatches; ++i) want.push_back(i);
    EXPECT_EQ(all[0].values, want);
}

// ---- the real agent ----

class ForwarderAgentTest : public ForwarderTest {
protected:
    void SetUp() override {
        if (auto why = tracer::fixtures::root_skip_reason(); !why.empty()) GTEST_SKIP() << why;
        ForwarderTest::SetUp();
    }

    std::string write_config() const {
        std::string path = spool_ + ".yaml";
        std::ofstream(path) << "interval: 0.5\nmetrics_addr: \"\"\ntop_cgroups: 0\nhostname: h1\n"
                               "spool_dir: "
                            << spool_ << "\nsinks:\n  - type: remote_write\n    url: " << vm_.url("/api/v1/write")
                            << "\n    backoff_initial: 0.1\n    backoff_max: 0.4\n    timeout: 2\n";
        return path;
    }
};

// The build_info gauge has one point per interval: consecutive points of one
// run are an interval apart, never more than 1.5 intervals.
void expect_no_gap(const std::vector<int64_t>& ts, int64_t from, int64_t to, const char* what) {
    std::vector<int64_t> in;
    for (auto t : ts)
        if (t >= from && t <= to) in.push_back(t);
    ASSERT_GE(in.size(), 3u) << what;
    for (size_t i = 1; i < in.size(); ++i) EXPECT_LE(in[i] - in[i - 1], 750) << what << ": a gap after point " << i;
    EXPECT_LE(to - in.back(), 1000) << what << ": the last interval before SIGTERM is missing";
}

TEST_F(ForwarderAgentTest, SigtermWhileBackendDownThenRestartLosesNothing) {
    const std::string cfg = write_config();  // the backend is not started: down
    const int64_t run1_start = now_ms();
    {
        Subprocess run1({TRACER_BINARY, "run", "--config", cfg});
        // intervals from the moment it forwards (loading the probes takes longer on a busy machine)
        ASSERT_TRUE(tracer::fixtures::wait_output(run1, "forwarding every interval", 30s)) << run1.output();
        std::this_thread::sleep_for(3s);
        ASSERT_TRUE(run1.running()) << run1.output();
        run1.signal(SIGTERM);
        ASSERT_EQ(run1.wait_for(20s), 0) << run1.output();
        EXPECT_EQ(run1.output().find("lost"), std::string::npos) << run1.output();
    }
    const int64_t run1_end = now_ms();
    size_t spooled = 0;
    for (const auto& e : fs::recursive_directory_iterator(spool_)) spooled += e.path().extension() == ".payload";
    EXPECT_GE(spooled, 4u) << "the first run's batches are not in the spool";

    Subprocess run2({TRACER_BINARY, "run", "--config", cfg});
    ASSERT_TRUE(tracer::fixtures::wait_output(run2, "forwarding every interval", 30s)) << run2.output();
    std::this_thread::sleep_for(2s);  // the agent is back, the backend is not yet
    const int64_t backend_back = now_ms();
    start_backend();
    std::vector<ExportedSeries> all;
    EXPECT_TRUE(wait_until(
        [&] {
            all = vm_.export_series("{__name__=\"tracer_build_info\"}", 10);
            return all.size() == 1 && !all[0].timestamps.empty() && all[0].timestamps.front() < run1_end &&
                   all[0].timestamps.back() > backend_back + 1000;
        },
        30s))
        << run2.output();
    run2.signal(SIGTERM);
    EXPECT_EQ(run2.wait_for(20s), 0) << run2.output();
    ASSERT_EQ(all.size(), 1u);
    expect_no_gap(all[0].timestamps, run1_start, run1_end, "first run (SIGTERMed while the backend was down)");
    expect_no_gap(all[0].timestamps, run1_end, backend_back + 1000, "second run, before and after the backend returned");
    std::set<int64_t> unique(all[0].timestamps.begin(), all[0].timestamps.end());
    EXPECT_EQ(unique.size(), all[0].timestamps.size()) << "a point arrived twice";
    std::error_code ec;
    fs::remove(cfg, ec);
}

}  // namespace
