// Soak: `tracer run` under DogStatsD load (steady contexts plus new ones every
// second), cgroup churn (short-lived cgroups with a process making syscalls)
// and a remote-write backend that goes down and comes back every 10 s.
// Samples the agent's RSS and open fds every 5 s and prints them; asserts that
// both level off (the last third of the run stays near the middle third),
// that the agent still serves /metrics, and that no interval is missing in the
// backend across the flaps. TRACER_SOAK_SECONDS sets the length (60 s in CI;
// longer on demand).
#include "fixtures.h"
#include "victoria_metrics.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using tracer::fixtures::HeldChild;
using tracer::fixtures::Subprocess;
using tracer::fixtures::TestCgroup;
using tracer::fixtures::VictoriaMetrics;
namespace fs = std::filesystem;

namespace {

struct Usage {
    double at_seconds = 0;
    long rss_kib = 0;
    size_t fds = 0;
};

Usage usage_of(pid_t pid, double at) {
    Usage u{at, -1, 0};
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind("VmRSS:", 0) == 0) u.rss_kib = std::atol(line.c_str() + 6);
    std::error_code ec;
    for (auto it = fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec); !ec && it != fs::directory_iterator();
         it.increment(ec))
        ++u.fds;
    return u;
}

int soak_seconds() {
    const char* s = std::getenv("TRACER_SOAK_SECONDS");
    int n = s ? std::atoi(s) : 60;
    return std::max(n, 30);
}

}  // namespace

TEST(Soak, StatsdLoadCgroupChurnAndAFlappingBackendLevelOff) {
    if (auto why = tracer::fixtures::root_skip_reason(); !why.empty()) GTEST_SKIP() << why;
    if (auto why = VictoriaMetrics::skip_reason(); !why.empty()) GTEST_SKIP() << why;
    const int seconds = soak_seconds();
    VictoriaMetrics vm;
    ASSERT_TRUE(vm.start()) << vm.output();

    char tmpl[] = "/tmp/tracer-soak-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl, config = dir + "/tracer.yaml";
    const uint16_t metrics_port = tracer::fixtures::free_tcp_port(), statsd_port = tracer::fixtures::free_tcp_port();
    std::ofstream(config) << "interval: 1\nmetrics_addr: \"127.0.0.1:" << metrics_port << "\"\ntop_cgroups: 0\n"
                          << "hostname: soak\nspool_dir: " << dir << "/spool\n"
                          << "statsd:\n  listen: \"127.0.0.1:" << statsd_port << "\"\n  socket: \"" << dir
                          << "/dsd.sock\"\n  max_contexts: 5000\n"
                          << "sinks:\n  - type: remote_write\n    url: " << vm.url("/api/v1/write")
                          << "\n    backoff_initial: 0.2\n    backoff_max: 1\n    timeout: 2\n";
    Subprocess tracer({TRACER_BINARY, "run", "--config", config});
    ASSERT_TRUE(tracer::fixtures::wait_output(tracer, "DogStatsD server listening", 30s)) << tracer.output();

    std::atomic<bool> stop{false};
    std::atomic<uint64_t> lines{0}, cgroups{0};
    std::thread load([&] {  // ~2000 lines/s: 500 steady contexts, 20 new ones a second
        for (uint64_t tick = 0; !stop; ++tick) {
            std::string datagram;
            for (int i = 0; i < 20; ++i) {
                datagram += "soak.req:1|c|#route:/r" + std::to_string((tick * 20 + i) % 500) + "\n";
                if (datagram.size() > 1200) tracer::fixtures::send_udp(statsd_port, datagram), datagram.clear();
            }
            datagram += "soak.new." + std::to_string(tick / 5) + ":1|g\nsoak.lat:" + std::to_string(tick % 97) + "|ms\n";
            tracer::fixtures::send_udp(statsd_port, datagram);
            lines += 22;
            std::this_thread::sleep_for(10ms);
        }
    });
    std::thread churn([&] {  // cgroups that live ~200 ms with a process in them
        for (uint64_t i = 0; !stop; ++i) {
            TestCgroup cg("soak-" + std::to_string(i));
            HeldChild child([] {
                for (int k = 0; k < 200; ++k) (void)getppid();
                std::this_thread::sleep_for(100ms);
            });
            cg.add(child.pid());
            child.release();
            child.wait();
            ++cgroups;
            std::this_thread::sleep_for(100ms);
        }
    });

    std::vector<Usage> samples;
    const auto start = std::chrono::steady_clock::now();
    auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
    int flaps = 0;
    bool down = false;
    for (double next_sample = 0, next_flap = 10; elapsed() < seconds && tracer.running();
         std::this_thread::sleep_for(100ms)) {
        if (elapsed() >= next_sample) {
            samples.push_back(usage_of(tracer.pid(), elapsed()));
            next_sample += 5;
        }
        if (elapsed() >= next_flap && elapsed() < seconds - 10) {  // the backend is up for the last 10 s
            if (down) {
                EXPECT_TRUE(vm.start()) << vm.output();  // no ASSERT: the threads must be joined
            } else {
                vm.stop();
                ++flaps;
            }
            down = !down;
            next_flap += down ? 4 : 6;  // 4 s down, 6 s up
        }
    }
    if (down) {
        EXPECT_TRUE(vm.start()) << vm.output();
    }
    stop = true;
    load.join();
    churn.join();
    ASSERT_TRUE(tracer.running()) << tracer.output();

    std::printf("soak: %d s, %llu statsd lines, %llu cgroups created and removed, %d backend outages\n", seconds,
                static_cast<unsigned long long>(lines.load()), static_cast<unsigned long long>(cgroups.load()), flaps);
    std::printf("%8s %10s %6s\n", "t (s)", "RSS (KiB)", "fds");
    for (const auto& u : samples) std::printf("%8.0f %10ld %6zu\n", u.at_seconds, u.rss_kib, u.fds);

    httplib::Client client("127.0.0.1", metrics_port);
    client.set_read_timeout(5, 0);
    auto page = client.Get("/metrics");
    ASSERT_TRUE(page && page->status == 200);
    EXPECT_NE(page->body.find("tracer_forwarder_dropped_batches_total"), std::string::npos);
    EXPECT_NE(page->body.find("soak_req_total"), std::string::npos);

    // levels off: the last third no higher than the middle third plus a margin
    ASSERT_GE(samples.size(), 6u);
    const size_t third = samples.size() / 3;
    long mid_rss = 0, last_rss = 0;
    size_t mid_fds = 0, last_fds = 0;
    for (size_t i = third; i < 2 * third; ++i) mid_rss = std::max(mid_rss, samples[i].rss_kib), mid_fds = std::max(mid_fds, samples[i].fds);
    for (size_t i = 2 * third; i < samples.size(); ++i)
        last_rss = std::max(last_rss, samples[i].rss_kib), last_fds = std::max(last_fds, samples[i].fds);
    EXPECT_LE(last_rss, mid_rss + mid_rss / 4 + 8192) << "RSS keeps growing";
    EXPECT_LE(last_fds, mid_fds + 16) << "fds keep growing";

    // no interval missing in the backend across the outages (the spool delivered them)
    auto series = vm.export_series("{__name__=\"tracer_build_info\"}", static_cast<size_t>(seconds) - 15);
    ASSERT_EQ(series.size(), 1u);
    std::set<int64_t> ts(series[0].timestamps.begin(), series[0].timestamps.end());
    EXPECT_EQ(ts.size(), series[0].timestamps.size()) << "a point arrived twice";
    int64_t worst_gap = 0;
    for (auto it = std::next(ts.begin()); it != ts.end(); ++it) worst_gap = std::max(worst_gap, *it - *std::prev(it));
    std::printf("soak: %zu build_info points in the backend, largest gap %lld ms\n", ts.size(),
                static_cast<long long>(worst_gap));
    EXPECT_LE(worst_gap, 1600) << "an interval is missing in the backend";

    tracer.signal(SIGTERM);
    EXPECT_EQ(tracer.wait_for(30s), 0) << tracer.output();
    std::error_code ec;
    fs::remove_all(dir, ec);
}
