// The network side of the real binary: `tracer trace --events tcp` prints a
// closed connection, `tracer run` exports the network metrics, for a
// workload in a cgroup of the test's own talking TCP over loopback.
#include "containers/cgroup_layout.h"
#include "fixtures.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <sstream>
#include <thread>

using namespace std::chrono_literals;
using tracer::fixtures::HeldChild;
using tracer::fixtures::Subprocess;
using tracer::fixtures::TestCgroup;
using tracer::fixtures::wait_output;

namespace {

constexpr size_t kBytes = 12345;

// One process: listens on 127.0.0.1:`port`, connects to itself, sends kBytes,
// half-closes, reads them on the accepted side, closes both. Exits 0 if all went.
void loopback_connection(uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(l, 1) != 0) _exit(91);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) _exit(92);
    int s = accept(l, nullptr, nullptr);
    static char buf[kBytes];
    std::memset(buf, 'x', sizeof buf);
    if (write(c, buf, sizeof buf) != static_cast<ssize_t>(sizeof buf)) _exit(93);
    shutdown(c, SHUT_WR);
    size_t got = 0;
    for (ssize_t n; (n = read(s, buf, sizeof buf)) > 0;) got += n;
    close(s);
    char x;
    while (read(c, &x, 1) > 0) {
    }
    close(c);
    close(l);
    _exit(got == kBytes ? 0 : 94);
}

class TracerNet : public ::testing::Test {
protected:
    void SetUp() override {
        if (auto why = tracer::fixtures::root_skip_reason(); !why.empty()) GTEST_SKIP() << why;
        mount_ = tracer::fixtures::auto_keying_mount();
        ASSERT_NE(mount_, nullptr);
    }
    void run_connection(const TestCgroup& cg, uint16_t port) {
        HeldChild child([port] { loopback_connection(port); });
        cg.add(child.pid());
        child.release();
        ASSERT_EQ(child.wait(), 0) << "the loopback connection failed";
    }
    const tracer::containers::CgroupMount* mount_ = nullptr;
};

}  // namespace

TEST_F(TracerNet, TraceTcpPrintsEachClosedConnection) {
    TestCgroup cg("trace-tcp");
    Subprocess trace({TRACER_BINARY, "trace", "--format", "json", "--events", "tcp", "--cgroup", cg.path(*mount_)});
    ASSERT_TRUE(wait_output(trace, "Ctrl-C to stop", 20s)) << trace.output();
    if (trace.output().find("Linux 5.11+") != std::string::npos) GTEST_SKIP() << trace.output();
    uint16_t port = tracer::fixtures::free_tcp_port();
    run_connection(cg, port);
    std::this_thread::sleep_for(500ms);  // events are drained every 100 ms
    trace.signal(SIGINT);
    EXPECT_EQ(trace.wait_for(5s), 0) << trace.output();

    std::istringstream lines(trace.output());
    std::string line, out, in;
    int others = 0;
    const std::string server = "\"127.0.0.1:" + std::to_string(port) + "\"";
    while (std::getline(lines, line)) {
        if (line.empty() || line[0] != '{') continue;  // log lines go to stderr, merged here
        if (line.find("\"event\":\"tcp\"") == std::string::npos ||
            line.find("\"cgroup\":\"" + cg.path(*mount_) + "\"") == std::string::npos)
            ++others;
        else if (line.find("\"remote\":" + server) != std::string::npos)
            out = line;
        else if (line.find("\"local\":" + server) != std::string::npos)
            in = line;
        else
            ++others;
    }
    ASSERT_FALSE(out.empty()) << "no outbound connection to " << server << ": " << trace.output();
    ASSERT_FALSE(in.empty()) << "no inbound connection on " << server << ": " << trace.output();
    EXPECT_NE(out.find("\"direction\":\"outbound\""), std::string::npos) << out;
    EXPECT_NE(out.find("\"tx_bytes\":" + std::to_string(kBytes) + ","), std::string::npos) << out;
    EXPECT_NE(out.find("\"rx_bytes\":0,"), std::string::npos) << out;
    EXPECT_NE(out.find("\"comm\":\"tracer_e2e_test"), std::string::npos) << out;  // comm is cut at 15 chars
    EXPECT_NE(out.find("\"rtt_seconds\":"), std::string::npos) << out;
    EXPECT_NE(out.find("\"lifetime_seconds\":"), std::string::npos) << out;
    EXPECT_NE(in.find("\"direction\":\"inbound\""), std::string::npos) << in;
    EXPECT_NE(in.find("\"rx_bytes\":" + std::to_string(kBytes) + ","), std::string::npos) << in;
    EXPECT_EQ(others, 0) << "only tcp events of the chosen cgroup: " << trace.output();
}

TEST_F(TracerNet, RunExportsNetworkMetricsPerCgroup) {
    uint16_t port = tracer::fixtures::free_tcp_port();
    Subprocess tracer({TRACER_BINARY, "run", "--interval", "1", "--metrics-addr", "127.0.0.1:" + std::to_string(port)});
    ASSERT_TRUE(wait_output(tracer, "serving metrics", 20s)) << tracer.output();
    if (tracer.output().find("net probe not loaded") != std::string::npos) GTEST_SKIP() << tracer.output();

    TestCgroup cg("run-net");
    run_connection(cg, tracer::fixtures::free_tcp_port());
    const std::string cgroup = "cgroup=\"" + cg.path(*mount_) + "\"";
    const std::string closed = "tracer_tcp_connections_closed_total{" + cgroup + "} 2";
    std::string body = tracer::fixtures::scrape_metrics_until(port, closed, 10s);
    ASSERT_FALSE(body.empty()) << closed << " never appeared\n" << tracer.output();
    auto value = [&](const std::string& series) { return tracer::fixtures::metric_value(body, series); };
    // both ends are in the cgroup: the bytes go out and come back in
    EXPECT_GE(value("tracer_net_bytes_total{" + cgroup + ",direction=\"tx\"}"), kBytes);
    EXPECT_GE(value("tracer_net_bytes_total{" + cgroup + ",direction=\"rx\"}"), kBytes);
    EXPECT_GE(value("tracer_net_packets_total{" + cgroup + ",direction=\"tx\"}"), 4);
    EXPECT_EQ(value("tracer_tcp_connections_opened_total{" + cgroup + ",direction=\"inbound\"}"), 1);
    EXPECT_EQ(value("tracer_tcp_connections_opened_total{" + cgroup + ",direction=\"outbound\"}"), 1);
    EXPECT_EQ(value("tracer_tcp_connections_open{" + cgroup + "}"), 0);
    EXPECT_EQ(value("tracer_tcp_retransmits_total{" + cgroup + "}"), 0);
    EXPECT_EQ(value("tracer_tcp_resets_total{" + cgroup + ",direction=\"received\"}"), 0);
    EXPECT_EQ(value("tracer_tcp_connection_bytes_total{" + cgroup + ",direction=\"tx\"}"), kBytes);
    EXPECT_EQ(value("tracer_tcp_rtt_seconds_count{" + cgroup + "}"), 2);
    EXPECT_EQ(value("tracer_tcp_connection_duration_seconds_count{" + cgroup + "}"), 2);
    EXPECT_NE(body.find("tracer_events_dropped_total{ring=\"net_events\"} 0"), std::string::npos);
    EXPECT_NE(body.find("tracer_bpf_map_update_failures_total{map=\"net_socks\"} 0"), std::string::npos);

    tracer.signal(SIGTERM);
    EXPECT_EQ(tracer.wait_for(5s), 0) << tracer.output();
}
