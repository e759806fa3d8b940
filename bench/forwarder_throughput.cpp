// Forwarder throughput and memory (docs/performance.md, "Forwarder"):
//   1. RSS of the forwarder holding 100k active series: the snapshot, the
//      aggregator's per-series state (deltas on: a Datadog-style sink is
//      configured too) and a remote write sink, after 10 intervals delivered
//      to a real VictoriaMetrics.
//   2. Remote write samples encoded per second on one core (protobuf +
//      snappy), against the /metrics text rendering of the same snapshot
//      measured in the same run (the pull path's cost per sample).
//   3. Remote write samples delivered per second to VictoriaMetrics (this
//      process pinned to one core, VictoriaMetrics on the others).
// Needs /usr/bin/victoria-metrics (scripts/install-deps.sh --test); no root.
#include "bench_support.h"
#include "config/agent_config.h"
#include "forwarder/aggregator.h"
#include "forwarder/forwarder.h"
#include "forwarder/sink_encoders.h"
#include "metrics/prometheus_text.h"

#include <httplib.h>
#include <sched.h>
#include <signal.h>
#include <snappy.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

namespace {

using namespace tracer;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int kCgroups = 1000;
constexpr int kCountersPerCgroup = 84;  // + one 16-sample histogram: 100 series per cgroup

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

long rss_kib(const char* field = "VmRSS:") {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(field, 0) == 0) return std::strtol(line.c_str() + std::strlen(field), nullptr, 10);
    return -1;
}

// 100k remote-write series: per cgroup 84 counters and one latency histogram
// (13 bounds: 14 buckets + _sum + _count = 16 series), /metrics-like labels.
std::shared_ptr<const metrics::Snapshot> snapshot(uint64_t round) {
    auto snap = std::make_shared<metrics::Snapshot>();
    metrics::Family calls{"tracer.syscalls", "", "", metrics::MetricType::Counter, {}};
    metrics::Family lat{"tracer.syscall.duration", "seconds", "", metrics::MetricType::Histogram, {}};
    calls.samples.reserve(kCgroups * kCountersPerCgroup);
    std::vector<double> bounds;
    for (int i = 10; i <= 34; i += 2) bounds.push_back(std::ldexp(1.0, i) * 1e-9);
    for (int c = 0; c < kCgroups; ++c) {
        const std::string cgroup = "/kubepods/burstable/pod" + std::to_string(100000 + c) + "/container";
        for (int s = 0; s < kCountersPerCgroup; ++s)
            calls.samples.push_back(
                {{{"cgroup", cgroup}, {"syscall", "sys_" + std::to_string(s)}}, double(round * 1000 + c + s)});
        metrics::Sample h{{{"cgroup", cgroup}, {"syscall", "read"}}};
        h.histogram.bounds = bounds;
        h.histogram.counts.assign(bounds.size() + 1, round + 1);
        h.histogram.count = (round + 1) * (bounds.size() + 1);
        h.histogram.sum = 0.001 * double(h.histogram.count);
        lat.samples.push_back(std::move(h));
    }
    snap->push_back(std::move(calls));
    snap->push_back(std::move(lat));
    return snap;
}

class VictoriaMetrics {
public:
    VictoriaMetrics(const std::string& dir, uint16_t port) : port_(port) {
        pid_ = fork();
        if (pid_ == 0) {
            cpu_set_t all;
            CPU_ZERO(&all);
            for (int i = 0; i < CPU_SETSIZE; ++i) CPU_SET(i, &all);
            sched_setaffinity(0, sizeof all, &all);  // not the bench's core only
            std::string addr = "-httpListenAddr=127.0.0.1:" + std::to_string(port), data = "-storageDataPath=" + dir;
            execl("/usr/bin/victoria-metrics", "victoria-metrics", addr.c_str(), data.c_str(), "-loggerLevel=ERROR",
                  "-retentionPeriod=100y", static_cast<char*>(nullptr));
            _exit(127);
        }
        httplib::Client c("127.0.0.1", port);
        c.set_connection_timeout(0, 200000);
        c.set_read_timeout(1, 0);
        for (int i = 0; i < 150; ++i) {
            if (auto r = c.Get("/health"); r && r->status == 200) return;
            if (waitpid(pid_, nullptr, WNOHANG) == pid_) break;
            std::this_thread::sleep_for(100ms);
        }
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        throw std::runtime_error("victoria-metrics did not start");
    }
    ~VictoriaMetrics() {
        kill(pid_, SIGINT);
        waitpid(pid_, nullptr, 0);
    }
    std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }

private:
    pid_t pid_ = -1;
    uint16_t port_;
};

// Runs `work` (which processes `samples` samples) until at least 2 s passed; samples/s.
double rate(uint64_t samples, const std::function<void()>& work) {
    work();  // warm-up
    auto start = Clock::now();
    uint64_t done = 0;
    while (seconds_since(start) < 2) work(), done += samples;
    return double(done) / seconds_since(start);
}

bool wait_for(const std::function<bool()>& done, std::chrono::seconds timeout) {
    auto end = Clock::now() + timeout;
    while (Clock::now() < end) {
        if (done()) return true;
        std::this_thread::sleep_for(10ms);
    }
    return done();
}

// One RSS row (run in a child): exit 0 if the peak is under 100 MiB.
int rss_row(const config::AgentConfig& cfg) {
    const long start = rss_kib();
    std::string names;
    for (const auto& s : cfg.sinks) names += (names.empty() ? "" : " + ") + s.name;
    if (cfg.sinks.size() > 1) names += " (deltas on)";
    try {
        auto probe = snapshot(0);
        const long with_snapshot = rss_kib();
        probe.reset();
        forwarder::Forwarder fwd(cfg);
        fwd.start();
        const int64_t t0 = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count() - 200000;
        std::shared_ptr<const metrics::Snapshot> latest;  // what /metrics would hold
        for (int i = 0; i < 10; ++i) {
            latest = snapshot(static_cast<uint64_t>(i));
            fwd.submit(t0 + i * 10000, {latest});
            auto idle = [&](size_t k) {
                const auto& st = fwd.sink(k).stats();
                return st.queued_batches == 0 && st.spooled_batches == 0 && st.sent_batches > 0;
            };
            if (!wait_for([&] {
                    for (size_t k = 0; k < fwd.sinks(); ++k)
                        if (!idle(k)) return false;
                    return true;
                }, 60s))
                throw std::runtime_error("sinks did not deliver an interval within 60 s");
        }
        const long after = rss_kib(), peak = rss_kib("VmHWM:");
        std::printf("  %-34s %10.1f %12.1f %14.1f %10.1f\n", names.c_str(), start / 1024.0, with_snapshot / 1024.0,
                    after / 1024.0, peak / 1024.0);
        std::fflush(stdout);
        return cfg.sinks.size() > 1 || peak < 100 * 1024 ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "  %s: %s\n", names.c_str(), e.what());
        return 2;
    }
}

}  // namespace

int main(int argc, char** argv) {
    int cpu = static_cast<int>(std::thread::hardware_concurrency()) - 1;
    if (argc > 2 && std::string(argv[1]) == "--cpu") cpu = std::atoi(argv[2]);
    if (access("/usr/bin/victoria-metrics", X_OK) != 0) {
        std::fprintf(stderr, "bench_forwarder_throughput: needs /usr/bin/victoria-metrics "
                             "(scripts/install-deps.sh --test)\n");
        return 2;
    }
    const std::string tmp = std::filesystem::temp_directory_path() / ("tracer-bench-fwd-" + std::to_string(getpid()));
    std::filesystem::create_directories(tmp);
    int rc = 0;
    try {
        VictoriaMetrics vm(tmp + "/vm", bench::free_loopback_port());
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        sched_setaffinity(0, sizeof one, &one);  // this thread and every thread it starts
        std::printf("forwarder throughput: 100k series per interval (%d cgroups x (%d counters + 1 histogram of 16 "
                    "series)); this process on CPU %d, victoria-metrics on the others\n\n",
                    kCgroups, kCountersPerCgroup, cpu);

        // ---- 1. RSS with 100k active series, in a fresh child per configuration ----
        config::AgentConfig cfg;
        cfg.interval = 10;
        cfg.hostname = "bench";
        config::SinkConfig rw;
        rw.type = rw.name = "remote_write";
        rw.url = vm.url("/api/v1/write");
        config::SinkConfig dd;
        dd.type = dd.name = "datadog";
        dd.url = vm.url("/datadog");
        std::printf("RSS with 100k active series (10 intervals, each delivered before the next; a fresh process "
                    "per row):\n");
        std::printf("  %-34s %10s %12s %14s %10s\n", "sinks", "start MiB", "snapshot MiB", "10 intervals", "peak MiB");
        bool rss_ok = true;
        for (const auto& sinks : {std::vector<config::SinkConfig>{rw}, std::vector<config::SinkConfig>{rw, dd}}) {
            cfg.sinks = sinks;
            cfg.spool_dir = tmp + "/spool-rss-" + std::to_string(sinks.size());
            std::fflush(stdout);
            pid_t child = fork();
            if (child == 0) _exit(rss_row(cfg));
            int status = 0;
            waitpid(child, &status, 0);
            rss_ok &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
        }
        std::printf("  target: remote_write only, peak < 100 MiB: %s\n\n", rss_ok ? "PASS" : "MISS");
        const uint64_t samples_per_batch = 100000;

        // ---- 2. encoding on one core ----
        auto snap = snapshot(1);
        forwarder::Aggregator agg({"bench", {}, 10, false});
        auto batch = agg.aggregate(1700000000000, {snap});
        auto encoder = forwarder::make_remote_write_encoder();
        std::vector<forwarder::Payload> out;
        uint64_t samples = 0;
        size_t compressed = 0;
        encoder->encode(*batch, {}, out);
        std::string raw;
        size_t raw_bytes = 0;
        for (const auto& p : out) {
            samples += p.samples;
            compressed += p.body.size();
            snappy::Uncompress(p.body.data(), p.body.size(), &raw);
            raw_bytes += raw.size();
        }
        const double encode = rate(samples, [&] {
            out.clear();
            encoder->encode(*batch, {}, out);
        });
        const double snappy_only = rate(samples, [&] {
            for (const auto& p : out) {
                snappy::Uncompress(p.body.data(), p.body.size(), &raw);
                std::string c;
                snappy::Compress(raw.data(), raw.size(), &c);
            }
        });
        std::string text;
        const double text_rate = rate(samples, [&] {
            text.clear();
            metrics::render_prometheus_text(*snap, text);
        });
        forwarder::Aggregator with_deltas({"bench", {}, 10, true});
        const double aggregate = rate(samples, [&] { with_deltas.aggregate(1700000000000, {snap}); });
        std::printf("encoding on one core (%llu samples per batch, %zu requests, %.1f MiB protobuf -> %.1f MiB "
                    "snappy, %.1f bytes/sample on the wire):\n",
                    static_cast<unsigned long long>(samples), out.size(), raw_bytes / 1048576.0,
                    compressed / 1048576.0, double(compressed) / double(samples));
        std::printf("  remote write (protobuf + snappy)   %6.2f M samples/s   target >= 1.00 M: %s\n", encode / 1e6,
                    encode >= 1e6 ? "PASS" : "MISS");
        std::printf("    of which snappy (decompress + compress again: an upper bound) %6.2f M samples/s\n",
                    snappy_only / 1e6);
        std::printf("  /metrics text rendering (baseline) %6.2f M samples/s   remote write / text = %.2f\n",
                    text_rate / 1e6, encode / text_rate);
        std::printf("  aggregation with deltas (Datadog/Influx sinks) %6.2f M series/s\n\n", aggregate / 1e6 * 100000 /
                    double(samples));

        // ---- 3. delivered to VictoriaMetrics ----
        cfg.sinks = {rw};
        cfg.sinks[0].queue_batches = 64;
        cfg.spool_dir = tmp + "/spool-delivery";
        {
            forwarder::Forwarder fwd(cfg);
            fwd.start();
            constexpr int kBatches = 20;
            const int64_t t0 = std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count() - 100000;
            std::vector<std::shared_ptr<const metrics::Snapshot>> snaps;
            for (int i = 0; i < kBatches; ++i) snaps.push_back(snapshot(static_cast<uint64_t>(i + 20)));
            const auto start = Clock::now();
            for (int i = 0; i < kBatches; ++i) fwd.submit(t0 + i * 1000, {snaps[static_cast<size_t>(i)]});
            const auto& st = fwd.sink(0).stats();
            const uint64_t want = samples_per_batch * kBatches;
            if (!wait_for([&] { return st.sent_samples >= want; }, 300s))
                throw std::runtime_error("victoria-metrics did not take every batch");
            const double took = seconds_since(start);
            std::printf("delivered to victoria-metrics via remote write: %llu samples in %.2f s = %.2f M samples/s "
                        "(%llu requests, %llu failed, %llu retried)\n",
                        static_cast<unsigned long long>(want), took, double(want) / took / 1e6,
                        static_cast<unsigned long long>(st.sent_batches.load()),
                        static_cast<unsigned long long>(st.failed_requests.load()),
                        static_cast<unsigned long long>(st.retried_requests.load()));
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_forwarder_throughput: %s\n", e.what());
        rc = 1;
    }
    std::error_code ec;
    std::filesystem::remove_all(tmp, ec);
    return rc;
}
