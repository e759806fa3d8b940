// What a /v1/snapshot costs the local API's thread, against what a /metrics
// scrape costs (the Prometheus text render of the same snapshot), measured in
// the same run: a snapshot shaped like the agent's (per cgroup: 30 syscalls
// with counts, errors and latency histograms, run-queue histogram, CPU,
// context switches, network bytes), then a real GET over the Unix socket.
//
//   cmake --build build --target bench_local_api && build/bench/bench_local_api [cgroups]
#include "api/local_api_client.h"
#include "api/local_api_server.h"
#include "api/snapshot_json.h"
#include "metrics/prometheus_text.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

using namespace tracer;
using Clock = std::chrono::steady_clock;

namespace {

std::shared_ptr<const metrics::Snapshot> agent_like_snapshot(int cgroups) {
    std::vector<double> bounds;
    for (int i = 10; i <= 34; i += 2) bounds.push_back(double(1ull << i) / 1e9);
    auto labels = [](int c) {
        return metrics::Labels{{"cgroup", "/docker/" + std::to_string(1000000 + c)},
                               {"container_id", std::to_string(1000000 + c)},
                               {"container_name", "service-" + std::to_string(c)},
                               {"image", "registry.example/app:1." + std::to_string(c % 7)}};
    };
    metrics::Family calls{"tracer.syscalls", "", "Syscalls.", metrics::MetricType::Counter, {}};
    metrics::Family errors{"tracer.syscall.errors", "", "Errors.", metrics::MetricType::Counter, {}};
    metrics::Family latency{"tracer.syscall.duration", "seconds", "Latency.", metrics::MetricType::Histogram, {}};
    metrics::Family runq{"tracer.runqueue.latency", "seconds", "Run queue.", metrics::MetricType::Histogram, {}};
    metrics::Family cpu{"tracer.cpu", "seconds", "CPU.", metrics::MetricType::Counter, {}};
    metrics::Family net{"tracer.net.bytes", "bytes", "Bytes.", metrics::MetricType::Counter, {}};
    for (int c = 0; c < cgroups; ++c) {
        for (int s = 0; s < 30; ++s) {
            auto l = labels(c);
            l.push_back({"syscall", "sys_" + std::to_string(s)});
            calls.samples.push_back({l, double(c * 1000 + s), {}});
            errors.samples.push_back({l, double(s), {}});
            metrics::Sample h{l, 0, {}};
            h.histogram.bounds = bounds;
            h.histogram.counts.assign(bounds.size() + 1, uint64_t(c + s));
            h.histogram.count = (c + s) * (bounds.size() + 1);
            h.histogram.sum = 0.001 * s;
            latency.samples.push_back(std::move(h));
        }
        metrics::Sample h{labels(c), 0, {}};
        h.histogram.bounds = bounds;
        h.histogram.counts.assign(bounds.size() + 1, uint64_t(c));
        runq.samples.push_back(std::move(h));
        cpu.samples.push_back({labels(c), 12.5, {}});
        auto rx = labels(c), tx = labels(c);
        rx.push_back({"direction", "rx"});
        tx.push_back({"direction", "tx"});
        net.samples.push_back({rx, 1e6, {}});
        net.samples.push_back({tx, 2e6, {}});
    }
    return std::make_shared<const metrics::Snapshot>(metrics::Snapshot{calls, errors, latency, runq, cpu, net});
}

template <typename F>
double best_of(int rounds, F&& f) {
    double best = 1e30;
    for (int i = 0; i < rounds; ++i) {
        auto t0 = Clock::now();
        f();
        best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
    }
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    int cgroups = argc > 1 ? std::atoi(argv[1]) : 1000;
    auto snap = agent_like_snapshot(cgroups);
    size_t samples = 0;
    for (const auto& f : *snap) samples += f.samples.size();

    size_t text_bytes = 0, json_bytes = 0, get_bytes = 0;
    double prom = best_of(5, [&] {
        std::string out;
        metrics::render_prometheus_text(*snap, out);
        text_bytes = out.size();
    });
    double json = best_of(5, [&] { json_bytes = api::snapshot_to_json(*snap).dump().size(); });

    std::string dir = (std::filesystem::temp_directory_path() / ("tracer-bench-api-" + std::to_string(getpid()))).string();
    metrics::LatestSnapshot latest;
    latest.publish(snap);
    api::LocalApiOptions o;
    o.socket_path = dir + "/api.sock";
    o.snapshot = &latest;
    api::LocalApiServer server(o);
    server.start();
    api::LocalApiClient client(o.socket_path, std::chrono::seconds(60));
    // Each round is a new publication, so the server renders again (no cache).
    double get = best_of(5, [&] {
        server.published();
        get_bytes = client.get("/v1/snapshot").dump().size();
    });
    server.published();
    client.get("/v1/snapshot");
    double cached = best_of(5, [&] { client.get("/v1/snapshot"); });
    server.stop();
    std::filesystem::remove_all(dir);

    std::printf("local API /v1/snapshot vs /metrics render, %d cgroups, %zu samples (best of 5)\n", cgroups, samples);
    std::printf("  prometheus text render (baseline)   %8.1f ms  %6.1f MB\n", prom * 1e3, text_bytes / 1e6);
    std::printf("  JSON render                         %8.1f ms  %6.1f MB  %.2fx baseline\n", json * 1e3, json_bytes / 1e6,
                json / prom);
    std::printf("  GET /v1/snapshot, new publication   %8.1f ms  (render + send + client parse)  %.2fx baseline\n",
                get * 1e3, get / prom);
    std::printf("  GET /v1/snapshot, same publication  %8.1f ms  (cached render; client parse)  %.2fx baseline\n",
                cached * 1e3, cached / prom);
    (void)get_bytes;
    return 0;
}
