// `tracer run` with its DogStatsD server: lines sent over UDP and over the
// Unix socket (from a process in a test cgroup) appear on /metrics, tagged
// with the same `cgroup` label as the kernel metrics; a busy UDP port is one
// error and the agent runs on.
#include "containers/cgroup_layout.h"
#include "fixtures.h"
#include "victoria_metrics.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

using namespace std::chrono_literals;
using tracer::fixtures::HeldChild;
using tracer::fixtures::send_udp;
using tracer::fixtures::send_unix;
using tracer::fixtures::Subprocess;
using tracer::fixtures::TestCgroup;

namespace {

// Sets an environment variable for the tracer subprocess; restores it after.
class ScopedEnv {
public:
    ScopedEnv(const char* name, const std::string& value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        setenv(name, value.c_str(), 1);
    }
    ~ScopedEnv() {
        if (old_) setenv(name_, old_->c_str(), 1);
        else unsetenv(name_);
    }

private:
    const char* name_;
    std::optional<std::string> old_;
};

// Scrapes /metrics until every needle is there (or 20 s pass); returns the last body.
std::string wait_for(Subprocess& p, uint16_t port, const std::vector<std::string>& needles) {
    std::string body;
    auto end = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < end && p.running()) {
        httplib::Client c("127.0.0.1", port);
        c.set_connection_timeout(1, 0);
        if (auto res = c.Get("/metrics"); res && res->status == 200) {
            body = res->body;
            bool all = true;
            for (const auto& n : needles) all = all && body.find(n) != std::string::npos;
            if (all) return body;
        }
        std::this_thread::sleep_for(100ms);
    }
    for (const auto& n : needles)
        EXPECT_NE(body.find(n), std::string::npos) << "no '" << n << "' on /metrics; tracer said:\n" << p.output();
    return body;
}

class TracerStatsd : public ::testing::Test {
protected:
    void SetUp() override {
        if (auto why = tracer::fixtures::root_skip_reason(); !why.empty()) GTEST_SKIP() << why;
        socket_path_ = "/tmp/tracer-e2e-dsd-" + std::to_string(getpid()) + ".sock";
        metrics_port_ = tracer::fixtures::free_tcp_port();
    }
    Subprocess run(uint16_t statsd_port) {
        ScopedEnv listen("TRACER_STATSD_LISTEN", "127.0.0.1:" + std::to_string(statsd_port));
        ScopedEnv socket("TRACER_STATSD_SOCKET", socket_path_);
        return Subprocess({TRACER_BINARY, "run", "--interval", "1", "--metrics-addr",
                           "127.0.0.1:" + std::to_string(metrics_port_)});
    }
    std::string socket_path_;
    uint16_t metrics_port_ = 0;
};

}  // namespace

TEST_F(TracerStatsd, StatsdMetricsAppearOnMetricsWithTheKernelMetricsCgroupLabel) {
    uint16_t statsd_port = tracer::fixtures::free_tcp_port();
    Subprocess tracer = run(statsd_port);
    wait_for(tracer, metrics_port_, {"tracer_statsd_packets_total"});

    auto keying = tracer::containers::choose_cgroup_keying(tracer::fixtures::host_layout(), "auto", "/proc/cgroups");
    const auto* mount = keying.mode == 0 ? tracer::fixtures::host_layout().unified()
                                         : tracer::fixtures::host_layout().v1_controller(keying.hierarchy);
    ASSERT_NE(mount, nullptr);
    TestCgroup cg("statsd-e2e");
    std::string path = socket_path_;
    HeldChild child([path] {
        for (int i = 0; i < 5; ++i) send_unix(path, "e2e.uds.hits:1|c|#app:demo");
        send_unix(path, "e2e.uds.latency:12|ms\ne2e.uds.latency:30|ms");
        std::this_thread::sleep_for(1s);  // alive while tracer reads it: origins are looked up then
    });
    cg.add(child.pid());
    child.release();
    EXPECT_EQ(child.wait(), 0);
    ASSERT_TRUE(send_udp(statsd_port, "e2e.udp.hits:3|c\ne2e.udp.temp:21.5|g\ne2e.udp.bad"));

    const std::string label = "cgroup=\"" + cg.path(*mount) + "\"";
    std::string body = wait_for(tracer, metrics_port_,
                                {"e2e_uds_hits_total{app=\"demo\"," + label + "} 5\n", "e2e_udp_hits_total 3\n",
                                 "e2e_udp_temp 21.5\n", "e2e_uds_latency_count{" + label + "} 2\n",
                                 "tracer_statsd_parse_errors_total{reason=\"no_value\"} 1\n",
                                 // the kernel's metrics name the same cgroup the same way
                                 "tracer_syscalls_total{" + label});
    EXPECT_NE(body.find("# TYPE e2e_uds_latency summary"), std::string::npos);
    tracer.signal(SIGTERM);
    EXPECT_EQ(tracer.wait_for(10s), 0) << tracer.output();
    EXPECT_NE(access(socket_path_.c_str(), F_OK), 0) << "the socket file is removed on exit";
}

TEST_F(TracerStatsd, BusyUdpPortIsOneErrorAndTheAgentRunsOn) {
    tracer::fixtures::BusyUdpPort busy;
    uint16_t port = busy.port();
    Subprocess tracer = run(port);
    wait_for(tracer, metrics_port_, {"tracer_statsd_packets_total"});
    ASSERT_TRUE(send_unix(socket_path_, "still.works:1|c"));
    wait_for(tracer, metrics_port_, {"still_works_total{cgroup=\""});  // this process's cgroup
    std::string out = tracer.output();
    EXPECT_NE(out.find("statsd UDP listener: cannot listen on UDP 127.0.0.1:" + std::to_string(port) +
                       ": Address already in use; running without it"),
              std::string::npos)
        << out;
    tracer.signal(SIGTERM);
    EXPECT_EQ(tracer.wait_for(10s), 0);
}

// With a remote_write sink configured, statsd values reach a real VictoriaMetrics.
TEST_F(TracerStatsd, StatsdValuesArriveInVictoriaMetrics) {
    if (auto why = tracer::fixtures::VictoriaMetrics::skip_reason(); !why.empty()) GTEST_SKIP() << why;
    tracer::fixtures::VictoriaMetrics vm;
    ASSERT_TRUE(vm.start()) << vm.output();
    uint16_t statsd_port = tracer::fixtures::free_tcp_port();
    const std::string config = socket_path_ + ".yaml";
    std::ofstream(config) << "interval: 0.5\nmetrics_addr: \"\"\ntop_cgroups: 0\nspool_dir: \"\"\n"
                          << "sinks:\n  - type: remote_write\n    url: " << vm.url("/api/v1/write") << "\n"
                          << "statsd:\n  listen: \"127.0.0.1:" << statsd_port << "\"\n  socket: \"" << socket_path_
                          << "\"\n";
    Subprocess tracer({TRACER_BINARY, "run", "--config", config});
    bool sent = false;
    for (int i = 0; i < 100 && !sent; ++i) {  // once the agent listens (the log says so)
        if (tracer.output().find("DogStatsD server listening") != std::string::npos)
            sent = send_udp(statsd_port, "e2e.vm.hits:4|c|#app:vm\ne2e.vm.level:7|g");
        else
            std::this_thread::sleep_for(100ms);
    }
    ASSERT_TRUE(sent) << tracer.output();
    auto hits = vm.export_series("{__name__=\"e2e_vm_hits_total\"}", 1);
    ASSERT_EQ(hits.size(), 1u) << tracer.output();
    EXPECT_EQ(hits[0].labels.at("app"), "vm");
    EXPECT_EQ(hits[0].values.back(), 4);
    auto level = vm.export_series("{__name__=\"e2e_vm_level\"}", 1);
    ASSERT_EQ(level.size(), 1u);
    EXPECT_EQ(level[0].values.back(), 7);
    tracer.signal(SIGTERM);
    EXPECT_EQ(tracer.wait_for(20s), 0) << tracer.output();
    std::remove(config.c_str());
}

TEST_F(TracerStatsd, WhatArrivedBeforeSigtermIsForwardedNotDropped) {
    // A long interval: the values arrive, SIGTERM comes before any flush. The
    // agent's last, partial interval takes them; the sink delivers or spools
    // them, and a restart on the same spool delivers what was spooled.
    if (auto why = tracer::fixtures::VictoriaMetrics::skip_reason(); !why.empty()) GTEST_SKIP() << why;
    tracer::fixtures::VictoriaMetrics vm;
    ASSERT_TRUE(vm.start()) << vm.output();
    uint16_t statsd_port = tracer::fixtures::free_tcp_port();
    const std::string spool = socket_path_ + ".spool", config = socket_path_ + ".yaml";
    std::ofstream(config) << "interval: 600\nmetrics_addr: \"\"\ntop_cgroups: 0\nspool_dir: \"" << spool << "\"\n"
                          << "sinks:\n  - type: remote_write\n    url: " << vm.url("/api/v1/write") << "\n"
                          << "statsd:\n  listen: \"127.0.0.1:" << statsd_port << "\"\n  socket: \"\"\n";
    {
        Subprocess tracer({TRACER_BINARY, "run", "--config", config});
        bool sent = false;
        for (int i = 0; i < 100 && !sent; ++i) {
            if (tracer.output().find("DogStatsD server listening") != std::string::npos)
                sent = send_udp(statsd_port, "e2e.term.hits:4|c|#app:term");
            else
                std::this_thread::sleep_for(100ms);
        }
        ASSERT_TRUE(sent) << tracer.output();
        std::this_thread::sleep_for(500ms);  // read by the server, long before the first flush
        tracer.signal(SIGTERM);
        ASSERT_EQ(tracer.wait_for(20s), 0) << tracer.output();
    }
    {  // delivers what the first run left in the spool, if anything
        Subprocess again({TRACER_BINARY, "run", "--config", config, "--interval", "0.5"});
        auto hits = vm.export_series("{__name__=\"e2e_term_hits_total\"}", 1);
        ASSERT_EQ(hits.size(), 1u) << again.output();
        EXPECT_EQ(hits[0].labels.at("app"), "term");
        EXPECT_EQ(hits[0].values.front(), 4);
        again.signal(SIGTERM);
        EXPECT_EQ(again.wait_for(20s), 0) << again.output();
    }
    std::filesystem::remove_all(spool);
    std::remove(config.c_str());
}
